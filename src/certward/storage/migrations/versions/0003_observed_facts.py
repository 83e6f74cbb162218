"""What observed servers showed beyond their certificates (issue 13).

``observed_certificates`` gains what a real server's dumps tell about each certificate:
``archived`` (certutil's ``Archived!``: hidden from Exchange), ``exportable``, Exchange's
``status``, the public key's algorithm and, from CliXML's ``RawData``, the certificate's DER.
``observed_facts`` keeps, per observed server, which outputs its collection had and what
they showed (IIS bindings, SCHANNEL and .NET TLS settings) as one JSON document.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # plain ADD COLUMN (nullable, or NOT NULL with a default) works on SQLite and PostgreSQL
    table = "observed_certificates"
    op.add_column(
        table, sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(table, sa.Column("exportable", sa.Boolean(), nullable=True))
    op.add_column(table, sa.Column("status", sa.String(length=64), nullable=True))
    op.add_column(table, sa.Column("public_key_algorithm", sa.String(length=16), nullable=True))
    op.add_column(table, sa.Column("der", sa.LargeBinary(), nullable=True))
    op.create_table(
        "observed_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id"),
    )


def downgrade() -> None:
    op.drop_table("observed_facts")
    with op.batch_alter_table("observed_certificates") as batch:
        for column in ("der", "public_key_algorithm", "status", "exportable", "archived"):
            batch.drop_column(column)
