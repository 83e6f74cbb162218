"""ACME accounts, orders and renewal state, and pending HTTP-01 challenges (issue 15).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("directory_url", sa.String(length=512), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("account_url", sa.String(length=512), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("encrypted_pkcs8", sa.LargeBinary(), nullable=False),
        sa.Column("eab_kid", sa.String(length=256), nullable=True),
        sa.Column("ca_bundle", sa.Text(), nullable=True),
        _when("created"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_url"),
    )
    op.create_index("ix_acme_accounts_directory_url", "acme_accounts", ["directory_url"])
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.Column("challenge", sa.String(length=16), nullable=False),
        sa.Column("solver_options", sa.Text(), nullable=False),
        sa.Column("thumbprint", sa.String(length=40), nullable=True),
        sa.Column("order_url", sa.Text(), nullable=True),
        sa.Column("key_size", sa.Integer(), nullable=False),
        sa.Column("exportable", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("last_attempt", nullable=True),
        _when("next_attempt", nullable=True),
        _when("retry_after", nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("error_problem", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_acme_orders_account_id", "acme_orders", ["account_id"])
    op.create_index("ix_acme_orders_thumbprint", "acme_orders", ["thumbprint"])
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("key_authorization", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        _when("created"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )


def downgrade() -> None:
    op.drop_table("acme_challenges")
    op.drop_index("ix_acme_orders_thumbprint", table_name="acme_orders")
    op.drop_index("ix_acme_orders_account_id", table_name="acme_orders")
    op.drop_table("acme_orders")
    op.drop_index("ix_acme_accounts_directory_url", table_name="acme_accounts")
    op.drop_table("acme_accounts")
