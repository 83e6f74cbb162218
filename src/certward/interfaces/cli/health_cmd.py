"""``certward health`` and ``certward rules``: the health rules over the organisation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import (
    DbOpt,
    JsonOpt,
    ScriptDirOpt,
    console,
    parse,
    parse_date,
    read_with,
)
from certward.interop.powershell import DEFAULT_SCRIPT_DIR

if TYPE_CHECKING:
    from certward.health.engine import HealthReport

_HEADERS = ("Severity", "Rule", "Finding", "Fix")
_STYLES = {  # by Severity.label
    "critical": "bold white on red",
    "error": "bold red",
    "warning": "yellow",
    "info": "dim",
}


def health(
    server: Annotated[str | None, typer.Option("--server", "-s", help="Only this server.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="What will be broken on this date (ISO 8601)."),
    ] = None,
    min_severity: Annotated[
        str, typer.Option("--min-severity", help="info, warning, error or critical.")
    ] = "info",
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
    ] = None,
    as_powershell: Annotated[
        bool,
        typer.Option(
            "--powershell", help="Print the fixes as an Exchange Management Shell script."
        ),
    ] = False,
    script_dir: ScriptDirOpt = DEFAULT_SCRIPT_DIR,
    force_out: inputs.OverwriteOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every health rule over the organisation: findings by server and severity, each with
    the certward command and the Exchange Management Shell equivalent that fix it.
    Exit 0 OK, 1 WARNING (warnings only), 2 CRITICAL (errors or critical findings),
    3 UNKNOWN (no verdict: a usage error, an unreadable store)."""
    from certward.health.engine import powershell
    from certward.health.findings import Severity

    inputs.check_output(html_file, force=force_out)
    when = parse(parse_date, as_of) if as_of else None
    level = parse(Severity.parse, min_severity)
    report = read_with(
        db, lambda app: app.health.check(server=server, as_of=when, min_severity=level)
    )
    if html_file is not None:
        from certward.health import html

        inputs.write_file(html_file, html.render(report).encode(), force=force_out)
    if as_json:
        render.print_json(report.to_json())
    elif as_powershell:
        typer.echo(powershell(report, directory=script_dir), nl=False)
    else:
        _print(report)
    raise typer.Exit(report.exit_status)


def _print(report: HealthReport) -> None:
    """The summary line, then a table of findings per server. The summary is one line,
    never wrapped (a monitor reads its first line), written without rich: a healthy
    organisation, checked every few minutes, prints only it and does not load rich."""
    counts = ", ".join(f"{n} {label}" for label, n in report.counts().items() if n)
    sys.stdout.write(
        f"Health as of {report.as_of:%Y-%m-%d %H:%M} UTC: {len(report.servers)} servers, "
        f"{report.rules_run} rules, {counts or 'no findings'}\n"
    )
    if not report.findings:
        return
    groups: dict[str, list[int]] = {}
    for i, finding in enumerate(report.findings):
        groups.setdefault(finding.server or "(organisation)", []).append(i)
    ordered = sorted(groups, key=lambda g: (g != "(organisation)", g))
    if render.tables_as_lines():  # what the console would print, without loading rich
        for where in ordered:
            rows = [
                (
                    f.severity.label,
                    f.rule_id,
                    render.flat(f.message),
                    render.flat(f"{f.remediation.certward}\nEMS: {f.remediation.shell}"),
                )
                for f in (report.findings[i] for i in groups[where])
            ]
            group = render.flat(where)
            sys.stdout.write(render.tsv(_HEADERS, rows, group=group, group_label="Server"))
        return
    from rich.markup import escape
    from rich.table import Table

    out = console()
    for where in ordered:
        table = Table(title=where, title_justify="left", show_lines=True, expand=True)
        setattr(table, render.GROUP, "Server")
        for header in _HEADERS[:2]:  # severity and rule: short, never wrapped
            table.add_column(header, no_wrap=True)
        for header in _HEADERS[2:]:  # the finding and its fix share the rest
            table.add_column(header, ratio=3, overflow="fold")
        for i in groups[where]:
            f = report.findings[i]
            table.add_row(
                f"[{_STYLES[f.severity.label]}]{f.severity.label}[/]",
                f.rule_id,
                escape(f.message),
                escape(f"{f.remediation.certward}\nEMS: {f.remediation.shell}"),
            )
        out.print(table)


def rules(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/rules.md (the rule catalogue).")
    ] = False,
) -> None:
    """The health rules: ID, title, severities and what each prevents."""
    from certward.health.catalogue import rules_markdown
    from certward.health.engine import registered_rules

    if markdown:
        typer.echo(rules_markdown(), nl=False)
        return
    console().print(
        render.simple_table(
            ["ID", "Rule", "Severities", "Prevents"],
            [
                (r.id, r.title, ", ".join(s.label for s in r.severities), r.prevents)
                for r in registered_rules()
            ],
        )
    )
