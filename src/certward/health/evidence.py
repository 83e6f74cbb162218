"""Judging only what was shown: what each kind of output is collected with, and the one info
finding a rule gives for a server (or an organisation) whose dumps lacked what it needs.

A rule declares the outputs it needs (:class:`certward.model.Evidence`); the registry wraps
its check so that for an observed server lacking one of them its findings are replaced by
exactly one info finding "not judged: needs <the dump>" — never a failure. Organisation-wide
outputs (send connectors, Get-AuthConfig, edge subscriptions, hybrid) are judged once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from certward.commandline import AND, certward_command
from certward.interop.powershell import (
    SWITCH,
    Command,
    File,
    Raw,
    Script,
    command,
    pipe,
    script,
    to_file,
)
from certward.model import ORGANISATION_EVIDENCE, Evidence

# What an admin runs in the Exchange Management Shell to show each output (one file each).
_COLLECT: dict[Evidence, tuple[Command, str]] = {
    Evidence.EXCHANGE_SERVER: (command("Get-ExchangeServer"), "exchangeserver.xml"),
    Evidence.MY_STORE: (command("Get-ExchangeCertificate"), "exchangecertificate.xml"),
    Evidence.EXCHANGE_CERTIFICATE: (command("Get-ExchangeCertificate"), "exchangecertificate.xml"),
    Evidence.TRANSPORT_SERVICE: (command("Get-TransportService"), "transportservice.xml"),
    Evidence.RECEIVE_CONNECTOR: (command("Get-ReceiveConnector"), "receiveconnector.xml"),
    Evidence.SEND_CONNECTOR: (command("Get-SendConnector"), "sendconnector.xml"),
    Evidence.AUTH_CONFIG: (command("Get-AuthConfig"), "authconfig.xml"),
    Evidence.VIRTUAL_DIRECTORIES: (command("Get-OwaVirtualDirectory"), "owavirtualdirectory.xml"),
    Evidence.EDGE_SUBSCRIPTION: (command("Get-EdgeSubscription"), "edgesubscription.xml"),
    Evidence.HYBRID_CONFIGURATION: (command("Get-HybridConfiguration"), "hybridconfiguration.xml"),
    Evidence.IIS_BINDINGS: (command("Get-WebBinding"), "webbinding.xml"),
}
_CERTUTIL = {Evidence.ROOT_STORE: "root", Evidence.CA_STORE: "ca"}
_REGISTRY = {
    Evidence.SCHANNEL: "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL"
    "\\Protocols",
    Evidence.NET_TLS: "HKLM:\\SOFTWARE\\Microsoft\\.NETFramework",
    Evidence.ROOT_AUTO_UPDATE: "HKLM:\\SOFTWARE\\Policies\\Microsoft\\SystemCertificates\\AuthRoot",
}


def is_organisation_wide(evidence: Evidence) -> bool:
    return evidence in ORGANISATION_EVIDENCE


def names(missing: Iterable[Evidence]) -> str:
    """``Get-AuthConfig and the Root store (certutil -store root)``."""
    parts = [e.value for e in missing]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def not_judged_message(missing: Sequence[Evidence]) -> str:
    return f"not judged: needs {names(missing)}"


def _step(evidence: Evidence) -> Command:
    if evidence in _CERTUTIL:
        store = _CERTUTIL[evidence]
        return to_file(command("certutil", Raw("-store"), store), f"{store}.txt")
    if evidence in _REGISTRY:
        key = Raw(f'"{_REGISTRY[evidence]}"')
        values = (
            command("Get-ItemProperty", key)
            if evidence is Evidence.ROOT_AUTO_UPDATE
            else pipe(command("Get-ChildItem", key, Recurse=SWITCH), command("Get-ItemProperty"))
        )
        return pipe(values, command("Export-Clixml", File(f"{evidence.name.lower()}.xml")))
    cmdlet, filename = _COLLECT[evidence]
    return pipe(cmdlet, command("Export-Clixml", File(filename)))


def collect_script(missing: Sequence[Evidence]) -> Script:
    """The Exchange Management Shell commands that show the missing outputs, one file each."""
    steps: list[Command] = []
    for evidence in missing:
        step = _step(evidence)
        if step not in steps:
            steps.append(step)
    return script(*steps)


def collect_command() -> str:
    """certward's collector script for the whole organisation, then observe what it wrote."""
    return (
        certward_command("collector", "--out", "Collect-Certward.ps1")
        + AND
        + certward_command("observe", "collection.zip")
    )
