"""A real server's IIS HTTPS bindings, the back-end site on 444 included (HealthChecker's
IIS checks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health.evidence import collect_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import ERROR, day
from certward.health.snapshot import OrgSnapshot
from certward.interop.powershell import Raw, command, pipe, script
from certward.model import Evidence, IisBinding

BACK_END = "Exchange Back End"
BACK_END_PORT = 444


def _where(binding: IisBinding) -> str:
    return (
        f"{binding.site} {binding.protocol} {binding.address}:{binding.port}:{binding.host_header}"
    )


def _rebind(server: str, binding: IisBinding, thumbprint: str) -> Remediation:
    """Bind the site's HTTPS binding to a certificate that is on the server."""
    get = command(
        "Get-WebBinding",
        Name=binding.site,
        Protocol="https",
        Port=str(binding.port),
    )
    return Remediation(
        certward_command("cert", "enable", thumbprint, "--server", server, "--services", "IIS"),
        script(
            pipe(
                get,
                command(
                    "ForEach-Object", Raw('{ $_.AddSslCertificate("' + thumbprint + '", "My") }')
                ),
            )
        ),
    )


@rule(
    "CW-IIS-001",
    "IIS binding names a missing or expired certificate, or the back end is not on *:444",
    ERROR,
    prevents="HealthChecker: 'Certificate Binding Issue Detected' and 'Make sure Exchange Back "
    "End website is not bind with single IP Address'; OWA, ECP and EWS fail (HTTP 500, proxy "
    "errors) when the front end cannot reach the back end on 444",
    needs=(Evidence.IIS_BINDINGS, Evidence.MY_STORE),
    scope=lambda snap, state: not state.server.is_edge,
)
def iis_bindings(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """An IIS HTTPS binding (the Default Web Site on 443, the Exchange Back End site on 444)
    names a certificate that is not in the server's Personal store, or one that expired:
    error. The Exchange Back End site has no HTTPS binding on all addresses, port 444
    (``*:444:``): error (bound to one IP address, the front end cannot reach it)."""
    for state in snap.servers:
        facts = state.facts if state.observed else None
        if facts is None or state.server.is_edge:  # an Edge has no Exchange Back End site
            continue
        for binding in facts.iis_bindings:
            if binding.protocol.lower() != "https" or binding.thumbprint is None:
                continue
            cert = state.find(binding.thumbprint)
            if cert is None:
                text = f"{_where(binding)} names {binding.thumbprint}, which is not on the server"
            elif cert.profile.expired(now):
                text = (
                    f"{_where(binding)} names {binding.thumbprint}, expired on "
                    f"{day(cert.profile.not_after)}"
                )
            else:
                continue
            yield Finding(
                "CW-IIS-001",
                ERROR,
                state.name,
                text,
                _rebind(state.name, binding, "<thumbprint>"),
                {
                    "site": binding.site,
                    "port": binding.port,
                    "binding_thumbprint": binding.thumbprint,
                },
                thumbprint=binding.thumbprint,
            )
        back_end = [
            b for b in facts.iis_bindings
            if b.site.lower() == BACK_END.lower() and b.protocol.lower() == "https"
        ]  # fmt: skip
        if any(b.address == "*" and b.port == BACK_END_PORT for b in back_end):
            continue
        shown = ", ".join(f"{b.address}:{b.port}" for b in back_end) or "no HTTPS binding"
        if back_end:
            first = back_end[0]
            fix = command(
                "Set-WebBinding",
                Name=BACK_END,
                BindingInformation=f"{first.address}:{first.port}:{first.host_header}",
                PropertyName="IPAddress",
                Value="*",
            )
        else:
            fix = command(
                "New-WebBinding", Name=BACK_END, Protocol="https", Port="444", IPAddress="*"
            )
        yield Finding(
            "CW-IIS-001",
            ERROR,
            state.name,
            f"the {BACK_END} site is not bound to *:{BACK_END_PORT} ({shown})",
            Remediation(collect_command(), script(fix)),
            {"site": BACK_END, "bindings": shown},
        )
