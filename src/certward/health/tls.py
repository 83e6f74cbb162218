"""How HealthChecker reads a server's SCHANNEL and .NET TLS registry settings (pure).

Follows CSS-Exchange's Shared/TLS/Get-AllTlsSettingsFromRegistry.ps1: ``Enabled`` not set
counts as enabled for TLS 1.0–1.2 (the Windows default) and as disabled for TLS 1.3;
``DisabledByDefault`` counts only when set and not 0. A version is Disabled when both sides
are off, Half Disabled when the server side is half off, and Misconfigured when client and
server disagree (Exchange is both a TLS client and a TLS server).
"""

from __future__ import annotations

from typing import NamedTuple

from certward.model import NetTlsSetting, SchannelSetting, TlsRegistry

TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
NET_V4 = "v4.0.30319"


class TlsVersion(NamedTuple):
    """One TLS version's SCHANNEL settings, server and client side."""

    version: str
    server: SchannelSetting
    client: SchannelSetting

    def _enabled(self, setting: SchannelSetting) -> bool:
        if setting.enabled is None:
            return self.version != "1.3"
        return setting.enabled != 0

    @staticmethod
    def _disabled_by_default(setting: SchannelSetting) -> bool:
        return setting.disabled_by_default is not None and setting.disabled_by_default != 0

    @property
    def server_enabled(self) -> bool:
        return self._enabled(self.server)

    @property
    def client_enabled(self) -> bool:
        return self._enabled(self.client)

    @property
    def disabled(self) -> bool:
        def off(s: SchannelSetting) -> bool:
            return not self._enabled(s) and (
                self._disabled_by_default(s) or s.disabled_by_default is None
            )

        return off(self.server) and off(self.client)

    @property
    def misconfigured(self) -> bool:
        """Client and server sides disagree."""
        return self.server_enabled != self.client_enabled or self._disabled_by_default(
            self.server
        ) != self._disabled_by_default(self.client)

    @property
    def half_disabled(self) -> bool:
        s = self.server
        dbd = self._disabled_by_default(s)
        return (not self.server_enabled and not dbd and s.disabled_by_default is not None) or (
            self.server_enabled and dbd
        )

    @property
    def configuration(self) -> str:
        """HealthChecker's word: Enabled, Disabled, Half Disabled or Misconfigured."""
        if self.misconfigured:
            return "Misconfigured"
        if self.half_disabled:
            return "Half Disabled"
        if self.disabled:
            return "Disabled"
        return "Enabled"

    def values(self) -> str:
        """``server Enabled=1 DisabledByDefault=NULL; client …`` as the registry holds them."""

        def show(value: int | None) -> str:
            return "NULL" if value is None else str(value)

        return "; ".join(
            f"{side} Enabled={show(s.enabled)} DisabledByDefault={show(s.disabled_by_default)}"
            for side, s in (("server", self.server), ("client", self.client))
        )


def tls_versions(registry: TlsRegistry) -> dict[str, TlsVersion]:
    """Each TLS version's settings, a side the registry does not show being all NULL."""
    result = {}
    for version in TLS_VERSIONS:
        protocol = f"TLS {version}"

        def side(name: str, protocol: str = protocol) -> SchannelSetting:
            found = next(
                (
                    s
                    for s in registry.schannel
                    if s.protocol.lower() == protocol.lower() and s.side.lower() == name.lower()
                ),
                None,
            )
            return found or SchannelSetting(protocol, name)

        result[version] = TlsVersion(version, side("Server"), side("Client"))
    return result


def legacy_disabled(registry: TlsRegistry) -> bool:
    """TLS 1.0 or 1.1 is disabled (HealthChecker's ``lowerTlsVersionDisabled``)."""
    versions = tls_versions(registry)
    return versions["1.0"].disabled or versions["1.1"].disabled


def net_v4_settings(registry: TlsRegistry) -> list[NetTlsSetting]:
    """The .NET 4 settings, 64-bit and Wow6432Node, an unshown key being all NULL."""
    result = []
    for wow in (False, True):
        found = next(
            (n for n in registry.net if n.version == NET_V4 and n.wow6432 == wow),
            None,
        )
        result.append(found or NetTlsSetting(NET_V4, wow))
    return result


def net_registry_path(setting: NetTlsSetting) -> str:
    wow = "\\Wow6432Node" if setting.wow6432 else ""
    return f"HKLM\\SOFTWARE{wow}\\Microsoft\\.NETFramework\\{setting.version}"
