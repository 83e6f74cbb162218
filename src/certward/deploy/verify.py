"""Which certificate a live port serves, by certward's prober.

The prober runs on Twisted, whose reactor runs once per process (and the agent's own loop
may be running already), so each verification runs it in a short-lived child process,
``python -m certward.deploy.verify``, as the watcher's worker does: one JSON request on
stdin, one JSON answer on stdout. Inside, the prober's endpoint probe
(:func:`certward.probe.endpoint.probe`: the protocol's dialogue, STARTTLS where the scheme
says so, the TLS handshake) is repeated until the expected certificate is served or the
wait is over — a daemon's reload takes effect a moment after the command returns.

Request: ``{"url": …, "sni": … | null, "expect": THUMBPRINT | null, "wait": seconds,
"timeout": seconds}``. Answer: ``{"served": THUMBPRINT | null, "detail": …, "attempts": n}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

__all__ = ["probe_served", "served", "served_once"]


def probe_served(
    url: str,
    *,
    sni: str | None = None,
    expect: str | None = None,
    wait: float = 20.0,
    timeout: float = 10.0,
) -> str | None:
    """The thumbprint of the certificate ``url`` serves: probed until it is ``expect``
    (``None``: once) or ``wait`` seconds have passed; None when no certificate was seen
    (the port refused, TLS failed). The default verifier of
    :func:`certward.deploy.executor.apply`."""
    request = {"url": url, "sni": sni, "expect": expect, "wait": wait, "timeout": timeout}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "certward.deploy.verify"],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=wait + 2 * timeout + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    try:
        answer = json.loads(done.stdout or b"{}")
    except ValueError:
        return None
    served = answer.get("served")
    return str(served) if served else None


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
    answer: dict[str, Any] | None = None,
) -> str | None:
    """On a running reactor: the thumbprint ``url`` serves, probed until it is ``expect``
    (``None``: once) or ``wait`` seconds have passed; None when no certificate was seen.
    ``answer``, when given, also gets the last failure (``detail``) and the ``attempts``."""
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
    seen = answer if answer is not None else {}
    seen.setdefault("attempts", 0)
    deadline = time.monotonic() + wait
    while True:
        report = await probe(reactor, target, options)
        seen["attempts"] += 1
        chain = report.presented_chain
        thumbprint = certinfo.thumbprint(certinfo.to_der(chain[0])) if chain else None
        seen["served"] = None if thumbprint is None else str(thumbprint)
        seen["detail"] = str(report.failure.to_json()) if report.failure else ""
        if expect is None or thumbprint == expect or time.monotonic() >= deadline:
            return seen["served"]  # type: ignore[no-any-return]
        await task.deferLater(reactor, RETRY_EVERY, lambda: None)


def served_once(request: dict[str, Any]) -> dict[str, Any]:
    """In the child: run the reactor once, probing until the answer is known."""
    from certward.endpoints.reactor import get_reactor

    reactor = get_reactor()
    from twisted.internet import defer

    answer: dict[str, Any] = {"served": None, "detail": "", "attempts": 0}

    def start() -> None:
        run = defer.Deferred.fromCoroutine(
            served(
                reactor,
                str(request["url"]),
                sni=request.get("sni"),
                expect=request.get("expect"),
                wait=float(request.get("wait", 20.0)),
                timeout=float(request.get("timeout", 10.0)),
                answer=answer,
            )
        )
        run.addErrback(lambda f: answer.update(detail=f.getErrorMessage()))
        run.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return answer


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        answer = served_once(request)
    except Exception as exc:  # the parent reads "nothing served" and the reason
        answer = {"served": None, "detail": f"{type(exc).__name__}: {exc}", "attempts": 0}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
