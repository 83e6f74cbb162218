"""``certward auth``: Get/Set-AuthConfig and the MonitorExchangeAuthCertificate script."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    console,
    new_typer,
    open_app,
    parse,
    parse_date,
)

if TYPE_CHECKING:
    from certward.services.auth import AuthView

auth_app = new_typer("The organisation's OAuth auth certificate (Get-AuthConfig).")


def _print(view: AuthView, as_json: bool) -> None:
    data = view.to_json()
    if as_json:
        render.print_json(data)
        return
    labels = {
        "current_certificate_thumbprint": "CurrentCertificateThumbprint",
        "next_certificate_thumbprint": "NextCertificateThumbprint",
        "next_certificate_effective_date": "NextCertificateEffectiveDate",
        "previous_certificate_thumbprint": "PreviousCertificateThumbprint",
        "service_name": "ServiceName",
        "realm": "Realm",
    }
    fields: list[tuple[str, object]] = [(label, data[key]) for key, label in labels.items()]
    for which in ("current", "next", "previous"):
        info = data[which]
        if info:
            fields.append((f"{which.capitalize()}CertificateNotAfter", info["not_after"]))
            if info["missing_on"]:
                fields.append((f"{which.capitalize()}CertificateMissingOn", info["missing_on"]))
    render.print_fields(fields)


@auth_app.command("show")
def auth_show(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Current, next and previous auth certificates, next effective date, service, realm."""
    _print(open_app(db).auth.show(), as_json)


@auth_app.command("new-next")
def auth_new_next(
    effective: Annotated[
        str | None, typer.Option("--effective", help="When it takes effect (default: +48 h).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stage a new auth certificate (5 years, exportable) on every server."""
    when = parse(parse_date, effective) if effective else None
    _print(open_app(db).auth.new_next(effective=when), as_json)


@auth_app.command("publish")
def auth_publish(
    force: Annotated[bool, typer.Option("--force", help="Publish before it is effective.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the next auth certificate current (Set-AuthConfig -PublishCertificate)."""
    _print(open_app(db).auth.publish(force=force), as_json)


@auth_app.command("clear-previous")
def auth_clear_previous(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Forget the previous auth certificate (Set-AuthConfig -ClearPreviousCertificate)."""
    _print(open_app(db).auth.clear_previous(), as_json)


@auth_app.command("monitor")
def auth_monitor(
    renew: Annotated[bool, typer.Option("--renew", help="Do what is due.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Evaluate as of this date (report only).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """MonitorExchangeAuthCertificate.ps1's decision, as a monitoring check.

    Exit 0 OK: nothing is due, or --renew did it; 1 WARNING: a next certificate or an import
    is due; 2 CRITICAL: the current certificate must be replaced now; 3 UNKNOWN: no verdict.
    """
    when = parse(parse_date, as_of) if as_of else None
    if renew and when is not None:
        raise typer.BadParameter("--as-of reports only; it cannot be combined with --renew")
    report = open_app(db).auth.monitor(renew=renew, as_of=when)
    if as_json:
        render.print_json(report.to_json())
    else:
        console().print(f"Decision: {report.decision.value}", markup=False)
        for reason in report.reasons:
            console().print(f"  because {reason}", markup=False)
        verb = "done" if report.applied else "would"
        for action in report.actions:
            console().print(f"  {verb}: {action}", markup=False)
    raise typer.Exit(int(report.status))
