"""What every command module shares: the error-mapping group, options, opening the app."""

from __future__ import annotations

import datetime as dt
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


def open_app(db: str | None) -> App:
    """The application for this command: its own --db, else the top-level --db."""
    from certward.compose import build_app

    return build_app(db or root_db.get())


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
