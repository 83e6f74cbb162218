"""Running the prober over many targets, bounded (global and per-host concurrency)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certward.clock import Clock
from certward.codes.probe import (
    PROBE_INCOMPLETE,
    PROBE_NO_TARGET,
    PROBE_ROOTS_INVALID,
    PROBE_TARGETS_UNREADABLE,
)
from certward.probe.report import EndpointReport
from certward.probe.targets import (
    DnsOptions,
    Target,
    is_mail_domain,
    parse_target,
    with_overrides,
)

if TYPE_CHECKING:
    from certward.probe.domain import DomainReport


def split_targets(
    texts: Sequence[str],
    targets_file: Path | None,
    *,
    sni: str | None = None,
    connect_to: Mapping[str, str] | None = None,
) -> tuple[list[Target], list[str]]:
    """URL targets (with the server name to send and the addresses to connect to applied)
    and bare mail domains (probed through their MX, MTA-STS, DANE)."""
    lines = _target_lines(texts, targets_file)
    domains = [line for line in lines if is_mail_domain(line)]
    targets = [parse_target(line) for line in lines if line not in domains]
    return [with_overrides(t, sni=sni, connect_to=connect_to) for t in targets], domains


def _target_lines(texts: Sequence[str], targets_file: Path | None) -> list[str]:
    lines = list(texts)
    if targets_file is not None:
        try:
            content = targets_file.read_text()
        except OSError as exc:
            raise PROBE_TARGETS_UNREADABLE(
                f"{targets_file}: cannot read ({exc.strerror})", path=str(targets_file)
            ) from None
        lines += [
            ln.strip() for ln in content.splitlines() if ln.strip() and not ln.startswith("#")
        ]
    if not lines:
        raise PROBE_NO_TARGET("no target to probe")
    return lines


def load_roots(ca_file: Path | None) -> list[x509.Certificate]:
    """The trust anchors: the file given, else the Mozilla roots shipped by certifi."""
    path = ca_file or Path(certifi.where())
    try:
        with warnings.catch_warnings():
            # Mozilla's bundle has roots with non-positive serials; they are still anchors.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise PROBE_ROOTS_INVALID(f"{path}: cannot read ({exc.strerror})", path=str(path)) from None
    except ValueError:
        raise PROBE_ROOTS_INVALID(
            f"{path}: no PEM certificates in the file", path=str(path)
        ) from None


def run_probes(
    targets: Sequence[Target],
    *,
    clock: Clock,
    roots: Sequence[x509.Certificate],
    timeout: float,
    concurrency: int,
    mail_from: str | None = None,
    rcpt_to: str | None = None,
    domains: Sequence[str] = (),
    dns_options: DnsOptions | None = None,
    on_done: Callable[[str], None] | None = None,
) -> tuple[list[EndpointReport], list[DomainReport]]:
    """Probe every target and mail domain; one connection at a time per endpoint
    (host and port), ``concurrency`` endpoints at once. Returns the endpoint reports and
    the domain reports; a target the prober failed on (a fault of certward's) is an
    error, so that no run looks complete without it."""
    from certward.endpoints.reactor import get_reactor

    reactor = get_reactor()
    from twisted.internet import defer

    from certward.probe.endpoint import ProbeOptions, probe
    from certward.probe.score import endpoint_score

    dns_options = dns_options or DnsOptions()
    resolver = resolve = None  # one resolver for the run; dnspython loads only if needed
    if domains or dns_options.resolver is not None:
        from certward.probe.domain import Dns

        resolver = Dns(dns_options)
        if dns_options.resolver is not None:  # it answers for URL targets too
            resolve = resolver.resolve
    options = ProbeOptions(
        timeout=timeout, roots=roots, now=clock.now, mail_from=mail_from, rcpt_to=rcpt_to,
        resolve=resolve,
    )  # fmt: skip
    overall = defer.DeferredSemaphore(max(1, concurrency))
    per_host: dict[str, defer.DeferredLock] = {}
    reports: list[EndpointReport | None] = [None] * len(targets)
    domain_reports: list[DomainReport | None] = [None] * len(domains)
    mx_reports: list[EndpointReport] = []

    async def one(index: int, target: Target) -> None:
        lock = per_host.setdefault(f"{target.host.lower()}:{target.port}", defer.DeferredLock())
        await overall.acquire()
        try:
            await lock.acquire()
            try:
                report = await probe(reactor, target, options)
                reports[index] = replace(report, score=endpoint_score(report))
                if on_done is not None:
                    on_done(target.text)
            finally:
                lock.release()
        finally:
            overall.release()

    async def mail_domain(index: int, domain: str) -> None:
        await overall.acquire()
        try:
            from certward.probe.domain import probe_domain

            assert resolver is not None  # built above when there are domains
            result, endpoints = await probe_domain(reactor, domain, options, resolver)
            domain_reports[index] = result
            mx_reports.extend(endpoints)
            if on_done is not None:
                on_done(domain)
        finally:
            overall.release()

    faults: list[tuple[str, str]] = []

    def start() -> None:
        names = [t.text for t in targets] + list(domains)
        runs: list[Any] = [defer.Deferred.fromCoroutine(one(i, t)) for i, t in enumerate(targets)]
        runs += [defer.Deferred.fromCoroutine(mail_domain(i, d)) for i, d in enumerate(domains)]
        for name, run in zip(names, runs, strict=True):
            run.addErrback(lambda f, name=name: faults.append((name, f.getErrorMessage())))
        defer.DeferredList(runs, consumeErrors=True).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    if faults:
        said = "; ".join(f"{name}: {message}" for name, message in faults)
        raise PROBE_INCOMPLETE(f"the prober failed on {said}", targets=[name for name, _ in faults])
    endpoints = [r for r in reports if r is not None] + mx_reports
    return endpoints, [d for d in domain_reports if d is not None]


def probe_document(
    reports: Sequence[EndpointReport], domain_reports: Sequence[DomainReport]
) -> dict[str, Any]:
    """The report as ``certward probe --json`` prints it and the API returns it
    (docs/probe-schema.json): each endpoint's and domain's report with its verdict."""
    from certward.probe import verdict
    from certward.probe.report import SCHEMA_VERSION

    def judged(data: dict[str, Any], found: verdict.Verdict) -> dict[str, Any]:
        return {**data, "status": found.status.name, "status_reasons": list(found.reasons)}

    return {
        "schema_version": SCHEMA_VERSION,
        "status": verdict.run(reports, domain_reports).name,
        "targets": [judged(r.to_json(), verdict.endpoint(r)) for r in reports],
        "domains": [judged(d.to_json(), verdict.domain(d)) for d in domain_reports],
    }
