"""IIS virtual directories of Exchange's client access (seed 003: SSL on all but OAB)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VirtualDirectory:
    server: str
    name: str  # owa, ecp, ews, Microsoft-Server-ActiveSync, autodiscover, oab, mapi
    path: str  # /owa, /ecp, /EWS, ...
    internal_url: str | None = None
    external_url: str | None = None
    require_ssl: bool = True


# name, path, require SSL (the OAB virtual directory does not require SSL by default)
EXCHANGE_VDIRS: tuple[tuple[str, str, bool], ...] = (
    ("owa", "/owa", True),
    ("ecp", "/ecp", True),
    ("ews", "/EWS", True),
    ("Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync", True),
    ("autodiscover", "/Autodiscover", True),
    ("oab", "/OAB", False),
    ("mapi", "/mapi", True),
)


def default_vdirs(server: str, fqdn: str) -> list[VirtualDirectory]:
    return [
        VirtualDirectory(server, name, path, f"https://{fqdn}{path}", None, ssl)
        for name, path, ssl in EXCHANGE_VDIRS
    ]
