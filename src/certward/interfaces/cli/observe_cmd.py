"""``certward observe``: a real Exchange server, from what it printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certward.codes.general import INPUT_FILE_UNREADABLE
from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, open_app, parse
from certward.model import ExchangeVersion, Role, StoreName


def observe(
    server: Annotated[str, typer.Argument(help="The real server's name, e.g. EXCH01.")],
    files: Annotated[
        list[Path],
        typer.Argument(
            help="certutil [-v] -store my|root|ca, Get-ExchangeCertificate | fl, "
            "Get-ReceiveConnector | fl, Get-SendConnector | fl, Get-AuthConfig | fl, "
            "Get-TransportService | fl (told apart by content)."
        ),
    ],
    store: Annotated[
        str | None,
        typer.Option("--store", help="My, Root or CA (a certutil dump naming another store)."),
    ] = None,
    fqdn: Annotated[str | None, typer.Option("--fqdn", help="The server's FQDN.")] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Its roles (repeatable; default Mailbox).")
    ] = None,
    version: Annotated[str, typer.Option("--version", help="2010, 2013, 2016, 2019.")] = "2019",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build (or refresh) an observed server from a real server's output; then run
    'certward health' on it. certward holds none of its keys."""
    from certward.services.observe import read_observation

    store_name = parse(StoreName.parse, store) if store else None
    observations = []
    for path in files:
        data = inputs.read_file(path)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:  # PowerShell's "> file" writes UTF-16
                text = data.decode("utf-16")
            except UnicodeDecodeError:
                raise INPUT_FILE_UNREADABLE(f"{path}: not UTF-8 or UTF-16 text") from None
        observations.append(read_observation(str(path), text, server, store=store_name))
    result = open_app(db).observe.observe(
        server,
        observations,
        fqdn=fqdn,
        roles=[parse(Role.parse, r) for r in role] if role else [Role.MAILBOX],
        version=parse(ExchangeVersion.parse, version),
    )
    if as_json:
        render.print_json(result.to_json())
        return
    console().print(
        render.simple_table(
            ["File", "Recognised as", "Read"],
            [(o.source, o.format, o.summary()) for o in result.observations],
        )
    )
    stores = ", ".join(f"{n} in {s}" for s, n in result.counts.items())
    console().print(
        f"Observed server {result.server.name}: {stores}; default SMTP certificate "
        f"{result.server.default_smtp_thumbprint or 'unknown'}. "
        f"Next: certward health --server {result.server.name}",
        markup=False,
    )
