"""What certificate selection and the health rules need to know about a certificate.

A profile is made from a parsed certificate (:meth:`CertProfile.of`) or from what a real
Windows server printed about one (``certutil``, ``Get-ExchangeCertificate``), where the
certificate's bytes are not available. Rules and selection read only the profile, so they
work the same on certward's own servers and on observed ones.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from certward.model import ObservedCertificate
from certward.model.certfacts import CertFacts
from certward.pki import certinfo
from certward.pki.names import NameSyntaxError, common_name, dotnet_x500, parse_dotnet_x500

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


@functools.lru_cache(maxsize=4096)
def _name(der: bytes) -> x509.Name:
    """The name encoded in ``der``; one object per recent encoding (a certificate's issuer is
    its siblings' too)."""
    return x509.Name.from_bytes(der)


class CertProfile(NamedTuple):
    """What selection and the rules read of a certificate. Its names are kept as their DER
    and their .NET text (what rules compare and print), and parsed only when asked for as
    :class:`x509.Name` (:attr:`subject`, :attr:`issuer`): an organisation's 20,000
    certificates need their names' text, seldom their parts. A named tuple, as
    :class:`CertFacts` is: health makes one per certificate (issue 16)."""

    subject_der: bytes
    issuer_der: bytes
    subject_text: str  # dotnet_x500 of the subject: what Get-ExchangeCertificate prints
    issuer_text: str
    common_name: str | None  # the subject's most specific CN
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
            return cls.from_names(
                cert.subject,
                cert.issuer,
                tuple(certinfo.dns_names(cert)),
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
                certinfo.is_self_signed(cert),
                is_ca=certinfo.is_ca(cert),
                version=cert.version.value + 1,
                key_type=key_type(public_key),
                key_size=certinfo.key_size(public_key),
                signature_algorithm=certinfo.signature_algorithm(cert),
            )

    @classmethod
    def from_names(
        cls,
        subject: x509.Name,
        issuer: x509.Name,
        dns_names: tuple[str, ...],
        not_before: dt.datetime,
        not_after: dt.datetime,
        self_signed: bool,
        **rest: Any,
    ) -> CertProfile:
        """A profile whose names are given as objects (``rest``: the defaulted fields)."""
        subject_text = dotnet_x500(subject)
        return cls(
            subject_der=subject.public_bytes(),
            issuer_der=issuer.public_bytes(),
            subject_text=subject_text,
            issuer_text=subject_text if issuer == subject else dotnet_x500(issuer),
            common_name=common_name(subject),
            dns_names=dns_names,
            not_before=not_before,
            not_after=not_after,
            self_signed=self_signed,
            **rest,
        )

    @classmethod
    def from_facts(cls, facts: CertFacts) -> CertProfile:
        """The profile of the certificate ``facts`` were recorded from, without its bytes:
        nothing parsed."""
        return cls(
            subject_der=facts.subject,
            issuer_der=facts.issuer,
            subject_text=facts.subject_text,
            issuer_text=facts.issuer_text,
            common_name=facts.common_name,
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
    def subject(self) -> x509.Name:
        return _name(self.subject_der)

    @property
    def issuer(self) -> x509.Name:
        return _name(self.issuer_der)

    @property
    def self_issued(self) -> bool:
        """Issuer = subject (a root, or a certificate signed by a key of the same name)."""
        return self.issuer_der == self.subject_der

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
        subject=profile.subject_der,
        issuer=profile.issuer_der,
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
    return CertProfile.from_names(
        _printed_name(cert.subject),
        _printed_name(cert.issuer),
        cert.dns_names,
        cert.not_before,
        cert.not_after,
        cert.self_issued,
        is_ca=is_ca,
        key_type="EC" if "ecdsa" in signature.lower() else "RSA",
        key_size=cert.key_size or 0,
        signature_algorithm=signature,
    )


def _printed_name(text: str) -> x509.Name:
    """Windows' printed name as an x509.Name; a name outside the .NET syntax is kept whole as
    one CN so that it still compares and sizes consistently."""
    try:
        return parse_dotnet_x500(text)
    except NameSyntaxError:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
