"""The watch service over a real store: scheduled health and auth monitor runs, the
findings' history across runs, retention, expiry notices queued once per channel."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.model import CheckStatus
from certward.model.audit import ACTOR
from certward.model.watch import JobKind, Retention
from certward.services.notify import webhook_channel
from certward.services.watch import Schedule, WatchService
from tests.conftest import Cli
from tests.watch.clocks import MovingClock

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def watched(org: Cli, isolated_store: Path) -> tuple[App, MovingClock, dt.datetime]:
    """Contoso, with a clock 13 days before EXCH01's self-signed certificate expires."""
    app = build_app(str(isolated_store))
    with app.store.transaction() as repo:
        own = repo.certificate("EXCH01", repo.server("EXCH01").default_smtp_thumbprint)
    from certward.pki import certinfo

    assert own.der is not None
    expires = certinfo.load_der(own.der).not_valid_after_utc
    clock = MovingClock(expires - dt.timedelta(days=13))
    app = build_app(str(isolated_store), clock=clock)
    return app, clock, expires


def test_a_scheduled_health_run_records_its_findings_first_seen_and_resolution(
    watched: tuple[App, MovingClock, dt.datetime],
) -> None:
    app, clock, _ = watched
    watch = app.watch
    start = clock.now()
    runs = watch.run_due()
    assert {r.name: r.status for r in runs} == {
        "health": CheckStatus.CRITICAL, "auth": CheckStatus.WARNING,
    }  # fmt: skip
    assert watch.due() == []  # nothing more until the intervals pass
    history = watch.findings_history(open_only=True)
    rules = {(h.source, h.rule, h.server) for h in history}
    assert ("health", "CW-CERT-001", "EXCH01") in rules
    assert ("auth", "auth.monitor", None) in rules
    assert all(h.first_seen == start for h in history)

    clock.advance(HOUR)  # health is due again, the auth monitor is not
    (again,) = watch.run_due()
    assert again.name == "health" and again.started == start + HOUR
    cert = next(h for h in watch.findings_history(source="health") if h.rule == "CW-CERT-001")
    assert (cert.first_seen, cert.last_seen, cert.resolved) == (start, start + HOUR, None)
    assert watch.last_success("health") == start + HOUR  # CRITICAL: it ran and judged
    assert watch.runs(JobKind.HEALTH)[0].summary["counts"]["error"] >= 1

    # Judged as of a time the certificate was young, the finding goes away (it keeps when
    # it first appeared).
    clock.instant = start - dt.timedelta(days=400)
    watch.run_job(next(j for j in watch.jobs() if j.kind is JobKind.HEALTH))
    resolved = next(h for h in watch.findings_history(source="health") if h.rule == "CW-CERT-001")
    assert resolved.first_seen == start and resolved.resolved == clock.now()
    assert watch.last_success("health") == start + HOUR  # the newest run to a verdict


def test_runs_act_as_the_scheduler(watched: tuple[App, MovingClock, dt.datetime]) -> None:
    app, _, _ = watched
    actors = []

    class Spy(WatchService):
        def _execute(self, job, now):  # type: ignore[no-untyped-def]
            actors.append(ACTOR.get())
            return super()._execute(job, now)

    spy = Spy(app.store, app.clock, health=lambda: app.health, auth=lambda: app.auth)
    spy.run_due()
    assert {(a.name, a.via.value, a.action) for a in actors} == {
        ("scheduler", "scheduler", "health"), ("scheduler", "scheduler", "auth"),
    }  # fmt: skip


def test_retention_drops_the_oldest_runs(watched: tuple[App, MovingClock, dt.datetime]) -> None:
    app, clock, _ = watched
    watch = app.watch
    watch.schedule = Schedule(health=HOUR, auth=1000 * HOUR, retention=Retention(runs_per_job=3))
    starts = []
    for _ in range(5):
        starts.append(clock.now())
        watch.run_due()
        clock.advance(HOUR)
    kept = watch.runs(JobKind.HEALTH)
    assert [r.started for r in kept] == starts[:1:-1]  # the newest three, newest first
    assert len(watch.runs(JobKind.AUTH)) == 1


def test_expiry_and_finding_notices_are_queued_once_per_channel(
    watched: tuple[App, MovingClock, dt.datetime],
) -> None:
    app, clock, _ = watched
    watch = app.watch
    watch.add_channel(webhook_channel("hook", url="http://127.0.0.1:9/none", secret=None))
    health = next(j for j in watch.jobs() if j.kind is JobKind.HEALTH)
    watch.run_job(health)
    with app.store.transaction() as repo:
        first = [n for _, n in repo.pending_notices("hook")]
    events = sorted({n.event for n in first})
    assert events == ["certificate.expiring", "finding.new"]
    expiring = [n for n in first if n.event == "certificate.expiring"]
    assert {n.data["threshold_days"] for n in expiring} == {14}
    clock.advance(HOUR)
    watch.run_job(health)  # the same findings, the same threshold: nothing new
    with app.store.transaction() as repo:
        assert [n.key for _, n in repo.pending_notices("hook")] == [n.key for n in first]
    clock.advance(dt.timedelta(days=7))  # the 7-day threshold
    watch.run_job(health)
    with app.store.transaction() as repo:
        later = [n for _, n in repo.pending_notices("hook")]
    assert {n.data.get("threshold_days") for n in later[len(first) :]} >= {7}


def test_targets_are_checked_and_named(watched: tuple[App, MovingClock, dt.datetime]) -> None:
    watch = watched[0].watch
    target = watch.add_target("smtps://mail.contoso.com:465", "15m", sni="mail.contoso.com")
    assert target.every == dt.timedelta(minutes=15) and target.target_id is not None
    with pytest.raises(CertwardError) as exists:
        watch.add_target("smtps://mail.contoso.com:465", "1h")
    assert exists.value.code.id == "watch.target_exists"
    for url, every, code in [("ftp://x", "1h", "probe.target_invalid"),
                             ("smtp://x", "soon", "watch.interval_invalid")]:  # fmt: skip
        with pytest.raises(CertwardError) as refused:
            watch.add_target(url, every)
        assert refused.value.code.id == code
    assert [j.name for j in watch.jobs()][-1] == "probe:smtps://mail.contoso.com:465"
    assert watch.remove_target(str(target.target_id)).url == target.url
    with pytest.raises(CertwardError) as gone:
        watch.remove_target(target.url)
    assert gone.value.code.id == "watch.target_not_found"


def test_resolved_findings_and_sent_notices_past_the_retention_are_forgotten(
    watched: tuple[App, MovingClock, dt.datetime],
) -> None:
    from certward.model.watch import FindingHistory, Notice

    app, clock, _ = watched
    long_ago = clock.now() - dt.timedelta(days=91)
    old = FindingHistory("k", "health", "CW-OLD", "warning", "gone", None, None,
                         long_ago, long_ago, resolved=long_ago)  # fmt: skip
    recent = FindingHistory("r", "health", "CW-RECENT", "warning", "gone", None, None,
                            long_ago, clock.now(), resolved=clock.now())  # fmt: skip
    app.watch.add_channel(webhook_channel("hook", url="http://127.0.0.1:9/none", secret=None))
    with app.store.transaction() as repo:
        repo.save_finding_history([old, recent])
        repo.queue_notice("hook", Notice("old", "test", "info", "s", "t"), long_ago)
        ((row_id, _),) = repo.pending_notices("hook")
        repo.mark_notices([row_id], sent=long_ago)
    app.watch.schedule = Schedule(auth=1000 * HOUR)
    app.watch.run_job(next(j for j in app.watch.jobs() if j.kind is JobKind.AUTH))
    app.watch._prune(clock.now())
    rules = {h.rule for h in app.watch.findings_history()}
    assert "CW-OLD" not in rules and "CW-RECENT" in rules
    with app.store.transaction() as repo:
        assert repo.sent_notices("hook") == []
        assert repo.queue_notice("hook", Notice("old", "test", "info", "s", "t"), clock.now())


def test_one_scheduler_works_a_store_at_a_time(
    watched: tuple[App, MovingClock, dt.datetime],
) -> None:
    app, clock, _ = watched
    schedule = Schedule(health=dt.timedelta(minutes=2), auth=1000 * HOUR)
    first = app.watch
    first.schedule = schedule
    second = WatchService(app.store, clock, health=lambda: app.health, auth=lambda: app.auth,
                          schedule=schedule)  # fmt: skip
    minutes = dt.timedelta(minutes=2)
    assert {r.name for r in first.run_due()} == {"health", "auth"}
    clock.advance(minutes)  # health is due again: the first scheduler's lease is current
    assert second.run_due() == []
    assert {r.name for r in first.run_due()} == {"health"}
    clock.advance(minutes)
    first.release_lease()  # the first one stops
    assert {r.name for r in second.run_due()} == {"health"}
    clock.advance(dt.timedelta(minutes=6))  # the second's lease, not renewed, runs out
    assert {r.name for r in first.run_due()} == {"health"}


def test_an_observed_servers_certificates_in_use_are_announced_too(
    watched: tuple[App, MovingClock, dt.datetime],
) -> None:
    from certward.model import ObservedCertificate, Server, ServiceSet, StoreName, Thumbprint

    app, clock, _ = watched
    app.watch.add_channel(webhook_channel("hook", url="http://127.0.0.1:9/none", secret=None))
    thumb = Thumbprint("C0FFEE" + "0" * 34)
    observed = ObservedCertificate(
        "MBX09", StoreName.MY, thumb, "CN=mail.fabrikam.com", "CN=Fabrikam CA",
        clock.now() - dt.timedelta(days=300), clock.now() + dt.timedelta(days=25),
        services=ServiceSet.parse("IIS,SMTP"),
    )  # fmt: skip
    archived = dataclasses.replace(observed, thumbprint=Thumbprint("AB" * 20), archived=True)
    with app.store.transaction() as repo:
        repo.save_server(Server("MBX09", "mbx09.fabrikam.com", observed=True))
        repo.replace_observed_certificates("MBX09", StoreName.MY, [observed, archived])
    app.watch.run_job(next(j for j in app.watch.jobs() if j.kind is JobKind.HEALTH))
    with app.store.transaction() as repo:
        pending = [n for _, n in repo.pending_notices("hook")]
    notices = [
        n for n in pending if n.event == "certificate.expiring" and n.data["server"] == "MBX09"
    ]
    assert [(n.data["thumbprint"], n.data["threshold_days"]) for n in notices] == [(thumb, 30)]
