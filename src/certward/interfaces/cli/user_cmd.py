"""``certward user``: the console's and API's users and their roles (issue 14)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app, parse

if TYPE_CHECKING:
    from certward.model.access import AccessRole, User

user_app = new_typer("Users of the console and the API, and their roles.")

RoleOpt = Annotated[str, typer.Option("--role", metavar="ROLE", help="reader, operator or admin.")]


def as_role(text: str) -> AccessRole:
    from certward.model.access import AccessRole

    return parse(AccessRole.parse, text)


def _password(path: Path | None) -> str:
    """The new password: the file's first line, else typed twice at a terminal."""
    from certward.codes.general import INPUT_INVALID, INPUT_MISSING
    from certward.interfaces.cli import inputs

    if path is not None:
        lines = inputs.read_file(path).splitlines()
        return (lines[0] if lines else b"").decode("utf-8", errors="strict")
    if not sys.stdin.isatty():
        raise INPUT_MISSING("a password is required: pass --password-file FILE")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Confirm password: ") != first:
        raise INPUT_INVALID("the passwords do not match")
    return first


PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        metavar="FILE",
        help="File whose first line is the password (else it is typed twice).",
    ),
]


def user_json(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role.value,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's name.")],
    role: RoleOpt,
    password_file: PasswordFileOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user who logs in to the console with a password."""
    wanted = as_role(role)
    password = _password(password_file)
    user = open_app(db).access.add_user(name, wanted, password)
    if as_json:
        render.print_json(user_json(user))
    else:
        console().print(f"Added user {user.name} ({user.role.value})", markup=False)


@user_app.command("list")
def user_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The users, their roles and whether they are disabled."""
    users = open_app(db).access.users()
    if as_json:
        render.print_json([user_json(u) for u in users])
        return
    rows = [
        (
            u.name,
            u.role.value,
            "disabled" if u.disabled else "enabled",
            f"{u.created_at:%Y-%m-%d %H:%M}",
        )
        for u in users
    ]
    console().print(render.simple_table(["Name", "Role", "State", "Created"], rows))


@user_app.command("set")
def user_set(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's name.")],
    role: Annotated[
        str | None, typer.Option("--role", metavar="ROLE", help="reader, operator or admin.")
    ] = None,
    disable: Annotated[
        bool, typer.Option("--disable", help="Disable the user (its sessions end).")
    ] = False,
    enable: Annotated[bool, typer.Option("--enable", help="Enable a disabled user.")] = False,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", metavar="FILE", help="Set a new password from FILE."),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role, disable or enable them, or set a new password."""
    from certward.codes.general import INPUT_CONFLICT, INPUT_MISSING

    if disable and enable:
        raise INPUT_CONFLICT("--disable and --enable contradict each other")
    if role is None and not disable and not enable and password_file is None:
        raise INPUT_MISSING(
            "nothing to change: pass --role, --disable, --enable or --password-file"
        )
    wanted = None if role is None else as_role(role)
    access = open_app(db).access
    user = access.user(name)
    if wanted is not None:
        user = access.set_role(name, wanted)
    if disable or enable:
        user = access.disable_user(name, disabled=disable)
    if password_file is not None:
        user = access.set_password(name, _password(password_file))
    if as_json:
        render.print_json(user_json(user))
    else:
        state = "disabled" if user.disabled else "enabled"
        console().print(f"User {user.name}: {user.role.value}, {state}", markup=False)
