"""What keeps certificates alive without a person (issue 15), over the API: ACME accounts
and orders, a renewal run, and the deployments to Linux daemons with their outcomes.

Reading takes a reader's token; running a renewal or a deployment an operator's (adding
accounts, orders and deployments stays with the command line, which holds their secrets
and paths). A deployment's key is never in these answers: only its host's agent receives it
(``/agents/{host}/deployments``). The scheduler runs the same renewal on its own
(``certward web``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from certward.compose import App
from certward.interfaces.api.agents import DeploymentOut, OutcomeOut
from certward.interfaces.api.problems import problem_responses
from certward.interfaces.api.schemas import In, Out
from certward.interfaces.api.security import OPERATOR, READER, certward_app
from certward.model.access import Principal

router = APIRouter()
AppDep = Annotated[App, Depends(certward_app)]
READ = problem_responses(401, 403, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)
NamePath = Annotated[str, Path(description="The deployment's name.", max_length=64)]


# -- bodies --------------------------------------------------------------------------------------
class AcmeAccountOut(Out):
    id: int | None
    directory: str
    email: str
    account_url: str
    key_thumbprint: str = Field(description="RFC 7638 thumbprint of the account's public key.")
    eab_kid: str | None
    ca_bundle: str | None
    created: str | None


class AcmeErrorOut(Out):
    code: str
    detail: str
    problem: str | None


class AcmeOrderOut(Out):
    id: int | None
    account_id: int
    server: str
    names: list[str]
    challenge: str
    solver_options: dict[str, str]
    thumbprint: str | None = Field(description="The certificate it keeps (None: not issued yet).")
    order_url: str | None
    attempts: int = Field(description="Failed attempts since the last success.")
    last_attempt: str | None
    next_attempt: str | None
    retry_after: str | None
    last_error: AcmeErrorOut | None


class RenewIn(In):
    dry_run: bool = Field(
        default=False, description="Say what is due and who follows; change nothing."
    )


class FollowerOut(Out):
    kind: str
    name: str
    detail: str


class RenewalErrorOut(Out):
    code: str
    detail: str


class RenewalOutcomeOut(Out):
    order: int | None
    server: str
    names: list[str]
    action: str = Field(description="renewed, failed, due (dry run), not-due, waiting or missing.")
    reason: str
    old_thumbprint: str | None
    new_thumbprint: str | None
    followers: list[FollowerOut]
    steps: list[str]
    error: RenewalErrorOut | None


class RenewalReportOut(Out):
    dry_run: bool
    orders: list[RenewalOutcomeOut]


class DeploymentRecordOut(DeploymentOut):
    last: OutcomeOut | None = Field(description="Its newest outcome (a local run or an agent's).")


class DeploymentDetailOut(DeploymentOut):
    results: list[OutcomeOut] = Field(description="Its recent outcomes, newest first.")


class RunOut(OutcomeOut):
    name: str


# -- routes -----------------------------------------------------------------------------------
@router.get("/acme/accounts", tags=["acme"], responses=READ)
def list_acme_accounts(app: AppDep, _: Principal = READER) -> list[AcmeAccountOut]:
    """The registered ACME accounts (never their keys)."""
    return [AcmeAccountOut.model_validate(a.to_json()) for a in app.acme.accounts()]


@router.get("/acme/orders", tags=["acme"], responses=READ)
def list_acme_orders(app: AppDep, _: Principal = READER) -> list[AcmeOrderOut]:
    """Certificates kept alive through ACME: names, server, certificate, last error and
    when the next attempt is due."""
    return [AcmeOrderOut.model_validate(o.to_json()) for o in app.acme.orders()]


@router.post("/acme/renew", tags=["acme"], responses=CHANGE)
def renew_acme(body: RenewIn, app: AppDep, _: Principal = OPERATOR) -> RenewalReportOut:
    """``certward acme renew``: renew what is due (ACME renewal information, else two
    thirds of the lifetime) through the organisation-wide renewal, retrying failed orders
    after their backoff. A failed order is an outcome of the report, not an error."""
    report = app.acme.renew(dry_run=body.dry_run)
    return RenewalReportOut.model_validate(report.to_json())


@router.get("/deployments", tags=["deployments"], responses=READ)
def list_deployments(app: AppDep, _: Principal = READER) -> list[DeploymentRecordOut]:
    """Every deployment (this machine's and the agents'), each with its newest outcome."""
    return [DeploymentRecordOut.model_validate(r.to_json()) for r in app.deploy.deployments()]


@router.get("/deployments/{name}", tags=["deployments"], responses=READ)
def show_deployment(name: NamePath, app: AppDep, _: Principal = READER) -> DeploymentDetailOut:
    """A deployment: files, modes, reload command, probe URL and its recent outcomes."""
    deployment, outcomes = app.deploy.show(name)
    return DeploymentDetailOut.model_validate(
        {**deployment.to_json(), "results": [o.to_json() for o in outcomes]}
    )


@router.post("/deployments/{name}/run", tags=["deployments"], responses=CHANGE)
def run_deployment(name: NamePath, app: AppDep, _: Principal = OPERATOR) -> RunOut:
    """``certward deploy run NAME`` on the machine the service runs on: write the files,
    reload, verify by probe, roll back on failure; the outcome is recorded and returned
    (``ok`` false: it failed and says why). A deployment an agent deploys is refused
    (``deploy.wrong_host``), as is one whose certificate or key cannot be released."""
    outcome = app.deploy.run(name)
    return RunOut.model_validate({"name": name, **outcome.to_json()})
