"""``certward renew``: renewal planned and applied across the organisation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.codes.general import INPUT_CONFLICT, INPUT_MISSING
from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    ScriptDirOpt,
    ThumbArg,
    as_thumbprint,
    console,
    new_typer,
    open_app,
)
from certward.interop.powershell import DEFAULT_SCRIPT_DIR

if TYPE_CHECKING:
    from certward.services.renewal import RenewalPlan

renew_app = new_typer("Renew a certificate everywhere it is used, as one transaction.")


def _print_plan(
    plan: RenewalPlan,
    *,
    as_json: bool,
    powershell: bool,
    applied: bool,
    script_dir: str = DEFAULT_SCRIPT_DIR,
) -> None:
    if as_json:
        render.print_json({**plan.to_json(), "applied": applied})
        return
    if powershell:
        typer.echo(plan.powershell(directory=script_dir), nl=False)
        return
    title = "Applied" if applied else "Plan"
    console().print(f"{title}: renew {plan.old} -> {plan.new} ({plan.subject})", markup=False)
    rows = [
        [str(i), step.kind, step.where, step.describe()] for i, step in enumerate(plan.steps, 1)
    ]
    console().print(render.simple_table(["#", "Step", "Where", "What"], rows))


@renew_app.command("start")
def renew_start(
    thumbprint: ThumbArg,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the request.")
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", "-s", help="Server for the request.")
    ] = None,
    binary: Annotated[bool, typer.Option("--binary", help="DER instead of PEM.")] = False,
    force_out: inputs.OverwriteOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CA certificate: a new request (same subject and SANs, new key); self-signed: the plan."""
    from certward.services.renewal import RenewalPlan

    inputs.check_output(out_file, force=force_out)

    def sink(data: bytes) -> None:
        if out_file is None:
            raise INPUT_MISSING("the certificate is CA-issued: pass --out FILE for the new request")
        inputs.write_file(out_file, data, force=force_out)

    result = open_app(db).renewal.start(
        as_thumbprint(thumbprint), server=server, sink=sink, binary=binary
    )
    if isinstance(result, RenewalPlan):
        _print_plan(result, as_json=as_json, powershell=False, applied=False)
        if not as_json:
            console().print(
                "Self-signed: apply with 'certward renew complete THUMBPRINT --apply'.",
                markup=False,
            )
        return
    if as_json:
        render.print_json(
            {"old_thumbprint": result.old, "request": result.new, "out": str(out_file)}
        )
        return
    console().print(f"New request {result.new} written to {out_file}", markup=False)
    console().print(
        f"Send it to the CA, then: certward renew complete {result.old} --reply FILE --plan",
        markup=False,
    )


@renew_app.command("complete")
def renew_complete(
    thumbprint: ThumbArg,
    reply: Annotated[
        Path | None, typer.Option("--reply", help="The CA's reply (CA-issued).")
    ] = None,
    plan_only: Annotated[bool, typer.Option("--plan", help="Show the plan (default).")] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Run the plan as one transaction.")
    ] = False,
    remove_old: Annotated[
        bool, typer.Option("--remove-old", help="Remove the old certificate.")
    ] = False,
    powershell: Annotated[
        bool, typer.Option("--powershell", help="Print the plan as Exchange Management Shell.")
    ] = False,
    script_dir: ScriptDirOpt = DEFAULT_SCRIPT_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete the renewal everywhere: servers, services, default SMTP, connectors."""
    if plan_only and apply:
        raise INPUT_CONFLICT("--plan and --apply contradict each other")
    if powershell and (apply or as_json):
        raise INPUT_CONFLICT(
            "--powershell prints the plan; it does not combine with --apply or --json"
        )
    data = (inputs.read_file(reply), str(reply)) if reply is not None else None
    renewal = open_app(db).renewal
    old = as_thumbprint(thumbprint)
    if apply:
        plan = renewal.apply(old, reply=data, remove_old=remove_old)
    else:
        plan = renewal.plan(old, reply=data, remove_old=remove_old)
    _print_plan(plan, as_json=as_json, powershell=powershell, applied=apply, script_dir=script_dir)
