"""The long-lived worker process that runs ``certward web``'s scheduled health runs: the
run recorded in the store as the scheduler records it, the report sent back, the same
process for the next run, a new one once it died, a failure recorded as the job's run."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.compose import build_app
from certward.model import CheckStatus
from certward.model.watch import JobKind
from certward.services.watch_worker import JobWorker
from tests.conftest import Cli

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def worker() -> Iterator[JobWorker]:
    worker = JobWorker()
    yield worker
    worker.close()


def test_health_runs_in_the_worker_are_recorded_and_the_worker_lives_on(
    org: Cli, isolated_store: Path, worker: JobWorker
) -> None:
    app = build_app(str(isolated_store))
    url = app.settings.database_url
    run, version, report = worker.run_job("health", url, HOUR, (30, 7), timeout=120)
    assert run.job is JobKind.HEALTH and run.run_id is not None
    assert run.status in (CheckStatus.OK, CheckStatus.WARNING, CheckStatus.CRITICAL)
    assert report is not None and "EXCH01" in report.servers
    newest = app.audit.entries(limit=1)
    assert version == (newest[0].entry_id if newest else None)
    (stored,) = app.watch.runs(JobKind.HEALTH, limit=1)
    assert stored.run_id == run.run_id and stored.summary == run.summary
    seen = {h.rule for h in app.watch.findings_history(source="health", open_only=True)}
    assert seen == {f.rule_id for f in report.findings}

    first = worker.pid
    assert first is not None and first != os.getpid()
    again, _, _ = worker.run_job("health", url, HOUR, (30, 7), timeout=120)
    assert worker.pid == first and again.run_id != run.run_id  # the same process, warm

    os.kill(first, signal.SIGKILL)  # it dies: the next run starts another
    deadline = time.monotonic() + 10
    while _state(first) not in ("Z", None):  # dead, not yet reaped
        assert time.monotonic() < deadline, "the killed worker never died"
        time.sleep(0.01)
    third, _, _ = worker.run_job("health", url, HOUR, (30, 7), timeout=120)
    assert worker.pid not in (None, first) and third.run_id is not None
    worker.close()
    assert worker.pid is None


def test_a_worker_that_gives_no_answer_is_the_runs_failure(org: Cli, isolated_store: Path) -> None:
    app = build_app(str(isolated_store))
    dead = JobWorker([sys.executable, "-c", "pass"])  # exits without answering
    app.watch.elsewhere[JobKind.HEALTH] = lambda job: dead.run_job(
        job.kind.value, app.settings.database_url, job.every, (), timeout=60
    )
    try:
        runs = {r.name: r for r in app.watch.run_due()}
    finally:
        dead.close()
    health = runs["health"]
    assert health.status is CheckStatus.UNKNOWN
    assert health.summary["error"]["code"] == "watch.worker_failed"
    assert runs["auth"].status is not CheckStatus.UNKNOWN  # the others still run here


def _state(pid: int) -> str | None:
    """The process's state letter (``Z``: a zombie), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(")")[2].split()[0]
