"""Console rendering: Exchange-like tables and Format-List blocks, and JSON.

rich loads when something is rendered with it (a table, a console), not with this module:
a command that prints a line or JSON (``health`` on a healthy organisation, as a monitor
runs it every few minutes) does not pay its 20 ms of imports.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from certward.services.views import CertificateView


_WIDE = 220


def _width(tty: bool) -> int | None:
    """Off a terminal (pipes, tests) lines are not cut at 80 columns, unless $COLUMNS says."""
    if tty:
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else _WIDE


@functools.cache
def _rich_made() -> tuple[type[Console], Callable[[object], str]]:
    """The console class and the cell flattener, made with rich when first needed (their
    names bound here once: a table's cells are flattened by the ten thousand)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    def _plain(cell: object) -> str:
        """A cell as one line of plain text: markup rendered away, tabs and newlines folded."""
        if isinstance(cell, Text):
            text = cell.plain
        elif isinstance(cell, str) and "[" not in cell:
            # No markup: rich would only drop control codes (emoji codes are not read: a
            # subject's ":name:" is printed as written).
            return flat(cell)
        elif isinstance(cell, str):
            text = Text.from_markup(cell, emoji=False).plain
        else:
            text = str(cell)
        return " ".join(text.replace("\t", " ").splitlines())

    class _Console(Console):
        """A console that prints tables as tab-separated lines when it is not a terminal.

        Off a terminal (a pipe, a file, a script) a table carries no box drawing, no wrapping
        and no truncation: a header line, then one line per row with the cells separated by
        tabs, as ``kubectl`` prints them, so ``cut -f`` and ``awk -F'\t'`` read it. A titled
        table (e.g. one per server) gets its title as a first column named by ``GROUP`` (set on
        the table, default ``Group``), and the header is printed once for tables alike.
        ``--json`` stays the contract for anything more.
        """

        def print(self, *objects: Any, **kwargs: Any) -> None:
            if self.is_terminal or not any(isinstance(o, Table) for o in objects):
                super().print(*objects, **kwargs)
                return
            for item in objects:
                if isinstance(item, Table):
                    self.file.write(self._tsv(item))
                else:
                    super().print(item, **kwargs)

        def _tsv(self, table: Table) -> str:
            headers = [_plain(column.header) for column in table.columns]
            # Column._cells holds the cells as added (rich has no public accessor for them).
            columns = [[_plain(cell) for cell in column._cells] for column in table.columns]
            rows = zip(*columns, strict=True) if columns else iter(())
            group = _plain(table.title) if table.title else None
            return tsv(headers, rows, group=group, group_label=str(getattr(table, GROUP, "Group")))

    return _Console, _plain


def _plain(cell: object) -> str:
    """A cell as one line of plain text: markup rendered away, tabs and newlines folded."""
    return _rich_made()[1](cell)


GROUP = "certward_group"
# Headers already printed by this process: a command printing one table per server prints
# its header once (a command is one process; the tests' runner clears it per invocation).
_HEADERS_PRINTED: set[tuple[str, ...]] = set()


def reset() -> None:
    """Forget printed headers (at the start of each command)."""
    _HEADERS_PRINTED.clear()


def tsv(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    group: str | None = None,
    group_label: str = "Group",
) -> str:
    """A table as the console prints it off a terminal: the header line (once per process
    for tables alike), then a line per row, cells tab-separated; a ``group`` (a titled
    table's title) goes first on every line, under ``group_label``. Cells are one line of
    plain text already (:func:`flat`)."""
    head = (group_label, *headers) if group is not None else tuple(headers)
    lines = []
    if head not in _HEADERS_PRINTED:
        _HEADERS_PRINTED.add(head)
        lines.append("\t".join(head))
    first = [group] if group is not None else []
    lines.extend("\t".join(first + list(row)) for row in rows)
    return "".join(line + "\n" for line in lines)


# The control codes rich drops from text (rich.control.strip_control_codes: BEL, BS, VT, FF,
# CR); a test holds :func:`flat` to rich's own rendering of plain text.
_CONTROL_CODES = dict.fromkeys((7, 8, 11, 12, 13))


def flat(text: str) -> str:
    """Plain text (no markup) as one cell of a tab-separated line: control codes dropped as
    rich drops them, tabs and line breaks folded into spaces."""
    return " ".join(text.translate(_CONTROL_CODES).replace("\t", " ").splitlines())


# Variables that make rich treat (or not) the output as a terminal whatever it is.
_RICH_DECIDES = ("TTY_COMPATIBLE", "FORCE_COLOR", "FORCE_TERMINAL", "TTY_INTERACTIVE")


def tables_as_lines() -> bool:
    """Whether the console would print tables as tab-separated lines: standard output is
    not a terminal and no variable asks rich to decide otherwise. A command may then write
    them itself with :func:`tsv` and :func:`flat`, without loading rich (with such a
    variable set, rich decides, as for every other table)."""
    if any(name in os.environ for name in _RICH_DECIDES):
        return False
    try:
        return not sys.stdout.isatty()
    except ValueError:  # a closed stream
        return False


def console() -> Console:
    # No emoji codes: a subject or a friendly name showing ":name:" is printed as written.
    return _rich_made()[0](width=_width(sys.stdout.isatty()), highlight=False, emoji=False)


def error_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, width=_width(sys.stderr.isatty()), highlight=False, emoji=False)


def print_json(value: Any) -> None:
    """``json.dumps(value, indent=2)``, written as it is encoded: a listing of thousands
    is never held as one string (nor as the million pieces it is joined from)."""
    pieces: list[str] = []
    for piece in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(value):
        pieces.append(piece)
        if len(pieces) >= 4096:
            sys.stdout.write("".join(pieces))
            pieces.clear()
    pieces.append("\n")
    sys.stdout.write("".join(pieces))


def certificate_table(
    views: Sequence[CertificateView], *, title: str | None = None, detailed: bool = False
) -> Table:
    """Get-ExchangeCertificate's default table: Thumbprint, Services, Subject.

    ``detailed`` adds Status and NotAfter (the inventory view).
    """
    from rich.table import Table
    from rich.text import Text

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
        table.add_row(*_cells(Text, view.thumbprint, view.services.flags, *middle, view.subject))
    return table


def _cells(text: type[Text], *values: str) -> list[Text]:
    """Data as table cells (``text`` is rich's ``Text``): text as written, never read as
    markup (a subject may hold ``[bold]`` or ``:name:``)."""
    return [text(value) for value in values]


def format_list(view: CertificateView) -> str:
    """``Get-ExchangeCertificate | Format-List``: labels padded to 18 plus ``' : '``."""
    from certward.services.views import exchange_datetime

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


# Where Exchange's cmdlets name a field otherwise than its JSON key says.
_LABELS = {
    "fqdn": "Fqdn",
    "roles": "ServerRole",
    "default_smtp_thumbprint": "InternalTransportCertificateThumbprint",
    "tls_certificate_name": "TlsCertificateName",
    "require_tls": "RequireTLS",
    "ignore_starttls": "IgnoreSTARTTLS",
    "tls_send_domain_secure_list": "TLSSendDomainSecureList",
    "tls_receive_domain_secure_list": "TLSReceiveDomainSecureList",
}
_ACRONYMS = {"tls": "Tls", "smtp": "Smtp", "iis": "IIS", "ip": "IP", "url": "Url"}


def pascal(key: str) -> str:
    """A JSON key as Exchange labels it: ``tls_auth_level`` → ``TlsAuthLevel``."""
    if key in _LABELS:
        return _LABELS[key]
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in key.split("_"))


def field_value(value: object) -> str:
    """A value as Format-List prints it: lists in braces, booleans as True/False."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, list | tuple):
        return "{" + ", ".join(field_value(v) for v in value) + "}"
    return str(value)


def format_fields(fields: Iterable[tuple[str, object]]) -> str:
    """``Format-List`` of labelled values: labels padded to the longest, then ``' : '``."""
    rows = [(label, field_value(value)) for label, value in fields]
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label.ljust(width)} : {value}" for label, value in rows)


def print_fields(fields: Iterable[tuple[str, object]]) -> None:
    """Print ``fields`` (label, value) as Format-List; labels are PascalCase."""
    sys.stdout.write(format_fields(fields) + "\n")


def _bool(value: bool) -> str:
    return "True" if value else "False"


def simple_table(headers: Iterable[str], rows: Iterable[Sequence[str]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*_cells(Text, *row))
    return table
