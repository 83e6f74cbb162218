"""Each store's certificates in the order they were stored, thumbprints included: an index
on ``certificates (server_id, store, id, thumbprint)``, so that health reads the Root and CA
stores of every server (300,000 rows at 1,000 servers) from the index alone, already in id
order, instead of reading each row's id to sort them (issue 16).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_certificates_store_order", "certificates", ["server_id", "store", "id", "thumbprint"]
    )


def downgrade() -> None:
    op.drop_index("ix_certificates_store_order", table_name="certificates")
