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
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import script
from certward.pki import clientca


@rule(
    "CW-ROOT-001",
    "Trusted-issuer list too long for Schannel",
    CRITICAL,
    WARNING,
    prevents="Seed 001: event 36885 and TlsApiFailureException 0x80090301 when the Root "
    "store's names exceed 16,384 bytes",
)
def trusted_issuer_list(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A server that sends its trusted-issuer list (SendTrustedIssuerList) and asks for client
    certificates (a receive connector with ExchangeServer authentication or domain security)
    sends the subject of every root in its Root store. Over 16,384 bytes Schannel truncates
    the list and mutual TLS fails: critical; over 12,288 bytes: warning."""
    for state in snap.servers:
        if not state.server.send_trusted_issuer_list:
            continue
        asking = [c for c in snap.receive_connectors(state.name) if c.requests_client_certificate]
        if not asking:
            continue
        size = clientca.encoded_size([r.profile.subject for r in state.roots])
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
            f"(Schannel's limit: {clientca.SCHANNEL_LIMIT}); fix: trim the Root store, or "
            "stop sending the list",
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
            {"roots": len(state.roots), "bytes": size, "limit": clientca.SCHANNEL_LIMIT},
        )
