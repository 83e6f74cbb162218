"""The trusted-issuer list of a server's Root store (seed 001)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import OR, certward_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import (
    CRITICAL,
    WARNING,
)
from certward.health.snapshot import OrgSnapshot, ServerState
from certward.interop.powershell import script
from certward.model import Evidence
from certward.pki import clientca


@rule(
    "CW-ROOT-001",
    "Trusted-issuer list too long for Schannel",
    CRITICAL,
    WARNING,
    prevents="Seed 001: Schannel event 36885 (the trusted-issuer list was truncated) on the "
    "Hub, and on the UM server event 1423 with Microsoft.Exchange.Net.ExSmtpClient."
    "TlsApiFailureException: A TLS API failure occurred. Error = 0x80090301 (voicemail not "
    "delivered), when the Root store's names exceed 16,384 bytes",
    needs=(Evidence.ROOT_STORE,),
    scope=lambda snap, state: state.server.send_trusted_issuer_list and state.is_transport,
)
def trusted_issuer_list(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A server that sends its trusted-issuer list (SendTrustedIssuerList) and asks for client
    certificates (a receive connector with ExchangeServer authentication or domain security)
    sends the subject of every root in its Root store. Over 16,384 bytes Schannel truncates
    the list and mutual TLS fails: critical; over 12,288 bytes: warning. A real server whose
    receive connectors were not dumped is taken to have Exchange's Default receive connector,
    which asks for client certificates (ExchangeServer authentication), and the finding says
    it assumed so."""
    for state in snap.servers:
        if not state.server.send_trusted_issuer_list:
            continue
        assumed = None
        if snap.shows_on(state, Evidence.RECEIVE_CONNECTOR):
            connectors = snap.receive_connectors(state.name)
            if not any(c.requests_client_certificate for c in connectors):
                continue
        elif state.is_transport:
            roles = "/".join(sorted(r.value for r in state.server.roles))
            assumed = (
                f"Exchange {state.server.version.value} {roles}'s Default receive connector "
                "asks for client certificates (no Get-ReceiveConnector dump)"
            )
        else:
            continue
        size = clientca.encoded_size_of(r.profile.subject_der for r in state.roots)
        if size > clientca.SCHANNEL_LIMIT:
            severity = CRITICAL
        elif size > clientca.WARNING_LIMIT:
            severity = WARNING
        else:
            continue
        yield Finding(
            "CW-ROOT-001",
            severity,
            state.name,
            f"the trusted-issuer list of {len(state.roots)} roots takes {size} bytes "
            f"(Schannel's limit: {clientca.SCHANNEL_LIMIT}): event 36885 on this server, "
            "TlsApiFailureException 0x80090301 and event 1423 on its TLS clients; fix: trim "
            "the Root store, or stop sending the list",
            Remediation(
                certward_command(
                    "store", "remove", "--server", state.name, "--store", "Root", "<thumbprint>"
                )
                + OR
                + certward_command("server", "set", state.name, "--no-send-trusted-issuer-list"),
                script(
                    "certutil -delstore Root <thumbprint>  # or: Set-ItemProperty "
                    "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL "
                    "-Name SendTrustedIssuerList -Value 0 -Type DWord"
                ),
            ),
            _evidence(len(state.roots), size, _assumed(state, assumed)),
        )


def _assumed(state: ServerState, connector: str | None) -> str | None:
    """What the finding assumed of a real server: the Default receive connector, and
    Windows' default for SendTrustedIssuerList where no dump showed the setting."""
    parts = [connector] if connector else []
    if state.observed and state.server.send_trusted_issuer_list_setting is None:
        parts.append(
            f"Windows sends the trusted-issuer list by default under Exchange "
            f"{state.server.version.value} (SendTrustedIssuerList not dumped)"
        )
    return "; ".join(parts) or None


def _evidence(roots: int, size: int, assumed: str | None) -> dict[str, str | int]:
    evidence: dict[str, str | int] = {
        "roots": roots,
        "bytes": size,
        "limit": clientca.SCHANNEL_LIMIT,
        "event": 36885,
        "symptom": "event 36885 (Schannel) on this server; on a UM server event 1423, "
        "TlsApiFailureException: A TLS API failure occurred. Error = 0x80090301",
    }
    if assumed is not None:
        evidence["assumed"] = assumed
    return evidence
