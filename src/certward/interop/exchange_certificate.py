"""``Get-ExchangeCertificate | Format-List``: one record per certificate.

The default list view prints AccessRules, CertificateDomains, HasPrivateKey, IsSelfSigned,
Issuer, NotAfter, NotBefore, PublicKeySize, RootCAType, SerialNumber, Services, Status,
Subject and Thumbprint (``| fl *`` adds FriendlyName, PrivateKeyExportable and more, read
when present). Dates are in the server's culture.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from certward.codes.interop import DUMP_VALUE_MISSING
from certward.interop import _fields as f
from certward.interop.formatlist import FlRecord
from certward.model import ObservedCertificate, ServiceSet, StoreName, Thumbprint

__all__ = ["DATE_LABELS", "ExchangeCertificateEntry", "is_exchange_certificate", "read"]

DATE_LABELS = ("NotBefore", "NotAfter")
_MARKERS = frozenset({"certificatedomains", "services", "hasprivatekey", "isselfsigned"})


def is_exchange_certificate(record: FlRecord) -> bool:
    """Thumbprint and one of its other properties, or two of them: a record that lost its
    Thumbprint (a paste cut short) is still one, refused by :func:`read` as such."""
    shown = len(_MARKERS & record.labels)
    return ("thumbprint" in record.labels and shown >= 1) or shown >= 2


@dataclass(frozen=True, slots=True)
class ExchangeCertificateEntry:
    thumbprint: Thumbprint
    subject: str | None = None
    issuer: str | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    serial_number: str | None = None
    services: ServiceSet = field(default_factory=ServiceSet)
    status: str | None = None  # Valid, Untrusted, DateInvalid, Invalid, PendingRequest, ...
    has_private_key: bool | None = None
    is_self_signed: bool | None = None
    public_key_size: int | None = None
    certificate_domains: tuple[str, ...] = ()
    domains_truncated: bool = False  # "{a, b, c, d...}": $FormatEnumerationLimit cut it
    root_ca_type: str | None = None  # None, Registry, ThirdParty, Enterprise, GroupPolicy
    friendly_name: str | None = None  # fl * only
    private_key_exportable: bool | None = None  # fl * only
    # From the certificate itself when a dump carried it (CliXML RawData); None: not shown.
    der: bytes | None = None
    public_key_algorithm: str | None = None  # "RSA", "ECC", "DSA"
    signature_algorithm: str | None = None  # sha256RSA, ...
    key_provider: str | None = None

    def to_observed(
        self, server: str, store: StoreName = StoreName.MY, source: str = ""
    ) -> ObservedCertificate:
        f.require_shown(
            f"Get-ExchangeCertificate {self.thumbprint}",
            (
                ("Subject", self.subject),
                ("Issuer", self.issuer),
                ("NotBefore", self.not_before),
                ("NotAfter", self.not_after),
            ),
        )
        assert self.subject is not None and self.issuer is not None
        assert self.not_before is not None and self.not_after is not None
        return ObservedCertificate(
            server=server,
            store=store,
            thumbprint=self.thumbprint,
            subject=self.subject,
            issuer=self.issuer,
            not_before=self.not_before,
            not_after=self.not_after,
            dns_names=self.certificate_domains,
            services=self.services,
            has_private_key=bool(self.has_private_key),
            key_size=self.public_key_size,
            serial_number=self.serial_number or "",
            friendly_name=self.friendly_name or "",
            source=source,
            status=self.status,
            exportable=self.private_key_exportable,
            public_key_algorithm=self.public_key_algorithm,
            signature_algorithm=self.signature_algorithm,
            key_provider=self.key_provider,
            der=self.der,
        )


def read(record: FlRecord, dates: f.Dates) -> ExchangeCertificateEntry:
    thumbprint = f.thumbprint(record, "Thumbprint")
    if thumbprint is None:
        number = f" {record.index}" if record.index else ""
        shown = f.text(record, "Subject")
        raise DUMP_VALUE_MISSING(
            f"Get-ExchangeCertificate record{number} at line {record.line}"
            + (f" (Subject {shown!r})" if shown else "")
            + " shows no Thumbprint, which certward needs to tell the certificate; "
            "paste the whole record (Format-List prints Thumbprint last)",
            line=record.line,
            record=record.index,
            field="Thumbprint",
        )
    services = f.parsed(record, "Services", ServiceSet.parse)
    domains = f.collection(record, "CertificateDomains")
    serial = f.text(record, "SerialNumber")
    return ExchangeCertificateEntry(
        thumbprint=thumbprint,
        subject=f.text(record, "Subject"),
        issuer=f.text(record, "Issuer"),
        not_before=f.date(record, "NotBefore", dates),
        not_after=f.date(record, "NotAfter", dates),
        serial_number=None if serial is None else serial.replace(" ", "").upper(),
        services=ServiceSet() if services is None else services,
        status=f.text(record, "Status"),
        has_private_key=f.boolean(record, "HasPrivateKey"),
        is_self_signed=f.boolean(record, "IsSelfSigned"),
        public_key_size=f.integer(record, "PublicKeySize"),
        certificate_domains=domains.items,
        domains_truncated=domains.truncated,
        root_ca_type=f.text(record, "RootCAType"),
        friendly_name=f.text(record, "FriendlyName"),
        private_key_exportable=f.boolean(record, "PrivateKeyExportable"),
    )
