"""``certward token``: API tokens (issue 14). A token's secret is printed once."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    console,
    new_typer,
    open_app,
    os_account,
)
from certward.interfaces.cli.user_cmd import as_role

if TYPE_CHECKING:
    from certward.model.access import ApiToken

token_app = new_typer("API tokens: made with a role, shown once, revoked by id.")

_DURATION = re.compile(r"(\d+)([hdw])")

TokenRoleOpt = Annotated[
    str,
    typer.Option("--role", metavar="ROLE", help="reader, operator, admin, or agent (with --host)."),
]


def parse_expiry(text: str) -> dt.timedelta | None:
    """``90d``, ``12h``, ``2w``; ``never`` for a token that does not expire."""
    from certward.codes.access import EXPIRY_INVALID

    value = text.strip().lower()
    if value == "never":
        return None
    found = _DURATION.fullmatch(value)
    if found is None or int(found.group(1)) == 0:
        raise EXPIRY_INVALID(
            f"token lifetime {text!r} is not a positive number of hours, days or weeks "
            "(such as 12h, 90d, 2w) or 'never'",
            value=text,
        )
    count, unit = int(found.group(1)), found.group(2)
    hours = {"h": 1, "d": 24, "w": 24 * 7}[unit] * count
    if hours > 24 * 365 * 10:
        raise EXPIRY_INVALID(f"token lifetime {text!r} is longer than ten years", value=text)
    return dt.timedelta(hours=hours)


def token_json(token: ApiToken, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": token.token_id,
        "name": token.name,
        "role": token.role.value,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
        "last_used_at": None if token.last_used_at is None else token.last_used_at.isoformat(),
        "revoked": token.revoked,
        "valid": token.valid_at(now),
        "host": token.host,
    }


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the token is for.")],
    role: TokenRoleOpt,
    expires: Annotated[
        str,
        typer.Option("--expires", metavar="DURATION", help="Lifetime: 12h, 90d, 2w, or never."),
    ] = "90d",
    host: Annotated[
        str | None,
        typer.Option(
            "--host", metavar="HOST", help="The host an agent token serves (role agent only)."
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API token; its secret is printed once and cannot be shown again."""
    wanted = as_role(role)
    lifetime = parse_expiry(expires)
    application = open_app(db)
    token, secret = application.access.create_token(
        name, wanted, expires_in=lifetime, created_by=os_account(), host=host
    )
    if as_json:
        render.print_json({**token_json(token, application.clock.now()), "secret": secret})
        return
    until = (
        "never expires"
        if token.expires_at is None
        else f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    bound = "" if token.host is None else f" for host {token.host}"
    console().print(
        f"Token {token.token_id} ({token.name}, {token.role.value}{bound}, {until}):",
        markup=False,
    )
    typer.echo(secret)
    render.error_console().print(
        "warning: this is the only time the token is shown; store it now", markup=False
    )


@token_app.command("list")
def token_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The tokens (never their secrets): role, expiry, last use, revoked."""
    application = open_app(db)
    tokens = application.access.tokens()
    now = application.clock.now()
    if as_json:
        render.print_json([token_json(t, now) for t in tokens])
        return

    def state(token: ApiToken) -> str:
        if token.revoked:
            return "revoked"
        return "valid" if token.valid_at(now) else "expired"

    rows = [
        (
            t.token_id,
            t.name,
            t.role.value if t.host is None else f"{t.role.value} ({t.host})",
            state(t),
            "never" if t.expires_at is None else f"{t.expires_at:%Y-%m-%d %H:%M}",
            "never" if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
            t.created_by,
        )
        for t in tokens
    ]
    console().print(
        render.simple_table(
            ["Id", "Name", "Role", "State", "Expires", "Last used", "Created by"], rows
        )
    )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
    db: DbOpt = None,
) -> None:
    """Revoke a token: every request carrying it is refused from now on."""
    token = open_app(db).access.revoke_token(token_id)
    console().print(f"Revoked token {token.token_id} ({token.name})", markup=False)
