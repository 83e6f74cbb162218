"""The scheduler's decisions, pure: what is due at ``now``, how findings change between
runs, which runs the retention limit drops, expiry thresholds, retries, digests."""

from __future__ import annotations

import datetime as dt

import pytest

from certward.model.watch import (
    Backoff,
    CertificateInUse,
    ChannelKind,
    FindingHistory,
    Job,
    JobKind,
    Notice,
    NotifyChannel,
    Observation,
    Retention,
    digest_due,
    digest_notice,
    due_jobs,
    expiry_notices,
    finding_notices,
    format_every,
    next_wakeup,
    parse_every,
    retry_delay,
    runs_to_drop,
    track_findings,
    wanted_by,
)

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
HEALTH = Job(JobKind.HEALTH, HOUR)
AUTH = Job(JobKind.AUTH, 12 * HOUR)
PROBE = Job(JobKind.PROBE, dt.timedelta(minutes=15), "smtp://mail.contoso.com")


def test_jobs_never_run_are_due_at_once_in_their_order() -> None:
    assert due_jobs([HEALTH, AUTH, PROBE], {}, NOW) == [HEALTH, AUTH, PROBE]


def test_a_job_is_due_when_its_interval_has_passed_since_its_last_start() -> None:
    last = {
        "health": NOW - HOUR,  # due exactly now
        "auth": NOW - HOUR,  # 11 hours to go
        "probe:smtp://mail.contoso.com": NOW - dt.timedelta(minutes=20),  # 5 minutes overdue
    }
    assert due_jobs([HEALTH, AUTH, PROBE], last, NOW) == [PROBE, HEALTH]  # most overdue first
    assert due_jobs([HEALTH, AUTH, PROBE], last, NOW - dt.timedelta(seconds=1)) == [PROBE]


def test_the_next_wakeup_is_the_earliest_due_time() -> None:
    last = {"health": NOW, "auth": NOW, "probe:smtp://mail.contoso.com": NOW}
    assert next_wakeup([HEALTH, AUTH, PROBE], last, NOW) == NOW + dt.timedelta(minutes=15)
    assert next_wakeup([HEALTH], {"health": NOW - 2 * HOUR}, NOW) == NOW  # overdue: now
    assert next_wakeup([], {}, NOW) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1W", 604800)]
)
def test_intervals_read_and_print_back(text: str, seconds: int) -> None:
    every = parse_every(text)
    assert every.total_seconds() == seconds
    assert parse_every(format_every(every)) == every


@pytest.mark.parametrize("text", ["", "1", "h", "1.5h", "-1h", "0s", "1 hour", "1y"])
def test_bad_intervals_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_every(text)


def seen(key: str, severity: str = "warning", source: str = "health") -> Observation:
    return Observation(key, source, key.split("|")[0], severity, f"{key} is wrong", "EXCH01")


def test_a_finding_keeps_its_first_seen_time_and_goes_away_when_not_seen() -> None:
    first = track_findings("health", [], [seen("expiry|EXCH01")], NOW)
    assert [h.first_seen for h in first.new] == [NOW]
    later = NOW + HOUR
    again = track_findings("health", first.history, [seen("expiry|EXCH01")], later)
    assert again.new == () and again.worsened == ()
    (row,) = again.history
    assert (row.first_seen, row.last_seen, row.resolved) == (NOW, later, None)
    gone = track_findings("health", again.history, [], later + HOUR)
    (resolved,) = gone.resolved
    assert resolved.first_seen == NOW and resolved.resolved == later + HOUR
    back = track_findings("health", [], [seen("expiry|EXCH01")], later + 2 * HOUR)
    assert back.new[0].first_seen == later + 2 * HOUR  # a new appearance


def test_a_finding_that_becomes_more_severe_is_worsened_not_new() -> None:
    first = track_findings("health", [], [seen("expiry|EXCH01", "warning")], NOW)
    worse = track_findings("health", first.history, [seen("expiry|EXCH01", "critical")], NOW + HOUR)
    assert worse.new == () and [h.severity for h in worse.worsened] == ["critical"]
    assert worse.worsened[0].first_seen == NOW
    better = track_findings(
        "health", worse.history, [seen("expiry|EXCH01", "info")], NOW + 2 * HOUR
    )
    assert better.new == () and better.worsened == ()


def test_other_sources_findings_are_left_alone() -> None:
    probe = track_findings("probe:x", [], [seen("probe|x", source="probe:x")], NOW)
    health = track_findings("health", probe.history, [], NOW + HOUR)
    assert health.history == () and health.resolved == ()


def test_notices_are_keyed_by_finding_severity_and_appearance() -> None:
    first = track_findings("health", [], [seen("expiry|EXCH01")], NOW)
    (notice,) = finding_notices(first)
    assert notice.event == "finding.new" and notice.severity == "warning"
    assert notice.key == "finding:expiry|EXCH01:warning:2026-12-03T12:00:00Z"
    worse = track_findings("health", first.history, [seen("expiry|EXCH01", "error")], NOW + HOUR)
    (w,) = finding_notices(worse)
    assert w.event == "finding.worsened" and w.key != notice.key
    assert (
        finding_notices(track_findings("health", first.history, [seen("expiry|EXCH01")], NOW)) == []
    )


def test_retention_keeps_the_newest_runs_of_each_job_and_drops_old_ones() -> None:
    runs = [(i, "health", NOW - i * HOUR) for i in range(1, 6)]
    runs += [(10 + i, "probe:x", NOW - dt.timedelta(days=i * 20)) for i in range(1, 4)]
    dropped = runs_to_drop(runs, Retention(runs_per_job=3, max_age=dt.timedelta(days=50)), NOW)
    assert dropped == [4, 5, 13]  # health's 4th and 5th newest; probe's 60-day-old run


def cert(days: float, thumb: str = "AB" * 20) -> CertificateInUse:
    return CertificateInUse(
        "EXCH01", thumb, "CN=mail.contoso.com", "IIS, SMTP", NOW + dt.timedelta(days=days)
    )


@pytest.mark.parametrize(
    ("days", "threshold", "severity"),
    [(59.5, 60, "warning"), (30, 30, "warning"), (13.9, 14, "warning"), (7, 7, "critical"),
     (0.5, 1, "critical"), (-3, 0, "critical")],
)  # fmt: skip
def test_expiry_notices_at_the_smallest_threshold_crossed(
    days: float, threshold: int, severity: str
) -> None:
    (notice,) = expiry_notices([cert(days)], NOW)
    assert notice.data["threshold_days"] == threshold and notice.severity == severity
    assert notice.key == f"expiry:EXCH01:{'AB' * 20}:{threshold}"


def test_no_expiry_notice_before_the_first_threshold_and_custom_thresholds() -> None:
    assert expiry_notices([cert(61)], NOW) == []
    (notice,) = expiry_notices([cert(80)], NOW, thresholds=(90, 10))
    assert notice.data["threshold_days"] == 90


def channel(*, digest: bool = False, last: dt.datetime | None = None) -> NotifyChannel:
    return NotifyChannel("ops", ChannelKind.WEBHOOK, {"url": "http://x"}, None, digest,
                         "warning", last)  # fmt: skip


def test_channels_want_notices_at_their_severity_and_tests_always() -> None:
    info = Notice("k", "finding.new", "info", "s", "t")
    assert not wanted_by(channel(), info)
    assert wanted_by(channel(), Notice("k", "finding.new", "error", "s", "t"))
    assert wanted_by(channel(), Notice("k", "test", "info", "s", "t"))


def test_a_digest_is_due_once_a_day_when_something_is_pending() -> None:
    assert not digest_due(channel(digest=False), 3, NOW)
    assert not digest_due(channel(digest=True), 0, NOW)
    assert digest_due(channel(digest=True), 1, NOW)
    assert not digest_due(channel(digest=True, last=NOW - 23 * HOUR), 1, NOW)
    assert digest_due(channel(digest=True, last=NOW - 24 * HOUR), 1, NOW)
    notices = [Notice("a", "finding.new", "warning", "[certward] a", "a"),
               Notice("b", "certificate.expiring", "critical", "[certward] b", "b")]  # fmt: skip
    digest = digest_notice(notices, NOW)
    assert digest.severity == "critical" and "2 notices" in digest.subject
    assert digest.text.splitlines() == ["- [warning] a", "- [critical] b"]


def test_retries_back_off_exponentially_and_respect_retry_after() -> None:
    backoff = Backoff(attempts=4, base=2.0, cap=10.0)
    assert [retry_delay(backoff, n, None, NOW) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, None]
    assert retry_delay(Backoff(attempts=9, base=2.0, cap=10.0), 5, None, NOW) == 10.0  # capped
    assert retry_delay(backoff, 1, "7", NOW) == 7.0
    assert retry_delay(backoff, 1, "120", NOW) == 10.0  # capped too
    assert retry_delay(backoff, 1, "Thu, 03 Dec 2026 12:00:05 GMT", NOW) == 5.0
    assert retry_delay(backoff, 1, "soon", NOW) == 2.0  # unreadable: the backoff


def test_history_rows_say_whether_they_are_open() -> None:
    row = FindingHistory("k", "health", "r", "warning", "m", None, None, NOW, NOW)
    assert row.open and row.to_json()["first_seen"] == "2026-12-03T12:00:00Z"
