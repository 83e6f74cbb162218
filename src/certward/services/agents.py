"""Host agents (issue 15): what an agent may fetch, what it reports, and the operators' view.

An agent authenticates with an API token of the role ``agent`` bound to one host
(:meth:`certward.services.access.AccessService.create_token`). Through
:meth:`AgentsService.deployments` it receives its host's deployments **with their material**
— certificate, chain and private key, each release audited as ``key.export`` by the deploy
service — and only its own host's: any other caller of that route gets the deployments
without a key, and an agent token of another host is refused (``agent.other_host``).
Its reports (:meth:`AgentsService.report`) are the outcomes of its deploys, recorded with
the deploy service as ``agent:HOST``, and what each verified port served, kept as the
host's check-in.

A key travels only when the agent needs it, judged by the agent's own policy
(:func:`certward.model.agents.deploy_reason`) over what the service knows: the agent's
last recorded outcome for the deployment and what its last report said the port serves.
When no deploy is due — the current certificate is served, or its deploy failed less than
an hour ago — the agent receives the deployment and the thumbprint without the material
(nothing released, nothing to audit); when the certificate changes, the port stops serving
it, or the hour has passed, the next fetch releases it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from certward.clock import Clock
from certward.codes.agents import AGENT_HOST_INVALID, AGENT_REPORT_INVALID
from certward.deploy.material import DeployMaterial
from certward.errors import CertwardError
from certward.model.access import AccessRole, Principal
from certward.model.agents import AgentCheckin, PortServed, check_host, reason_after
from certward.model.deploy import Deployment, DeployOutcome
from certward.services.access import AccessService
from certward.services.deploy import DeployRepository, DeployService

__all__ = ["AgentStatus", "AgentsService", "HostDeployment", "ReportedResult"]


class AgentsRepository(DeployRepository, Protocol):
    def agent_seen(
        self,
        host: str,
        *,
        token_name: str,
        version: str,
        now: dt.datetime,
        ports: Sequence[PortServed] | None = None,
    ) -> None: ...
    def agent_checkins(self) -> list[AgentCheckin]: ...
    def agent_token_hosts(self) -> dict[str, str]: ...


class AgentsStore(Protocol):
    def transaction(self) -> AbstractContextManager[AgentsRepository]: ...
    def reading(self) -> AbstractContextManager[AgentsRepository]: ...


@dataclass(frozen=True, slots=True)
class HostDeployment:
    """One of a host's deployments as the agents' route gives it: with the material when
    the caller is the host's agent and the release succeeded; else why not (``code``)."""

    deployment: Deployment
    thumbprint: str | None = None
    material: DeployMaterial | None = field(default=None, repr=False)
    code: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.to_json(),
            "thumbprint": self.thumbprint,
            "material": None if self.material is None else self.material.to_json(),
            "code": self.code,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ReportedResult:
    """One deploy's outcome as an agent reports it."""

    deployment: str
    outcome: DeployOutcome


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """A host for the operators: its agent's last check-in (None: never seen) and each of
    its deployments with its newest outcome."""

    host: str
    checkin: AgentCheckin | None
    deployments: tuple[tuple[str, DeployOutcome | None], ...] = ()

    def to_json(self) -> dict[str, Any]:
        c = self.checkin
        return {
            "host": self.host,
            "seen_at": None if c is None else c.seen_at.isoformat(),
            "reported_at": None
            if c is None or c.reported_at is None
            else c.reported_at.isoformat(),
            "version": None if c is None else c.version,
            "token": None if c is None else c.token_name,
            "ports": [] if c is None else [p.to_json() for p in c.ports],
            "deployments": [
                {"name": name, "last": None if last is None else last.to_json()}
                for name, last in self.deployments
            ],
        }


class AgentsService:
    """The agents' side of the API: their deployments, their reports; and the overview."""

    def __init__(
        self, store: AgentsStore, clock: Clock, *, deploy: DeployService, access: AccessService
    ) -> None:
        self._store = store
        self._clock = clock
        self._deploy = deploy
        self._access = access

    def deployments(
        self, principal: Principal, host: str, *, version: str = ""
    ) -> list[HostDeployment]:
        """``host``'s deployments. Its own agent gets each with its material (every key's
        release audited); a reader, operator or admin gets them without any key; an agent
        of another host is refused."""
        host = _host(host)
        if principal.role is not AccessRole.AGENT:
            self._access.require(principal, AccessRole.READER)
            return [HostDeployment(d) for d in self._deploy.for_host(host)]
        self._access.require_agent_of(principal, host)
        serving = self._seen(principal, host, version)
        now = self._clock.now()
        found: list[HostDeployment] = []
        for d in self._deploy.for_host(host):
            current = self._current(d)
            if current is not None:
                results = self._deploy.results(d.name, limit=1)
                last = results[0] if results else None
                due = reason_after(current, last, served=serving.get(d.name.lower()), now=now)
                if due is None:
                    found.append(HostDeployment(d, current, detail=_why_not(current, last)))
                    continue
            try:
                released = self._deploy.material_for(d.name, host=host)
            except CertwardError as exc:
                found.append(HostDeployment(d, code=exc.code.id, detail=exc.message))
                continue
            found.append(
                HostDeployment(released.deployment, released.thumbprint, released.material)
            )
        return found

    def report(
        self,
        principal: Principal,
        host: str,
        *,
        results: Sequence[ReportedResult],
        ports: Sequence[PortServed],
        version: str = "",
    ) -> int:
        """Record ``host``'s agent's outcomes (``source`` ``agent:HOST``) and what its
        ports served; the number of outcomes recorded. Only the host's own agent reports,
        and only about its host's deployments (``agent.report_invalid`` names another)."""
        host = _host(host)
        self._access.require_agent_of(principal, host)
        own = {d.name.lower(): d.name for d in self._deploy.for_host(host)}
        for item in (*(r.deployment for r in results), *(p.deployment for p in ports)):
            if item.lower() not in own:
                raise AGENT_REPORT_INVALID(
                    f"deployment {item} is not one of host {host}'s", deployment=item, host=host
                )
        for result in results:
            self._deploy.record_result(
                own[result.deployment.lower()], result.outcome, source=f"agent:{host}"
            )
        now = self._clock.now()
        with self._store.transaction() as repo:
            repo.agent_seen(
                host,
                token_name=principal.name,
                version=version,
                now=now,
                ports=list(ports),
            )
        return len(results)

    def agents(self) -> list[AgentStatus]:
        """Every host that has deployments or whose agent checked in, by name: its last
        check-in and its deployments' newest outcomes."""
        with self._store.reading() as repo:
            checkins = {c.host.lower(): c for c in repo.agent_checkins()}
        per_host: dict[str, list[tuple[str, DeployOutcome | None]]] = {}
        names: dict[str, str] = {key: c.host for key, c in checkins.items()}
        for record in self._deploy.deployments():
            d = record.deployment
            if d.host is None:
                continue
            names.setdefault(d.host.lower(), d.host)
            per_host.setdefault(d.host.lower(), []).append((d.name, record.last))
        return [
            AgentStatus(names[key], checkins.get(key), tuple(per_host.get(key, ())))
            for key in sorted(names)
        ]

    def _seen(self, principal: Principal, host: str, version: str) -> dict[str, str]:
        """Record the agent's request; what its last report said each deployment's port
        serves as expected (deployment name, lower-case → thumbprint)."""
        with self._store.transaction() as repo:
            before = next(
                (c for c in repo.agent_checkins() if c.host.lower() == host.lower()), None
            )
            repo.agent_seen(host, token_name=principal.name, version=version, now=self._clock.now())
        if before is None:
            return {}
        return {p.deployment.lower(): p.served for p in before.ports if p.served is not None}

    def _current(self, d: Deployment) -> str | None:
        """The thumbprint of the certificate ``d`` deploys now (None: there is none; the
        release says why)."""
        from certward.services.deploy import current_certificate

        try:
            with self._store.reading() as repo:
                return str(current_certificate(repo, d, self._clock.now()).thumbprint)
        except CertwardError:
            return None


def _why_not(current: str, last: DeployOutcome | None) -> str:
    """Why the material of ``current`` is not sent (no deploy is due)."""
    if last is not None and not last.ok:
        return (
            f"the deploy of {current} failed at {last.when:%Y-%m-%d %H:%M} UTC ({last.code}); "
            "it is tried again an hour after"
        )
    return f"the host's agent reported {current} served"


def _host(host: str) -> str:
    try:
        return check_host(host)
    except ValueError as exc:
        raise AGENT_HOST_INVALID(str(exc), host=host) from None
