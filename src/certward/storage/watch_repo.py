"""The repository's reads and writes for the scheduler and notifications (a mixin of
:class:`certward.storage.repository.Repository`, in the same transaction)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certward.codes.watch import (
    WATCH_CHANNEL_EXISTS,
    WATCH_CHANNEL_NOT_FOUND,
    WATCH_TARGET_EXISTS,
    WATCH_TARGET_NOT_FOUND,
)
from certward.model.checks import CheckStatus
from certward.model.watch import (
    ChannelKind,
    FindingHistory,
    JobKind,
    JobRun,
    Notice,
    NotifyChannel,
    ProbeTarget,
)
from certward.storage import audit_capture
from certward.storage.schema_watch import (
    FindingHistoryRow,
    JobRunRow,
    NotifyChannelRow,
    NotifyOutboxRow,
    WatchTargetRow,
)

# Targets and channels are configuration, audited; runs, the findings' history and the
# outbox are the scheduler's own records (every run would otherwise be an audit entry).
audit_capture.register_kind("watch_targets", "probe target", lambda _s, row: str(row.url))
audit_capture.register_kind(
    "notify_channels", "notification channel", lambda _s, row: str(row.name)
)
audit_capture.SKIPPED_TABLES.update({"job_runs", "finding_history", "notify_outbox"})
audit_capture.IGNORED_COLUMNS.add("last_digest")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _utc_or_none(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _utc(value)


class WatchRepository:
    """Probe targets, job runs, findings' history, channels and the outbox."""

    _session: Session

    # -- targets ---------------------------------------------------------------------------
    def watch_targets(self) -> list[ProbeTarget]:
        rows = self._session.scalars(select(WatchTargetRow).order_by(WatchTargetRow.id))
        return [_target(row) for row in rows]

    def add_watch_target(self, target: ProbeTarget) -> ProbeTarget:
        if self._target_row(target.url) is not None:
            raise WATCH_TARGET_EXISTS(f"target {target.url} is already watched", url=target.url)
        row = WatchTargetRow(
            url=target.url,
            every_seconds=int(target.every.total_seconds()),
            ca_file=target.ca_file,
            sni=target.sni,
            timeout=target.timeout,
        )
        self._session.add(row)
        self._session.flush()
        return _target(row)

    def remove_watch_target(self, which: str) -> ProbeTarget:
        row = self._target_row(which)
        if row is None and which.isdigit():
            row = self._session.get(WatchTargetRow, int(which))
        if row is None:
            raise WATCH_TARGET_NOT_FOUND(f"no probe target {which!r}", target=which)
        target = _target(row)
        self._session.delete(row)
        self._session.flush()
        return target

    def _target_row(self, url: str) -> WatchTargetRow | None:
        return self._session.scalars(
            select(WatchTargetRow).where(WatchTargetRow.url == url)
        ).first()

    # -- runs ------------------------------------------------------------------------------
    def add_job_run(self, run: JobRun) -> JobRun:
        row = JobRunRow(
            name=run.name,
            job=run.job.value,
            target=run.target,
            started=run.started,
            finished=run.finished,
            status=int(run.status),
            summary=json.dumps(dict(run.summary), sort_keys=True, default=str),
        )
        self._session.add(row)
        self._session.flush()
        return _run(row)

    def job_runs(
        self, *, job: JobKind | None = None, target: str | None = None, limit: int = 100
    ) -> list[JobRun]:
        query = select(JobRunRow)
        if job is not None:
            query = query.where(JobRunRow.job == job.value)
        if target is not None:
            query = query.where(JobRunRow.target == target)
        query = query.order_by(JobRunRow.started.desc(), JobRunRow.id.desc()).limit(limit)
        return [_run(row) for row in self._session.scalars(query)]

    def last_job_starts(self) -> dict[str, dt.datetime]:
        """The last start of each job, by its name."""
        rows = self._session.execute(
            select(JobRunRow.name, func.max(JobRunRow.started)).group_by(JobRunRow.name)
        )
        return {name: _utc(started) for name, started in rows}

    def last_success(self, name: str) -> dt.datetime | None:
        """When the job ``name`` last ran to a verdict (any status but UNKNOWN: a health
        run that finds critical findings ran successfully; one that could not read the
        store did not)."""
        value = self._session.scalar(
            select(func.max(JobRunRow.finished)).where(
                JobRunRow.name == name, JobRunRow.status != int(CheckStatus.UNKNOWN)
            )
        )
        return _utc_or_none(value)

    def job_run_index(self) -> list[tuple[int, str, dt.datetime]]:
        rows = self._session.execute(select(JobRunRow.id, JobRunRow.name, JobRunRow.started))
        return [(run_id, name, _utc(started)) for run_id, name, started in rows]

    def delete_job_runs(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            self._session.execute(delete(JobRunRow).where(JobRunRow.id.in_(chunk)))
        self._session.flush()

    # -- findings' history -----------------------------------------------------------------
    def finding_history(
        self, *, source: str | None = None, open_only: bool = False, limit: int | None = None
    ) -> list[FindingHistory]:
        query = select(FindingHistoryRow)
        if source is not None:
            query = query.where(FindingHistoryRow.source == source)
        if open_only:
            query = query.where(FindingHistoryRow.resolved.is_(None))
        query = query.order_by(FindingHistoryRow.first_seen.desc(), FindingHistoryRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [_history(row) for row in self._session.scalars(query)]

    def save_finding_history(self, rows: Iterable[FindingHistory]) -> None:
        """Write each row: the open row of its (source, key) is updated, else one added."""
        rows = list(rows)
        open_rows: dict[tuple[str, str], FindingHistoryRow] = {}
        for source in {h.source for h in rows}:  # one query per source, not per finding
            for found in self._session.scalars(
                select(FindingHistoryRow).where(
                    FindingHistoryRow.source == source, FindingHistoryRow.resolved.is_(None)
                )
            ):
                open_rows[(found.source, found.key)] = found
        for h in rows:
            row = open_rows.get((h.source, h.key))
            if row is None or _utc(row.first_seen) != h.first_seen:
                row = FindingHistoryRow(key=h.key, source=h.source)
                self._session.add(row)
            row.rule = h.rule
            row.severity = h.severity
            row.message = h.message
            row.server = h.server
            row.thumbprint = h.thumbprint
            row.first_seen = h.first_seen
            row.last_seen = h.last_seen
            row.resolved = h.resolved
        self._session.flush()

    def delete_resolved_findings(self, before: dt.datetime) -> int:
        """Forget findings resolved before ``before`` (the retention limit)."""
        result = self._session.execute(
            delete(FindingHistoryRow).where(FindingHistoryRow.resolved < before)
        )
        self._session.flush()
        return int(getattr(result, "rowcount", 0) or 0)

    # -- channels --------------------------------------------------------------------------
    def notify_channels(self) -> list[NotifyChannel]:
        rows = self._session.scalars(select(NotifyChannelRow).order_by(NotifyChannelRow.name))
        return [_channel(row) for row in rows]

    def notify_channel(self, name: str) -> NotifyChannel:
        return _channel(self._channel_row(name))

    def add_notify_channel(self, channel: NotifyChannel) -> None:
        if self._find_channel_row(channel.name) is not None:
            raise WATCH_CHANNEL_EXISTS(f"channel {channel.name!r} exists", channel=channel.name)
        self._session.add(
            NotifyChannelRow(
                name=channel.name,
                kind=channel.kind.value,
                settings=json.dumps(dict(channel.settings), sort_keys=True),
                secret=channel.secret,
                digest=channel.digest,
                min_severity=channel.min_severity,
            )
        )
        self._session.flush()

    def remove_notify_channel(self, name: str) -> None:
        self._session.delete(self._channel_row(name))
        self._session.execute(delete(NotifyOutboxRow).where(NotifyOutboxRow.channel == name))
        self._session.flush()

    def set_channel_digest_sent(self, name: str, at: dt.datetime) -> None:
        self._channel_row(name).last_digest = at
        self._session.flush()

    def _find_channel_row(self, name: str) -> NotifyChannelRow | None:
        return self._session.scalars(
            select(NotifyChannelRow).where(NotifyChannelRow.name == name)
        ).first()

    def _channel_row(self, name: str) -> NotifyChannelRow:
        row = self._find_channel_row(name)
        if row is None:
            raise WATCH_CHANNEL_NOT_FOUND(f"no notification channel {name!r}", channel=name)
        return row

    # -- outbox ----------------------------------------------------------------------------
    def queue_notice(self, channel: str, notice: Notice, now: dt.datetime) -> bool:
        """Queue ``notice`` for ``channel`` unless its key was queued before (dedup)."""
        exists = self._session.scalar(
            select(NotifyOutboxRow.id).where(
                NotifyOutboxRow.channel == channel, NotifyOutboxRow.key == notice.key
            )
        )
        if exists is not None:
            return False
        self._session.add(
            NotifyOutboxRow(
                channel=channel,
                key=notice.key,
                notice=json.dumps(notice.to_json(), sort_keys=True),
                created=now,
                attempts=0,
            )
        )
        self._session.flush()
        return True

    def pending_notices(self, channel: str) -> list[tuple[int, Notice]]:
        rows = self._session.scalars(
            select(NotifyOutboxRow)
            .where(NotifyOutboxRow.channel == channel, NotifyOutboxRow.sent.is_(None))
            .order_by(NotifyOutboxRow.id)
        )
        return [(row.id, _notice(row.notice)) for row in rows]

    def mark_notices(
        self, ids: Sequence[int], *, sent: dt.datetime | None, error: str | None = None
    ) -> None:
        for row_id in ids:
            row = self._session.get(NotifyOutboxRow, row_id)
            if row is None:
                continue
            row.attempts += 1
            row.sent = sent
            row.error = error
        self._session.flush()

    def delete_sent_notices(self, before: dt.datetime) -> int:
        """Forget notices sent before ``before``. A finding's notice is keyed by when it
        first appeared, and the expiry thresholds (60 days at most) pass sooner than the
        retention, so forgetting them sends nothing twice."""
        result = self._session.execute(delete(NotifyOutboxRow).where(NotifyOutboxRow.sent < before))
        self._session.flush()
        return int(getattr(result, "rowcount", 0) or 0)

    def sent_notices(self, channel: str | None = None) -> list[tuple[str, Notice, dt.datetime]]:
        query = select(NotifyOutboxRow).where(NotifyOutboxRow.sent.is_not(None))
        if channel is not None:
            query = query.where(NotifyOutboxRow.channel == channel)
        rows = self._session.scalars(query.order_by(NotifyOutboxRow.id))
        return [(row.channel, _notice(row.notice), _utc(row.sent)) for row in rows if row.sent]


def _target(row: WatchTargetRow) -> ProbeTarget:
    return ProbeTarget(
        url=row.url,
        every=dt.timedelta(seconds=row.every_seconds),
        ca_file=row.ca_file,
        sni=row.sni,
        timeout=row.timeout,
        target_id=row.id,
    )


def _run(row: JobRunRow) -> JobRun:
    return JobRun(
        job=JobKind(row.job),
        target=row.target,
        started=_utc(row.started),
        finished=_utc(row.finished),
        status=CheckStatus(row.status),
        summary=json.loads(row.summary or "{}"),
        run_id=row.id,
    )


def _history(row: FindingHistoryRow) -> FindingHistory:
    return FindingHistory(
        key=row.key,
        source=row.source,
        rule=row.rule,
        severity=row.severity,
        message=row.message,
        server=row.server,
        thumbprint=row.thumbprint,
        first_seen=_utc(row.first_seen),
        last_seen=_utc(row.last_seen),
        resolved=_utc_or_none(row.resolved),
    )


def _channel(row: NotifyChannelRow) -> NotifyChannel:
    return NotifyChannel(
        name=row.name,
        kind=ChannelKind(row.kind),
        settings=json.loads(row.settings or "{}"),
        secret=row.secret,
        digest=bool(row.digest),
        min_severity=row.min_severity,
        last_digest=_utc_or_none(row.last_digest),
    )


def _notice(text: str) -> Notice:
    data = json.loads(text)
    return Notice(
        key=data["key"],
        event=data["event"],
        severity=data["severity"],
        subject=data["subject"],
        text=data["text"],
        data=data.get("data", {}),
    )
