"""Read models: a certificate as ``cert show`` prints it (Get-ExchangeCertificate's fields)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509

from certward.model import (
    CertificateRecord,
    CertStatus,
    ObservedCertificate,
    Server,
    ServiceSet,
    StoreName,
)
from certward.model.certfacts import CertFacts
from certward.pki import certinfo, chain
from certward.pki.names import dotnet_x500


@dataclass(frozen=True, slots=True)
class CertificateView:
    server: str
    store: StoreName
    thumbprint: str
    subject: str
    issuer: str
    certificate_domains: tuple[str, ...]
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    services: ServiceSet
    status: CertStatus
    is_self_signed: bool
    has_private_key: bool
    private_key_exportable: bool
    public_key_size: int
    signature_algorithm: str
    serial_number: str
    friendly_name: str
    key_provider: str | None
    is_default_smtp: bool
    is_auth_certificate: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "certificate_domains": list(self.certificate_domains),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "services": self.services.names,
            "services_flags": self.services.flags,
            "status": self.status.value,
            "is_self_signed": self.is_self_signed,
            "has_private_key": self.has_private_key,
            "private_key_exportable": self.private_key_exportable,
            "public_key_size": self.public_key_size,
            "signature_algorithm": self.signature_algorithm,
            "serial_number": self.serial_number,
            "friendly_name": self.friendly_name,
            "key_provider": self.key_provider,
            "is_default_smtp": self.is_default_smtp,
            "is_auth_certificate": self.is_auth_certificate,
            "server": self.server,
            "store": self.store.value,
        }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CertificateReads(Protocol):
    """What :meth:`TrustStores.of` reads: a server's certificates by store."""

    def certificates(
        self, server: str, store: StoreName | None = None
    ) -> list[CertificateRecord]: ...


@dataclass(frozen=True, slots=True)
class TrustStores:
    """The Root and CA stores of one server, parsed once per operation."""

    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]

    @classmethod
    def of(cls, repo: CertificateReads, server: str) -> TrustStores:
        def load(store: StoreName) -> list[x509.Certificate]:
            return [
                certinfo.load_der(r.der)
                for r in repo.certificates(server, store)
                if r.der is not None
            ]

        return cls(roots=load(StoreName.ROOT), intermediates=load(StoreName.CA))


@dataclass(frozen=True, slots=True)
class _Content:
    """What the certificate (or the request) itself says."""

    subject: str
    issuer: str
    certificate_domains: tuple[str, ...]
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    status: CertStatus
    is_self_signed: bool
    public_key_size: int
    signature_algorithm: str
    serial_number: str


def _content(
    record: CertificateRecord,
    trust: TrustStores,
    now: dt.datetime,
    cert: x509.Certificate | None = None,
    facts: CertFacts | None = None,
) -> _Content:
    if record.csr_der is not None:
        csr = x509.load_der_x509_csr(record.csr_der)
        return _Content(
            subject=dotnet_x500(csr.subject),
            issuer="",
            certificate_domains=tuple(certinfo.certificate_domains(csr)),
            not_before=None,
            not_after=None,
            status=CertStatus.PENDING_REQUEST,
            is_self_signed=False,
            public_key_size=certinfo.key_size(csr.public_key()),
            signature_algorithm=certinfo.signature_algorithm(csr),
            serial_number="",
        )
    read: CertFacts | _Facts
    if facts is None:
        assert record.der is not None
        cert = certinfo.load_der(record.der) if cert is None else cert
        read = _facts(cert)
    else:
        read = facts
    if not read.not_before <= now <= read.not_after:
        status = CertStatus.DATE_INVALID
    elif read.self_signed:  # its signature checked once, when its facts were made
        status = CertStatus.VALID
    else:
        if cert is None:
            assert record.der is not None, "a CA-issued certificate's status needs its DER"
            cert = certinfo.load_der(record.der)
        status = chain.certificate_status(
            cert, roots=trust.roots, intermediates=trust.intermediates, now=now
        )
    return _Content(
        subject=read.subject_text,
        issuer=read.issuer_text,
        certificate_domains=read.certificate_domains,
        not_before=read.not_before,
        not_after=read.not_after,
        status=status,
        is_self_signed=read.self_signed,
        public_key_size=read.key_size,
        signature_algorithm=read.signature_algorithm,
        serial_number=read.serial_number,
    )


def needs_chain(facts: CertFacts, now: dt.datetime) -> bool:
    """Whether the Status of the certificate of ``facts`` depends on the trust stores (it is
    within its dates and not self-signed): only then are they parsed."""
    return facts.not_before <= now <= facts.not_after and not facts.self_signed


@dataclass(frozen=True, slots=True)
class _Facts:
    """:func:`certinfo.facts` in the fields of :class:`CertFacts` that a view reads."""

    subject_text: str
    issuer_text: str
    certificate_domains: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool
    key_size: int
    signature_algorithm: str
    serial_number: str


def _facts(cert: x509.Certificate) -> _Facts:
    facts = certinfo.facts(cert)
    return _Facts(
        subject_text=facts.subject,
        issuer_text=facts.issuer,
        certificate_domains=facts.certificate_domains,
        not_before=facts.not_before,
        not_after=facts.not_after,
        self_signed=facts.is_self_signed,
        key_size=facts.public_key_size,
        signature_algorithm=facts.signature_algorithm,
        serial_number=facts.serial_number,
    )


def describe(
    record: CertificateRecord,
    *,
    server: Server,
    trust: TrustStores,
    now: dt.datetime,
    auth_thumbprint: str | None,
    certificate: x509.Certificate | None = None,
    facts: CertFacts | None = None,
) -> CertificateView:
    """``record`` as Get-ExchangeCertificate shows it; ``certificate``: its DER already
    parsed (by a caller that parsed the store for ``trust``); ``facts``: its recorded facts
    (then nothing is parsed, unless its Status depends on ``trust``: :func:`needs_chain`)."""
    content = _content(record, trust, now, certificate, facts)
    return CertificateView(
        server=server.name,
        store=record.store,
        thumbprint=record.thumbprint,
        subject=content.subject,
        issuer=content.issuer,
        certificate_domains=content.certificate_domains,
        not_before=content.not_before,
        not_after=content.not_after,
        services=record.services,
        status=content.status,
        is_self_signed=content.is_self_signed,
        has_private_key=record.has_private_key,
        private_key_exportable=record.exportable and record.has_private_key,
        public_key_size=content.public_key_size,
        signature_algorithm=content.signature_algorithm,
        serial_number=content.serial_number,
        friendly_name=record.friendly_name,
        key_provider=record.key_provider,
        is_default_smtp=server.default_smtp_thumbprint == record.thumbprint,
        is_auth_certificate=auth_thumbprint == record.thumbprint,
    )


def describe_observed(
    cert: ObservedCertificate,
    *,
    server: Server,
    status: CertStatus,
    auth_thumbprint: str | None,
) -> CertificateView:
    """A certificate of an observed server, as its dumps showed it (certward has no key)."""
    return CertificateView(
        server=server.name,
        store=cert.store,
        thumbprint=cert.thumbprint,
        subject=cert.subject,
        issuer=cert.issuer,
        certificate_domains=cert.dns_names,
        not_before=cert.not_before,
        not_after=cert.not_after,
        services=cert.services,
        status=status,
        is_self_signed=cert.self_issued,
        has_private_key=cert.has_private_key,
        private_key_exportable=False,
        public_key_size=cert.key_size or 0,
        signature_algorithm=cert.signature_algorithm or "",
        serial_number=cert.serial_number,
        friendly_name=cert.friendly_name,
        key_provider=cert.key_provider,
        is_default_smtp=server.default_smtp_thumbprint == cert.thumbprint,
        is_auth_certificate=auth_thumbprint == cert.thumbprint,
    )


def exchange_datetime(value: dt.datetime) -> str:
    """The en-US form Exchange prints in its prompts: ``10/4/2028 12:15:41 PM`` (UTC)."""
    value = value.astimezone(dt.UTC)
    hour = value.hour % 12 or 12
    suffix = "AM" if value.hour < 12 else "PM"
    return f"{value.month}/{value.day}/{value.year} {hour}:{value:%M:%S} {suffix}"
