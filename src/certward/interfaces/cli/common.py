"""What every command module shares: the error-mapping group, options, opening the app."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import shlex
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from certward.codes.general import INPUT_INVALID
from certward.errors import CertwardError
from certward.interfaces.cli import hints, render
from certward.model import Thumbprint, parse_thumbprint
from certward.model.audit import Actor

if TYPE_CHECKING:  # the store (SQLAlchemy) loads only when a command opens it
    from certward.compose import App

T = TypeVar("T")


# The checks speak the monitoring-plugins convention (Nagios, Icinga): 0 OK, 1 WARNING,
# 2 CRITICAL, 3 UNKNOWN. A usage error or any failure to judge is UNKNOWN there, never 2.
CHECKS = frozenset({"health", "probe", "auth monitor"})
UNKNOWN = 3


class ErrorLineGroup(TyperGroup):
    """Maps every CertwardError to one ``error: ...`` line and its exit status, and gives
    every command certward's help conventions (see ``help.py``)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            if ctx.parent is None:  # the root: everything below runs as the local account
                from certward.model.audit import acting

                pending = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # not yet parsed
                try:
                    with acting(cli_actor(self, pending)):
                        return super().invoke(ctx)
                finally:
                    _close_opened()
            return super().invoke(ctx)
        except CertwardError as exc:
            render.error_console().print(hints.error_line(exc), markup=False, soft_wrap=True)
            raise typer.Exit(UNKNOWN if _is_check(ctx) else exc.exit_code) from None
        except typer.TyperException as exc:  # click's usage errors (exit status 2)
            if exc.exit_code == 2 and _is_check(ctx):
                exc.exit_code = UNKNOWN
            raise

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            from certward.interfaces.cli.help import polish

            polish(command, _path(ctx, cmd_name), ctx)
        return command

    def get_params(self, ctx: Any) -> Any:
        from certward.interfaces.cli.help import polish

        polish(self, "", ctx)  # a group: metavars only (its commands carry the examples)
        return super().get_params(ctx)


_SECRET_OPTION = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
_UNSHOWN_OPTIONS = {"--db"}  # a database URL may hold a password


def os_account() -> str:
    """The local account running the command line (the audit log's actor)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def cli_actor(root: Any, args: list[str]) -> Actor:
    """The audit log's actor for ``certward ARGS``: the local account, through the command
    line, doing the command path and its options; values of options that could hold a
    secret (``--db``'s URL, anything named like a password or key, other than a file name)
    are not shown."""
    from certward.model.access import Channel

    words: list[str] = []
    command = root
    rest = list(args)
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        words.append(rest[0])
        command = command.commands[rest.pop(0)]
    shown: list[str] = []
    hide_next = False
    for arg in rest:
        if hide_next:
            shown.append("***")
            hide_next = False
            continue
        if arg.startswith("--"):
            name, eq, _value = arg.partition("=")
            secret = name in _UNSHOWN_OPTIONS or (
                _SECRET_OPTION.search(name) is not None and not name.endswith("-file")
            )
            if secret:
                shown.append(f"{shlex.quote(name)}=***" if eq else shlex.quote(name))
                hide_next = not eq and _takes_value(command, name)
                continue
        shown.append(shlex.quote(arg))
    action = " ".join([*words, *shown])
    return Actor(os_account(), Channel.CLI, action[:1000])


def _takes_value(command: Any, option: str) -> bool:
    for param in getattr(command, "params", []):
        if option in getattr(param, "opts", []):
            return not getattr(param, "is_flag", False)
    return True


def _path(ctx: Any, name: str | None) -> str:
    """``auth monitor`` for the command ``name`` under the group of ``ctx``."""
    group = " ".join(str(ctx.command_path).split()[1:])
    return " ".join(part for part in (group, name) if part)


def _is_check(ctx: Any) -> bool:
    return _path(ctx, ctx.invoked_subcommand) in CHECKS


def new_typer(help_text: str, *, root: bool = False) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=ErrorLineGroup,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=root,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH_OR_URL",
        help="Database file or SQLAlchemy URL (default: $CERTWARD_DB, else the data directory).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ServerOpt = Annotated[str, typer.Option("--server", "-s", help="Server name.")]
ThumbArg = Annotated[str, typer.Argument(metavar="THUMBPRINT", help="Certificate thumbprint.")]
PasswordFileOpt = Annotated[
    Path | None, typer.Option("--password-file", help="File whose first line is the password.")
]

ScriptDirOpt = Annotated[
    str,
    typer.Option(
        "--script-dir",
        metavar="DIR",
        help="Where the --powershell script reads and writes its files.",
    ),
]

root_db: ContextVar[str | None] = ContextVar("certward_root_db", default=None)


_opened: list[App] = []


def open_app(db: str | None) -> App:
    """The application for this command: its own --db, else the top-level --db. Its store
    is closed when the command ends (in a process that runs more than one: tests)."""
    from certward.compose import build_app

    application = build_app(db or root_db.get())
    _opened.append(application)
    return application


def audit_in_existing_store(action: str, detail: dict[str, object]) -> bool:
    """Record ``action`` in the audit log of the store the command line names, when that
    store exists (a command that works on files alone does not create one); whether it
    was recorded. A store that exists but cannot be opened fails the command."""
    from certward.config import load_settings

    settings = load_settings(root_db.get())
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        return False
    open_app(None).audit.record(action, detail)
    return True


def _close_opened() -> None:
    while _opened:
        _opened.pop().store.close()


def as_thumbprint(text: str) -> Thumbprint:
    return parse(parse_thumbprint, text)


def parse(parser: Callable[[str], T], value: str) -> T:
    """Run a model parser on user input; its ValueError becomes a one-line InputError."""
    try:
        return parser(value)
    except ValueError as exc:
        raise INPUT_INVALID(str(exc)) from None


def console() -> Console:
    return render.console()


def parse_date(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; a value without a zone is UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 date: {text!r} (e.g. 2027-03-01 or 2027-03-01T12:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
