"""``certward web``: the console, the REST API and ``/metrics`` over HTTPS, with the
scheduler of checks, probes and notifications."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

import typer

from certward.collector import long_running
from certward.interfaces.cli.common import DbOpt, console, open_app

if TYPE_CHECKING:
    from certward.compose import App

DEMO_ADMIN = "admin"
ONE_TIME_PATH = "/login/one-time"


def web(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="HTTPS port.")
    ] = 8443,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            "-s",
            metavar="NAME",
            help="Serve with this server's IIS certificate (default: the first server "
            "certward runs that has one).",
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="On an empty store, build the demo organisation and an admin user; print a "
            "one-time login.",
        ),
    ] = False,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the REST API's OpenAPI document and exit.")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Serve the console, the REST API (/api/v1) and Prometheus metrics (/metrics) over
    HTTPS, with the IIS certificate certward holds for the server; run the scheduled checks.
    Stops cleanly on Ctrl+C or SIGTERM."""
    if openapi:
        from certward.interfaces.api.openapi import render

        typer.echo(render(), nl=False)  # docs/openapi.json's bytes
        return
    from certward.interfaces.server import WebSettings, serve

    application = open_app(db)
    lines = _demo(application) if demo else []
    settings = WebSettings(host=host, port=port, server=server)

    def ready(line: str) -> None:
        out = console()
        out.print(line, markup=False, soft_wrap=True)
        if not line.startswith("certward web: https://"):
            return
        base = line.split(" ", 3)[2]
        for text in lines:
            out.print(text.replace("{url}", base.rstrip("/")), markup=False, soft_wrap=True)

    long_running()
    raise typer.Exit(serve(application, settings, say=ready))


def _demo(application: App) -> list[str]:
    """Build the demo organisation and its admin on an empty store; the lines to print
    once listening (``{url}``: the service's base URL)."""
    from certward.clock import SystemClock
    from certward.model.access import AccessRole
    from certward.services.demo import build_demo

    result = build_demo(
        application.organisation,
        application.certificates,
        application.connectors,
        application.vdirs,
        SystemClock(),
    )
    access = application.access
    if not any(user.name.lower() == DEMO_ADMIN for user in access.users()):
        # A password nobody knows: the way in is the one-time login below (an admin sets
        # one with the user commands).
        access.add_user(DEMO_ADMIN, AccessRole.ADMIN, secrets.token_urlsafe(24))
    code = access.one_time_login(DEMO_ADMIN)
    once = f"{{url}}{ONE_TIME_PATH}?code={code}"
    if result.created:
        return [
            "Built the demo organisation Contoso (certward quickstart's) and the admin user "
            f"{DEMO_ADMIN}.",
            f"One-time admin login (works once): {once}",
        ]
    return [
        "The store already holds an organisation: log in with your user name and password "
        "(certward user list), or as the demo admin with this one-time login:",
        f"  {once}",
    ]
