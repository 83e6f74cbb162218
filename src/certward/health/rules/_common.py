"""What the rules share: severities, thresholds and remediation builders (pure)."""

from __future__ import annotations

import datetime as dt

from certward.health.findings import Remediation, Severity
from certward.health.snapshot import HeldCertificate
from certward.model import (
    Connector,
    ConnectorKind,
    TlsAuthLevel,
)
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile

CRITICAL, ERROR, WARNING, INFO = (
    Severity.CRITICAL,
    Severity.ERROR,
    Severity.WARNING,
    Severity.INFO,
)
AUTH_RENEWAL_DAYS = 60  # MonitorExchangeAuthCertificate.ps1 renews at 60 days
CA_RENEWAL_NOTICE_DAYS = 90  # a public CA's first renewal notice (seed 002)
VALIDATING_LEVELS = (TlsAuthLevel.CERTIFICATE_VALIDATION, TlsAuthLevel.DOMAIN_VALIDATION)


def day(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%d}"


def subject_text(profile: CertProfile) -> str:
    return dotnet_x500(profile.subject)


def renew(server: str, cert: HeldCertificate) -> Remediation:
    tp = cert.thumbprint
    if cert.profile.self_signed:
        shell = (
            f"Get-ExchangeCertificate -Thumbprint {tp} -Server {server} | "
            "New-ExchangeCertificate -Force -PrivateKeyExportable $true"
        )
    else:
        shell = (
            f"Get-ExchangeCertificate -Thumbprint {tp} -Server {server} | "
            "New-ExchangeCertificate -GenerateRequest -PrivateKeyExportable $true"
        )
    return Remediation(f"certward cert renew {tp} --server {server}", shell)


def set_tls_name(connector: Connector, thumbprint: str) -> Remediation:
    cmdlet = "Set-SendConnector" if connector.kind is ConnectorKind.SEND else "Set-ReceiveConnector"
    return Remediation(
        f'certward connector set "{connector.identity}" --tls-certificate {thumbprint}',
        f"$c = Get-ExchangeCertificate -Thumbprint {thumbprint}; "
        f'{cmdlet} "{connector.identity}" -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)"',
    )


def url_hosts(urls: tuple[str | None, ...]) -> list[str]:
    hosts = []
    for url in urls:
        if url:
            host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if host and host not in hosts:
                hosts.append(host)
    return hosts


def names_key(profile: CertProfile) -> tuple[str, ...]:
    """What makes two certificates "the same certificate, renewed": their names."""
    return tuple(sorted({d.lower() for d in profile.certificate_domains}))
