"""Tables of the scheduler and the notifications (issue 14; revision 0005)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certward.storage.schema import Base


class WatchTargetRow(Base):
    __tablename__ = "watch_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(512), unique=True)
    every_seconds: Mapped[int] = mapped_column(Integer)
    ca_file: Mapped[str | None] = mapped_column(Text)
    sni: Mapped[str | None] = mapped_column(String(253))
    timeout: Mapped[float] = mapped_column(Float, default=15.0)


class JobRunRow(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_name_started", "name", "started"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(600))  # "health", "probe:smtp://…"
    job: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(512))
    started: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON


class FindingHistoryRow(Base):
    __tablename__ = "finding_history"
    __table_args__ = (Index("ix_finding_history_source_key", "source", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(600))
    source: Mapped[str] = mapped_column(String(600))
    rule: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    server: Mapped[str | None] = mapped_column(String(64))
    thumbprint: Mapped[str | None] = mapped_column(String(40))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class NotifyChannelRow(Base):
    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    settings: Mapped[str] = mapped_column(Text, default="{}")  # JSON, no secret
    secret: Mapped[str | None] = mapped_column(Text)  # where the secret is: env:NAME, file:PATH
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    min_severity: Mapped[str] = mapped_column(String(16), default="warning")
    last_digest: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class NotifyOutboxRow(Base):
    """A notice for a channel: unique per (channel, key), which is the deduplication."""

    __tablename__ = "notify_outbox"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(700))
    notice: Mapped[str] = mapped_column(Text)  # JSON
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
