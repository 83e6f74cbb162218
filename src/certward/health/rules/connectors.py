"""Send and Receive connectors' certificate names and TLS levels."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health.evidence import collect_command
from certward.health.findings import Finding, Remediation, Severity, rule
from certward.health.rules._common import (
    CRITICAL,
    ERROR,
    VALIDATING_LEVELS,
    WARNING,
    set_tls_name,
)
from certward.health.snapshot import OrgSnapshot, ServerState
from certward.interop.powershell import SWITCH, Raw, assign, command, pipe, script
from certward.model import (
    Connector,
    Evidence,
    TlsAuthLevel,
    TlsNameStatus,
)
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate


def _needs_tls_name(connector: Connector) -> bool:
    """Hybrid connectors (to and from Exchange Online) are matched by certificate name."""
    return connector.cloud_services_mail_enabled


@rule(
    "CW-CONN-001",
    "Connector TlsCertificateName does not resolve",
    CRITICAL,
    ERROR,
    prevents="Seed 002: hybrid mail flow stops after a renewal because the connector still "
    "names the old certificate",
    needs=(Evidence.MY_STORE,),
)
def connector_tls_name(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A connector's TlsCertificateName is empty where the connector needs it (hybrid),
    has invalid syntax, or names no certificate on one of its servers: error. It names only
    expired certificates while a newer certificate with the same names is in the store, the
    renewal gotcha of seed 002: critical."""
    for connector in snap.connectors:
        value = connector.tls_certificate_name
        for server in connector.servers:
            state = snap.server(server)
            if state is None:
                continue
            status, found = snap.resolve_tls_name(state, value, now=now)
            if status is TlsNameStatus.EMPTY:
                if not _needs_tls_name(connector):
                    break
                best = _best_for_names(snap, state.candidates(), now, None)
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"hybrid connector {connector.identity} has no TlsCertificateName",
                    set_tls_name(connector, best.thumbprint if best else "<thumbprint>"),
                    {"status": status.value},
                    connector=connector.identity,
                )
                break
            if status is TlsNameStatus.SYNTAX_INVALID:
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"connector {connector.identity}: TlsCertificateName {value!r} is not "
                    "of the form <I>issuer<S>subject",
                    set_tls_name(connector, "<thumbprint>"),
                    {"status": status.value, "value": value},
                    connector=connector.identity,
                )
                break
            if status is TlsNameStatus.NOT_FOUND:
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"connector {connector.identity}: no certificate on {server} matches "
                    f"its TlsCertificateName",
                    set_tls_name(connector, "<thumbprint>"),
                    {"status": status.value, "value": value},
                    connector=connector.identity,
                )
                continue
            if all(c.profile.expired(now) for c in found):
                renewed = _best_for_names(snap, state.candidates(), now, found[0].profile)
                if renewed is not None:
                    yield Finding(
                        "CW-CONN-001",
                        CRITICAL,
                        server,
                        f"connector {connector.identity} names only the expired certificate "
                        f"{found[0].thumbprint}; the renewed {renewed.thumbprint} (issuer "
                        f"{renewed.profile.issuer_text}) is not named",
                        set_tls_name(connector, renewed.thumbprint),
                        {"expired": found[0].thumbprint, "renewed": renewed.thumbprint},
                        thumbprint=found[0].thumbprint,
                        connector=connector.identity,
                    )
                else:
                    yield Finding(
                        "CW-CONN-001",
                        ERROR,
                        server,
                        f"connector {connector.identity} names only expired certificates",
                        Remediation(
                            certward_command(
                                "cert", "renew", found[0].thumbprint, "--server", server
                            ),
                            script(
                                pipe(
                                    command(
                                        "Get-ExchangeCertificate", Thumbprint=found[0].thumbprint
                                    ),
                                    command("New-ExchangeCertificate", GenerateRequest=SWITCH),
                                )
                            ),
                        ),
                        {"expired": found[0].thumbprint},
                        thumbprint=found[0].thumbprint,
                        connector=connector.identity,
                    )


def _best_for_names(
    snap: OrgSnapshot, candidates: list[Candidate], now: dt.datetime, like: CertProfile | None
) -> Candidate | None:
    """The newest valid CA-issued SMTP-capable certificate, with the same names as ``like``
    when given."""
    wanted = None if like is None else snap.names_key(like)
    pool = [
        c
        for c in candidates
        if not c.profile.expired(now)
        and not c.profile.self_signed
        and c.has_private_key
        and (wanted is None or snap.names_key(c.profile) == wanted)
    ]
    return max(pool, key=lambda c: c.profile.not_before, default=None)


@rule(
    "CW-CONN-002",
    "Secure send connector does not validate the certificate",
    WARNING,
    prevents="Seeds 000 and 002: domain security and hybrid mail need certificate validation",
    needs=(Evidence.SEND_CONNECTOR,),
)
def connector_tls_auth_level(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A domain-secure or hybrid Send connector whose TlsAuthLevel is not
    CertificateValidation or DomainValidation accepts any certificate from the peer."""
    for connector in snap.send_connectors():
        secure = connector.domain_secure_enabled or connector.cloud_services_mail_enabled
        if not secure or connector.tls_auth_level in VALIDATING_LEVELS:
            continue
        level = connector.tls_auth_level.value if connector.tls_auth_level else "not set"
        yield Finding(
            "CW-CONN-002",
            WARNING,
            None,
            f"send connector {connector.name} is domain-secure or hybrid but its "
            f"TlsAuthLevel is {level}",
            Remediation(
                certward_command(
                    "connector",
                    "set",
                    connector.identity,
                    "--require-tls",
                    "--tls-auth-level",
                    "CertificateValidation",
                ),
                script(
                    command(
                        "Set-SendConnector",
                        connector.name,
                        RequireTLS=True,
                        TlsAuthLevel="CertificateValidation",
                    )
                ),
            ),
            {"tls_auth_level": level},
            connector=connector.identity,
        )


# HealthChecker's patterns (Invoke-AnalyzerFrequentConfigurationIssues.ps1).
_EOP_HOST = re.compile(
    r"^[^.]+\.mail\.protection\.(outlook\.com|partner\.outlook\.cn|office365\.us)$", re.I
)
_REMOTE_ROUTING = re.compile(
    r"^[^.]+\.mail\.(onmicrosoft\.com|partner\.onmschina\.cn|onmicrosoft\.us)$", re.I
)
_SERVICE_DOMAIN = re.compile(
    r"^mail\.protection\.(outlook\.com|partner\.outlook\.cn|office365\.us)$", re.I
)


def _address(space: str) -> str:
    """``SMTP:contoso.mail.onmicrosoft.com;1`` → ``contoso.mail.onmicrosoft.com``."""
    value = space.split(":", 1)[1] if ":" in space.split(".", 1)[0] else space
    return value.split(";", 1)[0].strip()


def to_exchange_online(connector: Connector) -> bool:
    """A send connector to Exchange Online: a smart host of Exchange Online Protection, or
    no smart host and a remote routing domain (contoso.mail.onmicrosoft.com)."""
    if any(_EOP_HOST.match(h.host) for h in connector.smart_hosts):
        return True
    return not connector.smart_hosts and any(
        _REMOTE_ROUTING.match(_address(a)) for a in connector.address_spaces
    )


def _relays_internet(connector: Connector) -> bool:
    """Internet mail relayed through Microsoft 365: an EOP smart host for address space *."""
    return any(_EOP_HOST.match(h.host) for h in connector.smart_hosts) and any(
        "*" in _address(a) for a in connector.address_spaces
    )


@rule(
    "CW-CONN-003",
    "Send connector to Exchange Online misconfigured",
    ERROR,
    WARNING,
    prevents="HealthChecker: 'Misconfigured to send authenticated internal mail to M365' "
    "(https://aka.ms/HC-ExoConnectorIssue); hybrid mail arrives as anonymous external mail or "
    "is refused",
    needs=(Evidence.SEND_CONNECTOR,),
)
def exchange_online_connector(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A send connector to Exchange Online (an EOP smart host, or a remote routing domain)
    with CloudServicesMailEnabled false; with neither Fqdn nor TlsCertificateName set (the
    server's internal FQDN picks the certificate); with TlsAuthLevel below
    CertificateValidation (where CW-CONN-002 does not already say so); or with
    DomainValidation and a TlsDomain other than mail.protection.outlook.com: warning. One
    relaying internet mail through Microsoft 365 without RequireTLS: error."""
    for connector in snap.send_connectors():
        if not to_exchange_online(connector):
            continue
        if _relays_internet(connector):
            severity, problems = _relay_problems(connector)
        else:
            severity, problems = WARNING, _hybrid_problems(connector)
        if not problems:
            continue
        yield Finding(
            "CW-CONN-003",
            severity,
            None,
            f"send connector {connector.name} to Exchange Online: {'; '.join(problems)}",
            Remediation(
                certward_command(
                    "connector", "set", connector.identity, "--cloud-services-mail",
                    "--require-tls", "--tls-auth-level", "DomainValidation",
                    "--tls-domain", "mail.protection.outlook.com",
                ),
                script(
                    command(
                        "Set-SendConnector",
                        connector.name,
                        CloudServicesMailEnabled=True,
                        RequireTLS=True,
                        TlsAuthLevel="DomainValidation",
                        TlsDomain="mail.protection.outlook.com",
                    )
                ),
            ),
            {"problems": "; ".join(problems)},
            connector=connector.identity,
        )  # fmt: skip


def _relay_problems(connector: Connector) -> tuple[Severity, list[str]]:
    """Relaying internet mail through Microsoft 365: HealthChecker skips the hybrid checks
    and wants certificate validation and RequireTLS."""
    problems = []
    if connector.tls_auth_level not in VALIDATING_LEVELS or (
        connector.tls_auth_level is TlsAuthLevel.DOMAIN_VALIDATION and not connector.tls_domain
    ):
        level = connector.tls_auth_level.value if connector.tls_auth_level else "not set"
        problems.append(f"TlsAuthLevel is {level}, not CertificateValidation")
    if not connector.require_tls:
        problems.append("RequireTLS is false while it relays internet mail through Microsoft 365")
        return ERROR, problems
    return WARNING, problems


def _hybrid_problems(connector: Connector) -> list[str]:
    problems = []
    if not connector.cloud_services_mail_enabled:
        problems.append("CloudServicesMailEnabled is false")
    if connector.fqdn is None and not connector.tls_certificate_name:
        problems.append("neither Fqdn nor TlsCertificateName is set")
    secure = connector.domain_secure_enabled or connector.cloud_services_mail_enabled
    if connector.tls_auth_level not in VALIDATING_LEVELS and not secure:
        level = connector.tls_auth_level.value if connector.tls_auth_level else "not set"
        problems.append(f"TlsAuthLevel is {level}, not CertificateValidation")
    if connector.tls_auth_level is TlsAuthLevel.DOMAIN_VALIDATION and not (
        connector.tls_domain and _SERVICE_DOMAIN.match(connector.tls_domain)
    ):
        domain = connector.tls_domain or "not set"
        problems.append(f"TlsDomain is {domain}, not mail.protection.outlook.com")
    return problems


def _hybrid_servers(snap: OrgSnapshot, state: ServerState) -> bool:
    """Servers that carry hybrid mail: a source or receive server of a cloud connector."""
    return any(state.name in c.servers for c in snap.connectors if c.cloud_services_mail_enabled)


@rule(
    "CW-HYB-001",
    "Get-HybridConfiguration names no valid certificate",
    ERROR,
    prevents="Seed 002: after a renewal the Hybrid Configuration Wizard's TlsCertificateName "
    "still names the old certificate; rerunning the wizard writes it back to the connectors",
    needs=(Evidence.HYBRID_CONFIGURATION, Evidence.MY_STORE),
    scope=_hybrid_servers,
)
def hybrid_configuration(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Get-HybridConfiguration's TlsCertificateName (which HealthChecker shows, and the
    Hybrid Configuration Wizard writes to the hybrid connectors) is empty, malformed, names no
    certificate on a server that carries hybrid mail, or names only expired ones: error."""
    hybrid = snap.observed_organisation.hybrid if snap.observed_organisation else None
    if hybrid is None:
        return
    value = hybrid.tls_certificate_name
    for state in snap.servers:
        if not _hybrid_servers(snap, state):
            continue
        status, found = snap.resolve_tls_name(state, value, now=now)
        if status is TlsNameStatus.MATCH and not all(c.profile.expired(now) for c in found):
            continue
        if status is TlsNameStatus.MATCH:
            text = f"names only expired certificates ({found[0].thumbprint})"
        elif status is TlsNameStatus.EMPTY:
            text = "is empty"
        elif status is TlsNameStatus.SYNTAX_INVALID:
            text = f"{value!r} is not of the form <I>issuer<S>subject"
        else:
            text = f"names no certificate on {state.name}"
        best = _best_for_names(snap, state.candidates(), now, None)
        yield Finding(
            "CW-HYB-001",
            ERROR,
            state.name,
            f"Get-HybridConfiguration's TlsCertificateName {text}",
            Remediation(
                collect_command(),
                script(
                    assign(
                        "c",
                        command(
                            "Get-ExchangeCertificate",
                            Thumbprint=best.thumbprint if best else "<thumbprint>",
                        ),
                    ),
                    command(
                        "Set-HybridConfiguration",
                        TlsCertificateName=Raw('"<I>$($c.Issuer)<S>$($c.Subject)"'),
                    ),
                ),
            ),
            {"status": status.value, "value": value},
        )
