"""``certward deploy``: (being built for issue 15)."""

from __future__ import annotations

from certward.interfaces.cli.common import new_typer

deploy_app = new_typer("(being built)")
