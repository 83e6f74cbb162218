"""``Get-AuthConfig | Format-List`` and ``Get-TransportService | Format-List``.

Get-AuthConfig: CurrentCertificateThumbprint, PreviousCertificateThumbprint,
NextCertificateThumbprint, NextCertificateEffectiveDate (server culture), ServiceName,
Realm. Get-TransportService: Name and InternalTransportCertificateThumbprint (the default
SMTP certificate, seed 004's EdgeSync certificate), one record per server.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from certward.interop import _fields as f
from certward.interop.formatlist import FlRecord
from certward.model import AuthConfig, Thumbprint
from certward.model.organisation import EXCHANGE_SERVICE_NAME

__all__ = [
    "AUTH_DATE_LABELS",
    "AuthConfigEntry",
    "TransportServiceEntry",
    "is_auth_config",
    "is_transport_service",
    "read_auth_config",
    "read_transport_service",
]

AUTH_DATE_LABELS = ("NextCertificateEffectiveDate",)


def is_auth_config(record: FlRecord) -> bool:
    return "currentcertificatethumbprint" in record.labels


def is_transport_service(record: FlRecord) -> bool:
    return "internaltransportcertificatethumbprint" in record.labels


@dataclass(frozen=True, slots=True)
class AuthConfigEntry:
    current_certificate_thumbprint: Thumbprint | None = None
    previous_certificate_thumbprint: Thumbprint | None = None
    next_certificate_thumbprint: Thumbprint | None = None
    next_certificate_effective_date: dt.datetime | None = None
    service_name: str | None = None
    realm: str | None = None

    def to_auth_config(self) -> AuthConfig:
        return AuthConfig(
            current_thumbprint=self.current_certificate_thumbprint,
            next_thumbprint=self.next_certificate_thumbprint,
            next_effective=self.next_certificate_effective_date,
            previous_thumbprint=self.previous_certificate_thumbprint,
            service_name=self.service_name or EXCHANGE_SERVICE_NAME,
            realm=self.realm or "",
        )


@dataclass(frozen=True, slots=True)
class TransportServiceEntry:
    name: str
    internal_transport_certificate_thumbprint: Thumbprint | None = None


def read_auth_config(record: FlRecord, dates: f.Dates) -> AuthConfigEntry:
    return AuthConfigEntry(
        current_certificate_thumbprint=f.thumbprint(record, "CurrentCertificateThumbprint"),
        previous_certificate_thumbprint=f.thumbprint(record, "PreviousCertificateThumbprint"),
        next_certificate_thumbprint=f.thumbprint(record, "NextCertificateThumbprint"),
        next_certificate_effective_date=f.date(record, "NextCertificateEffectiveDate", dates),
        service_name=f.text(record, "ServiceName"),
        realm=f.text(record, "Realm"),
    )


def read_transport_service(record: FlRecord) -> TransportServiceEntry:
    name = f.text(record, "Name") or f.required(record, "Identity")
    return TransportServiceEntry(
        name=name,
        internal_transport_certificate_thumbprint=f.thumbprint(
            record, "InternalTransportCertificateThumbprint"
        ),
    )
