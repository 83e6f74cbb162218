"""``certward collector``: the PowerShell script that collects a whole organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certward.interfaces.cli import inputs
from certward.interfaces.cli.common import console
from certward.interop.collector import DEFAULT_SCRIPT_NAME


def collector(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="The script to write (run it in the Exchange Management Shell)."
        ),
    ] = Path(DEFAULT_SCRIPT_NAME),
    force: inputs.OverwriteOpt = False,
) -> None:
    """Write the collector script: run on one Exchange server, it saves what certward reads
    of every server (certificates, stores, connectors, auth, virtual directories, IIS
    bindings, TLS registry settings) into one zip for 'certward observe'. It changes nothing
    on the servers."""
    from certward.interop.collector import collector_script

    inputs.check_output(out, force=force)
    inputs.write_file(out, collector_script().encode("ascii"), force=force)
    console().print(
        f"Wrote {out}. Run it in the Exchange Management Shell on one Exchange server, then: "
        "certward observe <the zip it writes>",
        markup=False,
    )
