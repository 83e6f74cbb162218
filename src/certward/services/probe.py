"""Running the prober over many targets, bounded (global and per-host concurrency)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certward.clock import Clock
from certward.errors import InputError
from certward.probe.report import EndpointReport
from certward.probe.targets import Target, parse_target


def load_targets(texts: Sequence[str], targets_file: Path | None) -> list[Target]:
    lines = list(texts)
    if targets_file is not None:
        try:
            content = targets_file.read_text()
        except OSError as exc:
            raise InputError(f"{targets_file}: cannot read ({exc.strerror})") from None
        lines += [
            ln.strip() for ln in content.splitlines() if ln.strip() and not ln.startswith("#")
        ]
    if not lines:
        raise InputError("no target: give smtp://host, imap://host, https://host ...")
    try:
        return [parse_target(line) for line in lines]
    except ValueError as exc:
        raise InputError(str(exc)) from None


def load_roots(ca_file: Path | None) -> list[x509.Certificate]:
    """The trust anchors: ``--ca-file``, else the Mozilla roots shipped by certifi."""
    path = ca_file or Path(certifi.where())
    try:
        with warnings.catch_warnings():
            # Mozilla's bundle has roots with non-positive serials; they are still anchors.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError:
        raise InputError(f"{path}: no PEM certificates in the file") from None


def run_probes(
    targets: Sequence[Target],
    *,
    clock: Clock,
    roots: Sequence[x509.Certificate],
    timeout: float,
    concurrency: int,
    mail_from: str | None = None,
    rcpt_to: str | None = None,
) -> list[EndpointReport]:
    """Probe every target; one connection at a time per host, ``concurrency`` in all."""
    from certward.endpoints.reactor import get_reactor

    reactor = get_reactor()
    from twisted.internet import defer

    from certward.probe.dialogue import ProbeOptions, probe

    options = ProbeOptions(
        timeout=timeout, roots=roots, now=clock.now, mail_from=mail_from, rcpt_to=rcpt_to
    )
    overall = defer.DeferredSemaphore(max(1, concurrency))
    per_host: dict[str, defer.DeferredLock] = {}
    reports: list[EndpointReport | None] = [None] * len(targets)

    async def one(index: int, target: Target) -> None:
        lock = per_host.setdefault(target.host.lower(), defer.DeferredLock())
        await overall.acquire()
        try:
            await lock.acquire()
            try:
                reports[index] = await probe(reactor, target, options)
            finally:
                lock.release()
        finally:
            overall.release()

    def start() -> None:
        runs: list[Any] = [defer.Deferred.fromCoroutine(one(i, t)) for i, t in enumerate(targets)]
        defer.DeferredList(runs, consumeErrors=True).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return [r for r in reports if r is not None]
