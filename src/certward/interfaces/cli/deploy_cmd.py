"""``certward deploy``: where a server's certificate is installed on Linux hosts (Postfix,
Dovecot, nginx, plain files), and deploying it there with proof by probe (issue 15)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import render
from certward.interfaces.cli.common import DbOpt, JsonOpt, console, new_typer, open_app, parse

if TYPE_CHECKING:
    from certward.model.deploy import Deployment, DeployOutcome

deploy_app = new_typer(
    "Deploy certificates to Linux daemons (Postfix, Dovecot, nginx, files), verified by probe."
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The deployment's name.")]


def _mode(text: str) -> int:
    value = text.strip()
    if not value or any(c not in "01234567" for c in value) or len(value) > 4:
        raise ValueError(f"not an octal file mode such as 0600 or 0640: {text!r}")
    return int(value, 8)


def _argv(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"the reload command {text!r} cannot be split: {exc}") from None
    if not argv:
        raise ValueError("the reload command is empty")
    return argv


@deploy_app.command("add")
def deploy_add(
    name: NameArg,
    kind: Annotated[
        str, typer.Option("--kind", metavar="KIND", help="postfix, dovecot, nginx or files.")
    ],
    server: Annotated[
        str, typer.Option("--server", "-s", help="The server whose certificate is deployed.")
    ],
    services: Annotated[
        str,
        typer.Option(
            "--services", metavar="SERVICES", help="The certificate enabled for these: SMTP, IMAP."
        ),
    ],
    host: Annotated[
        str | None,
        typer.Option("--host", metavar="HOST", help="The agent's host (default: this machine)."),
    ] = None,
    cert_file: Annotated[
        Path | None,
        typer.Option("--cert-file", metavar="FILE", help="Certificate file (with the chain)."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", metavar="FILE", help="Key file (default: first in the certificate file)."
        ),
    ] = None,
    chain_file: Annotated[
        Path | None,
        typer.Option(
            "--chain-file", metavar="FILE", help="Chain file (default: after the certificate)."
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", metavar="DIR", help="Write the kind's usual file names in DIR."),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", metavar="USER", help="The files' owner.")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", metavar="GROUP", help="The files' group.")
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", metavar="MODE", help="The key file's mode: 0600, 0640.")
    ] = "0600",
    cert_mode: Annotated[
        str, typer.Option("--cert-mode", metavar="MODE", help="The certificate files' mode.")
    ] = "0644",
    reload: Annotated[
        str | None,
        typer.Option(
            "--reload",
            metavar="COMMAND",
            help="Reload command (default: the kind's, e.g. 'postfix reload').",
        ),
    ] = None,
    verify: Annotated[
        str | None,
        typer.Option(
            "--verify",
            metavar="URL",
            help="Probe this after reloading: smtp://, imaps://, https://.",
        ),
    ] = None,
    sni: Annotated[
        str | None, typer.Option("--sni", metavar="NAME", help="Send NAME as SNI when probing.")
    ] = None,
    wait: Annotated[
        float,
        typer.Option("--wait", metavar="SECONDS", help="Seconds to wait for the new certificate."),
    ] = 20.0,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Say where a server's certificate is installed on a Linux host and how it is reloaded."""
    from certward.codes.deploy import DEPLOY_INVALID
    from certward.model import ServiceSet
    from certward.model.deploy import DEFAULT_VERIFY, DeployKind, Deployment, DeployPaths

    the_kind = parse(DeployKind, kind.strip().lower())
    if directory is not None and (cert_file or key_file or chain_file):
        raise DEPLOY_INVALID("give a directory or the files, not both")
    if directory is not None:
        paths = DeployPaths.in_directory(the_kind, str(directory.absolute()))
    elif cert_file is not None:
        paths = DeployPaths(
            str(cert_file.absolute()),
            str(key_file.absolute()) if key_file else None,
            str(chain_file.absolute()) if chain_file else None,
        )
    else:
        raise DEPLOY_INVALID(f"deployment {name}: name the files or a directory to write them in")
    url = verify or DEFAULT_VERIFY.get(the_kind)
    if url is None:
        raise DEPLOY_INVALID(f"deployment {name}: a files deployment needs a URL to probe")
    d = open_app(db).deploy.add(
        Deployment(
            name=name,
            kind=the_kind,
            server=server,
            services=parse(ServiceSet.parse, services),
            paths=paths,
            verify=url,
            host=host,
            reload=parse(_argv, reload) if reload is not None else (),
            sni=sni,
            owner=owner,
            group=group,
            key_mode=parse(_mode, mode),
            cert_mode=parse(_mode, cert_mode),
            wait=wait,
        )
    )
    if as_json:
        render.print_json(d.to_json())
        return
    where = f"on {d.host}" if d.host else "on this machine"
    console().print(
        f"Deployment {d.name}: {d.server}'s {d.services} certificate to "
        f"{', '.join(d.paths.all)} {where}, reloaded by '{shlex.join(d.reload) or 'nothing'}', "
        f"verified at {d.verify}",
        markup=False,
    )


@deploy_app.command("list")
def deploy_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The deployments, each with its last outcome."""
    records = open_app(db).deploy.deployments()
    if as_json:
        render.print_json([r.to_json() for r in records])
        return
    console().print(
        render.simple_table(
            ["Name", "Kind", "Server", "Services", "Host", "Verify", "Last"],
            [
                (
                    r.deployment.name,
                    r.deployment.kind.value,
                    r.deployment.server,
                    str(r.deployment.services),
                    r.deployment.host or "(this machine)",
                    r.deployment.verify,
                    _last(r.last),
                )
                for r in records
            ],
        )
    )


@deploy_app.command("show")
def deploy_show(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """A deployment: its files, modes, reload command, probe URL and its recent outcomes."""
    d, outcomes = open_app(db).deploy.show(name)
    if as_json:
        render.print_json({**d.to_json(), "results": [o.to_json() for o in outcomes]})
        return
    out = console()
    for label, value in _fields(d):
        out.print(f"{label:<16}: {value}", markup=False)
    for outcome in outcomes:
        out.print(f"{outcome.when:%Y-%m-%d %H:%M:%S}  {_last(outcome)}", markup=False)


@deploy_app.command("run")
def deploy_run(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="The deployment (or --all).")
    ] = None,
    run_all: Annotated[
        bool, typer.Option("--all", help="Every deployment of this machine.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy now on this machine: write the files, reload, verify by probe, roll back on
    failure. Exit status 1 when any deploy failed."""
    from certward.codes.general import INPUT_CONFLICT

    if (name is None) == (not run_all):
        raise INPUT_CONFLICT("name one deployment or give --all")
    service = open_app(db).deploy
    results: list[tuple[str, DeployOutcome]] = (
        service.run_all() if run_all else [(str(name), service.run(str(name)))]
    )
    if as_json:
        render.print_json([{"name": n, **o.to_json()} for n, o in results])
    else:
        out = console()
        for n, outcome in results:
            out.print(f"{n}: {_last(outcome)}", markup=False)
    if any(not o.ok for _, o in results):
        raise typer.Exit(1)


@deploy_app.command("remove")
def deploy_remove(name: NameArg, db: DbOpt = None) -> None:
    """Forget a deployment and its outcomes (the files on the host stay as they are)."""
    d = open_app(db).deploy.remove(name)
    console().print(f"Removed deployment {d.name}", markup=False)


def _last(outcome: DeployOutcome | None) -> str:
    if outcome is None:
        return "never run"
    if outcome.ok:
        return f"OK: serves {outcome.served}"
    rolled = " (rolled back)" if outcome.rolled_back else ""
    return f"FAILED {outcome.code}{rolled}: {outcome.detail}"


def _fields(d: Deployment) -> list[tuple[str, Any]]:
    return [
        ("Name", d.name),
        ("Kind", d.kind.value),
        ("Server", d.server),
        ("Services", d.services),
        ("Host", d.host or "(this machine)"),
        ("Certificate file", d.paths.certificate),
        ("Key file", d.paths.key or "(in the certificate file, first)"),
        ("Chain file", d.paths.chain or "(after the certificate)"),
        ("Owner", f"{d.owner or '(unchanged)'}:{d.group or '(unchanged)'}"),
        ("Modes", f"key {d.key_mode:04o}, certificate {d.cert_mode:04o}"),
        ("Reload", shlex.join(d.reload) or "(none)"),
        ("Verify", d.verify + (f" (SNI {d.sni})" if d.sni else "")),
        ("Wait", f"{d.wait:g} s"),
    ]
