"""Which certificate a live port serves, by certward's prober on the agent's own reactor.

The deploy executor's default verifier runs the prober in a child process, because a
Twisted reactor runs once per process and the executor may be called where none runs. The
agent's reactor is running, so it probes in-process with the same probing loop
(:func:`certward.deploy.verify.served`): from the reactor's thread for the agent's port
checks, and through :func:`blocking_verifier` from the worker thread that runs
:func:`certward.deploy.executor.apply` (it waits while the reactor probes).
"""

from __future__ import annotations

from typing import Any

from certward.deploy.executor import Verifier
from certward.deploy.verify import served

__all__ = ["blocking_verifier", "served"]


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
