"""What the scheduler watches and what it saw: probe targets, the runs of every job (health,
the auth monitor, each target) and the findings over time (when each first appeared)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from certward.compose import App
from certward.interfaces.api import schemas
from certward.interfaces.api.problems import problem_responses
from certward.interfaces.api.security import OPERATOR, READER, certward_app
from certward.model.access import Principal
from certward.model.watch import JobKind, ProbeTarget

router = APIRouter()
AppDep = Annotated[App, Depends(certward_app)]
READ = problem_responses(401, 404, 422, 503)
CHANGE = problem_responses(400, 401, 403, 404, 409, 422, 503)


def target_json(target: ProbeTarget) -> schemas.TargetOut:
    return schemas.TargetOut(
        id=target.target_id,
        url=target.url,
        every_seconds=int(target.every.total_seconds()),
        sni=target.sni,
        timeout=target.timeout,
    )


@router.get("/probes/targets", tags=["probes"], responses=READ)
def list_targets(app: AppDep, _: Principal = READER) -> list[schemas.TargetOut]:
    """The targets the scheduler probes, each at its interval."""
    return [target_json(t) for t in app.watch.targets()]


@router.post("/probes/targets", tags=["probes"], status_code=201, responses=CHANGE)
def add_target(body: schemas.TargetIn, app: AppDep, _: Principal = OPERATOR) -> schemas.TargetOut:
    """Probe ``url`` every ``every`` (15m, 1h, 1d …)."""
    return target_json(
        app.watch.add_target(body.url, body.every, sni=body.sni, timeout=body.timeout)
    )


@router.delete("/probes/targets", tags=["probes"], responses=CHANGE)
def remove_target(
    app: AppDep,
    target: Annotated[str, Query(description="The target's URL or id.")],
    _: Principal = OPERATOR,
) -> schemas.TargetOut:
    """Stop probing a target (its runs stay in the history)."""
    return target_json(app.watch.remove_target(target))


@router.get("/probes/runs", tags=["probes"], responses=READ)
def probe_runs(
    app: AppDep,
    target: Annotated[str | None, Query(description="Only this target's runs.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = READER,
) -> list[schemas.JobRunOut]:
    """The scheduled probes' runs, newest first."""
    runs = app.watch.runs(JobKind.PROBE, target=target, limit=limit)
    return [schemas.JobRunOut.model_validate(run.to_json()) for run in runs]


@router.get("/runs", tags=["health"], responses=READ)
def runs(
    app: AppDep,
    job: Annotated[JobKind | None, Query(description="health, auth or probe.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = READER,
) -> list[schemas.JobRunOut]:
    """Every scheduled run (health, the auth monitor, probes), newest first."""
    return [schemas.JobRunOut.model_validate(r.to_json()) for r in app.watch.runs(job, limit=limit)]


@router.get("/health/history", tags=["health"], responses=READ)
def findings_history(
    app: AppDep,
    open_only: Annotated[bool, Query(description="Only findings not yet resolved.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    _: Principal = READER,
) -> list[schemas.FindingHistoryOut]:
    """Findings over time as the scheduled runs saw them: first seen, last seen, resolved."""
    rows = app.watch.findings_history(open_only=open_only, limit=limit)
    return [schemas.FindingHistoryOut.model_validate(row.to_json()) for row in rows]
