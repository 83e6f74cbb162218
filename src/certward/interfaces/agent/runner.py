"""The agent's loop: pull, deploy and verify, report; again every interval.

One cycle:

1. ``GET /api/v1/agents/{host}/deployments``: the host's deployments with their material.
   Unreachable → one log line, nothing on the host touched (the daemons keep serving what
   they have), and a retry after a wait that doubles per failure up to the interval. A
   refused token (401, 403) is said so and retried at the interval: a quicker retry cannot
   mend it, a renewed token file can (it is read at every request).
2. For each deployment, :func:`certward.model.agents.deploy_reason` decides from the state
   file and a probe of the live port whether to deploy; a deploy marks the deployment
   *pending* in the state file, runs :func:`certward.deploy.executor.apply` (atomic writes,
   reload, verification by probe, rollback) in a worker thread, and keeps the outcome.
3. ``POST /api/v1/agents/{host}/results``: the outcomes not yet reported and what each port
   served. Outcomes stay in the state file until the API has them.

One deployment's trouble is not the others': a deployment the API sent that cannot be
read, a deploy another run on this host holds (``deploy.busy``: tried at the next cycle,
not counted as a failure) or an unexpected error is logged, reported as a problem of the
cycle, and the loop goes on.

No log line, state file or report holds key material (:class:`DeployMaterial` redacts its
``repr``; the executor writes the key only into the key file).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certward.clock import Clock, SystemClock
from certward.codes.agents import AGENT_API_REFUSED
from certward.codes.deploy import DEPLOY_BUSY
from certward.deploy.material import DeployMaterial
from certward.errors import CertwardError
from certward.interfaces.agent import probing
from certward.interfaces.agent.client import ApiClient
from certward.interfaces.agent.state import AgentState, Deployed, StateFile
from certward.model.agents import PortServed, deploy_reason, retry_wait
from certward.model.deploy import Deployment, DeployOutcome

log = logging.getLogger("certward.agent")

PORT_CHECK_WAIT = 3.0
"""Seconds a port check waits for the expected certificate (a reload settling)."""


@dataclass
class CycleResult:
    """What one cycle did: whether the API was reached both ways, and each deployment's
    outcome (deployed now) or check (served as expected)."""

    reached: bool = False
    reported: bool = False
    deployed: list[tuple[str, DeployOutcome]] = field(default_factory=list)
    ports: list[PortServed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.reached
            and self.reported
            and not self.problems
            and all(o.ok for _, o in self.deployed)
            and all(p.ok for p in self.ports)
        )


class HostAgent:
    """One host's agent: its API client, its state file, its deploys."""

    def __init__(
        self,
        reactor: Any,
        client: ApiClient,
        *,
        host: str,
        root: Path,
        every: float,
        version: str = "",
        clock: Clock | None = None,
    ) -> None:
        self._reactor = reactor
        self._client = client
        self.host = host
        self._file = StateFile(root)
        self._every = every
        self._version = version
        self._clock = clock or SystemClock()
        self._verifier = probing.blocking_verifier(reactor)
        self.state: AgentState = self._file.load(host)
        self.failures = 0
        self._refused = False  # the last failure was the token's: wait the whole interval
        self._stopping = False
        self._sleeping: Any = None  # the Deferred of the wait between cycles

    # -- the loop ------------------------------------------------------------------------------
    async def run(self, *, once: bool = False) -> CycleResult:
        """Cycle until :meth:`stop` (``once``: one cycle); the last cycle's result."""
        from twisted.internet import defer, task

        while True:
            result = await self.cycle()
            if once or self._stopping:
                return result
            wait = self._wait()
            self._sleeping = task.deferLater(self._reactor, wait, lambda: None)
            try:
                await self._sleeping
            except defer.CancelledError:
                return result
            finally:
                self._sleeping = None

    def stop(self) -> None:
        """End the loop: at once between cycles, else when the cycle under way (a deploy
        included) is over — a deploy is never cut in the middle by a stop."""
        self._stopping = True
        if self._sleeping is not None:
            self._sleeping.cancel()

    async def cycle(self) -> CycleResult:
        result = CycleResult()
        try:
            items = await self._client.deployments(self.host)
        except CertwardError as exc:
            self._failed("fetch", exc)
            return result
        result.reached = True
        for item in items:
            try:
                await self._one(item, result)
            except Exception as exc:  # one deployment's fault must not stop the others
                name = str((item.get("deployment") or {}).get("name", "?"))
                result.problems.append(f"{name}: {type(exc).__name__}: {exc}")
                log.error("deployment %s: unexpected %s: %s", name, type(exc).__name__, exc)
        body = {
            "version": self._version,
            "results": [
                {"deployment": name, "outcome": outcome.to_json()}
                for name, outcome in self.state.unreported
            ],
            "ports": [p.to_json() for p in result.ports],
        }
        try:
            await self._client.report(self.host, body)
        except CertwardError as exc:
            self._failed("report", exc)
            return result
        result.reported = True
        if self.state.unreported:
            self.state.unreported = []
            self._file.save(self.state)
        if self.failures:
            log.info("the API answers again after %d failed attempts", self.failures)
        self.failures = 0
        self._refused = False
        return result

    def _wait(self) -> float:
        """Seconds to the next cycle: the interval, or the retry's backoff after an
        unreachable API; a refused token waits the interval (retrying sooner cannot help)."""
        return self._every if self._refused else retry_wait(self._every, self.failures)

    def _failed(self, what: str, exc: CertwardError) -> None:
        self.failures += 1
        self._refused = exc.code is AGENT_API_REFUSED
        advice = (
            "the API refuses this agent's token: put a valid agent token of this host in the "
            "token file; "
            if self._refused
            else ""
        )
        log.warning(
            "%s failed (attempt %d): %s; %sthe deployed files stay as they are, retrying in %gs",
            what,
            self.failures,
            exc.message,
            advice,
            self._wait(),
        )

    # -- one deployment ------------------------------------------------------------------------
    async def _one(self, item: dict[str, Any], result: CycleResult) -> None:

        try:
            d = Deployment.from_json(item["deployment"])
        except (KeyError, ValueError, TypeError) as exc:
            result.problems.append(f"a deployment the API sent cannot be read: {exc}")
            log.warning("a deployment the API sent cannot be read: %s", exc)
            return
        if not item.get("thumbprint"):
            said = f"{item.get('code') or 'no certificate'}: {item.get('detail') or ''}"
            result.problems.append(f"{d.name}: {said.rstrip(': ')}")
            log.warning("deployment %s: nothing to deploy (%s)", d.name, said.rstrip(": "))
            return
        desired = str(item["thumbprint"]).upper()
        if item.get("material") is None:
            await self._check(d, desired, result)
            return
        try:
            material = DeployMaterial.from_json(item["material"])
        except CertwardError as exc:
            result.problems.append(f"{d.name}: {exc.message}")
            log.warning("deployment %s: %s", d.name, exc.message)
            return
        last = self.state.deployed.get(d.name)
        pending = self.state.pending.get(d.name)
        now = self._clock.now()

        def reason(served: str | None) -> str | None:
            return deploy_reason(
                desired,
                last_thumbprint=None if last is None else last.thumbprint,
                last_ok=last is not None and last.ok,
                last_when=None if last is None else last.when,
                pending=pending,
                served=served,
                now=now,
            )

        served: str | None = None
        why = reason(desired)  # what is due without probing: new, interrupted, retry
        if why is None and last is not None:
            if last.ok:
                served = await self._served(d, desired)
                why = reason(served)
            else:  # a failed deploy waiting for its retry: report what the port serves
                served = await probing.served(
                    self._reactor, d.verify, sni=d.sni, expect=None, wait=PORT_CHECK_WAIT
                )
        if why is None:
            result.ports.append(PortServed(d.name, d.verify, served, desired, now))
            return
        log.info("deployment %s: %s", d.name, why)
        outcome = await self._deploy(d, material, desired)
        if outcome is None:  # another run holds its directories: the next cycle
            result.problems.append(f"{d.name}: another deploy of its files is under way")
            return
        result.deployed.append((d.name, outcome))
        result.ports.append(
            PortServed(d.name, d.verify, outcome.served, desired, self._clock.now())
        )

    async def _served(self, d: Deployment, desired: str) -> str | None:
        return await probing.served(
            self._reactor, d.verify, sni=d.sni, expect=desired, wait=PORT_CHECK_WAIT
        )

    async def _check(self, d: Deployment, desired: str, result: CycleResult) -> None:
        """The service sent no material: its last report showed ``desired`` served. Probe
        the port: still served → nothing to do (an interrupted deploy's files are whole);
        not served → reported so, and the next fetch brings the material."""
        last = self.state.deployed.get(d.name)
        failed = last is not None and not last.ok and last.thumbprint.upper() == desired
        # After a failed deploy (its retry an hour after), the port serves what it served
        # before: one look, no waiting for a certificate that is not coming.
        served = await probing.served(
            self._reactor,
            d.verify,
            sni=d.sni,
            expect=None if failed else desired,
            wait=PORT_CHECK_WAIT,
        )
        now = self._clock.now()
        result.ports.append(PortServed(d.name, d.verify, served, desired, now))
        if served == desired:
            if d.name in self.state.pending or last is None or last.thumbprint != desired:
                self.state.pending.pop(d.name, None)
                self.state.deployed[d.name] = Deployed(desired, True, now)
                self._file.save(self.state)
            return
        if failed:  # logged and reported when it failed; the service sends it again
            return
        log.warning(
            "deployment %s: %s serves %s, not %s; the material comes with the next fetch",
            d.name,
            d.verify,
            served or "no certificate",
            desired,
        )

    async def _deploy(
        self, d: Deployment, material: DeployMaterial, desired: str
    ) -> DeployOutcome | None:
        """Deploy and keep the outcome (None: another run on this host holds the files'
        directories, nothing was done)."""
        from twisted.internet import threads

        from certward.deploy.executor import apply

        self.state.pending[d.name] = desired
        self._file.save(self.state)
        try:
            outcome: DeployOutcome = await threads.deferToThread(
                apply, d, material, verify=self._verifier, clock=self._clock
            )
        except CertwardError as exc:
            if exc.code is not DEPLOY_BUSY:
                raise
            self.state.pending.pop(d.name, None)
            self._file.save(self.state)
            log.warning("deployment %s: %s; trying at the next cycle", d.name, exc.message)
            return None
        self.state.pending.pop(d.name, None)
        self.state.deployed[d.name] = Deployed(desired, outcome.ok, outcome.when)
        self.state.add_unreported(d.name, outcome)
        self._file.save(self.state)
        if outcome.ok:
            log.info("deployment %s: %s", d.name, outcome.detail)
        else:
            log.warning("deployment %s failed (%s): %s", d.name, outcome.code, outcome.detail)
        return outcome
