"""Facts about a certificate as Get-ExchangeCertificate reports them (pure, no I/O).

``cryptography`` parses a certificate's parts lazily: a certificate with a malformed
extension, name or key loads, and fails only when that part is read. Every certificate a
reader hands on has passed :func:`check_readable` (which reads each part once), and the
functions here that read parts do so inside :func:`reading`: a part that cannot be read is
a coded ``pki.certificate_damaged`` naming the part, never a ValueError from the library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, types
from cryptography.utils import CryptographyDeprecationWarning

from certward.codes.pki import CERTIFICATE_DAMAGED
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


# What cryptography raises for a part it cannot parse or does not know (lazily, on reading).
_UNREADABLE = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.InvalidVersion,
    x509.UnsupportedGeneralNameType,
)


@contextmanager
def reading(part: str, where: str | x509.Certificate) -> Iterator[None]:
    """Read ``part`` of a certificate from ``where`` (a file; a certificate is named by its
    thumbprint):
    what cryptography cannot parse becomes ``pki.certificate_damaged`` naming both; its
    warnings about tolerated defects (a negative serial number, a long country code) are not
    printed, since the certificate is read as Windows reads it."""
    with quietly():
        try:
            yield
        except _UNREADABLE as exc:
            name = _where(where)
            raise CERTIFICATE_DAMAGED(
                f"{name}: the certificate's {part} cannot be read ({exc})", file=name, field=part
            ) from exc


def _where(where: str | x509.Certificate) -> str:
    return (
        f"certificate {thumbprint(to_der(where))}" if isinstance(where, x509.Certificate) else where
    )


@contextmanager
def quietly() -> Iterator[None]:
    """Without cryptography's warnings about defects it tolerates (a serial number that is not
    positive, a country code of the wrong length, a PKCS#12 file in BER): Windows reads such
    files too, and a warning would print lines of Python around the command's output."""
    if _QUIET.get():  # already inside: the filters are set (and cost to set, per call)
        yield
        return
    token = _QUIET.set(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            warnings.filterwarnings("ignore", "Attribute's length", UserWarning)
            warnings.filterwarnings(
                "ignore", "PKCS#12 bundle could not be parsed as DER", UserWarning
            )
            yield
    finally:
        _QUIET.reset(token)


_QUIET: ContextVar[bool] = ContextVar("certward_quietly", default=False)


# Each part cryptography parses lazily, read as the services read it.
_PARTS: tuple[tuple[str, Callable[[x509.Certificate], object]], ...] = (
    ("version", lambda c: c.version),
    ("serial number", lambda c: c.serial_number),
    ("subject", lambda c: dotnet_x500(c.subject)),
    ("issuer", lambda c: dotnet_x500(c.issuer)),
    ("validity", lambda c: (c.not_valid_before_utc, c.not_valid_after_utc)),
    ("extensions", lambda c: [e.value for e in c.extensions]),
    ("public key", lambda c: c.public_key()),
    ("signature algorithm", lambda c: signature_algorithm(c)),
)


def check_readable(cert: x509.Certificate, *, source: str) -> x509.Certificate:
    """``cert`` when every part of it can be read; else ``pki.certificate_damaged`` naming
    ``source`` and the part. Readers call it on each certificate they return."""
    _read_parts(cert, source)
    return cert


def _read_parts(cert: x509.Certificate, source: str) -> dict[str, Any]:
    """Each part of ``cert`` as ``_PARTS`` reads it (what :func:`facts` then uses)."""
    values: dict[str, Any] = {}
    with quietly():  # once for all parts: a bundle of thousands is read part by part
        for part, read in _PARTS:
            try:
                values[part] = read(cert)
            except _UNREADABLE as exc:
                raise CERTIFICATE_DAMAGED(
                    f"{source}: the certificate's {part} cannot be read ({exc})",
                    file=source,
                    field=part,
                ) from exc
    return values


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
        where = cert if isinstance(cert, x509.Certificate) else "certificate request"
        with reading("extensions", where):
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
    return is_self_issued(cert) and signed_by(cert, cert)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer``'s key verifies ``cert``'s signature (names are not compared).

    ``verify_directly_issued_by`` refuses SHA-1 and MD5 signatures, but Exchange's own
    self-signed certificates (2010-2016) are SHA-1 and health must still see them as
    self-signed, so those are checked with the issuer's key directly (RSA PKCS#1 v1.5,
    ECDSA or DSA over the certificate's to-be-signed bytes). A key or algorithm that cannot
    be checked is no proof: False."""
    try:
        with quietly():
            cert.verify_directly_issued_by(issuer)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass
    try:
        with quietly():
            digest = cert.signature_hash_algorithm
            key = issuer.public_key()
        if digest is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(digest))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, digest)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        with reading("extensions", cert):
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        return bool(constraints.value.ca)
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


@contextmanager
def read_whole(cert: x509.Certificate) -> Iterator[None]:
    """Read many parts of ``cert`` in the block: each is checked first (see
    :func:`check_readable`; the certificate named by its thumbprint), warnings not printed."""
    where = _where(cert)
    check_readable(cert, source=where)
    with reading("facts", where):
        yield


def facts(cert: x509.Certificate) -> CertificateFacts:
    """The certificate's facts; ``pki.certificate_damaged`` names a part that cannot be read.

    Each part is read once (checked and kept, as :func:`read_whole` checks them), the
    warnings filtered once: a store listing gives the facts of thousands."""
    der = to_der(cert)
    thumb = thumbprint(der)
    where = f"certificate {thumb}"
    parts = _read_parts(cert, where)
    with reading("facts", where):
        not_before, not_after = parts["validity"]
        return CertificateFacts(
            thumbprint=thumb,
            subject=parts["subject"],
            issuer=parts["issuer"],
            certificate_domains=tuple(certificate_domains(cert)),
            not_before=not_before,
            not_after=not_after,
            is_self_signed=is_self_signed(cert),
            public_key_size=key_size(parts["public key"]),
            signature_algorithm=parts["signature algorithm"],
            serial_number=f"{parts['serial number']:X}".rjust(2, "0"),
            version=parts["version"].value + 1,
        )


def load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
