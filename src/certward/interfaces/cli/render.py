"""Console rendering: Exchange-like tables and Format-List blocks, and JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from certward.services.views import CertificateView, exchange_datetime

_WIDE = 220


def _width(tty: bool) -> int | None:
    """Off a terminal (pipes, tests) lines are not cut at 80 columns, unless $COLUMNS says."""
    if tty:
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else _WIDE


def console() -> Console:
    return Console(width=_width(sys.stdout.isatty()), highlight=False)


def error_console() -> Console:
    return Console(stderr=True, width=_width(sys.stderr.isatty()), highlight=False)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def certificate_table(
    views: Sequence[CertificateView], *, title: str | None = None, detailed: bool = False
) -> Table:
    """Get-ExchangeCertificate's default table: Thumbprint, Services, Subject.

    ``detailed`` adds Status and NotAfter (the inventory view).
    """
    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    table.add_column("Thumbprint", no_wrap=True)
    table.add_column("Services", no_wrap=True)
    if detailed:
        table.add_column("Status", no_wrap=True)
        table.add_column("NotAfter", no_wrap=True)
    table.add_column("Subject", overflow="fold")
    for view in views:
        middle = (
            [view.status.value, view.not_after.strftime("%Y-%m-%d") if view.not_after else ""]
            if detailed
            else []
        )
        table.add_row(view.thumbprint, view.services.flags, *middle, view.subject)
    return table


def format_list(view: CertificateView) -> str:
    """``Get-ExchangeCertificate | Format-List``: labels padded to 18 plus ``' : '``."""
    fields: list[tuple[str, str]] = [
        ("CertificateDomains", "{" + ", ".join(view.certificate_domains) + "}"),
        ("FriendlyName", view.friendly_name),
        ("HasPrivateKey", _bool(view.has_private_key)),
        ("IsSelfSigned", _bool(view.is_self_signed)),
        ("Issuer", view.issuer),
        ("KeyProvider", view.key_provider or ""),
        ("NotAfter", exchange_datetime(view.not_after) if view.not_after else ""),
        ("NotBefore", exchange_datetime(view.not_before) if view.not_before else ""),
        ("PrivateKeyExportable", _bool(view.private_key_exportable)),
        ("PublicKeySize", str(view.public_key_size)),
        ("SerialNumber", view.serial_number),
        ("Services", str(view.services)),
        ("ServicesFlags", view.services.flags),
        ("SignatureAlgorithm", view.signature_algorithm),
        ("Status", view.status.value),
        ("Subject", view.subject),
        ("Thumbprint", view.thumbprint),
        ("IsDefaultSmtp", _bool(view.is_default_smtp)),
        ("IsAuthCertificate", _bool(view.is_auth_certificate)),
    ]
    width = max(18, *(len(label) for label, _ in fields))
    return "\n".join(f"{label.ljust(width)} : {value}" for label, value in fields)


def _bool(value: bool) -> str:
    return "True" if value else "False"


def simple_table(headers: Iterable[str], rows: Iterable[Sequence[str]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table
