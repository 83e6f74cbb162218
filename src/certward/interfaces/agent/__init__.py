"""The host agent (``certward agent``, issue 15): on a Linux host, pulls that host's
deployments from certward's REST API over verified TLS, deploys and verifies each with the
deploy executor, and reports the outcomes and what each port serves (``runner``), keeping
its memory under ``--root`` (``state``); the API over treq (``client``)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AgentSettings", "run_agent"]


@dataclass(frozen=True, slots=True)
class AgentSettings:
    api: str
    token: str
    host: str
    root: Path
    every: float = 60.0
    once: bool = False
    ca_pems: tuple[bytes, ...] = ()
    token_file: Path | None = None  # read again at every request: a renewed token is used

    def __repr__(self) -> str:  # the token is a secret
        return f"AgentSettings(api={self.api!r}, host={self.host!r}, root={str(self.root)!r})"

    def token_source(self) -> Callable[[], str]:
        """The token for each request: ``token_file``'s first line as it is now (a file
        renewed while the agent runs is used from the next request on), else ``token``;
        the last token read while the file cannot be read or is empty."""
        if self.token_file is None:
            return lambda: self.token
        path, last = self.token_file, [self.token]

        def read() -> str:
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return last[0]
            if lines and lines[0].strip():
                last[0] = lines[0].strip()
            return last[0]

        return read


def _logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s certward agent: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    for name in ("certward.agent", "certward.deploy"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def run_agent(settings: AgentSettings) -> int:
    """Run the agent until SIGTERM/SIGINT (``once``: one cycle). Exit status: 0 (``once``:
    everything deployed, verified and reported), 1 otherwise."""
    from importlib.metadata import version

    from twisted.internet import defer
    from twisted.python.failure import Failure

    from certward.endpoints.reactor import get_reactor
    from certward.interfaces.agent.client import ApiClient
    from certward.interfaces.agent.runner import HostAgent
    from certward.interfaces.agent.state import locked

    _logging()
    log = logging.getLogger("certward.agent")
    with locked(settings.root) as mine:
        if not mine:
            log.error("%s: another agent runs on this root", settings.root)
            return 1
        reactor = get_reactor()
        mine_version = version("certward")
        client = ApiClient(
            reactor,
            settings.api,
            settings.token_source(),
            ca_pems=settings.ca_pems,
            user_agent=f"certward-agent/{mine_version}",
        )
        agent = HostAgent(
            reactor,
            client,
            host=settings.host,
            root=settings.root,
            every=settings.every,
            version=mine_version,
        )
        status: list[int] = []

        async def main() -> None:
            try:
                result = await agent.run(once=settings.once)
                status.append(0 if result.ok else 1)
            finally:
                await client.close()

        def done(outcome: Any) -> None:
            cancelled = isinstance(outcome, Failure) and outcome.check(  # type: ignore[no-untyped-call]
                defer.CancelledError
            )
            if isinstance(outcome, Failure) and not cancelled:
                log.error("stopped: %s", outcome.getErrorMessage())
                status.append(1)
            if reactor.running:
                reactor.stop()

        def start() -> None:
            log.info(
                "host %s, API %s, every %gs, state in %s",
                settings.host,
                settings.api,
                settings.every,
                settings.root,
            )
            running = defer.Deferred.fromCoroutine(main())
            running.addBoth(done)

        def stop(*_: object) -> None:
            log.info("stopping (after the deploy under way, if any)")
            reactor.callFromThread(agent.stop)

        reactor.callWhenRunning(start)
        # Not the reactor's own handlers, which stop it at once: a deploy runs in a worker
        # thread that probes through the reactor, so the loop ends first, then the reactor.
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        reactor.run(installSignalHandlers=False)
        log.info("stopped")
        return status[0] if status else 0
