"""The watcher (issue 14): health, the auth monitor and probes of configured targets on a
timer; each run kept (with a retention limit), the findings' history (first seen, last
seen, resolved), and notifications of new or worsened findings and expiring certificates.

The decisions are pure (:mod:`certward.model.watch`); this service reads the store, runs the
jobs that are due and records them. One loop runs it anywhere:

- ``certward watch`` calls :meth:`WatchService.run_loop` with a ``threading.Event``;
- the web service (uvicorn's asyncio loop) starts :meth:`WatchService.run_forever` as a task
  in its lifespan and sets the ``asyncio.Event`` on shutdown::

      stop = asyncio.Event()
      task = asyncio.create_task(app.watch.run_forever(stop))
      yield
      stop.set()
      await task

  Each job runs in a worker thread (``asyncio.to_thread``), so the event loop serving
  requests is never blocked; probes and deliveries run in a child process (Twisted's reactor
  is not restartable and never enters the web process; :mod:`.watch_worker`).

  A thread still shares the interpreter with the requests, and a health check of a large
  organisation holds it for seconds: the web service runs its scheduled health runs in a
  long-lived worker process instead (:attr:`WatchService.elsewhere`,
  :class:`.watch_worker.JobWorker`), which records them as this service would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from certward.clock import Clock
from certward.codes.probe import PROBE_TARGET_INVALID
from certward.codes.watch import WATCH_INTERVAL_INVALID
from certward.errors import CertwardError
from certward.model import CheckStatus, StoreName
from certward.model.access import Channel
from certward.model.audit import Actor, acting
from certward.model.watch import (
    DEFAULT_THRESHOLDS,
    CertificateInUse,
    FindingHistory,
    Job,
    JobKind,
    JobRun,
    Notice,
    NotifyChannel,
    Observation,
    ProbeTarget,
    Retention,
    due_jobs,
    expiry_notices,
    finding_notices,
    next_wakeup,
    parse_every,
    runs_to_drop,
    track_findings,
)
from certward.services.notify import Delivery, Notifier, run_worker
from certward.services.watch_ports import WatchStore

if TYPE_CHECKING:
    from certward.health.engine import HealthReport
    from certward.services.acme import AcmeService
    from certward.services.auth import AuthService
    from certward.services.deploy import DeployService
    from certward.services.health import HealthService

log = logging.getLogger("certward.watch")

HEALTH_EVERY = dt.timedelta(hours=1)
AUTH_EVERY = dt.timedelta(hours=12)
ACME_EVERY = dt.timedelta(hours=1)  # a due renewal waits at most this; failures back off
DEPLOY_EVERY = dt.timedelta(minutes=10)  # a renewed certificate reaches the daemons within this
MAX_SLEEP = 60.0  # seconds: the loop looks again at least this often (targets added)
LEASE = "watch.scheduler_lease"  # meta: "<holder> <until, ISO 8601>"
LEASE_FOR = dt.timedelta(minutes=5)  # renewed before each job and each round


def every(value: str | dt.timedelta) -> dt.timedelta:
    """An interval from its text (``15m``, ``1h``) or as given; coded error otherwise."""
    if isinstance(value, dt.timedelta):
        if value.total_seconds() < 1:
            raise WATCH_INTERVAL_INVALID(f"interval {value} is shorter than one second")
        return value
    try:
        return parse_every(value)
    except ValueError as exc:
        raise WATCH_INTERVAL_INVALID(str(exc), interval=value) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    health: dt.timedelta = HEALTH_EVERY
    auth: dt.timedelta = AUTH_EVERY
    acme: dt.timedelta = ACME_EVERY
    deploy: dt.timedelta = DEPLOY_EVERY
    retention: Retention = field(default_factory=Retention)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS


class WatchService:
    """Targets, runs, findings' history and notifications over one store."""

    def __init__(
        self,
        store: WatchStore,
        clock: Clock,
        *,
        health: Callable[[], HealthService],
        auth: Callable[[], AuthService],
        schedule: Schedule | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._health = health
        self._auth = auth
        self.schedule = schedule or Schedule()
        self.notifier = Notifier(store, clock)
        # How a scheduled health run checks the organisation: the health service's check,
        # unless the process shares its reports (the web console keeps the scheduler's).
        self.health_check: Callable[[dt.datetime], HealthReport] | None = None
        # Jobs this process has another run (the web service's worker process): the kind's
        # runner runs the job there and returns its recorded run.
        self.elsewhere: dict[JobKind, Callable[[Job], JobRun]] = {}
        self._lock = threading.Lock()  # one round at a time per process
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    # -- targets ---------------------------------------------------------------------------
    def targets(self) -> list[ProbeTarget]:
        with self._store.reading() as repo:
            return repo.watch_targets()

    def add_target(
        self,
        url: str,
        interval: str | dt.timedelta = HEALTH_EVERY,
        *,
        ca_file: str | None = None,
        sni: str | None = None,
        timeout: float = 15.0,
    ) -> ProbeTarget:
        from certward.probe.targets import is_mail_domain, parse_target

        if not is_mail_domain(url):
            parse_target(url)  # raises probe.target_invalid
        elif "://" in url:
            raise PROBE_TARGET_INVALID(f"target {url!r} is not a URL", target=url)
        target = ProbeTarget(url, every(interval), ca_file, sni, timeout)
        with self._store.transaction() as repo:
            return repo.add_watch_target(target)

    def remove_target(self, which: str) -> ProbeTarget:
        with self._store.transaction() as repo:
            return repo.remove_watch_target(which)

    # -- reads -----------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        jobs = [Job(JobKind.HEALTH, self.schedule.health), Job(JobKind.AUTH, self.schedule.auth)]
        if self._acme().has_orders():  # issue 15: only where a certificate is kept by ACME
            jobs.append(Job(JobKind.ACME, self.schedule.acme))
        if self._deploy().has_local():  # issue 15: only where this machine deploys
            jobs.append(Job(JobKind.DEPLOY, self.schedule.deploy))
        return jobs + [Job(JobKind.PROBE, t.every, t.url) for t in self.targets()]

    def _deploy(self) -> DeployService:
        from certward.services.deploy import DeployService, DeployStore

        return DeployService(cast("DeployStore", self._store), self._clock)  # the same store

    def _acme(self) -> AcmeService:
        from certward.services.acme import acme_service

        return acme_service(self._store, self._clock)

    def runs(
        self, job: JobKind | str | None = None, target: str | None = None, limit: int = 100
    ) -> list[JobRun]:
        """The newest runs first, of one job kind and/or target if given."""
        kind = JobKind(job) if job is not None else None
        with self._store.reading() as repo:
            return repo.job_runs(job=kind, target=target, limit=limit)

    def findings_history(
        self, *, source: str | None = None, open_only: bool = False, limit: int | None = None
    ) -> list[FindingHistory]:
        """Every finding the scheduled runs saw, newest first appearance first, with when
        it was first and last seen and when it went away."""
        with self._store.reading() as repo:
            return repo.finding_history(source=source, open_only=open_only, limit=limit)

    def last_success(self, job: str) -> dt.datetime | None:
        """When the job named ``job`` (``health``, ``auth``, ``probe:URL``) last ran to a
        verdict (OK, WARNING or CRITICAL; not UNKNOWN: it could not judge)."""
        with self._store.reading() as repo:
            return repo.last_success(job)

    def last_successes(self) -> dict[str, dt.datetime | None]:
        jobs = self.jobs()  # before the read: jobs() reads the store itself
        with self._store.reading() as repo:
            return {job.name: repo.last_success(job.name) for job in jobs}

    def due(self, now: dt.datetime | None = None) -> list[Job]:
        now = now or self._clock.now()
        with self._store.reading() as repo:
            last = repo.last_job_starts()
        return due_jobs(self.jobs(), last, now)

    # -- notifications ---------------------------------------------------------------------
    def channels(self) -> list[NotifyChannel]:
        return self.notifier.channels()

    def add_channel(self, channel: NotifyChannel) -> NotifyChannel:
        return self.notifier.add_channel(channel)

    def remove_channel(self, name: str) -> None:
        self.notifier.remove_channel(name)

    def notify_test(self, channel: str | None = None) -> list[Delivery]:
        return self.notifier.test(channel)

    def deliver(self, now: dt.datetime | None = None) -> list[Delivery]:
        return self.notifier.deliver(now)

    # -- running ---------------------------------------------------------------------------
    def run_due(self, now: dt.datetime | None = None) -> list[JobRun]:
        """Run every job due at ``now``, then deliver the notices; returns the runs.

        One scheduler works a store at a time: each round (and each job in it) first takes
        or renews the store's scheduler lease; while another process's lease is current
        (``certward web`` and ``certward watch`` on one store) this one runs nothing."""
        with self._lock:
            now = now or self._clock.now()
            runs = []
            for job in self.due(now):
                if not self._take_lease():
                    break
                runs.append(self._run_one(job))
            if not runs and not self._take_lease():
                return []
            if runs:
                self._prune(self._clock.now())
            try:
                self.notifier.deliver()
            except CertwardError as exc:
                log.warning("notifications not delivered: %s", exc.message)
            return runs

    def _take_lease(self) -> bool:
        """Take or renew the store's scheduler lease; False while another holds it."""
        now = self._clock.now()
        with self._store.transaction() as repo:
            held = repo.meta(LEASE)
            if held:
                holder, _, until = held.partition(" ")
                try:
                    current = dt.datetime.fromisoformat(until) > now
                except ValueError:
                    current = False
                if holder != self._holder and current:
                    return False
            repo.set_meta(LEASE, f"{self._holder} {(now + LEASE_FOR).isoformat()}")
        return True

    def release_lease(self) -> None:
        """Give the lease up (the loop stopping), so another scheduler need not wait."""
        with self._store.transaction() as repo:
            held = repo.meta(LEASE)
            if held and held.partition(" ")[0] == self._holder:
                repo.set_meta(LEASE, "")

    def _run_one(self, job: Job) -> JobRun:
        """Run one job here, or where :attr:`elsewhere` says; a runner's coded failure is
        recorded as the job's run (UNKNOWN: it could not judge)."""
        runner = self.elsewhere.get(job.kind)
        if runner is None:
            return self.run_job(job)
        started = self._clock.now()
        try:
            return runner(job)
        except CertwardError as exc:
            log.warning("job %s failed: %s", job.name, exc.message)
            return self._record(job, started, CheckStatus.UNKNOWN, {"error": exc.as_dict()})

    def run_job(self, job: Job) -> JobRun:
        """Run one job now, as the scheduler, and record its run, findings and notices."""
        started = self._clock.now()
        with acting(Actor("scheduler", Channel.SCHEDULER, job.name)):
            try:
                status, summary, seen, notices = self._execute(job, started)
            except CertwardError as exc:
                status, summary, seen, notices = (
                    CheckStatus.UNKNOWN,
                    {"error": exc.as_dict()},
                    None,
                    [],
                )
            except Exception as exc:  # a job's bug must not stop the scheduler
                log.exception("job %s failed", job.name)
                error = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
                status, summary, seen, notices = CheckStatus.UNKNOWN, {"error": error}, None, []
            return self._record(job, started, status, summary, seen, notices)

    def _record(
        self,
        job: Job,
        started: dt.datetime,
        status: CheckStatus,
        summary: dict[str, Any],
        seen: list[Observation] | None = None,
        notices: Sequence[Notice] = (),
    ) -> JobRun:
        """Store a job's run (``seen``: its findings, None when it could not judge) and
        queue its notices; the run stored."""
        finished = self._clock.now()
        run = JobRun(job.kind, job.target, started, finished, status, summary)
        with self._store.transaction() as repo:
            run = repo.add_job_run(run)
            if seen is not None:  # a job that could not judge resolves nothing
                change = track_findings(
                    job.name,
                    repo.finding_history(source=job.name, open_only=True),
                    seen,
                    finished,
                )
                repo.save_finding_history(change.history)
                notices = [*finding_notices(change), *notices]
        self.notifier.queue(notices, finished)
        return run

    def _execute(
        self, job: Job, now: dt.datetime
    ) -> tuple[CheckStatus, dict[str, Any], list[Observation] | None, list[Notice]]:
        if job.kind is JobKind.HEALTH:
            return self._run_health(now)
        if job.kind is JobKind.AUTH:
            return self._run_auth(now)
        if job.kind is JobKind.ACME:
            return self._run_acme()
        if job.kind is JobKind.DEPLOY:
            return self._run_deploy()
        return self._run_probe(job)

    def _run_acme(self) -> tuple[CheckStatus, dict[str, Any], list[Observation], list[Notice]]:
        """Renew what is due (issue 15); failing orders are findings, notified as findings."""
        report = self._acme().renew(notify=False)
        seen = [
            Observation(
                key=f"CW-ACME-001|{o.order.order_id}",
                source="acme",
                rule="CW-ACME-001",
                severity="error",
                message=f"ACME failed for {', '.join(o.order.names)}: {o.order.error.detail}",
                server=o.order.server,
                thumbprint=o.order.thumbprint,
            )
            for o in report.outcomes
            if o.order.error is not None
        ]
        summary = dict(sorted(Counter(o.action for o in report.outcomes).items()))
        return (CheckStatus.WARNING if seen else CheckStatus.OK), summary, seen, []

    def _run_deploy(self) -> tuple[CheckStatus, dict[str, Any], list[Observation], list[Notice]]:
        """This machine's deployments that are due, run (issue 15): a renewal reaches the
        daemons without a person. A failed deploy (rolled back: the port keeps serving the
        certificate it had) is a finding, notified as findings are, and stays one while it
        waits its hour to be tried again."""
        done = self._deploy().run_due()
        seen = [
            Observation(
                key=f"CW-DEPLOY-001|{d.name}",
                source="deploy",
                rule="CW-DEPLOY-001",
                severity="error",
                message=f"deployment {d.name} failed: {d.outcome.detail} ({d.outcome.code})",
                server=d.server,
                thumbprint=d.outcome.deployed,
            )
            for d in done
            if d.outcome is not None and not d.outcome.ok
        ]
        summary: dict[str, Any] = dict(sorted(Counter(d.action for d in done).items()))
        summary["deployments"] = [d.to_json() for d in done if d.action != "current"]
        failing = seen or any(d.action == "no-certificate" for d in done)
        return (CheckStatus.WARNING if failing else CheckStatus.OK), summary, seen, []

    def _run_health(
        self, now: dt.datetime
    ) -> tuple[CheckStatus, dict[str, Any], list[Observation], list[Notice]]:
        if self.health_check is not None:
            report = self.health_check(now)
        else:
            report = self._health().check(as_of=now)
        seen = [
            Observation(
                key="|".join((f.rule_id, f.server or "", f.thumbprint or "", f.connector or "")),
                source="health",
                rule=f.rule_id,
                severity=f.severity.label,
                message=f.message,
                server=f.server,
                thumbprint=f.thumbprint,
            )
            for f in report.findings
        ]
        summary = {
            "counts": report.counts(),
            "servers": len(report.servers),
            "rules_run": report.rules_run,
        }
        return report.exit_status, summary, seen, self._expiry_notices(now)

    def _expiry_notices(self, now: dt.datetime) -> list[Notice]:
        from certward.health.profiles import PROFILES
        from certward.pki import certinfo
        from certward.services.health import SnapshotReads

        in_use: list[CertificateInUse] = []
        with self._store.transaction() as repo:
            # With a store that reads the organisation at once: one query for the Personal
            # stores, each certificate's subject and NotAfter from the profiles health made.
            personal = repo.personal_certificates() if isinstance(repo, SnapshotReads) else None
            profiles = {}
            if isinstance(repo, SnapshotReads) and personal is not None:
                used = {e.thumbprint for es in personal.values() for e in es if e.services}
                profiles = PROFILES.profiles(
                    used,
                    repo.distinct_ders,
                    facts=repo.certificate_facts,  # recorded: nothing parsed
                    record=repo.record_certificate_facts,
                )
            for server in repo.servers():
                if server.observed:  # as its collection showed it
                    in_use += [
                        CertificateInUse(
                            server.name, c.thumbprint, c.subject, str(c.services), c.not_after
                        )
                        for c in repo.observed_certificates(server.name, StoreName.MY)
                        if c.services and not c.archived
                    ]
                    continue
                if personal is not None:
                    for e in personal.get(server.name, ()):
                        profile = profiles.get(e.thumbprint)
                        if not e.services or profile is None:
                            continue
                        in_use.append(
                            CertificateInUse(
                                server.name,
                                e.thumbprint,
                                profile.subject.rfc4514_string(),
                                str(e.services),
                                profile.not_after,
                            )
                        )
                    continue
                for record in repo.certificates(server.name, StoreName.MY):
                    if record.der is None or not record.services:
                        continue
                    cert = certinfo.load_der(record.der)
                    in_use.append(
                        CertificateInUse(
                            server.name,
                            record.thumbprint,
                            cert.subject.rfc4514_string(),
                            str(record.services),
                            cert.not_valid_after_utc,
                        )
                    )
        return expiry_notices(in_use, now, self.schedule.thresholds)

    def _run_auth(
        self, now: dt.datetime
    ) -> tuple[CheckStatus, dict[str, Any], list[Observation], list[Notice]]:
        report = self._auth().monitor(renew=False, as_of=now)
        seen = []
        if report.action_due:
            severity = "critical" if report.status is CheckStatus.CRITICAL else "warning"
            seen.append(
                Observation(
                    key=f"auth.monitor|{report.decision.value}",
                    source="auth",
                    rule="auth.monitor",
                    severity=severity,
                    message=f"{report.decision.value}: {'; '.join(report.reasons)}",
                )
            )
        return report.status, report.to_json(), seen, []

    def _run_probe(
        self, job: Job
    ) -> tuple[CheckStatus, dict[str, Any], list[Observation] | None, list[Notice]]:
        target = next((t for t in self.targets() if t.url == job.target), None)
        if target is None:  # removed since the round began
            return CheckStatus.UNKNOWN, {"error": "target removed"}, None, []
        answer = run_worker(
            {
                "op": "probe",
                "target": {
                    "url": target.url,
                    "ca_file": target.ca_file,
                    "sni": target.sni,
                    "timeout": target.timeout,
                },
            },
            timeout=max(60.0, target.timeout * 20),
        )
        status = CheckStatus(int(answer.get("status", CheckStatus.UNKNOWN)))
        if "targets" not in answer:  # the prober could not judge
            return status, {"error": answer.get("error")}, None, []
        seen = []
        for judged in answer["targets"]:
            judged_status = CheckStatus(int(judged["status"]))
            if judged_status in (CheckStatus.WARNING, CheckStatus.CRITICAL):
                report = judged["report"]
                name = report.get("target") or report.get("domain") or target.url
                seen.append(
                    Observation(
                        key=f"probe|{name}",
                        source=job.name,
                        rule="probe.endpoint",
                        severity="critical" if judged_status is CheckStatus.CRITICAL else "warning",
                        message=f"{name}: " + ("; ".join(judged["reasons"]) or judged_status.name),
                    )
                )
        return status, answer, seen, []

    def _prune(self, now: dt.datetime) -> None:
        with self._store.transaction() as repo:
            retention = self.schedule.retention
            drop = runs_to_drop(repo.job_run_index(), retention, now)
            if drop:
                repo.delete_job_runs(drop)
            repo.delete_resolved_findings(now - retention.max_age)
            repo.delete_sent_notices(now - retention.max_age)

    # -- loops -----------------------------------------------------------------------------
    def seconds_to_next(self, now: dt.datetime | None = None) -> float:
        now = now or self._clock.now()
        with self._store.reading() as repo:
            last = repo.last_job_starts()
        wake = next_wakeup(self.jobs(), last, now)
        if wake is None:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (wake - now).total_seconds()))

    def run_loop(
        self, stop: threading.Event, *, on_run: Callable[[JobRun], None] | None = None
    ) -> None:
        """Run due jobs until ``stop`` is set (``certward watch``)."""
        try:
            while not stop.is_set():
                for run in self._round():
                    if on_run is not None:
                        on_run(run)
                stop.wait(self._wait())
        finally:
            self._release()

    async def run_forever(
        self, stop: asyncio.Event, *, on_run: Callable[[JobRun], None] | None = None
    ) -> None:
        """Run due jobs until ``stop`` is set, inside an asyncio loop (the web service):
        each round in a worker thread, the loop free meanwhile."""
        try:
            while not stop.is_set():
                runs = await asyncio.to_thread(self._round)
                for run in runs:
                    if on_run is not None:
                        on_run(run)
                wait = await asyncio.to_thread(self._wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            await asyncio.to_thread(self._release)

    def _round(self) -> Sequence[JobRun]:
        try:
            return self.run_due()
        except CertwardError as exc:  # the store unreadable for a moment: try again later
            log.warning("scheduled round failed: %s", exc.message)
            return []

    def _release(self) -> None:
        try:
            self.release_lease()
        except CertwardError as exc:
            log.warning("scheduler lease not released: %s", exc.message)

    def _wait(self) -> float:
        try:
            return max(0.5, self.seconds_to_next())
        except CertwardError:
            return MAX_SLEEP
