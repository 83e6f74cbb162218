"""The health values (findings, rules, reports) as values: what a report carries between
processes (the watch worker pickles it) and what their reprs show."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

from certward.health.engine import HealthReport, TimelineEntry, registered_rules
from certward.health.findings import Finding, Remediation, Severity
from certward.interop.powershell import command, script


def _report() -> HealthReport:
    finding = Finding(
        "CW-TEST-001",
        Severity.ERROR,
        "EXCH01",
        "connector X is broken",
        Remediation("certward connector set X", script(command("Get-ReceiveConnector", "X"))),
        {"event": 12014},
        connector="X",
    )
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    entry = TimelineEntry("EXCH01", "AB" * 20, "CN=mail", when, when, True)
    return HealthReport(when, (finding, finding._replace(server=None)), ("EXCH01",), 1, (entry,))


def test_a_report_survives_the_watch_workers_pickle() -> None:
    report = _report()
    again = pickle.loads(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == report
    assert again.to_json() == report.to_json()
    assert again.exit_status == report.exit_status


def test_a_finding_given_no_evidence_has_an_empty_one() -> None:
    plain = Finding("CW-TEST-002", Severity.INFO, None, "m", Remediation("c", script()))
    assert plain.evidence == {}
    assert plain.to_json()["evidence"] == {}
    assert pickle.loads(pickle.dumps(plain)) == plain


def test_values_cannot_be_changed() -> None:
    report = _report()
    with pytest.raises(AttributeError):
        report.findings[0].message = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        report.rules_run = 2  # type: ignore[misc]


def test_a_rules_repr_leaves_out_its_check() -> None:
    rule = registered_rules()[0]
    shown = repr(rule)
    assert shown.startswith(f"Rule(id={rule.id!r}, title={rule.title!r}, ")
    assert shown.endswith(f"needs={rule.needs!r})")
    assert "function" not in shown and "gated" not in shown
