"""``certward observe``: real Exchange servers, from what they printed (or a collection zip)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.codes.collection import OBSERVE_COLLECTION_WITH_FILES
from certward.codes.general import INPUT_MISSING
from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, open_app, parse
from certward.model import ExchangeVersion, Role, StoreName

if TYPE_CHECKING:
    from certward.interop.dates import DateOrder
    from certward.services.observe import CollectionResult, ObserveResult


def _is_zip(target: str) -> bool:
    path = Path(target)
    if path.suffix.lower() == ".zip":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def observe(
    target: Annotated[
        str,
        typer.Argument(
            metavar="SERVER|ZIP",
            help="The real server's name (e.g. EXCH01), followed by its files; or a "
            "collection zip written by the 'certward collector' script, alone.",
        ),
    ],
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="certutil [-v] -store my|root|ca, and the Format-List or Export-Clixml output "
            "of Get-ExchangeCertificate, Get-ReceiveConnector, Get-SendConnector, "
            "Get-AuthConfig, Get-TransportService, Get-ExchangeServer … (told apart by content)."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="My, Root or CA (a certutil dump naming another store)."),
    ] = None,
    fqdn: Annotated[str | None, typer.Option("--fqdn", help="The server's FQDN.")] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Its roles (repeatable; a new server: Mailbox)."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="2010, 2013, 2016, 2019 (a new server: 2019)."),
    ] = None,
    culture: Annotated[
        str | None,
        typer.Option(
            "--culture",
            help="The Windows culture the text dumps were printed in (en-GB: 12/02/2016 is "
            "12 February), when their dates cannot tell.",
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build (or refresh) observed servers from a real organisation's output; then run
    'certward health' on them. certward holds none of their keys."""
    from certward.interop.dates import culture_order

    order = parse(culture_order, culture) if culture else None
    if _is_zip(target):
        if files:
            raise OBSERVE_COLLECTION_WITH_FILES(
                f"{target} is a collection zip; it is observed alone, without other files",
                file=target,
            )
        _observe_collection(Path(target), order, db, as_json)
        return
    if not files:
        raise INPUT_MISSING(f"observing server {target} needs at least one of its dumps")
    for path in files:
        if _is_zip(str(path)):
            raise OBSERVE_COLLECTION_WITH_FILES(
                f"{path} is a collection zip; it is observed alone, without a server name",
                file=str(path),
            )
    from certward.services.observe import read_observation

    store_name = parse(StoreName.parse, store) if store else None
    observations = [
        read_observation(
            str(path), inputs.read_file(path), target, store=store_name, date_order=order
        )
        for path in files
    ]
    result = open_app(db).observe.observe(
        target,
        observations,
        fqdn=fqdn,
        roles=[parse(Role.parse, r) for r in role] if role else None,
        version=parse(ExchangeVersion.parse, version) if version else None,
        culture=culture,
    )
    _print_server(result, as_json)


def _observe_collection(path: Path, order: DateOrder | None, db: str | None, as_json: bool) -> None:
    from certward.interop.collection import read_collection

    collection = read_collection(inputs.read_file(path), source=str(path), date_order=order)
    result = open_app(db).observe.observe_collection(collection)
    _print_collection(result, as_json)


def _print_server(result: ObserveResult, as_json: bool) -> None:
    if as_json:
        render.print_json(result.to_json())
        return
    console().print(
        render.simple_table(
            ["File", "Recognised as", "Read"],
            [(o.source, o.format, o.summary()) for o in result.observations],
        )
    )
    for name in result.attached:
        console().print(f"added: observed server {name} (a connector names it)", markup=False)
    stores = ", ".join(f"{n} in {s}" for s, n in result.counts.items())
    console().print(
        f"Observed server {result.server.name}: {stores}; default SMTP certificate "
        f"{result.server.default_smtp_thumbprint or 'unknown'}. "
        f"Next: certward health --server {result.server.name}",
        markup=False,
    )


def _print_collection(result: CollectionResult, as_json: bool) -> None:
    if as_json:
        render.print_json(result.to_json())
        return
    console().print(
        render.simple_table(
            ["Server", "Roles", "Version", "My", "Root", "CA", "Default SMTP"],
            [
                (
                    s.server.name,
                    ", ".join(sorted(r.value for r in s.server.roles)),
                    str(s.server.version.value),
                    str(s.counts.get("My", 0)),
                    str(s.counts.get("Root", 0)),
                    str(s.counts.get("CA", 0)),
                    s.server.default_smtp_thumbprint or "unknown",
                )
                for s in result.servers
            ],
        )
    )
    for line in result.not_collected:
        console().print(f"not collected: {line}", markup=False)
    for line in result.removed:
        console().print(f"removed: {line}", markup=False)
    console().print(
        f"Observed {len(result.servers)} servers and {result.connectors} connectors from "
        f"{result.source} (collected {result.collected_at:%Y-%m-%d %H:%M} UTC). "
        "Next: certward health",
        markup=False,
    )
