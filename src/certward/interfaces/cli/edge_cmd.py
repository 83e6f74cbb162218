"""``certward edge``: Edge subscriptions and EdgeSync (New/Get/Remove-EdgeSubscription,
Start-EdgeSynchronization)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app
from certward.model import DEFAULT_SITE

if TYPE_CHECKING:
    from certward.services.edge import SyncResult

edge_app = new_typer("Edge subscriptions and EdgeSync (direct trust, seed 004).")


@edge_app.command("subscribe")
def edge_subscribe(
    edge: Annotated[str, typer.Argument(help="The Edge Transport server.")],
    site: Annotated[str, typer.Option("--site", help="Active Directory site.")] = DEFAULT_SITE,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe an Edge: its default SMTP certificate is published to the organisation."""
    sub = open_app(db).edge.subscribe(edge, site)
    if as_json:
        render.print_json(_subscription_json(sub))
    else:
        console().print(
            f"Subscribed {sub.edge} to site {sub.site}; its certificate {sub.edge_thumbprint} "
            "is published to the organisation. Run 'certward edge sync'.",
            markup=False,
        )


@edge_app.command("list")
def edge_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-EdgeSubscription."""
    subs = open_app(db).edge.subscriptions()
    if as_json:
        render.print_json([_subscription_json(s) for s in subs])
        return
    rows = [
        (
            s.edge,
            s.site,
            s.edge_thumbprint,
            ", ".join(f"{h.server}={h.thumbprint}" for h in s.hub_certificates) or "-",
            "never"
            if s.last_sync is None
            else f"{s.last_sync:%Y-%m-%d %H:%M} " + ("ok" if s.last_sync_ok else "failed"),
        )
        for s in subs
    ]
    console().print(
        render.simple_table(["Edge", "Site", "Edge certificate", "Hub certificates", "Sync"], rows)
    )


@edge_app.command("remove")
def edge_remove(
    edge: Annotated[str, typer.Argument(help="The Edge Transport server.")], db: DbOpt = None
) -> None:
    """Remove-EdgeSubscription."""
    open_app(db).edge.remove(edge)
    console().print(f"Removed the Edge subscription of {edge}.", markup=False)


@edge_app.command("sync")
def edge_sync(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Start-EdgeSynchronization: publish each Hub's default transport certificate to each
    Edge. Exit 1 when any Hub fails (event 1035 for a CNG key; a chain the Edge lacks)."""
    results = open_app(db).edge.sync()
    if as_json:
        render.print_json([r.to_json() for r in results])
    else:
        for result in results:
            _print(result)
        if not results:
            console().print("No Edge subscriptions (certward edge subscribe EDGE).")
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _print(result: SyncResult) -> None:
    out = console()
    sub = result.subscription
    out.print(f"{sub.edge} ({sub.site}): {'ok' if result.ok else 'FAILED'}", markup=False)
    if result.edge_certificate_changed:
        out.print(
            f"  the Edge's default SMTP certificate changed since it subscribed; "
            f"resubscribe: certward edge remove {sub.edge} && certward edge subscribe {sub.edge}",
            markup=False,
        )
    for hub in result.hubs:
        if hub.ok:
            out.print(f"  {hub.server}: published {hub.thumbprint}", markup=False)
            continue
        if hub.problem:
            event = f"event {hub.event}: " if hub.event else ""
            out.print(f"  {hub.server}: {event}{hub.problem}", markup=False)
        for missing in hub.missing:
            where = (
                f"its {missing.store} store"
                if missing.thumbprint
                else f"its stores (and {hub.server}'s)"
            )
            out.print(
                f"  {hub.server}: {sub.edge} lacks {missing.subject} in {where}", markup=False
            )


def _subscription_json(subscription: Any) -> dict[str, Any]:
    from certward.services.edge import subscription_json

    return subscription_json(subscription)
