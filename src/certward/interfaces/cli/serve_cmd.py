"""``certward serve``, ``domain``, ``mailbox``, ``log`` and ``events``: live endpoints."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    ServerOpt,
    console,
    new_typer,
    open_app,
)

domain_app = new_typer("Accepted domains.")
mailbox_app = new_typer("Mailboxes that SMTP delivers to and IMAP/POP3 read from.")
log_app = new_typer("Protocol logs of the live endpoints.")
mail_app = new_typer("Send mail through a Send connector.")
vdir_app = new_typer("IIS virtual directories (OWA, ECP, EWS, ActiveSync, Autodiscover, OAB).")
queue_app = new_typer("Messages waiting to be sent.")


def serve(
    server: ServerOpt,
    host: Annotated[
        str, typer.Option("--host", help="Address for bindings on 0.0.0.0 (all addresses).")
    ] = "127.0.0.1",
    https_port: Annotated[
        int | None, typer.Option("--https-port", help="IIS over HTTPS (e.g. 443).")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help="IIS over plain HTTP (e.g. 80).")
    ] = None,
    imap_port: Annotated[
        int | None, typer.Option("--imap-port", help="IMAP4 with STARTTLS (e.g. 143).")
    ] = None,
    imaps_port: Annotated[int | None, typer.Option("--imaps-port", help="IMAPS (993).")] = None,
    pop3_port: Annotated[
        int | None, typer.Option("--pop3-port", help="POP3 with STLS (e.g. 110).")
    ] = None,
    pop3s_port: Annotated[int | None, typer.Option("--pop3s-port", help="POP3S (995).")] = None,
    max_connections_per_source: Annotated[
        int,
        typer.Option(
            "--max-connections-per-source",
            min=1,
            help="Open connections one client address may hold across all endpoints.",
        ),
    ] = 50,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes sharing the SMTP ports (default: one per core).",
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Run the server's endpoints: every receive connector (SMTP with STARTTLS), in one
    worker process per core; IIS's virtual directories, IMAP and POP3 on the ports given."""
    status = open_app(db).endpoints.serve(
        server,
        host=host,
        say=typer.echo,
        ports={
            "https_port": https_port, "http_port": http_port, "imap_port": imap_port,
            "imaps_port": imaps_port, "pop3_port": pop3_port, "pop3s_port": pop3s_port,
        },
        max_connections_per_source=max_connections_per_source, workers=workers,
    )  # fmt: skip
    raise typer.Exit(status)


@domain_app.command("add")
def domain_add(
    domain: Annotated[str, typer.Argument(help="e.g. contoso.com")], db: DbOpt = None
) -> None:
    """New-AcceptedDomain."""
    console().print(f"Accepted domain {open_app(db).mail.add_domain(domain)}", markup=False)


@domain_app.command("list")
def domain_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Accepted domains."""
    domains = open_app(db).mail.domains()
    if as_json:
        render.print_json(domains)
    else:
        for domain in domains:
            console().print(domain, markup=False)


@mailbox_app.command("add")
def mailbox_add(
    address: Annotated[str, typer.Argument(help="e.g. alice@contoso.com")],
    server: ServerOpt,
    password_file: Annotated[
        Path, typer.Option("--password-file", help="File whose first line is the password.")
    ],
    db: DbOpt = None,
) -> None:
    """A mailbox homed on a server; the password is stored as a salted hash."""
    password = inputs.read_password(password_file, required=True)
    assert password is not None
    mailbox = open_app(db).mail.add_mailbox(address, server=server, password=password)
    console().print(f"Mailbox {mailbox.address} on {mailbox.server}", markup=False)


@mailbox_app.command("list")
def mailbox_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Mailboxes (never their password hashes)."""
    boxes = [{"address": m.address, "server": m.server} for m in open_app(db).mail.mailboxes()]
    if as_json:
        render.print_json(boxes)
    else:
        console().print(
            render.simple_table(["Address", "Server"], [list(b.values()) for b in boxes])
        )


@log_app.command("show")
def log_show(
    server: ServerOpt,
    connector: Annotated[str | None, typer.Option("--connector", help="Connector id.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Session id.")] = None,
    send: Annotated[bool, typer.Option("--send", help="The send log (else receive).")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The SMTP receive (or send) protocol log, in Exchange's fields."""
    rows = open_app(db).endpoints.protocol_log(
        server, connector=connector, session=session, send=send
    )
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        typer.echo(",".join(row.values()))


def events(server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Exchange-style events of the server's endpoints (12014, 12016, 36885, ...)."""
    records = open_app(db).endpoints.events(server)
    if as_json:
        render.print_json(records)
        return
    for record in records:
        typer.echo(f"{record['time']}  {record['id']:>5}  {record['source']}: {record['message']}")


@mail_app.command("send")
def mail_send(
    server: ServerOpt,
    connector: Annotated[str, typer.Option("--connector", help="Send connector.")],
    mail_from: Annotated[str, typer.Option("--from", help="Sender address.")],
    rcpt_to: Annotated[list[str], typer.Option("--to", help="Recipient (repeatable).")],
    subject: Annotated[str, typer.Option("--subject", help="Subject.")] = "certward test",
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Message body (text).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Deliver through the connector's smart host; on failure the message stays queued."""
    body = inputs.read_file(body_file) if body_file else b"Sent by certward.\n"
    outcome = open_app(db).transport.send(
        server, connector, mail_from=mail_from, rcpt_to=rcpt_to, subject=subject, body=body
    )
    if outcome.delivered:
        console().print(f"Delivered {outcome.entry.id}", markup=False)
        return
    render.error_console().print(
        f"error: not delivered, queued as {outcome.entry.id} for retry: {outcome.error}",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _queue_json(entry: Any) -> dict[str, object]:
    return asdict(entry)


@queue_app.command("list")
def queue_list(server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-Queue / Get-Message: what waits, and why."""
    application = open_app(db)
    name = application.organisation.server(server).name
    entries = application.transport.queue(name).entries()
    if as_json:
        render.print_json([_queue_json(e) for e in entries])
        return
    rows = [[e.id, e.connector, e.status, str(e.attempts), e.last_error] for e in entries]
    console().print(
        render.simple_table(["Id", "Connector", "Status", "Attempts", "LastError"], rows)
    )


@queue_app.command("retry")
def queue_retry(server: ServerOpt, db: DbOpt = None) -> None:
    """Retry-Queue: try every queued message again."""
    outcomes = open_app(db).transport.retry(server)
    for outcome in outcomes:
        state = "delivered" if outcome.delivered else f"still queued: {outcome.error}"
        console().print(f"{outcome.entry.id}: {state}", markup=False)
    if any(not o.delivered for o in outcomes):
        raise typer.Exit(1)


def _vdir_json(vdir: Any) -> dict[str, object]:
    return asdict(vdir)


@vdir_app.command("list")
def vdir_list(server: ServerOpt, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Get-OwaVirtualDirectory and friends: paths, URLs, SSL required."""
    vdirs = open_app(db).vdirs.list(server)
    if as_json:
        render.print_json([_vdir_json(v) for v in vdirs])
        return
    rows = [
        [v.name, v.path, v.internal_url or "", v.external_url or "", str(v.require_ssl)]
        for v in vdirs
    ]
    headers = ["Name", "Path", "InternalUrl", "ExternalUrl", "RequireSSL"]
    console().print(render.simple_table(headers, rows))


@vdir_app.command("set")
def vdir_set(
    name: Annotated[str, typer.Argument(help="owa, ecp, ews, ... (see vdir list)")],
    server: ServerOpt,
    internal_url: Annotated[
        str | None, typer.Option("--internal-url", help='URL ("" clears it).')
    ] = None,
    external_url: Annotated[
        str | None, typer.Option("--external-url", help='URL ("" clears it).')
    ] = None,
    require_ssl: Annotated[
        bool | None, typer.Option("--require-ssl/--no-require-ssl", help="SSL required.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set-*VirtualDirectory -InternalUrl/-ExternalUrl, and IIS's Require SSL."""
    vdir = open_app(db).vdirs.set(
        server, name, internal_url=internal_url, external_url=external_url,
        require_ssl=require_ssl,
    )  # fmt: skip
    if as_json:
        render.print_json(_vdir_json(vdir))
    else:
        console().print(f"{vdir.name}: {vdir.internal_url} {vdir.external_url or ''}", markup=False)
