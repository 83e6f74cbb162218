"""What the web service keeps between requests (issue 14's speed), and when it lets go:
``/metrics``' certificates family and ``/api/v1/certificates``' pages until the organisation
changes (a scheduled run does not), a page's status until a certificate's validity begins or
ends; the console's health reports made by the worker process, never by a request."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.health.engine import HealthReport
from certward.interfaces.server import WebSettings, create_app
from certward.interfaces.server.versioned import ByVersion, organisation_version, store_generation
from certward.interfaces.web._reports import HealthReports
from certward.model import CheckStatus
from certward.model.access import AccessRole, Channel
from certward.model.audit import Actor, acting
from certward.model.watch import JobKind
from certward.services.watch_worker import JobWorker

START = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


class MovingClock:
    """A clock the test moves on."""

    def __init__(self, instant: dt.datetime) -> None:
        self.instant = instant

    def now(self) -> dt.datetime:
        return self.instant


def _organisation(app: App) -> None:
    with acting(Actor("tester", Channel.LIBRARY)):
        app.organisation.init_organisation("Contoso", domain="contoso.com")
        app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = build_app(str(tmp_path / "certward.db"))
    try:
        _organisation(application)
        yield application
    finally:
        application.store.close()


def test_a_scheduled_run_leaves_the_certificates_family_a_change_does_not(app: App) -> None:
    web = create_app(app, WebSettings(run_scheduler=False, metrics_cache_seconds=0))
    metrics = web.state.metrics
    metrics.text()
    families, whole = metrics.certificate_computations, metrics.computations
    assert [r.job.value for r in app.watch.run_due() if r.job.value == "health"] == ["health"]
    metrics.text()  # a scrape does not wait for the run's records: they are read meanwhile
    metrics.settle(timeout=30)
    after_run = metrics.text()
    assert metrics.computations == whole + 1  # the run's records are shown...
    assert metrics.certificate_computations == families  # ...the certificates not read again
    assert b'certward_job_last_success_timestamp_seconds{watch_job="health"}' in after_run
    with acting(Actor("tester", Channel.LIBRARY)):
        made = app.certificates.new_self_signed(
            "EXCH01",
            subject="CN=kept.contoso.com",
            domains=["kept.contoso.com"],
            replace_default_smtp=False,
        )
    changed = metrics.text()
    assert metrics.certificate_computations == families + 1
    assert f'thumbprint="{made.view.thumbprint}"'.encode() in changed
    assert f'thumbprint="{made.view.thumbprint}"'.encode() not in after_run


@pytest.mark.anyio
async def test_a_kept_page_of_certificates_follows_changes_and_the_clock(tmp_path: Path) -> None:
    clock = MovingClock(START)
    app = build_app(str(tmp_path / "certward.db"), clock=clock)
    try:
        _organisation(app)
        _, secret = app.access.create_token(
            "reader", AccessRole.READER, expires_in=None, created_by="test"
        )
        web = create_app(app, WebSettings(run_scheduler=False))
        transport = httpx.ASGITransport(app=web, client=("192.0.2.7", 50000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="https://certward",
            headers={"authorization": f"Bearer {secret}"},
        ) as http:

            async def page() -> dict[str, dict[str, str]]:
                response = await http.get("/api/v1/certificates")
                assert response.status_code == 200
                body = response.json()
                assert body["total"] == len(body["items"])
                return {c["thumbprint"]: c for c in body["items"]}

            before = await page()  # the server's own (its auth and SMTP certificates)
            with acting(Actor("tester", Channel.LIBRARY)):
                made = app.certificates.new_self_signed(
                    "EXCH01", subject="CN=short.contoso.com", days=2, replace_default_smtp=False
                )
            thumbprint = made.view.thumbprint
            first = await page()  # the change shows at once
            assert first.keys() - before.keys() == {thumbprint}
            assert first[thumbprint]["status"] == "Valid"
            app.watch.run_due()  # the scheduler's records: the page is kept
            assert await page() == first
            clock.instant = START + dt.timedelta(days=3)  # its NotAfter passed: read again
            assert (await page())[thumbprint]["status"] == "DateInvalid"
    finally:
        app.store.close()


def test_a_console_with_a_worker_never_checks_health_in_a_request(app: App) -> None:
    """With a worker making the reports, a page is narrowed from the worker's latest; after
    a change it is still shown while the worker is asked for a fresh one."""
    asked: list[dt.datetime] = []

    def worker_check() -> tuple[int | None, HealthReport]:  # what the worker answers
        version = organisation_version(app)
        report = app.health.check()
        asked.append(report.as_of)
        return version, report

    reports = HealthReports()
    reports.remote = worker_check
    first = reports.report(app)  # none yet: the page waits for the worker's
    assert len(asked) == 1 and first.servers == ("EXCH01",)
    assert reports.report(app) is first
    one = reports.report(app, server="exch01")
    assert one == app.health.check(server="EXCH01", as_of=first.as_of)
    with pytest.raises(CertwardError) as unknown:
        reports.report(app, server="EXCH09")
    assert unknown.value.code.id == "server.not_found"
    assert len(asked) == 1

    with acting(Actor("tester", Channel.LIBRARY)):
        app.organisation.add_server("EXCH02", fqdn="exch02.contoso.com")
    assert reports.report(app) is first  # shown while the worker makes a fresh one
    reports.settle(timeout=60)
    fresh = reports.report(app)
    assert len(asked) == 2 and fresh.servers == ("EXCH01", "EXCH02")
    assert reports.report(app, server="EXCH02").servers == ("EXCH02",)
    assert len(asked) == 2


def test_the_worker_process_checks_the_organisation_without_recording_a_run(
    app: App, tmp_path: Path
) -> None:
    worker = JobWorker()
    try:
        version, report = worker.check(str(tmp_path / "certward.db"), timeout=120)
    finally:
        worker.close()
    assert version == organisation_version(app)
    assert report == app.health.check(as_of=report.as_of)
    assert app.watch.runs("health") == []  # a check for the console, not a scheduled run


def test_the_auth_monitor_runs_in_the_worker_process_too(app: App, tmp_path: Path) -> None:
    worker = JobWorker()
    try:
        run, _, report = worker.run_job(
            "auth", str(tmp_path / "certward.db"), dt.timedelta(hours=12), (), timeout=120
        )
    finally:
        worker.close()
    assert run.job is JobKind.AUTH and run.run_id is not None and report is None
    assert run.status is not CheckStatus.UNKNOWN, run.summary
    (stored,) = app.watch.runs("auth", limit=1)
    assert stored.run_id == run.run_id and stored.summary == run.summary


def test_a_value_that_follows_the_scheduler_is_read_again_without_a_wait(app: App) -> None:
    reads: list[int] = []

    def read(application: App) -> int:
        reads.append(application.store.generation())
        return len(reads)

    kept = ByVersion(read, store_generation, wait=False)
    assert kept.get(app) == 1  # the first value: waited for
    assert kept.get(app) == 1 and len(reads) == 1
    app.watch.run_due()  # a scheduled run: the store's generation moves on
    assert kept.get(app) == 1  # the value read before, while the new one is read
    kept.settle(timeout=30)
    assert kept.get(app) == 2 and len(reads) == 2
    assert kept.get(app, wait=True) == 2


def test_a_caller_that_need_not_wait_is_not_held_by_a_making_under_way(app: App) -> None:
    making, release = threading.Event(), threading.Event()
    reads: list[int] = []

    def read(_application: App) -> int:
        reads.append(1)
        if len(reads) == 2:  # the second reading is slow (the store's write lock held)
            making.set()
            release.wait(60)
        return len(reads)

    kept = ByVersion(read, store_generation, wait=False)
    assert kept.get(app) == 1
    app.watch.run_due()
    maker = threading.Thread(target=lambda: kept.get(app, wait=True))  # after a run
    maker.start()
    try:
        assert making.wait(30)
        began = time.monotonic()
        assert kept.get(app) == 1  # a page: given the value read before, at once
        assert time.monotonic() - began < 10
    finally:
        release.set()
        maker.join(30)
    assert kept.get(app) == 2
