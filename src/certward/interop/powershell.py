"""Generated PowerShell: the Exchange Management Shell commands certward writes (pure).

Two kinds of text come from here: a renewal plan as a script (:class:`RenewalScript`,
``certward renew complete --powershell``) and the health rules' fixes (:class:`Script`, built
with :func:`command`; ``certward health --powershell``). Every value that comes from a
name someone chose (a connector, server, friendly or file name, a .NET X.500 name) goes
through :func:`quote`, the one quoting function, so that nothing in it can end its string
early, expand (``$(...)``, ``$var``), escape (a backtick) or start another command (``;``, a
line break). Files live in one directory, a parameter (:data:`DEFAULT_SCRIPT_DIR`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

DEFAULT_SCRIPT_DIR = "C:\\certward\\"

# PowerShell ends a single-quoted string at any of these (its tokenizer treats the typographic
# single quotes as the apostrophe); inside the string each is written twice.
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_QUOTES = re.compile(f"[{_SINGLE_QUOTES}]")
# What _breaks_line finds, as one search: Unicode's Cc (U+0000-001F, U+007F-009F), Zl
# (U+2028) and Zp (U+2029) categories.
_LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# A value PowerShell reads as itself, unquoted, in argument mode: server names, thumbprints.
_BARE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _breaks_line(ch: str) -> bool:
    """Control characters (line feed, carriage return, NEL ...) and the Unicode line and
    paragraph separators: none may appear raw in a line of a script."""
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp")


def quote(value: str) -> str:
    """``value`` as a PowerShell expression whose value is exactly ``value``.

    A single-quoted string: PowerShell expands nothing in it (no ``$``, no backtick escapes)
    and it ends only at a single quote, which is doubled. A value with a line break or another
    control character stays on one line: each such character is written as ``[char]N`` joined
    to the quoted pieces with ``+``, in parentheses (``('a' + [char]10 + 'b')``), so no
    character of the value is ever outside a quoted piece.
    """
    if _LINE_BREAKS.search(value) is None:  # the usual case: one quoted piece
        return _single(value)
    pieces: list[str] = []
    current: list[str] = []
    for ch in value:
        if _breaks_line(ch):
            pieces.append(_single(current))
            pieces.append(f"[char]{ord(ch)}")
            current = []
        else:
            current.append(ch)
    if not pieces:
        return _single(current)
    pieces.append(_single(current))
    return "(" + " + ".join(pieces) + ")"


def _single(chars: Sequence[str]) -> str:
    return "'" + _QUOTES.sub(_doubled, "".join(chars)) + "'"


def _doubled(match: re.Match[str]) -> str:
    return match.group() * 2


def argument(value: str) -> str:
    """An argument: bare when PowerShell reads it as itself (``EXCH01``, a thumbprint), else
    :func:`quote`'d."""
    return value if _BARE.fullmatch(value) else quote(value)


def comment(text: str) -> str:
    """A comment line; a line break in ``text`` cannot end it (it becomes a space)."""
    return "# " + "".join(" " if _breaks_line(ch) else ch for ch in text)


# -- commands with values rendered at the end ----------------------------------------------
@dataclass(frozen=True, slots=True)
class Raw:
    """Text written as it is: a variable (``$pw``), an expression (``(Get-Date)``), a
    ``<placeholder>`` for the reader to fill in. Never a value from a name."""

    text: str


@dataclass(frozen=True, slots=True)
class File:
    """A file in the script's directory (known only when the script is written)."""

    name: str


@dataclass(frozen=True, slots=True)
class FileBytes:
    """A file's bytes, for a ``-FileData`` parameter (``-FileName`` is gone from Exchange
    2019 CU12)."""

    file: File


@dataclass(frozen=True, slots=True)
class Switch:
    """A switch parameter: ``-Force``, or with a value ``-Confirm:$false``."""

    value: bool | None = None


SWITCH = Switch()
Value = str | Raw | File | FileBytes | Switch | bool | Sequence[str]


def _value(value: Value, directory: str) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, File):
        return quote(directory.rstrip("\\/") + "\\" + value.name)
    if isinstance(value, FileBytes):
        return f"([System.IO.File]::ReadAllBytes({_value(value.file, directory)}))"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, str):
        return argument(value)
    assert not isinstance(value, Switch)
    return ",".join(argument(v) for v in value) if value else "@()"


@dataclass(frozen=True, slots=True)
class Command:
    """One cmdlet call: positional arguments, then ``-Name value`` parameters in order."""

    cmdlet: str
    positional: tuple[Value, ...] = ()
    parameters: tuple[tuple[str, Value], ...] = ()
    prefix: str = ""  # an assignment such as "$c = " (code, never a name)
    piped_from: Command | None = None
    output: File | None = None  # "> file"

    def render(self, directory: str) -> str:
        parts = [self.cmdlet, *(_value(v, directory) for v in self.positional)]
        for name, value in self.parameters:
            if isinstance(value, Switch):
                parts.append(
                    f"-{name}"
                    if value.value is None
                    else f"-{name}:{_value(value.value, directory)}"
                )
            else:
                parts.append(f"-{name} {_value(value, directory)}")
        text = " ".join(parts)
        if self.piped_from is not None:
            text = f"{self.piped_from.render(directory)} | {text}"
        if self.output is not None:
            text = f"{text} > {_value(self.output, directory)}"
        return self.prefix + text


def command(cmdlet: str, *positional: Value, **parameters: Value) -> Command:
    """``command("Enable-ExchangeCertificate", Thumbprint=tp, Server=s, Services="SMTP")``."""
    return Command(cmdlet, tuple(positional), tuple(parameters.items()))


def assign(variable: str, cmd: Command) -> Command:
    """``$variable = cmd``."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise ValueError(f"not a PowerShell variable name: {variable!r}")
    return replace(cmd, prefix=f"${variable} = ")


def pipe(first: Command, second: Command) -> Command:
    """``first | second``."""
    return replace(second, piped_from=first)


def to_file(cmd: Command, name: str) -> Command:
    """``cmd > file`` (a file in the script's directory)."""
    return replace(cmd, output=File(name))


@dataclass(frozen=True, slots=True)
class Script:
    """Commands (or raw lines) run one after the other: one line, ``;``-separated."""

    steps: tuple[Command | Raw, ...]

    def render(self, directory: str = DEFAULT_SCRIPT_DIR) -> str:
        return "; ".join(s.text if isinstance(s, Raw) else s.render(directory) for s in self.steps)


def script(*steps: Command | Raw | str) -> Script:
    """A fix as a script; a ``str`` step is fixed text (no names in it)."""
    return Script(tuple(Raw(s) if isinstance(s, str) else s for s in steps))


def fixes_script(
    header: Iterable[str],
    findings: Iterable[tuple[str, Script]],
    *,
    directory: str = DEFAULT_SCRIPT_DIR,
) -> str:
    """The health report's fixes as one script: the header and each finding as comments,
    each fix once (a fix several findings share is referred to)."""
    lines = [comment(h) for h in header]
    lines.append(comment(f"Files are read from and written to {directory}"))
    written: set[str] = set()
    for title, fix in findings:
        lines += ["", comment(title)]
        text = fix.render(directory)
        if text in written:
            lines.append(comment("  (the fix above)"))
            continue
        written.add(text)
        lines.append(text)
    return "\n".join(lines) + "\n"


# -- renewal -------------------------------------------------------------------------------
class RenewalScript:
    """A renewal plan as Exchange Management Shell commands (seed 002's forms), step by step.

    For a self-signed certificate the new thumbprint is Exchange's to choose, so the commands
    refer to it as ``$New.Thumbprint``. The new certificate is exported once, from the server
    that made it, to a PFX in the script's directory, and imported from there elsewhere.
    """

    def __init__(
        self,
        *,
        old: str,
        new: str,
        subject: str,
        self_signed: bool,
        reply_name: str | None,
        directory: str = DEFAULT_SCRIPT_DIR,
    ) -> None:
        self._old = old
        self._new = Raw("$New.Thumbprint") if self_signed else Raw(argument(new))
        self._pfx = File("renewed.pfx" if self_signed else f"{new}.pfx")
        self._reply = File(reply_name or "reply.p7b")
        self._directory = directory
        self._source: str | None = None
        self._exported = False
        self._lines = [
            comment(f"Renew {old} ({subject})"),
            comment(f"Files are read from and written to {directory}"),
            "$Password = (Get-Credential -UserName 'pfx' -Message 'PFX password').Password",
        ]

    def _add(self, cmd: Command) -> None:
        self._lines.append(cmd.render(self._directory))

    def comment(self, text: str) -> None:
        self._lines.append(comment(text))

    def note(self, text: str) -> None:
        """An indented remark for the person running the script."""
        self._lines.append(comment(f"  {text}"))

    def complete_request(self, server: str) -> None:
        self._source = server
        self._add(
            command(
                "Import-ExchangeCertificate",
                Server=server,
                FileData=FileBytes(self._reply),
            )
        )

    def create_self_signed(self, server: str) -> None:
        self._source = server
        renew = pipe(
            command("Get-ExchangeCertificate", Server=server, Thumbprint=self._old),
            command("New-ExchangeCertificate", PrivateKeyExportable=True, Force=SWITCH),
        )
        self._add(assign("New", renew))

    def copy_to(self, server: str) -> None:
        pfx = _value(self._pfx, self._directory)
        if self._source is not None and not self._exported:
            self._add(
                assign(
                    "Cert",
                    command(
                        "Export-ExchangeCertificate",
                        Server=self._source,
                        Thumbprint=self._new,
                        BinaryEncoded=SWITCH,
                        Password=Raw("$Password"),
                    ),
                )
            )
            self._lines.append(f"[System.IO.File]::WriteAllBytes({pfx}, $Cert.FileData)")
            self._exported = True
        self._add(
            command(
                "Import-ExchangeCertificate",
                Server=server,
                FileData=FileBytes(self._pfx),
                Password=Raw("$Password"),
            )
        )

    def enable(self, server: str, services: Sequence[str], *, default_smtp: bool) -> None:
        parameters: dict[str, Value] = {
            "Server": server,
            "Thumbprint": self._new,
            "Services": list(services),
        }
        if default_smtp:
            parameters["Force"] = SWITCH
        self._add(command("Enable-ExchangeCertificate", **parameters))
        if not default_smtp and "SMTP" in services:
            self.note("answer N to keep the server's default SMTP certificate")

    def set_tls_certificate_name(self, *, send: bool, connector: str, name: str) -> None:
        cmdlet = "Set-SendConnector" if send else "Set-ReceiveConnector"
        self._add(command(cmdlet, Raw(quote(connector)), TlsCertificateName=Raw(quote(name))))

    def remove_old(self, server: str) -> None:
        self._add(
            command(
                "Remove-ExchangeCertificate",
                Server=server,
                Thumbprint=self._old,
                Confirm=Switch(False),
            )
        )

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
