"""What the rules share: severities, thresholds and remediation builders (pure)."""

from __future__ import annotations

import datetime as dt

from certward.commandline import AND, certward_command
from certward.health.findings import Remediation, Severity
from certward.health.snapshot import HeldCertificate
from certward.interop.powershell import (
    SWITCH,
    File,
    FileBytes,
    Raw,
    Script,
    assign,
    command,
    pipe,
    script,
)
from certward.model import (
    Connector,
    ConnectorKind,
    TlsAuthLevel,
)
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
    """The subject as Windows prints it."""
    return profile.subject_text


def renew(server: str, cert: HeldCertificate) -> Remediation:
    tp = cert.thumbprint
    get = command("Get-ExchangeCertificate", Thumbprint=tp, Server=server)
    if cert.profile.self_signed:
        new = command("New-ExchangeCertificate", Force=SWITCH, PrivateKeyExportable=True)
    else:
        new = command("New-ExchangeCertificate", GenerateRequest=SWITCH, PrivateKeyExportable=True)
    return Remediation(
        certward_command("cert", "renew", tp, "--server", server), script(pipe(get, new))
    )


def request_command(server: str, subject: str, domains: list[str]) -> str:
    """``certward cert request`` for a CA: the request in ``request.req``."""
    options = [arg for domain in domains for arg in ("--domain", domain)]
    return certward_command(
        "cert", "request", "--server", server, "--subject", subject, *options,
        "--out", "request.req",
    )  # fmt: skip


def copy_pfx_command(thumbprint: str, source: str, target: str, filename: str) -> str:
    """``certward cert export`` on ``source``, then ``cert import`` on ``target``."""
    export = certward_command(
        "cert", "export", thumbprint, "--server", source, "--out", filename,
        "--password-file", "pw.txt",
    )  # fmt: skip
    load = certward_command(
        "cert", "import", "--server", target, filename, "--password-file", "pw.txt"
    )
    return export + AND + load


def set_tls_name(connector: Connector, thumbprint: str) -> Remediation:
    cmdlet = "Set-SendConnector" if connector.kind is ConnectorKind.SEND else "Set-ReceiveConnector"
    return Remediation(
        certward_command("connector", "set", connector.identity, "--tls-certificate", thumbprint),
        script(
            assign("c", command("Get-ExchangeCertificate", Thumbprint=thumbprint)),
            command(
                cmdlet,
                connector.identity,
                TlsCertificateName=Raw('"<I>$($c.Issuer)<S>$($c.Subject)"'),
            ),
        ),
    )


def import_issuer(store: str) -> Script:
    """Put the missing issuer (``issuer.cer``, from its CA) in a Root or CA store."""
    return script(
        command(
            "Import-Certificate",
            FilePath=File("issuer.cer"),
            CertStoreLocation=Raw(f"Cert:\\LocalMachine\\{store}"),
        )
    )


def copy_pfx(thumbprint: str, source: str, target: str, filename: str) -> Script:
    """Export a certificate with its key on ``source`` and import it on ``target``."""
    return script(
        command(
            "Export-ExchangeCertificate",
            Thumbprint=thumbprint,
            Server=source,
            BinaryEncoded=SWITCH,
            Password=Raw("$pw"),
            FileName=File(filename),
        ),
        command(
            "Import-ExchangeCertificate",
            Server=target,
            FileData=FileBytes(File(filename)),
            Password=Raw("$pw"),
        ),
    )


def url_hosts(urls: tuple[str | None, ...]) -> list[str]:
    hosts = []
    for url in urls:
        if url:
            host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if host and host not in hosts:
                hosts.append(host)
    return hosts
