"""Certificates' recorded facts: one row per thumbprint of what the certificate says about
itself, so that health and store listings need not parse it again (issue 16).

The certificates already stored (and the published ones) are read once here and their facts
recorded; a certificate that cannot be read gets no row, so that its readers still give its
coded error.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

_BATCH = 500


def upgrade() -> None:
    facts = op.create_table(
        "certificate_facts",
        sa.Column("thumbprint", sa.String(length=40), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("subject", sa.LargeBinary(), nullable=False),
        sa.Column("issuer", sa.LargeBinary(), nullable=False),
        sa.Column("subject_text", sa.Text(), nullable=False),
        sa.Column("issuer_text", sa.Text(), nullable=False),
        sa.Column("common_name", sa.Text(), nullable=True),
        sa.Column("dns_names", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("self_signed", sa.Boolean(), nullable=False),
        sa.Column("is_ca", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("key_size", sa.Integer(), nullable=False),
        sa.Column("signature_algorithm", sa.String(length=128), nullable=False),
        sa.Column("serial_number", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("thumbprint"),
    )
    assert facts is not None
    _backfill(facts)


def _backfill(facts: sa.Table) -> None:
    """The facts of every readable certificate stored so far, each thumbprint once."""
    from certward.model.certfacts import FACTS_FORMAT
    from certward.pki.profile import certificate_facts

    bind = op.get_bind()
    seen: set[str] = set()
    rows: list[dict[str, object]] = []
    for table in ("certificates", "published_certificates"):
        found = bind.execute(
            sa.text(f"SELECT thumbprint, der FROM {table} WHERE der IS NOT NULL")  # noqa: S608
        )
        for thumbprint, der in found:
            if thumbprint in seen:
                continue
            seen.add(thumbprint)
            try:
                made = certificate_facts(bytes(der))
            except Exception:  # noqa: S112 - damaged: its readers say so, as before
                continue
            if made.thumbprint != thumbprint:  # not the certificate its row names
                continue
            rows.append(
                {
                    "thumbprint": made.thumbprint,
                    "format": FACTS_FORMAT,
                    "subject": made.subject,
                    "issuer": made.issuer,
                    "subject_text": made.subject_text,
                    "issuer_text": made.issuer_text,
                    "common_name": made.common_name,
                    "dns_names": json.dumps(list(made.dns_names)),
                    "not_before": made.not_before,
                    "not_after": made.not_after,
                    "self_signed": made.self_signed,
                    "is_ca": made.is_ca,
                    "version": made.version,
                    "key_type": made.key_type,
                    "key_size": made.key_size,
                    "signature_algorithm": made.signature_algorithm,
                    "serial_number": made.serial_number,
                }
            )
            if len(rows) >= _BATCH:
                bind.execute(facts.insert(), rows)
                rows = []
    if rows:
        bind.execute(facts.insert(), rows)


def downgrade() -> None:
    op.drop_table("certificate_facts")
