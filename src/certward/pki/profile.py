"""What certificate selection and the health rules need to know about a certificate.

A profile is made from a parsed certificate (:meth:`CertProfile.of`) or from what a real
Windows server printed about one (``certutil``, ``Get-ExchangeCertificate``), where the
certificate's bytes are not available. Rules and selection read only the profile, so they
work the same on certward's own servers and on observed ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certward.model import ObservedCertificate
from certward.model.certfacts import CertFacts
from certward.pki import certinfo
from certward.pki.names import NameSyntaxError, common_name, parse_dotnet_x500

# Hash names inside Windows' signature algorithm short names ("sha1RSA", "sha256ECDSA").
_HASHES = ("md5", "sha1", "sha256", "sha384", "sha512")


def key_type(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA"
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    return "unknown"


def signature_hash(signature_algorithm: str) -> str | None:
    """``sha1RSA`` → ``sha1``; None when the name carries no known hash (e.g. PSS)."""
    lowered = signature_algorithm.lower()
    return next((h for h in _HASHES if lowered.startswith(h)), None)


@dataclass(frozen=True, slots=True)
class CertProfile:
    subject: x509.Name
    issuer: x509.Name
    dns_names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    is_ca: bool = False
    version: int = 3
    key_type: str = "RSA"
    key_size: int = 2048
    signature_algorithm: str = "sha256RSA"

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertProfile:
        """The profile of ``cert``; ``pki.certificate_damaged`` names a part it cannot read."""
        with certinfo.read_whole(cert):
            public_key = cert.public_key()
            return cls(
                subject=cert.subject,
                issuer=cert.issuer,
                dns_names=tuple(certinfo.dns_names(cert)),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                self_signed=certinfo.is_self_signed(cert),
                is_ca=certinfo.is_ca(cert),
                version=cert.version.value + 1,
                key_type=key_type(public_key),
                key_size=certinfo.key_size(public_key),
                signature_algorithm=certinfo.signature_algorithm(cert),
            )

    @classmethod
    def from_facts(
        cls,
        facts: CertFacts,
        *,
        subject: x509.Name | None = None,
        issuer: x509.Name | None = None,
    ) -> CertProfile:
        """The profile of the certificate ``facts`` were recorded from, without its bytes;
        ``subject``/``issuer``: its names already made (a caller may share one object per
        name), else made from their DER."""
        return cls(
            subject=x509.Name.from_bytes(facts.subject) if subject is None else subject,
            issuer=x509.Name.from_bytes(facts.issuer) if issuer is None else issuer,
            dns_names=facts.dns_names,
            not_before=facts.not_before,
            not_after=facts.not_after,
            self_signed=facts.self_signed,
            is_ca=facts.is_ca,
            version=facts.version,
            key_type=facts.key_type,
            key_size=facts.key_size,
            signature_algorithm=facts.signature_algorithm,
        )

    @property
    def common_name(self) -> str | None:
        return common_name(self.subject)

    @property
    def certificate_domains(self) -> tuple[str, ...]:
        """Exchange's CertificateDomains: the SAN DNS names, else the subject CN."""
        if self.dns_names:
            return self.dns_names
        return (self.common_name,) if self.common_name else ()

    @property
    def signature_hash(self) -> str | None:
        return signature_hash(self.signature_algorithm)

    def expired(self, now: dt.datetime) -> bool:
        return self.not_after < now

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def certificate_facts(der: bytes, cert: x509.Certificate | None = None) -> CertFacts:
    """What the certificate ``der`` says about itself (:class:`CertFacts`), each part read
    once in one warnings context; ``cert``: ``der`` already parsed. A certificate that
    cannot be read gives the coded error :meth:`CertProfile.of` gives
    (``pki.certificate_damaged`` naming the part). The one implementation is
    :func:`certward.pki.certfacts.certificate_facts` (a bundle's too)."""
    from certward.pki import certfacts  # imported when a certificate is read, not at start-up

    return certfacts.certificate_facts(der, cert)


def checked_facts(der: bytes) -> CertFacts:
    """:func:`certificate_facts` the slow way: each part checked (:func:`certinfo.facts`,
    :meth:`CertProfile.of`), a damaged one coded."""
    cert = certinfo.load_der(der)
    facts = certinfo.facts(cert)
    profile = CertProfile.of(cert)
    return CertFacts(
        thumbprint=facts.thumbprint,
        subject=profile.subject.public_bytes(),
        issuer=profile.issuer.public_bytes(),
        subject_text=facts.subject,
        issuer_text=facts.issuer,
        common_name=profile.common_name,
        dns_names=profile.dns_names,
        not_before=profile.not_before,
        not_after=profile.not_after,
        self_signed=profile.self_signed,
        is_ca=profile.is_ca,
        version=profile.version,
        key_type=profile.key_type,
        key_size=profile.key_size,
        signature_algorithm=profile.signature_algorithm,
        serial_number=facts.serial_number,
    )


def described(cert: ObservedCertificate, *, is_ca: bool = False) -> CertProfile:
    """The profile of a certificate known only from what Windows printed about it.

    Self-signed is judged by subject = issuer (the signature cannot be checked); an unknown
    key size is 0, which no key-size rule flags."""
    signature = cert.signature_algorithm or ""
    return CertProfile(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        dns_names=cert.dns_names,
        not_before=cert.not_before,
        not_after=cert.not_after,
        self_signed=cert.self_issued,
        is_ca=is_ca,
        key_type="EC" if "ecdsa" in signature.lower() else "RSA",
        key_size=cert.key_size or 0,
        signature_algorithm=signature,
    )


def _name(text: str) -> x509.Name:
    """Windows' printed name as an x509.Name; a name outside the .NET syntax is kept whole as
    one CN so that it still compares and sizes consistently."""
    try:
        return parse_dotnet_x500(text)
    except NameSyntaxError:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
