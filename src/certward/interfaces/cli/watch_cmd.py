"""``certward target``, ``certward notify`` and ``certward watch``: what the scheduler probes,
where it sends notifications, and the scheduler itself on a headless host (issue 14)."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.collector import long_running
from certward.interfaces.cli import render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app

if TYPE_CHECKING:
    from certward.model.watch import JobRun, NotifyChannel

target_app = new_typer("Probe targets the scheduler watches (certward watch, certward web).")
notify_app = new_typer("Where the scheduler sends notifications: e-mail and webhooks.")
notify_add_app = new_typer("Add a notification channel.")
notify_app.add_typer(notify_add_app, name="add")

EveryOpt = Annotated[
    str, typer.Option("--every", metavar="INTERVAL", help="How often: 30s, 15m, 1h, 1d.")
]
DigestOpt = Annotated[
    bool, typer.Option("--digest", help="Collect notices and send one message a day.")
]
SeverityOpt = Annotated[
    str,
    typer.Option(
        "--min-severity",
        metavar="SEVERITY",
        help="Least severity sent: info, warning, error, critical.",
    ),
]


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _secret_source(env: str | None, file: Path | None, what: str) -> str | None:
    from certward.codes.general import INPUT_CONFLICT

    if env and file:
        raise INPUT_CONFLICT(f"give the {what} by environment variable or by file, not both")
    if env:
        return f"env:{env}"
    if file:
        return f"file:{file.resolve()}"
    return None


# -- targets ---------------------------------------------------------------------------------


@target_app.command("add")
def target_add(
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL", help="smtp://host[:port], imaps://, https://, or a mail domain."
        ),
    ],
    every: EveryOpt = "1h",
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="Trust these roots (default: Mozilla's).")
    ] = None,
    sni: Annotated[
        str | None, typer.Option("--sni", metavar="NAME", help="Send NAME as SNI and judge by it.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds per stage.")
    ] = 15.0,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Watch a target: the scheduler probes it at its interval and keeps each run."""
    from certward.model.watch import format_every

    target = open_app(db).watch.add_target(
        url, every, ca_file=str(ca_file.resolve()) if ca_file else None, sni=sni, timeout=timeout
    )
    if as_json:
        render.print_json(_target_json(target, None))
        return
    console().print(f"Watching {target.url} every {format_every(target.every)}", markup=False)


@target_app.command("list")
def target_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The probe targets, each with its interval and its last run."""
    from certward.model.watch import format_every

    watch = open_app(db).watch
    rows = [
        (t, next(iter(watch.runs("probe", target=t.url, limit=1)), None)) for t in watch.targets()
    ]
    if as_json:
        render.print_json([_target_json(t, run) for t, run in rows])
        return
    console().print(
        render.simple_table(
            ["URL", "Every", "Last run (UTC)", "Status"],
            [
                (
                    t.url,
                    format_every(t.every),
                    _when(run.started if run else None),
                    run.status.name if run else "never run",
                )
                for t, run in rows
            ],
        )
    )


def _target_json(target: Any, run: JobRun | None) -> dict[str, Any]:
    return {
        "id": target.target_id,
        "url": target.url,
        "every_seconds": int(target.every.total_seconds()),
        "ca_file": target.ca_file,
        "sni": target.sni,
        "timeout": target.timeout,
        "last_run": None if run is None else run.to_json(),
    }


@target_app.command("remove")
def target_remove(
    target: Annotated[str, typer.Argument(metavar="URL", help="The target's URL (or its number).")],
    db: DbOpt = None,
) -> None:
    """Stop watching a target (its past runs stay until the retention limit drops them)."""
    removed = open_app(db).watch.remove_target(target)
    console().print(f"No longer watching {removed.url}", markup=False)


# -- notification channels ------------------------------------------------------------------


@notify_add_app.command("smtp")
def notify_add_smtp(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The channel's name.")],
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="The mail server.")],
    sender: Annotated[str, typer.Option("--from", metavar="ADDRESS", help="The sender address.")],
    to: Annotated[
        list[str], typer.Option("--to", metavar="ADDRESS", help="A recipient; repeatable.")
    ],
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="The submission port.")] = 587,
    username: Annotated[
        str | None, typer.Option("--username", metavar="NAME", help="Log in as NAME (AUTH).")
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env", metavar="VAR", help="Read the password from $VAR when sending."
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", metavar="FILE", help="Read the password from FILE when sending."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="Trust these roots for the server (default: the system's)."),
    ] = None,
    tls_name: Annotated[
        str | None,
        typer.Option(
            "--tls-name", metavar="NAME", help="The name the server's certificate must carry."
        ),
    ] = None,
    digest: DigestOpt = False,
    min_severity: SeverityOpt = "warning",
    db: DbOpt = None,
) -> None:
    """E-mail notifications over SMTP; STARTTLS is required and the server's certificate
    verified. The password is never stored: only where to read it."""
    from certward.services.notify import smtp_channel

    channel = smtp_channel(
        name, host=host, port=port, sender=sender, to=to, username=username,
        password=_secret_source(password_env, password_file, "password"),
        ca_file=str(ca_file.resolve()) if ca_file else None, tls_name=tls_name,
        digest=digest, min_severity=min_severity,
    )  # fmt: skip
    open_app(db).watch.add_channel(channel)
    console().print(f"Added e-mail channel {name} ({host}:{port})", markup=False)


@notify_add_app.command("webhook")
def notify_add_webhook(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The channel's name.")],
    url: Annotated[str, typer.Option("--url", metavar="URL", help="Where to POST the JSON.")],
    secret_env: Annotated[
        str | None,
        typer.Option("--secret-env", metavar="VAR", help="The HMAC key is in $VAR."),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option("--secret-file", metavar="FILE", help="The HMAC key is in FILE."),
    ] = None,
    attempts: Annotated[
        int, typer.Option("--attempts", metavar="N", help="Tries before giving up.")
    ] = 5,
    backoff: Annotated[
        float,
        typer.Option("--backoff", metavar="SECONDS", help="First wait between tries (doubles)."),
    ] = 1.0,
    digest: DigestOpt = False,
    min_severity: SeverityOpt = "warning",
    db: DbOpt = None,
) -> None:
    """Webhook notifications: a JSON POST signed with HMAC-SHA256 of the body
    (X-Certward-Signature), retried with exponential backoff (Retry-After respected)."""
    from certward.services.notify import webhook_channel

    channel = webhook_channel(
        name, url=url, secret=_secret_source(secret_env, secret_file, "secret"),
        attempts=attempts, backoff=backoff, digest=digest, min_severity=min_severity,
    )  # fmt: skip
    open_app(db).watch.add_channel(channel)
    console().print(f"Added webhook channel {name} ({url})", markup=False)


@notify_app.command("list")
def notify_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The notification channels (secrets shown only as where they are read from)."""
    channels = open_app(db).watch.channels()
    if as_json:
        render.print_json([c.to_json() for c in channels])
        return
    console().print(
        render.simple_table(
            ["Name", "Kind", "Where", "Min severity", "Digest", "Secret from"],
            [
                (
                    c.name,
                    c.kind.value,
                    _where(c),
                    c.min_severity,
                    "daily" if c.digest else "no",
                    c.secret or "",
                )
                for c in channels
            ],
        )
    )


def _where(channel: NotifyChannel) -> str:
    s = channel.settings
    if channel.kind.value == "smtp":
        return f"{s.get('host')}:{s.get('port')} to {', '.join(s.get('to', []))}"
    return str(s.get("url", ""))


@notify_app.command("remove")
def notify_remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The channel's name.")],
    db: DbOpt = None,
) -> None:
    """Remove a notification channel and what it had pending."""
    open_app(db).watch.remove_channel(name)
    console().print(f"Removed channel {name}", markup=False)


@notify_app.command("test")
def notify_test(
    name: Annotated[
        str | None, typer.Argument(metavar="CHANNEL", help="One channel (default: all).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test message through a channel, or every channel."""
    results = open_app(db).watch.notify_test(name)
    if as_json:
        render.print_json([r.to_json() for r in results])
        return
    for r in results:
        console().print(f"Test message sent through {r.channel}", markup=False)


# -- the scheduler ---------------------------------------------------------------------------


def watch(
    health_every: Annotated[
        str, typer.Option("--health-every", metavar="INTERVAL", help="How often health runs.")
    ] = "1h",
    auth_every: Annotated[
        str,
        typer.Option("--auth-every", metavar="INTERVAL", help="How often the auth monitor runs."),
    ] = "12h",
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now, deliver, and exit.")
    ] = False,
    keep_runs: Annotated[
        int, typer.Option("--keep-runs", metavar="N", help="Runs kept of each job.", min=1)
    ] = 500,
    keep_days: Annotated[
        int, typer.Option("--keep-days", metavar="DAYS", help="Days runs are kept.", min=1)
    ] = 90,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The scheduler without the web service: health, the auth monitor, the probe targets,
    ACME renewal and this machine's deployments at their intervals, each run kept,
    notifications sent. Stops on Ctrl-C or
    SIGTERM after the job running."""
    from certward.model.watch import Retention
    from certward.services.watch import Schedule, every

    app = open_app(db)
    service = app.watch
    service.schedule = Schedule(
        health=every(health_every),
        auth=every(auth_every),
        retention=Retention(runs_per_job=keep_runs, max_age=dt.timedelta(days=keep_days)),
    )

    def show(run: JobRun) -> None:
        if as_json:
            render.print_json(run.to_json())
        else:
            console().print(
                f"{run.started:%Y-%m-%d %H:%M:%S} {run.name}: {run.status.name}", markup=False
            )

    if once:
        for run in service.run_due():
            show(run)
        return
    long_running()
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        if not as_json:
            console().print("certward watch: running", markup=False)
        service.run_loop(stop, on_run=show)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not as_json:
        console().print("certward watch: stopped", markup=False)
