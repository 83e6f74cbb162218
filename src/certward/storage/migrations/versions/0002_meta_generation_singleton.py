"""The meta table, the generation counter, and at most one organisation.

``meta`` holds named values about the store (e.g. a master-key check value);
``generation`` is one row that every changing transaction locks and counts up.
``organisations.singleton`` is 1 on the organisation and unique, so a second organisation
is refused by the database. A database that two racing ``org init`` left with two keeps
both rows; the later ones get NULL (unique indexes allow many NULLs) and stay unread, as
they were before.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    generation = op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])
    op.add_column("organisations", sa.Column("singleton", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE organisations SET singleton = 1 WHERE id = (SELECT MIN(id) FROM organisations)"
    )
    op.create_index("uq_organisations_singleton", "organisations", ["singleton"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_organisations_singleton", table_name="organisations")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("singleton")
    op.drop_table("generation")
    op.drop_table("meta")
