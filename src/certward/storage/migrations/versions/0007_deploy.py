"""Deployments of certificates to Linux daemons and their results (issue 15).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=253), nullable=True),
        sa.Column("cert_path", sa.Text(), nullable=False),
        sa.Column("key_path", sa.Text(), nullable=True),
        sa.Column("chain_path", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("group_name", sa.String(length=64), nullable=True),
        sa.Column("key_mode", sa.Integer(), nullable=False),
        sa.Column("cert_mode", sa.Integer(), nullable=False),
        sa.Column("reload", sa.Text(), nullable=False),
        sa.Column("verify", sa.String(length=512), nullable=False),
        sa.Column("sni", sa.String(length=253), nullable=True),
        sa.Column("wait", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_deployments_server", "deployments", ["server"])
    op.create_index("ix_deployments_host", "deployments", ["host"])
    op.create_table(
        "deploy_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("deployed", sa.String(length=40), nullable=True),
        sa.Column("served", sa.String(length=40), nullable=True),
        sa.Column("previous", sa.String(length=40), nullable=True),
        sa.Column("rolled_back", sa.Boolean(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=260), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deploy_results_deployment_at", "deploy_results", ["deployment", "at"])


def downgrade() -> None:
    op.drop_index("ix_deploy_results_deployment_at", table_name="deploy_results")
    op.drop_table("deploy_results")
    op.drop_index("ix_deployments_host", table_name="deployments")
    op.drop_index("ix_deployments_server", table_name="deployments")
    op.drop_table("deployments")
