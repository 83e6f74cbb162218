"""Running the prober over many targets, bounded (global and per-host concurrency)."""

from __future__ import annotations

import copyreg
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from certward.clock import Clock
from certward.codes.probe import (
    PROBE_INCOMPLETE,
    PROBE_NO_TARGET,
    PROBE_ROOTS_INVALID,
    PROBE_TARGETS_UNREADABLE,
)
from certward.collector import long_running
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
    workers: int = 1,
) -> tuple[list[EndpointReport], list[DomainReport]]:
    """Probe every target and mail domain; one connection at a time per endpoint
    (host and port), ``concurrency`` endpoints at once. Returns the endpoint reports and
    the domain reports; a target the prober failed on (a fault of certward's) is an
    error, so that no run looks complete without it.

    ``workers`` > 1: that many processes share the URL targets (each endpoint in one of
    them, so it still sees one connection at a time; ``concurrency`` divided among them),
    forked before any reactor starts; the mail domains stay in this process."""
    shards = _shards(targets, workers if "twisted.internet.reactor" not in sys.modules else 1)
    per_worker = max(1, -(-concurrency // len(shards)))

    def run(indices: Sequence[int], done: Callable[[str], None] | None, mine: bool) -> _Run:
        return _run_here(
            [targets[i] for i in indices], clock=clock, roots=roots, timeout=timeout,
            concurrency=per_worker, mail_from=mail_from, rcpt_to=rcpt_to,
            domains=domains if mine else (), dns_options=dns_options, on_done=done,
        )  # fmt: skip

    if len(shards) > 1:
        import twisted.internet.asyncioreactor  # noqa: F401  (imported once, before forking)

        import certward.probe.endpoint
        import certward.probe.score  # noqa: F401
    children = [_fork(lambda shard=shard: run(shard, None, False)) for shard in shards[1:]]
    reports: list[EndpointReport | None] = [None] * len(targets)
    here = run(shards[0], on_done, True)
    for index, report in zip(shards[0], here.reports, strict=True):
        reports[index] = report
    mx_reports, domain_reports, faults = here.mx_reports, here.domain_reports, here.faults
    for shard, child in zip(shards[1:], children, strict=True):
        theirs = _collect(child, [targets[i].text for i in shard])
        for index, report in zip(shard, theirs.reports, strict=True):
            reports[index] = report
            if on_done is not None and report is not None:
                on_done(targets[index].text)
        faults += theirs.faults
    if faults:
        said = "; ".join(f"{name}: {message}" for name, message in faults)
        raise PROBE_INCOMPLETE(f"the prober failed on {said}", targets=[name for name, _ in faults])
    endpoints = [r for r in reports if r is not None] + mx_reports
    return endpoints, domain_reports


@dataclass
class _Run:
    """What one process probed: its targets' reports (None where the prober failed), the
    mail domains' MX reports and domain reports, and the faults (name, message)."""

    reports: list[EndpointReport | None]
    mx_reports: list[EndpointReport] = field(default_factory=list)
    domain_reports: list[DomainReport] = field(default_factory=list)
    faults: list[tuple[str, str]] = field(default_factory=list)


def _shards(targets: Sequence[Target], workers: int) -> list[list[int]]:
    """The targets' indices in ``workers`` groups (fewer when there are few targets), every
    endpoint (host and port) in one group, the groups as even as the endpoints allow."""
    endpoints: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        endpoints.setdefault(f"{target.host.lower()}:{target.port}", []).append(index)
    count = max(1, min(workers, len(endpoints)))
    shards: list[list[int]] = [[] for _ in range(count)]
    for indices in endpoints.values():
        min(shards, key=len).extend(indices)
    return [sorted(shard) for shard in shards]


def _fork(run: Callable[[], _Run]) -> tuple[int, int]:
    """A child process running ``run`` and sending back its result (pickled; certificates
    as DER) on a pipe: its pid and the pipe's reading end."""
    read, write = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(write)
        return pid, read
    try:  # the child: whatever happens, it ends here (os._exit: nothing of the parent's runs)
        os.close(read)
        try:
            outcome: tuple[str, Any] = ("done", run())
        except BaseException as exc:  # any failure is reported to the parent, not raised
            outcome = ("failed", f"{exc.__class__.__name__}: {exc}")
        with os.fdopen(write, "wb") as out:
            pickler = pickle.Pickler(out)
            pickler.dispatch_table = {**copyreg.dispatch_table, x509.Certificate: _as_der}
            pickler.dump(outcome)
    finally:
        os._exit(0)


def _as_der(cert: x509.Certificate) -> tuple[Callable[[bytes], x509.Certificate], tuple[bytes]]:
    return _certificate, (cert.public_bytes(serialization.Encoding.DER),)


def _certificate(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _collect(child: tuple[int, int], names: Sequence[str]) -> _Run:
    """A child's result; its targets are faults when it failed or died."""
    pid, read = child
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    try:
        # S301: our own child's answer, over a pipe only the two processes hold
        kind, value = pickle.loads(data) if data else ("failed", "the worker process died")  # noqa: S301
    except Exception as exc:  # a cut-short answer
        kind, value = "failed", f"the worker's answer is unreadable ({exc.__class__.__name__})"
    if kind == "done" and isinstance(value, _Run):
        return value
    return _Run([None] * len(names), faults=[(name, str(value)) for name in names])


def _run_here(
    targets: Sequence[Target],
    *,
    clock: Clock,
    roots: Sequence[x509.Certificate],
    timeout: float,
    concurrency: int,
    mail_from: str | None,
    rcpt_to: str | None,
    domains: Sequence[str],
    dns_options: DnsOptions | None,
    on_done: Callable[[str], None] | None,
) -> _Run:
    """Probe ``targets`` and ``domains`` in this process, running the reactor once."""
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
    long_running()  # start-up's objects (modules, roots) left out of the run's collections
    reactor.run(installSignalHandlers=False)
    return _Run(reports, mx_reports, [d for d in domain_reports if d is not None], faults)


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
