"""What every command module shares: the error-mapping group, options, opening the app."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import importlib
import os
import re
import shlex
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from certward.errors import CertwardError
from certward.interfaces.cli import render

if TYPE_CHECKING:  # the store (SQLAlchemy) and the model load only when a command needs them
    from rich.console import Console

    from certward.compose import App
    from certward.model import Thumbprint
    from certward.model.audit import Actor

T = TypeVar("T")


# The checks speak the monitoring-plugins convention (Nagios, Icinga): 0 OK, 1 WARNING,
# 2 CRITICAL, 3 UNKNOWN. A usage error or any failure to judge is UNKNOWN there, never 2.
CHECKS = frozenset({"health", "probe", "auth monitor"})
UNKNOWN = 3


class LazyCommand(NamedTuple):
    """A command resolved by name when it runs: ``attribute`` of ``module`` (a Typer, made a
    group, or a function, made a command) and the one-line ``summary`` its group's help
    lists, so that ``certward --help`` imports no command module."""

    module: str
    attribute: str
    summary: str


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands: those built, and those built on first access: a command module's
    (``LazyCommand``: imported then) or one of the group's own (``defer``: made then)."""

    def __init__(self, built: Mapping[str, Any], lazy: Mapping[str, LazyCommand]) -> None:
        self._lazy = dict(lazy)
        self._makers: dict[str, Callable[[], Any]] = {}
        self._built: dict[str, Any] = {name: None for name in self._lazy}  # listing order
        self._built.update(built)

    def defer(self, makers: Mapping[str, Callable[[], Any]]) -> None:
        """Commands each made by its maker when first accessed, listed where typer lists a
        group's own commands: after those of command modules, before its sub-groups."""
        listed = list(self._built.items())
        self._built = {name: command for name, command in listed if name in self._lazy}
        self._built.update(dict.fromkeys(makers))
        self._built.update((name, command) for name, command in listed if name not in self._lazy)
        self._makers.update(makers)

    def __getitem__(self, name: str) -> Any:
        command = self._built[name]
        if command is None:
            maker = self._makers.pop(name, None)
            made = maker() if maker is not None else _load(name, self._lazy.pop(name))
            command = self._built[name] = made
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self._lazy.pop(name, None)
        self._makers.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._lazy.pop(name, None)
        self._makers.pop(name, None)
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built)

    def __len__(self) -> int:
        return len(self._built)

    def __contains__(self, name: object) -> bool:
        return name in self._built

    def stub(self, name: str) -> Any:
        """The command ``name`` as its group's help lists it: built (a group's own command is
        made now, for its help), or a stand-in that carries its summary (nothing imported)."""
        lazy = self._lazy.get(name)
        if lazy is None:
            return self[name] if name in self._built else None
        return TyperCommand(name=name, help=lazy.summary)


def _load(name: str, lazy: LazyCommand) -> Any:
    import typer.main
    from typer.models import CommandInfo

    __import__(lazy.module)  # not importlib.import_module: -X importtime shows this import
    target = getattr(sys.modules[lazy.module], lazy.attribute)
    if isinstance(target, typer.Typer):
        command: Any = _group(target)
    else:
        command = typer.main.get_command_from_info(
            CommandInfo(name=name, callback=target),
            pretty_exceptions_short=True,
            rich_markup_mode=TyperGroup(name=None).rich_markup_mode,
        )
    command.name = name
    return command


def _group(group: typer.Typer) -> Any:
    """typer's group for ``group``, each of its own commands made when first accessed, as
    typer would make it: making one reads its function's signature and evaluates its
    annotations, 16 ms for the ten of ``cert`` where ``cert list`` runs one (issue 16)."""
    import typer.main

    own = group.registered_commands
    group.registered_commands = []  # typer makes the rest now: the group, its sub-groups
    try:
        made = typer.main.get_group(group)
    finally:
        group.registered_commands = own
    makers: dict[str, Callable[[], Any]] = {
        info.name or typer.main.get_command_name(info.callback.__name__): functools.partial(
            typer.main.get_command_from_info,
            info,
            pretty_exceptions_short=group.pretty_exceptions_short,
            rich_markup_mode=group.rich_markup_mode,
        )
        for info in own
        if info.callback is not None
    }
    if isinstance(made.commands, LazyCommands):
        made.commands.defer(makers)
    else:  # pragma: no cover - a group of another class: every command made now, as typer does
        made.commands.update({name: make() for name, make in makers.items()})
    return made


class ErrorLineGroup(TyperGroup):
    """Maps every CertwardError to one ``error: ...`` line and its exit status, gives
    every command certward's help conventions (see ``help.py``), and imports a command's
    module only when that command is resolved (``lazy``: set by :func:`new_typer`)."""

    lazy: Mapping[str, LazyCommand] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands, self.lazy)
        self._listing = False

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
            from certward.interfaces.cli import hints

            render.error_console().print(hints.error_line(exc), markup=False, soft_wrap=True)
            raise typer.Exit(UNKNOWN if _is_check(ctx) else exc.exit_code) from None
        except typer.TyperException as exc:  # click's usage errors (exit status 2)
            if exc.exit_code == 2 and _is_check(ctx):
                exc.exit_code = UNKNOWN
            raise

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: listing builds nothing

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _load_rich_help()
        self._listing = True  # the commands panel needs names and summaries, not modules
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        commands = self.commands
        if self._listing and isinstance(commands, LazyCommands):
            return commands.stub(cmd_name)
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            from certward.interfaces.cli.help import polish

            polish(command, _path(ctx, cmd_name), ctx)
            _plain_coercion([*command.params, command.get_help_option(ctx)])
        return command

    def get_params(self, ctx: Any) -> Any:
        from certward.interfaces.cli.help import polish

        polish(self, "", ctx)  # a group: metavars only (its commands carry the examples)
        params = super().get_params(ctx)
        _plain_coercion(params)
        return params


class _LoadedOnUse(type):
    """A stand-in for a rich class that imports the real one when it is first used."""

    _module: str

    def real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls.__name__)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls.real(), name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)


def _load_rich_help() -> None:
    """Import typer's help renderer without rich's Markdown and Traceback renderers, which
    it imports at load but certward's help never uses (rich markup, no pretty exceptions):
    they and their parsers (markdown-it, Pygments) cost as much as the rest of ``--help``.
    While typer's module loads, stand-ins take their place; each imports the real class
    on first use, so a later caller gets rich's own."""
    if "typer.rich_utils" in sys.modules:
        return
    standing_in: list[str] = []
    for module, name in (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback")):
        if module not in sys.modules:
            stand_in = types.ModuleType(module)
            setattr(stand_in, name, _LoadedOnUse(name, (), {"_module": module}))
            sys.modules[module] = stand_in
            standing_in.append(module)
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module in standing_in:
            del sys.modules[module]


@functools.cache
def _plain_param_class() -> tuple[Any, Any] | None:
    """typer's runtime-parameter class with the plain conversion, and typer's path
    conversion; made once (a dataclass per call would cost at every start). None: another
    typer, without these internals."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_path
    except ImportError:  # pragma: no cover - another typer
        return None

    @dataclass(frozen=True)
    class PlainRuntimeParam(RuntimeParam):
        convert: Callable[[Any, Any, Any], Any]
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if self.many:
                    return [self.convert(item, param, ctx) for item in value]
                return self.convert(value, param, ctx)
            except _Unconverted:
                fallback = build_runtime_param(param.type_descriptor)
                return fallback._coerce_value(value, param=param, ctx=ctx)

    return PlainRuntimeParam, coerce_cli_path


def _plain_coercion(params: Iterable[Any]) -> None:
    """Convert plain values (text, whole numbers, paths) without building a pydantic
    TypeAdapter per parameter (typer's way, which imports pydantic: a tenth of a second
    at every start). Anything else, and any value these cannot convert, goes to typer's
    own conversion, so its messages are unchanged. Without typer's internals (another
    typer version) nothing changes."""
    typer_internals = _plain_param_class()
    if typer_internals is None:  # pragma: no cover - another typer
        return
    plain_runtime_param, coerce_cli_path = typer_internals

    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None:
            continue
        annotation: Any = descriptor.annotation
        many: bool = descriptor.is_list
        if many:
            args: tuple[Any, ...] = getattr(annotation, "__args__", ())
            annotation = args[0] if len(args) == 1 else None
        info = descriptor.parameter_info
        if info.parser is not None or descriptor.is_file or descriptor.is_choice:
            continue
        convert: Callable[[Any, Any, Any], Any]
        if annotation is str:
            convert = _to_text
        elif annotation is bool:
            convert = _to_bool
        elif annotation is int and not descriptor.is_ranged:
            convert = _to_int
        elif annotation is int and not info.clamp:
            convert = functools.partial(_to_int_within, info.min, info.max)
        elif annotation is float and not descriptor.is_ranged:
            convert = _to_float
        elif descriptor.is_path or (
            many and isinstance(annotation, type) and issubclass(annotation, Path)
        ):
            path_type = info.path_type or annotation

            def convert(
                value: Any, param: Any, ctx: Any, _info: Any = info, _type: Any = path_type
            ) -> Any:
                plain = isinstance(value, str) and value and "\0" not in value
                if plain and isinstance(_type, type) and issubclass(_type, Path):
                    value = _type(value)  # typer's way builds a pydantic TypeAdapter
                return coerce_cli_path(value, _info, path_type=_type, param=param, ctx=ctx)
        else:
            continue
        param._runtime_param = plain_runtime_param(
            parameter_info=info, annotation=descriptor.annotation, convert=convert, many=many
        )


class _Unconverted(Exception):
    """A value the plain conversion leaves to typer's (for typer's error message)."""


def _to_text(value: Any, param: Any, ctx: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Unconverted


def _to_bool(value: Any, param: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Unconverted


_WHOLE = re.compile(r"[+-]?[0-9]+")


def _to_int(value: Any, param: Any, ctx: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    raise _Unconverted


def _to_int_within(low: Any, high: Any, value: Any, param: Any, ctx: Any) -> int:
    number = _to_int(value, param, ctx)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _Unconverted  # typer's own message names the range
    return number


_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _to_float(value: Any, param: Any, ctx: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return float(value)
    raise _Unconverted


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
    from certward.model.audit import Actor, Channel

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


def new_typer(
    help_text: str, *, root: bool = False, lazy: Mapping[str, LazyCommand] | None = None
) -> typer.Typer:
    """A command group with certward's conventions; ``lazy`` names commands whose modules
    are imported only when they run."""
    cls = type("LazyErrorLineGroup", (ErrorLineGroup,), {"lazy": lazy}) if lazy else ErrorLineGroup
    return typer.Typer(
        help=help_text,
        cls=cls,
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


def read_with(db: str | None, read: Callable[[App], T]) -> T:
    """``read(app)`` for a command that only reads the store: over the SQLite reader when
    the store allows (no SQLAlchemy loaded: issue 16), else, or when the reader cannot
    answer a call, over the full store, as :func:`open_app` opens it."""
    from certward.compose import build_read_app
    from certward.storage.sqlite_reads import NotReadHere, SqliteReadStore

    application = build_read_app(db or root_db.get())
    _opened.append(application)
    if isinstance(application.store, SqliteReadStore):
        try:
            return read(application)
        except NotReadHere:
            pass  # a read the SQLite reader does not have: the full store answers it
    return read(open_app(db))


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
    from certward.model import parse_thumbprint

    return parse(parse_thumbprint, text)


def parse(parser: Callable[[str], T], value: str) -> T:
    """Run a model parser on user input; its ValueError becomes a one-line InputError."""
    try:
        return parser(value)
    except ValueError as exc:
        from certward.codes.general import INPUT_INVALID

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
