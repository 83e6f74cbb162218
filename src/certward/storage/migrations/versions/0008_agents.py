"""Host agents: tokens bound to a host, agent check-ins and what their ports serve (issue 15).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_id"),
    )
    op.create_index("ix_agent_tokens_host", "agent_tokens", ["host"])
    op.create_table(
        "agent_checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_key", sa.String(length=253), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=False),
        sa.Column("token_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        _when("seen_at"),
        _when("reported_at", nullable=True),
        sa.Column("ports", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host_key"),
    )


def downgrade() -> None:
    op.drop_table("agent_checkins")
    op.drop_index("ix_agent_tokens_host", table_name="agent_tokens")
    op.drop_table("agent_tokens")
