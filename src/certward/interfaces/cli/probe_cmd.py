"""``certward probe``: test any host's TLS from outside."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from certward.clock import SystemClock
from certward.config import load_settings
from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import JsonOpt, console, open_app, root_db
from certward.model import Thumbprint
from certward.probe import html
from certward.probe.report import SCHEMA_VERSION, EndpointReport, MatrixCell, stage_matrix
from certward.probe.targets import DnsOptions
from certward.services.probe import load_roots, parse_resolver, run_probes, split_targets

if TYPE_CHECKING:  # the prober's machinery (Twisted, dnspython) loads when a probe runs
    from certward.probe.domain import DomainReport


def probe(
    target: Annotated[
        list[str] | None,
        typer.Argument(
            help="smtp://host[:25], smtps://, imap://, imaps://, pop3://, pop3s://, https://"
        ),
    ] = None,
    targets_file: Annotated[
        Path | None, typer.Option("--targets-file", help="One target a line.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per stage.")] = 15.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Endpoints at once.")] = 20,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="Trust these roots (default: Mozilla's).")
    ] = None,
    mail_from: Annotated[str | None, typer.Option("--mail-from", help="Try MAIL FROM.")] = None,
    rcpt_to: Annotated[str | None, typer.Option("--rcpt-to", help="Try RCPT TO.")] = None,
    resolver: Annotated[
        str | None, typer.Option("--resolver", help="DNS resolver IP[:PORT] (default: system).")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
    ] = None,
    mx_port: Annotated[int, typer.Option("--mx-port", hidden=True)] = 25,
    policy_port: Annotated[int, typer.Option("--policy-port", hidden=True)] = 443,
    as_json: JsonOpt = False,
) -> None:
    """Stages, TLS versions, chain, trust, names (SAN vs CN), client-CA list size; for a
    mail domain its MX hosts, MTA-STS, TLS-RPT and DANE. Exit 0 when every endpoint is
    secure, 1 when any is not, 2 on usage errors."""
    targets, domains = split_targets(target or [], targets_file)
    roots = load_roots(ca_file)
    dns_options = DnsOptions(parse_resolver(resolver), mx_port, policy_port)
    total = len(targets) + len(domains)
    show_progress = not as_json and total > 1 and sys.stderr.isatty()
    with Progress(transient=True, console=render.error_console(), disable=not show_progress) as bar:
        task = bar.add_task("probing", total=total)
        reports, domain_reports = run_probes(
            targets, clock=SystemClock(), roots=roots, timeout=timeout, concurrency=concurrency,
            mail_from=mail_from, rcpt_to=rcpt_to, domains=domains, dns_options=dns_options,
            on_done=lambda _: bar.advance(task),
        )  # fmt: skip
    _exchange_view(reports)
    if html_file is not None:
        page = html.render(reports, domain_reports, when=SystemClock().now().isoformat())
        inputs.write_file(html_file, page.encode())
    if as_json:
        render.print_json(
            {
                "schema_version": SCHEMA_VERSION,
                "targets": [r.to_json() for r in reports],
                "domains": [d.to_json() for d in domain_reports],
            }
        )
    else:
        for domain in domain_reports:
            _print_domain(domain)
        if len(reports) > 1:
            _print_matrix(reports)
        for report in reports:
            _print(report, stage_table=len(reports) == 1)
    if not all(r.secure for r in reports):
        raise typer.Exit(1)


def _print_domain(domain: DomainReport) -> None:
    data = domain.to_json()
    out = console()
    out.print(f"\n{data['domain']}: score {data['score']}", markup=False)
    for mx in data["mx"]:
        out.print(f"  MX {mx['preference']} {mx['host']} ({mx['address']})", markup=False)
    sts = data["mta_sts"]
    out.print(f"  MTA-STS: {sts['mode'] or 'none'} {'; '.join(sts['errors'])}", markup=False)
    out.print(f"  TLS-RPT: {', '.join(data['tls_rpt']['rua']) or 'none'}", markup=False)
    for dane in data["dane"]:
        out.print(
            f"  DANE {dane['mx']}: {'matched' if dane['matched'] else 'no'}"
            f"{' (DNSSEC)' if dane['authenticated'] else ''}",
            markup=False,
        )


def _cell(cell: MatrixCell | None, *, times: bool) -> Text:
    if cell is None:
        return Text("–", style="dim")
    mark = Text("✓", style="green") if cell.ok else Text("✗", style="bold red")
    return mark + Text(f" {cell.ms:.0f}" if times and cell.ms else "")


def _matrix_table(
    reports: list[EndpointReport],
    columns: list[tuple[str, str]],
    rows: list[list[MatrixCell | None]],
    *,
    times: bool,
) -> Table:
    title = "Stages: ✓ passed, ✗ failed, – not reached" + ("; milliseconds" if times else "")
    table = Table(title=title, title_justify="left", header_style="bold", box=None,
                  pad_edge=False)  # fmt: skip
    table.add_column("Endpoint", no_wrap=True)
    for header, _ in columns:
        table.add_column(header, no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for report, cells in zip(reports, rows, strict=True):
        table.add_row(report.target, *(_cell(c, times=times) for c in cells), str(report.score))
    return table


def _print_matrix(reports: list[EndpointReport]) -> None:
    """One row per endpoint, one column per CheckTLS stage: ✓ or ✗ and milliseconds (only
    the marks when the terminal is too narrow for the times); the short headers explained
    underneath. Rows are never cut: a wider table wraps in the terminal instead."""
    out = console()
    columns, rows = stage_matrix(reports)
    unbounded = out.options.update_width(10_000)
    table = _matrix_table(reports, columns, rows, times=True)
    natural = out.measure(table, options=unbounded).maximum
    if natural > out.width:
        table = _matrix_table(reports, columns, rows, times=False)
        natural = out.measure(table, options=unbounded).maximum
    out.print()
    narrow = out.width
    out.width = max(narrow, natural)  # the terminal wraps a wider row; no cell is cut
    out.print(table)
    out.width = narrow
    legend = "; ".join(f"{header}: {meaning}" for header, meaning in columns)
    out.print(legend, markup=False, style="dim")


def _print(report: EndpointReport, *, stage_table: bool = True) -> None:
    """One endpoint's facts; its stages as a table (alone) or, beside the matrix, only the
    failed ones with their reasons."""
    out = console()
    out.print(f"\n{report.target}  ({report.host}:{report.port})", markup=False)
    if stage_table:
        rows = [
            [s.name, "ok" if s.ok else "FAIL", f"{s.ms:.0f} ms" if s.ms else "", s.detail]
            for s in report.stages
        ]
        out.print(render.simple_table(["Stage", "Result", "Time", "Detail"], rows))
    else:
        for s in report.stages:
            if not s.ok:
                out.print(f"FAIL {s.name}: {s.detail}", markup=False)
    if report.negotiated_version:
        versions = ", ".join(f"{v}: {'yes' if ok else 'no'}" for v, ok in report.versions.items())
        out.print(f"TLS: {report.negotiated_version} {report.cipher}; {versions}", markup=False)
    cert = report.certificate
    if cert is not None:
        leaf = cert.chain[0]
        out.print(
            f"Certificate: {leaf.subject} (issuer {leaf.issuer}); trusted: {cert.trusted}; "
            f"name: {cert.name_match}; {cert.days_left} days left; {cert.key_type} "
            f"{cert.key_size}; {cert.signature_hash}",
            markup=False,
        )
    auth = report.client_auth
    if auth.requested != "none":
        out.print(
            f"Client certificate {auth.requested}: {auth.ca_names_count} CA names, "
            f"{auth.ca_names_size} bytes",
            markup=False,
        )
    for entry in report.exchange_view:
        services = ", ".join(entry["services"]) or "no services"
        out.print(f"Your certificate, on {entry['server']} ({services})", markup=False)
    for warning in report.warnings:
        out.print(f"warning: {warning}", markup=False)
    out.print(f"Secure: {'yes' if report.secure else 'NO'}; score {report.score}", markup=False)


def _exchange_view(reports: list[EndpointReport]) -> None:
    """Mark the certificates that belong to your organisation (when certward has a store)."""
    settings = load_settings(root_db.get())
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        return  # no organisation here: probing must not create a store
    certificates = open_app(None).certificates
    for report in reports:
        if report.certificate is None:
            continue
        thumbprint = Thumbprint(report.certificate.chain[0].thumbprint_sha1)
        report.exchange_view = [
            {"server": server, "services": services.names}
            for server, services in certificates.holders(thumbprint)
        ]
