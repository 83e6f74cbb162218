"""Self-signed certificates where clients or partners need a CA."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import AND, certward_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    ERROR,
    VALIDATING_LEVELS,
    request_command,
    set_tls_name,
    subject_text,
    url_hosts,
)
from certward.health.snapshot import OrgSnapshot, ServerState
from certward.interop.powershell import SWITCH, File, FileBytes, Script, command, script
from certward.model import (
    Connector,
    ConnectorKind,
    Evidence,
    Service,
)
from certward.pki.selection import Candidate, select_certificate


@rule(
    "CW-SELF-001",
    "Self-signed certificate on IIS with external URLs",
    ERROR,
    prevents="Seed 003: Outlook Anywhere and ActiveSync do not work with a self-signed certificate",
    needs=(Evidence.VIRTUAL_DIRECTORIES, Evidence.EXCHANGE_CERTIFICATE),
    scope=lambda snap, state: not state.server.is_edge,
)
def self_signed_iis(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The certificate bound to IIS is self-signed while a virtual directory has an external
    URL: external clients cannot trust it."""
    for state in snap.servers:
        external = url_hosts(tuple(v.external_url for v in state.vdirs))
        chosen = snap.iis_choice(state, now) if external else None
        if chosen is None or not chosen.profile.self_signed:
            continue
        yield Finding(
            "CW-SELF-001",
            ERROR,
            state.name,
            f"IIS uses the self-signed {subject_text(chosen.profile)} while external URLs "
            f"({', '.join(external)}) are set",
            Remediation(
                request_command(state.name, f"CN={external[0]}", external),
                script(
                    command(
                        "New-ExchangeCertificate",
                        GenerateRequest=SWITCH,
                        SubjectName=f"CN={external[0]}",
                        DomainName=external,
                        PrivateKeyExportable=True,
                    )
                ),
            ),
            {"external": ", ".join(external)},
            thumbprint=chosen.thumbprint,
        )


@rule(
    "CW-SELF-002",
    "Self-signed certificate on a domain-secure or mutual-TLS connector",
    ERROR,
    prevents="Seeds 000 and 002: the partner (or Exchange Online) refuses a self-signed "
    "certificate in mutual TLS",
    needs=(Evidence.EXCHANGE_CERTIFICATE,),
    scope=lambda snap, state: bool(snap.connectors_of(state.name)),
)
def self_signed_connector(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A domain-secure receive connector presents a self-signed certificate, or a
    domain-secure, hybrid or certificate-validating send connector would present one; mutual
    TLS needs a certificate from a CA the partner trusts."""
    for connector in snap.connectors:
        secure = connector.domain_secure_enabled or connector.cloud_services_mail_enabled
        if connector.kind is ConnectorKind.SEND:
            secure = secure or connector.tls_auth_level in VALIDATING_LEVELS
        if not secure:
            continue
        for server in connector.servers:
            state = snap.server(server)
            if state is None:
                continue
            presented = _presented(snap, state, connector, now)
            if presented is None or not presented.profile.self_signed:
                continue
            fqdn = state.server.fqdn
            then = set_tls_name(connector, "<new thumbprint>")
            yield Finding(
                "CW-SELF-002",
                ERROR,
                server,
                f"connector {connector.identity} presents the self-signed "
                f"{subject_text(presented.profile)}",
                Remediation(
                    request_command(server, f"CN={fqdn}", [fqdn])
                    + AND
                    + certward_command("cert", "import", "--server", server, "reply.cer")
                    + AND
                    + then.certward,
                    Script(
                        (
                            command(
                                "New-ExchangeCertificate",
                                Server=server,
                                GenerateRequest=SWITCH,
                                SubjectName=f"CN={fqdn}",
                                DomainName=[fqdn],
                                RequestFile=File("request.req"),
                            ),
                            command(
                                "Import-ExchangeCertificate",
                                Server=server,
                                FileData=FileBytes(File("reply.cer")),
                            ),
                            *then.ems.steps,
                        )
                    ),
                ),
                {"presented": presented.thumbprint},
                thumbprint=presented.thumbprint,
                connector=connector.identity,
            )


def _presented(
    snap: OrgSnapshot, state: ServerState, connector: Connector, now: dt.datetime
) -> Candidate | None:
    """The certificate the server presents on this connector (as certward's endpoints do)."""
    candidates = state.candidates()
    if connector.kind is ConnectorKind.RECEIVE:
        return select_certificate(
            candidates,
            service=Service.SMTP,
            now=now,
            host_name=connector.fqdn or state.server.fqdn,
            tls_certificate_name=connector.tls_certificate_name,
        ).chosen
    _status, found = snap.resolve_tls_name(state, connector.tls_certificate_name, now=now)
    if found:
        return found[0]
    held = state.find(state.server.default_smtp_thumbprint)
    return held.candidate() if held else None
