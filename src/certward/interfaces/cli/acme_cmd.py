"""``certward acme``: ACME accounts and renewal of certificates obtained through ACME (issue
15); ``certward cert request --acme`` obtains one (:func:`cert_request_acme`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app

if TYPE_CHECKING:
    from certward.services.acme import AcmeService, RenewalReport

acme_app = new_typer("ACME (RFC 8555): accounts, and renewal of certificates obtained by ACME.")
account_app = new_typer("ACME accounts: registered with a CA's directory, keys kept sealed.")
acme_app.add_typer(account_app, name="account")

ChallengeOpt = Annotated[
    str,
    typer.Option(
        "--challenge",
        metavar="KIND",
        help="How names are proved: http-01, dns-01 or tls-alpn-01.",
    ),
]
ChallengeOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--challenge-option",
        metavar="NAME=VALUE",
        help="A setting of the challenge solver (http-01: port, address, mode); repeatable.",
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option("--account", metavar="ID", help="The ACME account (id or directory URL)."),
]


def _service(db: str | None) -> AcmeService:
    from certward.services.acme import acme_service

    application = open_app(db)
    return acme_service(application.store, application.clock)


@account_app.command("add")
def account_add(
    directory: Annotated[
        str, typer.Option("--directory", metavar="URL", help="The CA's ACME directory URL.")
    ],
    email: Annotated[str, typer.Option("--email", metavar="ADDRESS", help="Contact address.")],
    eab_kid: Annotated[
        str | None,
        typer.Option("--eab-kid", metavar="KID", help="External account binding key id."),
    ] = None,
    eab_hmac_file: Annotated[
        Path | None,
        typer.Option(
            "--eab-hmac-file", metavar="FILE", help="File holding the binding's HMAC key."
        ),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle", metavar="FILE", help="Roots that verify the directory's HTTPS."
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an account with the CA (agreeing to its terms of service) and store it."""
    from certward.acme.client import Eab
    from certward.codes.general import INPUT_CONFLICT

    if (eab_kid is None) != (eab_hmac_file is None):
        raise INPUT_CONFLICT("an external account binding needs both its key id and HMAC key")
    eab = None
    if eab_kid is not None and eab_hmac_file is not None:
        eab = Eab.read(eab_kid, inputs.read_file(eab_hmac_file), source=str(eab_hmac_file))
    bundle = None
    if ca_bundle is not None:
        inputs.read_file(ca_bundle)  # a missing file: one line, before the CA is asked
        bundle = str(ca_bundle.resolve())
    account = _service(db).add_account(directory, email, eab=eab, ca_bundle=bundle)
    if as_json:
        render.print_json(account.to_json())
        return
    console().print(
        f"Registered ACME account {account.account_id} for {account.email} at "
        f"{account.directory_url}: {account.account_url}",
        markup=False,
    )


@account_app.command("list")
def account_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The registered ACME accounts (never their keys)."""
    accounts = _service(db).accounts()
    if as_json:
        render.print_json([a.to_json() for a in accounts])
        return
    rows = [
        (
            str(a.account_id),
            a.directory_url,
            a.email,
            a.eab_kid or "",
            f"{a.created:%Y-%m-%d %H:%M}",
            a.account_url,
        )
        for a in accounts
    ]
    console().print(
        render.simple_table(["Id", "Directory", "E-mail", "EAB kid", "Created", "Account"], rows)
    )


@acme_app.command("orders")
def acme_orders(
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="First forget the orders whose certificate is no longer on its server.",
        ),
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Certificates kept alive through ACME: names, server, last error, next attempt."""
    service = _service(db)
    forgotten = service.prune() if prune else []
    orders = service.orders()
    if as_json:
        render.print_json([o.to_json() for o in orders])
        return
    for o in forgotten:
        console().print(
            f"forgot order {o.order_id}: {', '.join(o.names)} on {o.server} "
            f"(certificate {o.thumbprint} is no longer there)",
            markup=False,
        )
    rows = [
        (
            str(o.order_id),
            o.server,
            ", ".join(o.names),
            o.challenge,
            o.thumbprint or "",
            o.error.code if o.error else "",
            "" if o.next_attempt is None or o.error is None else f"{o.next_attempt:%Y-%m-%d %H:%M}",
        )
        for o in orders
    ]
    console().print(
        render.simple_table(
            ["Id", "Server", "Names", "Challenge", "Thumbprint", "Last error", "Next attempt"],
            rows,
        )
    )


@acme_app.command("renew")
def acme_renew(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what is due and who follows; change nothing.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Renew the certificates that are due (ACME renewal information, else two thirds of the
    lifetime) through the organisation-wide renewal; retry failed orders after their backoff.
    Exit 1 when an order failed."""
    report = _service(db).renew(dry_run=dry_run)
    if as_json:
        render.print_json(report.to_json())
    else:
        _print_report(report)
    if report.failed:
        raise typer.Exit(1)


def _print_report(report: RenewalReport) -> None:
    out = console()
    if not report.outcomes:
        out.print("No certificate is kept by ACME.", markup=False)
    for o in report.outcomes:
        names = ", ".join(o.order.names)
        verb = {
            "renewed": "renewed",
            "failed": "FAILED",
            "due": "due (dry run)",
            "not-due": "not due",
            "waiting": "waiting",
            "missing": "missing",
        }.get(o.action, o.action)
        change = f" {o.old} -> {o.new}" if o.new and o.old else (f" {o.old}" if o.old else "")
        out.print(f"{names} on {o.order.server}: {verb}{change}: {o.reason}", markup=False)
        for follower in o.followers:
            out.print(
                f"  follows: {follower.kind} {follower.name} ({follower.detail})", markup=False
            )
        for step in o.steps:
            out.print(f"  {step}", markup=False)


def cert_request_acme(
    *,
    server: str,
    subject: str,
    domains: list[str],
    exportable: bool,
    key_size: int,
    friendly_name: str | None,
    challenge: str,
    challenge_options: list[str],
    account: str | None,
    db: str | None,
) -> None:
    """``certward cert request --acme``: obtain the certificate and complete the request."""
    from certward.acme.solvers import parse_options

    options = parse_options(challenge_options, challenge)
    obtained = _service(db).request(
        server,
        subject=subject,
        domains=domains,
        challenge=challenge,
        solver_options=options,
        account=int(account) if account and account.isdigit() else account,
        exportable=exportable,
        key_size=key_size,
        friendly_name=friendly_name,
    )
    console().print(
        f"{obtained.thumbprint}  Valid  {', '.join(obtained.order.names)}", markup=False
    )
    console().print(
        f"Obtained through ACME and completed the pending request on {obtained.server}",
        markup=False,
    )
