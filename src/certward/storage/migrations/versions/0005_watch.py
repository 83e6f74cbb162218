"""Watching (issue 14): probe targets, job runs, the findings' history, notification
channels and their outbox (the deduplication of notices and the digest's queue).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "watch_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("ca_file", sa.Text(), nullable=True),
        sa.Column("sni", sa.String(length=253), nullable=True),
        sa.Column("timeout", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=600), nullable=False),
        sa.Column("job", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        _when("started"),
        _when("finished"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_runs_name_started", "job_runs", ["name", "started"])
    op.create_table(
        "finding_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("source", sa.String(length=600), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=True),
        sa.Column("thumbprint", sa.String(length=40), nullable=True),
        _when("first_seen"),
        _when("last_seen"),
        _when("resolved", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_finding_history_source_key", "finding_history", ["source", "key"])
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        _when("last_digest", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=700), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        _when("created"),
        _when("sent", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "key"),
    )
    op.create_index("ix_notify_outbox_channel", "notify_outbox", ["channel"])


def downgrade() -> None:
    op.drop_index("ix_notify_outbox_channel", table_name="notify_outbox")
    op.drop_table("notify_outbox")
    op.drop_table("notify_channels")
    op.drop_index("ix_finding_history_source_key", table_name="finding_history")
    op.drop_table("finding_history")
    op.drop_index("ix_job_runs_name_started", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("watch_targets")
