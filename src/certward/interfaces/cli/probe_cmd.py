"""``certward probe``: test any host's TLS from outside.

The exit status follows the monitoring-plugins convention (``probe/verdict.py``): 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN; a usage error or anything that stops the judging is 3.

A probe loads only what probing needs: the prober's machinery (Twisted, pyOpenSSL; dnspython
for a mail domain or ``--resolver``) when it runs, the HTML writer for ``--html``, the
progress bar on a terminal with several targets, and the store only for ``--exchange-view``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certward.interfaces.cli import inputs, render
from certward.interfaces.cli.common import JsonOpt, console, open_app, root_db

# Printed as written: text from servers and targets is never read as rich markup or emoji.
LITERAL: dict[str, Any] = {"markup": False, "emoji": False}

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from certward.probe import verdict
    from certward.probe.domain import DomainReport
    from certward.probe.report import EndpointReport, MatrixCell


def probe(
    target: Annotated[
        list[str] | None,
        typer.Argument(
            help="smtp://host[:25], smtps://, imap://, imaps://, pop3://, pop3s://, https://, "
            "or a mail domain"
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
    sni: Annotated[
        str | None,
        typer.Option(
            "--sni",
            metavar="NAME",
            help="Send NAME as SNI and judge the certificate by it (e.g. for an IP target).",
        ),
    ] = None,
    connect_to: Annotated[
        list[str] | None,
        typer.Option(
            "--connect-to",
            metavar="HOST:IP",
            help="Connect to IP whenever a target names HOST (no DNS); repeatable.",
        ),
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
    ] = None,
    force_out: inputs.OverwriteOpt = False,
    exchange_view: Annotated[
        bool,
        typer.Option(
            "--exchange-view",
            help="Also say which of your organisation's servers hold each certificate "
            "found, and for which services (reads certward's store).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            hidden=True,
            min=0,
            help="Processes sharing the targets (0: one per core, each with 20 targets or more).",
        ),
    ] = 0,
    mx_port: Annotated[int, typer.Option("--mx-port", hidden=True)] = 25,
    policy_port: Annotated[int, typer.Option("--policy-port", hidden=True)] = 443,
    as_json: JsonOpt = False,
) -> None:
    """Stages, TLS versions, chain, trust, names (SAN vs CN), client-CA list size; for a
    mail domain its MX hosts, MTA-STS, TLS-RPT and DANE. Exit status as a monitoring
    plugin's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage errors too)."""
    # An error (nothing judged) is UNKNOWN: common.ErrorLineGroup does that for every check.
    status = _probe(
        target or [], targets_file, timeout=timeout, concurrency=concurrency,
        ca_file=ca_file, mail_from=mail_from, rcpt_to=rcpt_to, resolver=resolver, sni=sni,
        connect_to=connect_to or [], html_file=html_file, force_out=force_out,
        dns_ports=(mx_port, policy_port), as_json=as_json, exchange_view=exchange_view,
        workers=workers,
    )  # fmt: skip
    raise typer.Exit(status)


def _probe(
    texts: list[str],
    targets_file: Path | None,
    *,
    timeout: float,
    concurrency: int,
    ca_file: Path | None,
    mail_from: str | None,
    rcpt_to: str | None,
    resolver: str | None,
    sni: str | None,
    connect_to: list[str],
    html_file: Path | None,
    force_out: bool,
    dns_ports: tuple[int, int],
    as_json: bool,
    exchange_view: bool = False,
    workers: int = 0,
) -> verdict.Status:
    from certward.clock import SystemClock
    from certward.probe import verdict
    from certward.probe.targets import (
        DnsOptions,
        parse_connect_to,
        parse_resolver,
        parse_server_name,
    )
    from certward.services.probe import load_roots, probe_document, run_probes, split_targets

    inputs.check_output(html_file, force=force_out)
    overrides = dict(parse_connect_to(text) for text in connect_to)
    server_name = parse_server_name(sni) if sni is not None else None
    targets, domains = split_targets(texts, targets_file, sni=server_name, connect_to=overrides)
    roots = load_roots(ca_file)
    dns_options = DnsOptions(parse_resolver(resolver) if resolver is not None else None, *dns_ports)

    def run(
        on_done: Callable[[str], None] | None,
    ) -> tuple[list[EndpointReport], list[DomainReport]]:
        return run_probes(
            targets, clock=SystemClock(), roots=roots, timeout=timeout, concurrency=concurrency,
            mail_from=mail_from, rcpt_to=rcpt_to, domains=domains, dns_options=dns_options,
            on_done=on_done, workers=workers or _workers(len(targets)),
        )  # fmt: skip

    total = len(targets) + len(domains)
    if not as_json and total > 1 and sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True, console=render.error_console()) as bar:
            task = bar.add_task("probing", total=total)
            reports, domain_reports = run(lambda _: bar.advance(task))
    else:
        reports, domain_reports = run(None)
    if exchange_view:
        reports = _exchange_view(reports)
    status = verdict.run(reports, domain_reports)
    if html_file is not None:
        from certward.probe import html

        page = html.render(reports, domain_reports, when=SystemClock().now().isoformat())
        inputs.write_file(html_file, page.encode(), force=force_out)
    if as_json:
        render.print_json(probe_document(reports, domain_reports))
    else:
        for domain in domain_reports:
            _print_domain(domain)
        if len(reports) > 1:
            _print_matrix(reports)
        for report in reports:
            _print(report, stage_table=len(reports) == 1)
    return status


TARGETS_PER_WORKER = 20


def _workers(targets: int) -> int:
    """One process per core for a long list (each then probes at least 20 targets: fewer do
    not repay starting the reactor once more), else one."""
    import os

    return max(1, min(len(os.sched_getaffinity(0)), targets // TARGETS_PER_WORKER))


def _print_domain(domain: DomainReport) -> None:
    from certward.probe import verdict

    data = domain.to_json()
    out = console()
    out.print(f"\n{data['domain']}: score {data['score']}", **LITERAL)
    for mx in data["mx"]:
        out.print(f"  MX {mx['preference']} {mx['host']} ({mx['address']})", **LITERAL)
    sts = data["mta_sts"]
    out.print(f"  MTA-STS: {sts['mode'] or 'none'} {'; '.join(sts['errors'])}", **LITERAL)
    out.print(f"  TLS-RPT: {', '.join(data['tls_rpt']['rua']) or 'none'}", **LITERAL)
    for dane in data["dane"]:
        out.print(
            f"  DANE {dane['mx']}: {'matched' if dane['matched'] else 'no'}"
            f"{' (DNSSEC)' if dane['authenticated'] else ''}",
            markup=False,
            emoji=False,
        )
    judged = verdict.domain(domain)
    reasons = "; ".join(judged.reasons)
    out.print(
        f"  Status: {judged.status.name}" + (f" ({reasons})" if reasons else ""),
        markup=False,
        emoji=False,
    )


def _plain(text: str) -> Text:
    """What a server or a target said, printed as it is: never read as rich markup (a banner
    with ``[/x]`` would stop the command) or emoji codes (``:fire:``)."""
    from rich.text import Text

    return Text(text)


def _cell(cell: MatrixCell | None, *, times: bool) -> Text:
    from rich.text import Text

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
    titled: bool = True,
) -> Table:
    from rich.table import Table

    table = Table(title=_matrix_title(times) if titled else None, title_justify="left",
                  header_style="bold", box=None, pad_edge=False)  # fmt: skip
    table.add_column("Endpoint", no_wrap=True)
    for header, _ in columns:
        table.add_column(header, no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    for report, cells in zip(reports, rows, strict=True):
        table.add_row(_plain(report.target), *(_cell(c, times=times) for c in cells),
                      str(report.score))  # fmt: skip
    return table


def _matrix_title(times: bool) -> str:
    return "Stages: ✓ passed, ✗ failed, – not reached" + ("; milliseconds" if times else "")


def _print_matrix(reports: list[EndpointReport]) -> None:
    """One row per endpoint, one column per CheckTLS stage: ✓ or ✗ and milliseconds (only
    the marks when the terminal is too narrow for the times); the short headers explained
    underneath. Rows are never cut: a wider table wraps in the terminal instead. Off a
    terminal the title is a line of its own above the tab-separated rows."""
    from certward.probe.report import stage_matrix

    out = console()
    columns, rows = stage_matrix(reports)
    legend = "; ".join(f"{header}: {meaning}" for header, meaning in columns)
    if not out.is_terminal:
        out.print()
        out.print(_matrix_title(times=True), **LITERAL)
        out.print(_matrix_table(reports, columns, rows, times=True, titled=False))
        out.print(legend, **LITERAL)
        return
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
    out.print(legend, **LITERAL, style="dim")


def _print(report: EndpointReport, *, stage_table: bool = True) -> None:
    """One endpoint's facts; its stages as a table (alone) or, beside the matrix, only the
    failed ones with their reasons."""
    from certward.probe import verdict

    out = console()
    out.print(f"\n{report.target}  ({report.host}:{report.port})", **LITERAL)
    if stage_table:
        from rich.table import Table

        table = Table(box=None, header_style="bold", pad_edge=False)  # as render.simple_table
        for header in ("Stage", "Result", "Time", "Detail"):
            table.add_column(_plain(header), overflow="fold")
        for s in report.stages:
            cells = (s.name, "ok" if s.ok else "FAIL", f"{s.ms:.0f} ms" if s.ms else "", s.detail)
            table.add_row(*map(_plain, cells))
        out.print(table)
    else:
        for s in report.stages:
            if not s.ok:
                out.print(f"FAIL {s.name}: {s.detail}", **LITERAL)
    if report.negotiated_version:
        versions = ", ".join(f"{v}: {'yes' if ok else 'no'}" for v, ok in report.versions.items())
        out.print(
            f"TLS: {report.negotiated_version} {report.cipher}; {versions}",
            markup=False,
            emoji=False,
        )
    cert = report.certificate
    if cert is not None:
        leaf = cert.chain[0]
        out.print(
            f"Certificate: {leaf.subject} (issuer {leaf.issuer}); trusted: {cert.trusted}; "
            f"name: {cert.name_match}; {cert.days_left} days left; {cert.key_type} "
            f"{cert.key_size}; {cert.signature_hash}",
            markup=False,
            emoji=False,
        )
    auth = report.client_auth
    if auth.requested != "none":
        out.print(
            f"Client certificate {auth.requested}: {auth.ca_names_count} CA names, "
            f"{auth.ca_names_size} bytes",
            markup=False,
            emoji=False,
        )
    for entry in report.exchange_view:
        services = ", ".join(entry["services"]) or "no services"
        out.print(f"Your certificate, on {entry['server']} ({services})", **LITERAL)
    for warning in report.warnings:
        out.print(f"warning: {warning}", **LITERAL)
    out.print(
        f"Secure: {'yes' if report.secure else 'NO'}; score {report.score}",
        markup=False,
        emoji=False,
    )
    judged = verdict.endpoint(report)
    reasons = "; ".join(judged.reasons)
    out.print(
        f"Status: {judged.status.name}" + (f" ({reasons})" if reasons else ""),
        markup=False,
        emoji=False,
    )


def _exchange_view(reports: list[EndpointReport]) -> list[EndpointReport]:
    """Mark the certificates that belong to your organisation (``--exchange-view``: when
    certward has a store; probing never creates one)."""
    from dataclasses import replace

    from certward.config import load_settings
    from certward.model import Thumbprint

    settings = load_settings(root_db.get())
    if settings.sqlite_path is not None and not settings.sqlite_path.exists():
        return reports  # no organisation here: probing must not create a store
    certificates = open_app(None).certificates
    marked: list[EndpointReport] = []
    for report in reports:
        if report.certificate is not None:
            thumbprint = Thumbprint(report.certificate.chain[0].thumbprint_sha1)
            view = tuple(
                {"server": server, "services": services.names}
                for server, services in certificates.holders(thumbprint)
            )
            report = replace(report, exchange_view=view)
        marked.append(report)
    return marked
