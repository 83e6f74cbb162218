"""``certward agent``: the host agent (issue 15) — pulls this host's deployments from the
REST API, deploys and verifies them, reports what its ports serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def agent(
    api: Annotated[
        str,
        typer.Option("--api", metavar="URL", help="The certward web service: https://HOST:PORT."),
    ],
    host: Annotated[
        str,
        typer.Option("--host", metavar="HOST", help="This host's name (its agent token's)."),
    ],
    root: Annotated[
        Path,
        typer.Option(
            "--root", metavar="DIR", help="The agent's directory: its state file and lock."
        ),
    ],
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file", metavar="FILE", help="File whose first line is the agent's token."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="The agent's token (visible to other users in the process list: prefer "
            "--token-file).",
        ),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle",
            metavar="FILE",
            help="PEM CA certificates the service's certificate must chain to (default: "
            "the system's trust store).",
        ),
    ] = None,
    every: Annotated[
        str,
        typer.Option("--every", metavar="INTERVAL", help="How often: 30s, 5m, 1h."),
    ] = "60s",
    once: Annotated[
        bool,
        typer.Option("--once", help="One cycle, then exit: 0 when all is deployed and served."),
    ] = False,
) -> None:
    """Run the host agent: pull this host's deployments from certward's API, deploy and
    verify each, report what its ports serve; again every interval. Keys travel only over
    HTTPS, to this host's own agent token; an unreachable API is retried, the deployed files
    kept. Stops on SIGTERM or Ctrl+C."""
    from certward.codes.general import INPUT_INVALID
    from certward.collector import long_running
    from certward.interfaces.agent import AgentSettings, run_agent
    from certward.interfaces.agent.client import check_api_url, load_ca_bundle
    from certward.interfaces.cli import inputs
    from certward.interfaces.cli.common import parse
    from certward.model.agents import check_host
    from certward.model.watch import parse_every

    if (token is None) == (token_file is None):
        raise typer.BadParameter("give the agent's token with exactly one of --token-file, --token")
    secret = token
    if token_file is not None:
        lines = inputs.read_file(token_file).decode("utf-8", errors="replace").splitlines()
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise INPUT_INVALID(f"{token_file}: holds no token", path=str(token_file))
    assert secret is not None
    settings = AgentSettings(
        api=check_api_url(api),
        token=secret.strip(),
        host=parse(check_host, host),
        root=root.resolve(),
        every=parse(parse_every, every).total_seconds(),
        once=once,
        ca_pems=tuple(load_ca_bundle(ca_bundle)) if ca_bundle is not None else (),
        token_file=token_file,
    )
    long_running()
    raise typer.Exit(run_agent(settings))
