"""The default SMTP certificate, STARTTLS selection and the TLS policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health import tls as tlsreg
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    CRITICAL,
    ERROR,
    INFO,
    WARNING,
    day,
)
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import SWITCH, command, pipe, script
from certward.model import (
    AuthMechanism,
    Evidence,
)


@rule(
    "CW-TRANS-001",
    "No valid default SMTP certificate",
    CRITICAL,
    INFO,
    prevents="Seed 003/004: internal mail flow and EdgeSync need the default SMTP "
    "(internal transport) certificate",
    needs=(Evidence.TRANSPORT_SERVICE, Evidence.MY_STORE),
    scope=lambda snap, state: state.is_transport,
)
def default_smtp_certificate(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A transport server (Mailbox, Hub or Edge Transport) whose default SMTP certificate
    (InternalTransportCertificateThumbprint) is not set, not in its store, has no private key,
    or has expired (HealthChecker: "Valid Internal Transport Certificate Found On Server").
    For an observed server whose dumps did not say (no Get-TransportService), an info finding
    asks for it."""
    for state in snap.servers:
        if not state.is_transport:
            continue
        tp = state.server.default_smtp_thumbprint
        cert = state.find(tp)
        if tp is None:
            problem = "is not set"
        elif cert is None:
            problem = f"{tp} is not in the Personal store"
        elif not cert.has_private_key:
            problem = f"{tp} has no private key"
        elif cert.profile.expired(now):
            problem = f"{tp} expired on {day(cert.profile.not_after)}"
        else:
            continue
        name, fqdn = state.name, state.server.fqdn
        yield Finding(
            "CW-TRANS-001",
            CRITICAL,
            name,
            f"the default SMTP certificate {problem}",
            Remediation(
                certward_command(
                    "cert",
                    "new",
                    "--server",
                    name,
                    "--subject",
                    f"CN={name}",
                    "--domain",
                    name,
                    "--domain",
                    fqdn,
                    "--force",
                ),
                script(
                    command(
                        "New-ExchangeCertificate",
                        Server=name,
                        DomainName=[name, fqdn],
                        Services="SMTP",
                        Force=SWITCH,
                    )
                ),
            ),
            {"thumbprint": tp},
            thumbprint=tp,
        )


@rule(
    "CW-TRANS-002",
    "Receive connector cannot offer STARTTLS, or offers an expired certificate",
    ERROR,
    prevents="Events 12014 (no certificate for the connector's FQDN) and 12016 (the chosen "
    "certificate expired)",
    needs=(Evidence.RECEIVE_CONNECTOR, Evidence.EXCHANGE_CERTIFICATE),
    scope=lambda snap, state: state.is_transport,
)
def receive_starttls(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Predicts Exchange's STARTTLS certificate selection for every receive connector with
    AuthMechanism Tls: no eligible certificate (enabled for SMTP, with a private key, naming
    the connector's TlsCertificateName or FQDN) means event 12014 and no STARTTLS; an expired
    chosen certificate means event 12016."""
    for state in snap.servers:
        for connector in snap.receive_connectors(state.name):
            if AuthMechanism.TLS not in connector.auth_mechanism:
                continue
            chosen, name = snap.smtp_choice(state, connector)
            if chosen is None:
                covering = snap.smtp_candidate(state, connector)
                tp = covering.thumbprint if covering else "<thumbprint>"
                yield Finding(
                    "CW-TRANS-002",
                    ERROR,
                    state.name,
                    f"receive connector {connector.identity}: no certificate enabled for SMTP "
                    f"carries {name} (event 12014; STARTTLS is not offered)",
                    Remediation(
                        certward_command(
                            "cert",
                            "enable",
                            tp,
                            "--server",
                            state.name,
                            "--services",
                            "SMTP",
                            "--keep-default-smtp",
                        ),
                        script(
                            command(
                                "Enable-ExchangeCertificate",
                                Thumbprint=tp,
                                Server=state.name,
                                Services="SMTP",
                            )
                        ),
                    ),
                    {"event": 12014, "name": name},
                    connector=connector.identity,
                )
            elif chosen.profile.expired(now):
                yield Finding(
                    "CW-TRANS-002",
                    ERROR,
                    state.name,
                    f"receive connector {connector.identity} presents {chosen.thumbprint}, "
                    f"expired on {day(chosen.profile.not_after)} (event 12016)",
                    Remediation(
                        certward_command(
                            "cert", "renew", chosen.thumbprint, "--server", state.name
                        ),
                        script(
                            pipe(
                                command("Get-ExchangeCertificate", Thumbprint=chosen.thumbprint),
                                command(
                                    "New-ExchangeCertificate",
                                    GenerateRequest=SWITCH,
                                    PrivateKeyExportable=True,
                                ),
                            )
                        ),
                    ),
                    {"event": 12016},
                    thumbprint=chosen.thumbprint,
                    connector=connector.identity,
                )


@rule(
    "CW-TLS-001",
    "TLS 1.0 or 1.1 enabled",
    WARNING,
    prevents="Seed 002: TLS 1.0 and 1.1 are deprecated (Exchange Online refuses them since 2021)",
    needs=(Evidence.SCHANNEL,),
)
def legacy_tls(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A server accepts TLS 1.0 or TLS 1.1: certward's own by its TLS range; a real server by
    its SCHANNEL settings as HealthChecker reads them (Enabled not set is the Windows
    default, enabled; settings that disagree are CW-TLS-002's)."""
    for state in snap.servers:
        if state.observed:
            tls = state.facts.tls if state.facts else None
            if tls is None:
                continue
            versions = tlsreg.tls_versions(tls)
            enabled = [v for v in ("1.0", "1.1") if versions[v].configuration == "Enabled"]
            if not enabled:
                continue
            minimum = enabled[0]
        else:
            minimum = state.server.tls_min_version
            if minimum not in ("1.0", "1.1"):
                continue
            enabled = ["1.0", "1.1"][["1.0", "1.1"].index(minimum) :]
        yield Finding(
            "CW-TLS-001",
            WARNING,
            state.name,
            f"TLS {' and '.join(enabled)} enabled (minimum TLS {minimum})",
            Remediation(
                certward_command("server", "set", state.name, "--tls-min-version", "1.2"),
                script(
                    "foreach ($v in 'TLS 1.0','TLS 1.1') { New-Item -Force "
                    '"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\'
                    'Protocols\\$v\\Server" | New-ItemProperty -Name Enabled -Value 0 '
                    "-PropertyType DWord -Force }"
                ),
            ),
            {"tls_min_version": minimum},
        )
