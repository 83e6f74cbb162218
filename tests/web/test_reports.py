"""The console's health reports: made once per change to the store, refreshed in the
background when a minute old."""

from __future__ import annotations

from pathlib import Path

from certward.compose import build_app
from certward.health.findings import Severity
from certward.interfaces.web._reports import HealthReports
from certward.model.access import Channel
from certward.model.audit import Actor, acting


def test_a_report_is_reused_until_the_store_changes_or_it_ages(tmp_path: Path) -> None:
    app = build_app(str(tmp_path / "certward.db"))
    try:
        app.organisation.init_organisation("Contoso", domain="contoso.com")
        clock = [1000.0]
        reports = HealthReports(max_age=60.0, monotonic=lambda: clock[0])
        first = reports.report(app)
        assert reports.report(app) is first
        assert reports.report(app, min_severity=Severity.ERROR) is not first  # its own key
        with acting(Actor("tester", Channel.LIBRARY)):
            app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
        changed = reports.report(app)
        assert changed is not first and changed.servers == ("EXCH01",)
        clock[0] += 59.0
        assert reports.report(app) is changed
        clock[0] += 2.0  # aged: still shown while a fresh one is made in the background
        assert reports.report(app) is changed
        reports.settle(timeout=30)
        fresh = reports.report(app)
        assert fresh is not changed and fresh.servers == ("EXCH01",)
    finally:
        app.store.close()
