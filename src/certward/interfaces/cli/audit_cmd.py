"""``certward audit``: the audit log, as Exchange's admin audit log (issue 14)."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app

if TYPE_CHECKING:
    from certward.model.audit import AuditEntry

audit_app = new_typer("The audit log: who changed what, when, through what.")


def parse_since(text: str) -> dt.datetime:
    """A date (``2026-12-01``, midnight UTC) or an ISO date and time (UTC unless it says)."""
    from certward.codes.general import INPUT_INVALID

    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise INPUT_INVALID(
            f"{text!r} is not a date (2026-12-01) or a date and time (2026-12-01T08:00)",
            value=text,
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.entry_id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "via": entry.via.value,
        "action": entry.action,
        "changes": [
            {
                "kind": c.kind,
                "identity": c.identity,
                "before": None if c.before is None else dict(c.before),
                "after": None if c.after is None else dict(c.after),
            }
            for c in entry.changes
        ],
        "detail": dict(entry.detail),
    }


def _what(entry: AuditEntry) -> str:
    parts = []
    for change in entry.changes[:3]:
        if change.before is None:
            verb = "created"
        elif change.after is None:
            verb = "removed"
        else:
            verb = ", ".join(
                f"{k}: {json.dumps(change.before.get(k))} -> {json.dumps(change.after.get(k))}"
                for k in sorted(change.after)
            )
        parts.append(f"{change.kind} {change.identity} {verb}")
    if len(entry.changes) > 3:
        parts.append(f"and {len(entry.changes) - 3} more")
    if entry.detail:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(entry.detail.items())))
    return "; ".join(parts)


@audit_app.command("list")
def audit_list(
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="Entries from this date (UTC) on."),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", metavar="NAME", help="Only this actor's entries.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", metavar="TEXT", help="Only actions starting with TEXT."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="At most N entries, newest first.")
    ] = 100,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who changed what, when and through what, newest first."""
    start = None if since is None else parse_since(since)
    entries = open_app(db).audit.entries(since=start, actor=actor, action=action, limit=limit)
    if as_json:
        render.print_json([entry_json(e) for e in entries])
        return
    rows = [
        (f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.via.value, e.action or "-", _what(e))
        for e in entries
    ]
    console().print(render.simple_table(["When (UTC)", "Actor", "Via", "Action", "What"], rows))
