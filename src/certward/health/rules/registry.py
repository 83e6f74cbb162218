"""A real server's TLS registry settings, as HealthChecker reads them: SCHANNEL protocols,
.NET Framework TLS defaults and automatic root certificate updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from certward.commandline import certward_command
from certward.health import tls as tlsreg
from certward.health.evidence import collect_command
from certward.health.findings import Finding, Remediation, rule
from certward.health.rules._common import ERROR, WARNING
from certward.health.snapshot import OrgSnapshot, ServerState
from certward.interop.powershell import script
from certward.model import Evidence, TlsRegistry

_SCHANNEL = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols"
# Exchange Online's root since 2026-03-15 (HealthChecker's TrustedRootCertificatesCheck).
EXO_ROOT = "DigiCert Global Root G2"


def _registry(state: ServerState) -> TlsRegistry | None:
    """The settings a real server's collection showed; certward's own servers have none."""
    return state.facts.tls if state.observed and state.facts else None


def _set_protocol(version: str, enabled: bool) -> str:
    """Both sides of one TLS version set as HealthChecker's TLS guide sets them."""
    on, dbd = (1, 0) if enabled else (0, 1)
    return (
        f"foreach ($side in 'Server','Client') {{ $k = New-Item -Force "
        f'"{_SCHANNEL}\\TLS {version}\\$side"; '
        f"New-ItemProperty -Path $k.PSPath -Name Enabled -Value {on} -PropertyType DWord "
        f"-Force; New-ItemProperty -Path $k.PSPath -Name DisabledByDefault -Value {dbd} "
        "-PropertyType DWord -Force }"
    )


def _collect(state: ServerState) -> str:
    """certward cannot change a real server's registry: after the fix, collect again."""
    return collect_command()


@rule(
    "CW-TLS-002",
    "SCHANNEL TLS client and server settings disagree",
    ERROR,
    WARNING,
    prevents="HealthChecker: 'Mismatch in TLS version for client and server'; Exchange is both "
    "a TLS client and server, so a version enabled on one side only breaks its own connections",
    needs=(Evidence.SCHANNEL,),
)
def schannel_consistency(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A TLS version (1.0 to 1.3) whose SCHANNEL Client and Server keys disagree
    (Misconfigured), whose Server key is half disabled (Enabled and DisabledByDefault
    contradict), or TLS 1.2 disabled: error. TLS 1.3 enabled: warning (Exchange supports it
    only from Exchange 2019 CU15 and Exchange SE on Windows Server 2022)."""
    for state in snap.servers:
        registry = _registry(state)
        if registry is None:
            continue
        for version, setting in tlsreg.tls_versions(registry).items():
            configuration = setting.configuration
            if configuration in ("Misconfigured", "Half Disabled"):
                severity, text = ERROR, f"TLS {version} is {configuration}"
                if configuration == "Misconfigured":
                    text += " (client and server settings disagree)"
                enable = version in ("1.2",) or (
                    version != "1.3" and setting.server_enabled and setting.client_enabled
                )
            elif version == "1.2" and configuration == "Disabled":
                severity, text, enable = ERROR, "TLS 1.2 is disabled", True
            elif version == "1.3" and configuration == "Enabled":
                severity, enable = WARNING, False
                text = (
                    "TLS 1.3 is enabled; Exchange supports it only from Exchange 2019 CU15 "
                    "and Exchange SE on Windows Server 2022"
                )
            else:
                continue
            yield Finding(
                "CW-TLS-002",
                severity,
                state.name,
                text,
                Remediation(_collect(state), script(_set_protocol(version, enable))),
                {"tls_version": version, "configuration": configuration,
                 "registry": setting.values()},
            )  # fmt: skip


@rule(
    "CW-TLS-003",
    ".NET Framework does not use the system's TLS versions",
    ERROR,
    WARNING,
    prevents="HealthChecker: 'SystemDefaultTlsVersions or SchUseStrongCrypto is not set to the "
    "recommended value'; Exchange's .NET code then offers only the old TLS versions",
    needs=(Evidence.NET_TLS,),
)
def net_tls(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """.NET Framework 4 (v4.0.30319, 64-bit and Wow6432Node) needs SystemDefaultTlsVersions=1
    and SchUseStrongCrypto=1. Not so while TLS 1.0 or 1.1 is disabled: error (.NET would
    offer only what SCHANNEL refuses); otherwise: warning."""
    for state in snap.servers:
        registry = _registry(state)
        if registry is None:
            continue
        wrong = [
            f"{tlsreg.net_registry_path(n)} {name}={'NULL' if value is None else value}"
            for n in tlsreg.net_v4_settings(registry)
            for name, value in (
                ("SystemDefaultTlsVersions", n.system_default_tls_versions),
                ("SchUseStrongCrypto", n.sch_use_strong_crypto),
            )
            if value != 1
        ]
        if not wrong:
            continue
        legacy_off = tlsreg.legacy_disabled(registry)
        fix = "; ".join(
            f"New-ItemProperty -Path 'HKLM:\\SOFTWARE{w}\\Microsoft\\.NETFramework\\"
            f"{tlsreg.NET_V4}' -Name {name} -Value 1 -PropertyType DWord -Force"
            for w in ("", "\\Wow6432Node")
            for name in ("SystemDefaultTlsVersions", "SchUseStrongCrypto")
        )
        yield Finding(
            "CW-TLS-003",
            ERROR if legacy_off else WARNING,
            state.name,
            f".NET Framework 4 TLS settings not 1: {'; '.join(wrong)}"
            + (" while TLS 1.0/1.1 is disabled" if legacy_off else ""),
            Remediation(_collect(state), script(fix)),
            {"settings": "; ".join(wrong), "legacy_tls_disabled": legacy_off},
        )


@rule(
    "CW-ROOT-002",
    "Automatic root certificate updates disabled",
    ERROR,
    WARNING,
    prevents="HealthChecker's TrustedRootCertificatesCheck: without root updates a server may "
    "lack Exchange Online's root (DigiCert Global Root G2 since 2026-03-15) and hybrid mail "
    "fails",
    needs=(Evidence.ROOT_AUTO_UPDATE,),
)
def root_auto_update(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """DisableRootAutoUpdate (HKLM\\SOFTWARE\\Policies\\Microsoft\\SystemCertificates\\AuthRoot)
    is 1: warning, the roots must be kept up to date by hand; any value but 0 or 1: warning.
    certward goes further: disabled, with the Root store dumped, a connector to Exchange
    Online and DigiCert Global Root G2 not in the store: error."""
    hybrid = any(c.cloud_services_mail_enabled for c in snap.connectors)
    for state in snap.servers:
        registry = _registry(state)
        value = registry.disable_root_auto_update if registry else None
        if value is None or value == 0:
            continue
        has_root = any(r.profile.common_name == EXO_ROOT for r in state.roots)
        if value == 1 and hybrid and snap.shows_on(state, Evidence.ROOT_STORE) and not has_root:
            severity = ERROR
            text = (
                f"automatic root updates are disabled and {EXO_ROOT}, Exchange Online's root, "
                "is not in the Root store"
            )
        elif value == 1:
            severity = WARNING
            text = "automatic root updates are disabled; keep the Root store up to date by hand"
        else:
            severity = WARNING
            text = f"DisableRootAutoUpdate is {value}, which is neither 0 nor 1"
        yield Finding(
            "CW-ROOT-002",
            severity,
            state.name,
            text,
            Remediation(
                certward_command(
                    "store",
                    "add",
                    "--server",
                    state.name,
                    "--store",
                    "Root",
                    "DigiCertGlobalRootG2.cer",
                ),
                script(
                    "Set-ItemProperty 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\SystemCertificates"
                    "\\AuthRoot' -Name DisableRootAutoUpdate -Value 0 -Type DWord"
                ),
            ),
            {"disable_root_auto_update": value, "exo_root_present": has_root},
        )
