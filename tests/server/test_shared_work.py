"""The web service does each piece of work once (issue 14's speed): the scheduler's health
run is the console's report (a page for one server or severity narrowed from it), and
``/metrics`` recomputes the organisation only when the store changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certward.compose import App, build_app
from certward.health.findings import Severity
from certward.interfaces.server import WebSettings, create_app
from certward.model.access import Channel
from certward.model.audit import Actor, acting


@pytest.fixture
def app() -> Iterator[App]:
    application = build_app()
    try:
        with acting(Actor("tester", Channel.LIBRARY)):
            application.organisation.init_organisation("Contoso", domain="contoso.com")
            application.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
            application.organisation.add_server("EXCH02", fqdn="exch02.contoso.com")
        yield application
    finally:
        application.store.close()


def test_the_scheduled_health_run_is_the_consoles_report(app: App) -> None:
    web = create_app(app, WebSettings(run_scheduler=False))
    reports = web.state.console_health_reports
    (run,) = [r for r in app.watch.run_due() if r.job.value == "health"]

    whole = reports.report(app)
    assert whole.as_of == run.started  # the scheduler's check, not a second one
    assert reports.report(app) is whole
    for server, minimum in (("EXCH02", Severity.INFO), ("exch01", Severity.WARNING),
                            (None, Severity.ERROR)):  # fmt: skip
        page = reports.report(app, server=server, min_severity=minimum)
        assert page.as_of == run.started
        assert page == app.health.check(server=server, min_severity=minimum, as_of=run.started)


def test_a_server_the_report_does_not_know_is_checked_and_refused(app: App) -> None:
    from certward.errors import CertwardError

    web = create_app(app, WebSettings(run_scheduler=False))
    app.watch.run_due()
    with pytest.raises(CertwardError) as refused:
        web.state.console_health_reports.report(app, server="EXCH09")
    assert refused.value.code.id == "server.not_found"


def test_metrics_are_computed_again_only_when_the_store_changed(app: App) -> None:
    web = create_app(app, WebSettings(run_scheduler=False, metrics_cache_seconds=0))
    metrics = web.state.metrics
    first = metrics.text()
    computed = metrics.computations
    assert metrics.text() == first or metrics.computations == computed
    assert metrics.computations == computed  # unchanged store: the organisation part kept
    with acting(Actor("tester", Channel.LIBRARY)):
        app.organisation.add_server("EXCH03", fqdn="exch03.contoso.com")
    changed = metrics.text()
    assert metrics.computations == computed + 1
    assert b'server="EXCH03"' in changed and b'server="EXCH03"' not in first
    assert b"process_cpu_seconds_total" in changed  # the process's own, on every scrape
