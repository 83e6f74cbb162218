"""Facts about a certificate as Get-ExchangeCertificate reports them (pure, no I/O)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, types

from certward.model import Thumbprint
from certward.pki.names import common_name, dotnet_x500

# Windows' short names for signature algorithms (what certutil and the MMC print).
_SIGNATURE_NAMES = {
    "sha1WithRSAEncryption": "sha1RSA",
    "sha256WithRSAEncryption": "sha256RSA",
    "sha384WithRSAEncryption": "sha384RSA",
    "sha512WithRSAEncryption": "sha512RSA",
    "md5WithRSAEncryption": "md5RSA",
    "RSASSA-PSS": "RSASSA-PSS",
    "ecdsa-with-SHA1": "sha1ECDSA",
    "ecdsa-with-SHA256": "sha256ECDSA",
    "ecdsa-with-SHA384": "sha384ECDSA",
    "ecdsa-with-SHA512": "sha512ECDSA",
}


def thumbprint(der: bytes) -> Thumbprint:
    """SHA-1 of the DER encoding, upper-case hex: how Windows identifies a certificate."""
    return Thumbprint(hashlib.sha1(der, usedforsecurity=False).hexdigest().upper())


def request_id(csr_der: bytes) -> Thumbprint:
    """Identifier of a pending request: SHA-1 of the CSR's DER, in thumbprint form."""
    return thumbprint(csr_der)


def spki(key: x509.Certificate | x509.CertificateSigningRequest | types.PrivateKeyTypes) -> bytes:
    """SubjectPublicKeyInfo bytes: what ties a certificate to its request and its key."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_size(public_key: object) -> int:
    if isinstance(public_key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return 456
    return 0


def dns_names(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """The certificate's DNS subject alternative names, in order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(san.value.get_values_for_type(x509.DNSName))


def certificate_domains(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """Exchange's CertificateDomains: the SAN DNS names, else the subject CN."""
    names = dns_names(cert)
    if names:
        return names
    cn = common_name(cert.subject)
    return [cn] if cn else []


def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the certificate's own key verifies its signature."""
    if not is_self_issued(cert):
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        # A v1 self-signed certificate is a root by convention.
        return cert.version is x509.Version.v1 and is_self_issued(cert)


def signature_algorithm(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", oid.dotted_string)
    return _SIGNATURE_NAMES.get(name, name)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What a certificate says about itself, in Exchange's terms."""

    thumbprint: Thumbprint
    subject: str
    issuer: str
    certificate_domains: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    is_self_signed: bool
    public_key_size: int
    signature_algorithm: str
    serial_number: str
    version: int


def facts(cert: x509.Certificate) -> CertificateFacts:
    der = cert.public_bytes(serialization.Encoding.DER)
    return CertificateFacts(
        thumbprint=thumbprint(der),
        subject=dotnet_x500(cert.subject),
        issuer=dotnet_x500(cert.issuer),
        certificate_domains=tuple(certificate_domains(cert)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_self_signed=is_self_signed(cert),
        public_key_size=key_size(cert.public_key()),
        signature_algorithm=signature_algorithm(cert),
        serial_number=f"{cert.serial_number:X}".rjust(2, "0"),
        version=cert.version.value + 1,
    )


def load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
