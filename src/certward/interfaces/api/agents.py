"""Host agents (issue 15): a host's deployments (with their keys for its own agent only),
the agents' reports, and the operators' view of every agent.

The two ``/agents/{host}/…`` routes take any valid token and let the agents service judge:
the host's own agent token gets the material, every key's release audited as
``key.export``; a reader, operator or admin gets the deployments without any key (and may
not report); an agent token of another host is refused (``agent.other_host``, 403).
A request made with an agent's token is audited through the ``agent`` channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import Field

from certward.compose import App
from certward.interfaces.api.problems import problem_responses
from certward.interfaces.api.schemas import In, Out
from certward.interfaces.api.security import (
    READER,
    _bearer,
    authenticated,
    certward_app,
    route_action,
)
from certward.model.access import Principal
from certward.model.agents import PortServed
from certward.model.audit import Actor, acting
from certward.model.deploy import DeployOutcome
from certward.services.agents import ReportedResult

router = APIRouter()
AppDep = Annotated[App, Depends(certward_app)]
READ = problem_responses(401, 403, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)
THUMBPRINT = r"^[0-9A-Fa-f]{40}$"
HostPath = Annotated[
    str,
    Path(
        description="The host's name, as its deployments and its agent's token name it.",
        max_length=253,
    ),
]


def _caller(*, host_agent: bool) -> Callable[..., AsyncIterator[Principal]]:
    """Any valid token (the agents service decides what its role may see), or with
    ``host_agent`` only the agent token of the path's host (refused before the body is
    read); the request runs as the token, through the agent channel for an agent's."""

    async def caller(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> AsyncIterator[Principal]:
        access, principal = await authenticated(request, credentials)
        if host_agent:
            access.require_agent_of(principal, str(request.path_params.get("host", "")))
        request.state.principal = principal
        with acting(Actor(principal.name, principal.via, route_action(request))):
            yield principal

    caller.__name__ = "host_agent" if host_agent else "any_token"
    return caller


ANY_TOKEN: Any = Depends(_caller(host_agent=False))
HOST_AGENT: Any = Depends(_caller(host_agent=True))


# -- bodies --------------------------------------------------------------------------------------
class PathsOut(Out):
    certificate: str
    key: str | None
    chain: str | None


class DeploymentOut(Out):
    name: str
    kind: str
    server: str
    services: list[str]
    host: str | None
    paths: PathsOut
    owner: str | None
    group: str | None
    key_mode: str
    cert_mode: str
    reload: list[str]
    verify: str
    sni: str | None
    wait: float


class MaterialOut(Out):
    certificate: str = Field(description="The certificate, PEM.")
    chain: list[str] = Field(description="The issuers above it up to the root, nearest first.")
    key: str = Field(description="Its private key, PKCS#8 PEM (only to the host's own agent).")


class HostDeploymentOut(Out):
    deployment: DeploymentOut
    thumbprint: str | None = Field(description="The certificate the deployment serves now.")
    material: MaterialOut | None = Field(
        description="Certificate, chain and key: only for the host's own agent token, and "
        "only when its last report did not show this certificate served."
    )
    code: str | None = Field(description="Why there is no material for the agent, if so.")
    detail: str


class OutcomeIn(In):
    ok: bool
    when: str = Field(description="When the deploy finished (ISO 8601).", max_length=64)
    deployed: str | None = Field(default=None, pattern=THUMBPRINT)
    served: str | None = Field(default=None, pattern=THUMBPRINT)
    previous: str | None = Field(default=None, pattern=THUMBPRINT)
    rolled_back: bool = False
    code: str | None = Field(default=None, max_length=64)
    detail: str = Field(default="", max_length=4000)
    steps: list[Annotated[str, Field(max_length=1000)]] = Field(default=[], max_length=50)


class ResultIn(In):
    deployment: str = Field(max_length=64)
    outcome: OutcomeIn


class PortIn(In):
    deployment: str = Field(max_length=64)
    url: str = Field(max_length=512)
    served: str | None = Field(default=None, pattern=THUMBPRINT)
    expected: str | None = Field(default=None, pattern=THUMBPRINT)
    ok: bool | None = Field(default=None, description="Ignored: served == expected.")
    checked_at: str = Field(description="When it was probed (ISO 8601).", max_length=64)


class ReportIn(In):
    version: str = Field(default="", max_length=64, description="The agent's version.")
    results: list[ResultIn] = Field(default=[], max_length=500)
    ports: list[PortIn] = Field(default=[], max_length=500)


class ReportOut(Out):
    host: str
    recorded: int


class PortOut(Out):
    deployment: str
    url: str
    served: str | None
    expected: str | None
    ok: bool
    checked_at: str


class OutcomeOut(Out):
    ok: bool
    when: str
    deployed: str | None
    served: str | None
    previous: str | None
    rolled_back: bool
    code: str | None
    detail: str
    steps: list[str]


class AgentDeploymentOut(Out):
    name: str
    last: OutcomeOut | None


class AgentOut(Out):
    host: str
    seen_at: str | None = Field(description="The agent's last request (None: never seen).")
    reported_at: str | None
    version: str | None
    token: str | None = Field(description="The name of the token it last came with.")
    ports: list[PortOut]
    deployments: list[AgentDeploymentOut]


# -- routes -----------------------------------------------------------------------------------
@router.get("/agents", tags=["agents"], responses=READ)
def list_agents(app: AppDep, _: Principal = READER) -> list[AgentOut]:
    """Every host with deployments or an agent: last seen, last report, what its ports
    served, each deployment's newest outcome."""
    return [AgentOut.model_validate(a.to_json()) for a in app.agents.agents()]


@router.get("/agents/{host}/deployments", tags=["agents"], responses=READ)
def host_deployments(
    host: HostPath, request: Request, app: AppDep, principal: Principal = ANY_TOKEN
) -> list[HostDeploymentOut]:
    """The host's deployments. Its own agent's token receives each with its certificate,
    chain and private key (each release audited); any other reader, operator or admin token
    receives them without any key; another host's agent token is refused."""
    version = _agent_version(request.headers.get("user-agent", ""))
    found = app.agents.deployments(principal, host, version=version)
    return [HostDeploymentOut.model_validate(item.to_json()) for item in found]


@router.post("/agents/{host}/results", tags=["agents"], responses=CHANGE)
def host_results(
    host: HostPath, body: ReportIn, app: AppDep, principal: Principal = HOST_AGENT
) -> ReportOut:
    """The host's agent reports its deploys' outcomes and what each verified port served
    (only the host's own agent token may)."""
    from certward.codes.agents import AGENT_REPORT_INVALID

    try:
        results = [
            ReportedResult(r.deployment, DeployOutcome.from_json(r.outcome.model_dump()))
            for r in body.results
        ]
        ports = [PortServed.from_json(p.model_dump()) for p in body.ports]
    except ValueError as exc:
        raise AGENT_REPORT_INVALID(f"the report cannot be used: {exc}", host=host) from None
    recorded = app.agents.report(
        principal, host, results=results, ports=ports, version=body.version
    )
    return ReportOut(host=host, recorded=recorded)


def _agent_version(user_agent: str) -> str:
    """``certward-agent/0.1.0`` → ``0.1.0`` (empty when the header is not an agent's)."""
    for part in user_agent.split():
        if part.startswith("certward-agent/"):
            return part.split("/", 1)[1][:64]
    return ""
