"""Which certificate a live port serves, by certward's prober on the agent's own reactor.

The deploy executor's default verifier runs the prober in a child process, because a
Twisted reactor runs once per process and the executor may be called where none runs. The
agent's reactor is running, so it probes in-process: :func:`served` from the reactor's
thread (the agent's port checks), :func:`blocking_verifier` from the worker thread that
runs :func:`certward.deploy.executor.apply` (it waits while the reactor probes). The same
semantics as :func:`certward.deploy.verify.probe_served`: probed until ``expect`` is served
or ``wait`` seconds have passed; None when no certificate was seen.
"""

from __future__ import annotations

import time
from typing import Any

from certward.deploy.executor import Verifier

RETRY_EVERY = 0.25
"""Seconds between two probes while waiting for the expected certificate."""


async def served(
    reactor: Any,
    url: str,
    *,
    sni: str | None,
    expect: str | None,
    wait: float,
    timeout: float = 10.0,
) -> str | None:
    from twisted.internet import task

    from certward.clock import SystemClock
    from certward.pki import certinfo
    from certward.probe.endpoint import ProbeOptions, probe
    from certward.probe.targets import parse_target, with_overrides

    target = with_overrides(parse_target(url), sni=sni)
    options = ProbeOptions(
        timeout=timeout,
        roots=(),  # trust is not the question here, only which certificate is served
        now=SystemClock().now,
        enumerate_versions=False,
    )
    deadline = time.monotonic() + wait
    while True:
        report = await probe(reactor, target, options)
        chain = report.presented_chain
        thumbprint = certinfo.thumbprint(certinfo.to_der(chain[0])) if chain else None
        if expect is None or thumbprint == expect or time.monotonic() >= deadline:
            return None if thumbprint is None else str(thumbprint)
        await task.deferLater(reactor, RETRY_EVERY, lambda: None)


def blocking_verifier(reactor: Any) -> Verifier:
    """A :class:`certward.deploy.executor.Verifier` for a worker thread: the probe runs on
    the (running) reactor while the calling thread waits for its answer."""
    from twisted.internet import defer, threads

    def verify(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
        def start() -> defer.Deferred[str | None]:
            return defer.Deferred.fromCoroutine(
                served(reactor, url, sni=sni, expect=expect, wait=wait)
            )

        answer: str | None = threads.blockingCallFromThread(reactor, start)  # type: ignore[arg-type]
        return answer

    return verify
