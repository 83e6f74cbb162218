"""Watching without being asked (issue 14): jobs on a timer, their runs, the findings they
saw over time, and the notifications they send.

Everything here is pure: what is due at ``now``, how findings changed between two runs,
which expiry thresholds a certificate has crossed, which runs the retention limit drops,
how long to wait before retrying a webhook. The service (``services/watch.py``) reads the
store, asks these functions, and acts.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from certward.model.checks import CheckStatus


class JobKind(enum.StrEnum):
    HEALTH = "health"  # the health rules over the organisation
    AUTH = "auth"  # the auth certificate monitor (MonitorExchangeAuthCertificate.ps1)
    PROBE = "probe"  # one configured probe target
    ACME = "acme"  # ACME renewal of due certificates (issue 15), when any is kept by ACME
    DEPLOY = "deploy"  # this machine's deployments that are due (issue 15), when it has any


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """A URL the scheduler probes every ``every`` (``certward target add``)."""

    url: str
    every: dt.timedelta
    ca_file: str | None = None  # trust these roots instead of Mozilla's
    sni: str | None = None  # the server name to send and judge the certificate by
    timeout: float = 15.0
    target_id: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """Something the scheduler runs at an interval: health, the auth monitor, a target."""

    kind: JobKind
    every: dt.timedelta
    target: str | None = None  # the probe target's URL

    @property
    def name(self) -> str:
        return self.kind.value if self.target is None else f"{self.kind.value}:{self.target}"


@dataclass(frozen=True, slots=True)
class JobRun:
    """One run of a job: when, its verdict, and a JSON summary of what it found."""

    job: JobKind
    target: str | None
    started: dt.datetime
    finished: dt.datetime
    status: CheckStatus
    summary: Mapping[str, Any] = field(default_factory=dict)
    run_id: int | None = None

    @property
    def name(self) -> str:
        return self.job.value if self.target is None else f"{self.job.value}:{self.target}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "job": self.job.value,
            "target": self.target,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "status": self.status.name,
            "summary": dict(self.summary),
        }


SEVERITIES = ("info", "warning", "error", "critical")
"""Severity labels, least to most severe (health's; a probe's WARNING/CRITICAL map here)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """A finding as one run saw it: ``key`` identifies it across runs."""

    key: str
    source: str  # the job's name: "health", "auth", "probe:smtp://…"
    rule: str
    severity: str  # one of SEVERITIES
    message: str
    server: str | None = None
    thumbprint: str | None = None


@dataclass(frozen=True, slots=True)
class FindingHistory:
    """A finding over time: when it first appeared, when last seen, when it went away."""

    key: str
    source: str
    rule: str
    severity: str
    message: str
    server: str | None
    thumbprint: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved: dt.datetime | None = None

    @property
    def open(self) -> bool:
        return self.resolved is None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "source": self.source,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "server": self.server,
            "thumbprint": self.thumbprint,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "resolved": _iso(self.resolved),
        }


def severity_rank(label: str) -> int:
    return SEVERITIES.index(label) if label in SEVERITIES else 0


@dataclass(frozen=True, slots=True)
class FindingsChange:
    """How one run of a source changed its findings' history."""

    history: tuple[FindingHistory, ...]  # every row to write (new, seen again, resolved)
    new: tuple[FindingHistory, ...]
    worsened: tuple[FindingHistory, ...]
    resolved: tuple[FindingHistory, ...]


def track_findings(
    source: str,
    previous: Iterable[FindingHistory],
    seen: Iterable[Observation],
    now: dt.datetime,
) -> FindingsChange:
    """Pure: the history of ``source``'s findings after a run that saw ``seen`` at ``now``.

    A finding seen again keeps its first-seen time; one open before and not seen now is
    resolved; one seen after it was resolved opens again as new (first seen now)."""
    before = {h.key: h for h in previous if h.source == source}
    rows: list[FindingHistory] = []
    new: list[FindingHistory] = []
    worse: list[FindingHistory] = []
    current = {o.key: o for o in seen}
    for key, o in current.items():
        old = before.get(key)
        if old is None or not old.open:
            row = FindingHistory(
                key,
                source,
                o.rule,
                o.severity,
                o.message,
                o.server,
                o.thumbprint,
                first_seen=now,
                last_seen=now,
            )
            new.append(row)
        else:
            row = FindingHistory(
                key,
                source,
                o.rule,
                o.severity,
                o.message,
                o.server,
                o.thumbprint,
                first_seen=old.first_seen,
                last_seen=now,
            )
            if severity_rank(o.severity) > severity_rank(old.severity):
                worse.append(row)
        rows.append(row)
    resolved = [
        FindingHistory(
            h.key,
            h.source,
            h.rule,
            h.severity,
            h.message,
            h.server,
            h.thumbprint,
            h.first_seen,
            h.last_seen,
            resolved=now,
        )
        for key, h in before.items()
        if key not in current and h.open
    ]
    rows.extend(resolved)
    return FindingsChange(tuple(rows), tuple(new), tuple(worse), tuple(resolved))


# -- scheduling ----------------------------------------------------------------------------

_EVERY = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_EVERY = dt.timedelta(seconds=1)


def parse_every(text: str) -> dt.timedelta:
    """``30s``, ``15m``, ``1h``, ``1d``, ``1w`` as a timedelta; ValueError names the text."""
    found = _EVERY.match(text)
    if found is None:
        raise ValueError(f"interval {text!r} is not a number and a unit (s, m, h, d, w)")
    every = dt.timedelta(seconds=int(found.group(1)) * _UNIT[found.group(2).lower()])
    if every < MIN_EVERY:
        raise ValueError(f"interval {text!r} is shorter than one second")
    return every


def format_every(every: dt.timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT[unit] == 0:
            return f"{seconds // _UNIT[unit]}{unit}"
    return f"{seconds}s"


def due_at(job: Job, last_started: dt.datetime | None) -> dt.datetime | None:
    """When ``job`` is next due: None when it never ran (due at once)."""
    return None if last_started is None else last_started + job.every


def due_jobs(
    jobs: Sequence[Job], last_started: Mapping[str, dt.datetime], now: dt.datetime
) -> list[Job]:
    """Pure: the jobs due at ``now``, longest overdue first (never-run jobs first)."""
    due: list[tuple[dt.datetime, int, Job]] = []
    for index, job in enumerate(jobs):
        at = due_at(job, last_started.get(job.name))
        if at is None or at <= now:
            due.append((at or dt.datetime.min.replace(tzinfo=dt.UTC), index, job))
    return [job for _, _, job in sorted(due, key=lambda d: (d[0], d[1]))]


def next_wakeup(
    jobs: Sequence[Job], last_started: Mapping[str, dt.datetime], now: dt.datetime
) -> dt.datetime | None:
    """Pure: the earliest instant a job is due (``now`` if one is due already)."""
    times = [due_at(job, last_started.get(job.name)) or now for job in jobs]
    return max(now, min(times)) if times else None


# -- retention -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retention:
    """How many runs of each job are kept, and for how long."""

    runs_per_job: int = 500
    max_age: dt.timedelta = dt.timedelta(days=90)


def runs_to_drop(
    runs: Iterable[tuple[int, str, dt.datetime]], retention: Retention, now: dt.datetime
) -> list[int]:
    """Pure: the ids of runs (id, job name, started) beyond the retention limit: older
    than ``max_age``, or more than ``runs_per_job`` newer ones of the same job."""
    by_job: dict[str, list[tuple[dt.datetime, int]]] = {}
    for run_id, name, started in runs:
        by_job.setdefault(name, []).append((started, run_id))
    drop: list[int] = []
    for entries in by_job.values():
        entries.sort(reverse=True)
        for position, (started, run_id) in enumerate(entries):
            if position >= retention.runs_per_job or now - started > retention.max_age:
                drop.append(run_id)
    return sorted(drop)


# -- notifications -------------------------------------------------------------------------

DEFAULT_THRESHOLDS: tuple[int, ...] = (60, 30, 14, 7, 1)
"""Days before expiry at which a certificate in use is announced."""


class ChannelKind(enum.StrEnum):
    SMTP = "smtp"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class NotifyChannel:
    """Where notifications go. ``settings`` hold no secret: ``secret`` names where the
    secret is (``env:NAME`` or ``file:PATH``: the SMTP password, the webhook's HMAC key)."""

    name: str
    kind: ChannelKind
    settings: Mapping[str, Any]
    secret: str | None = None
    digest: bool = False  # collect notices and send one message a day
    min_severity: str = "warning"
    last_digest: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "settings": dict(self.settings),
            "secret": self.secret,  # where the secret is, never the secret
            "digest": self.digest,
            "min_severity": self.min_severity,
            "last_digest": _iso(self.last_digest),
        }


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell people; ``key`` deduplicates it per channel."""

    key: str
    event: str  # "finding.new", "finding.worsened", "certificate.expiring", "test"
    severity: str
    subject: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "event": self.event,
            "severity": self.severity,
            "subject": self.subject,
            "text": self.text,
            "data": dict(self.data),
        }


def finding_notices(change: FindingsChange) -> list[Notice]:
    """Pure: a notice per new or worsened finding; keyed by the finding, its severity and
    when it first appeared, so a finding is announced once per severity per appearance."""
    notices = []
    for event, rows in (("finding.new", change.new), ("finding.worsened", change.worsened)):
        for h in rows:
            where = f" on {h.server}" if h.server else ""
            notices.append(
                Notice(
                    key=f"finding:{h.key}:{h.severity}:{_iso(h.first_seen)}",
                    event=event,
                    severity=h.severity,
                    subject=f"[certward] {h.severity}: {h.rule}{where}",
                    text=f"{h.message} (first seen {_iso(h.first_seen)})",
                    data=h.to_json(),
                )
            )
    return notices


@dataclass(frozen=True, slots=True)
class CertificateInUse:
    server: str
    thumbprint: str
    subject: str
    services: str
    not_after: dt.datetime


def expiry_notices(
    certificates: Iterable[CertificateInUse],
    now: dt.datetime,
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
) -> list[Notice]:
    """Pure: a notice per certificate in use at the smallest threshold it has crossed
    (60, 30, 14, 7, 1 days by default; 0: expired), keyed so each is sent once."""
    notices = []
    for c in certificates:
        left = c.not_after - now
        days = left.days  # floor: 29 days 23 hours is inside the 30-day threshold
        crossed = [t for t in sorted(thresholds) if left <= dt.timedelta(days=t)]
        if left <= dt.timedelta(0):
            mark, severity = 0, "critical"
            said = f"expired on {c.not_after:%Y-%m-%d}"
        elif crossed:
            mark = crossed[0]
            severity = "critical" if mark <= 7 else "warning"
            said = f"expires on {c.not_after:%Y-%m-%d} ({days} days left)"
        else:
            continue
        notices.append(
            Notice(
                key=f"expiry:{c.server}:{c.thumbprint}:{mark}",
                event="certificate.expiring",
                severity=severity,
                subject=f"[certward] certificate {c.subject} on {c.server} {said}",
                text=f"The certificate {c.thumbprint} ({c.subject}) on {c.server}, used for "
                f"{c.services or 'no service'}, {said}.",
                data={
                    "server": c.server,
                    "thumbprint": c.thumbprint,
                    "subject": c.subject,
                    "services": c.services,
                    "not_after": _iso(c.not_after),
                    "threshold_days": mark,
                },
            )
        )
    return notices


def wanted_by(channel: NotifyChannel, notice: Notice) -> bool:
    return notice.event == "test" or severity_rank(notice.severity) >= severity_rank(
        channel.min_severity
    )


DIGEST_EVERY = dt.timedelta(days=1)


def digest_due(channel: NotifyChannel, pending: int, now: dt.datetime) -> bool:
    """Pure: a digest channel sends when it has something and a day has passed since its
    last digest (or it never sent one)."""
    if not channel.digest or pending == 0:
        return False
    return channel.last_digest is None or now - channel.last_digest >= DIGEST_EVERY


def digest_notice(notices: Sequence[Notice], now: dt.datetime) -> Notice:
    worst = max((n.severity for n in notices), key=severity_rank, default="info")
    lines = [f"- [{n.severity}] {n.subject.removeprefix('[certward] ')}" for n in notices]
    return Notice(
        key=f"digest:{_iso(now)}",
        event="digest",
        severity=worst,
        subject=f"[certward] daily digest: {len(notices)} notices",
        text="\n".join(lines),
        data={"notices": [n.to_json() for n in notices]},
    )


@dataclass(frozen=True, slots=True)
class Backoff:
    """Webhook retries: ``attempts`` tries, waiting ``base`` × 2ⁿ (at most ``cap``)
    between them, or what the receiver's ``Retry-After`` asks (at most ``cap``)."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 300.0


def retry_delay(
    backoff: Backoff, attempt: int, retry_after: str | None, now: dt.datetime
) -> float | None:
    """Pure: seconds to wait after failed attempt ``attempt`` (1-based), or None when no
    attempt is left. ``Retry-After`` is seconds or an HTTP date."""
    if attempt >= backoff.attempts:
        return None
    delay: float = backoff.base * 2.0 ** (attempt - 1)
    if retry_after:
        asked = _retry_after_seconds(retry_after.strip(), now)
        if asked is not None:
            delay = asked
    return max(0.0, min(delay, backoff.cap))


def _retry_after_seconds(value: str, now: dt.datetime) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, float((when - now).total_seconds()))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
