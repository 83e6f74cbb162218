"""Baseline: the schema of certward 0.1 (commit 3ec2978), the last release without Alembic.

A database made before Alembic has certward's tables but no ``alembic_version``. Releases
then created the tables with ``create_all`` and added columns introduced later with
``ALTER TABLE ... ADD COLUMN`` (nullable, or NOT NULL with the column's scalar default).
This revision does the same once more, so every such database, however old, reaches the
baseline; on an empty database it creates the tables.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _baseline(metadata: sa.MetaData) -> None:
    sa.Table(
        "accepted_domains",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain"),
    )
    sa.Table(
        "connectors",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("servers", sa.Text(), nullable=False),
        sa.Column("fqdn", sa.String(length=253), nullable=True),
        sa.Column("bindings", sa.Text(), default="", nullable=False),
        sa.Column("address_spaces", sa.Text(), default="", nullable=False),
        sa.Column("smart_hosts", sa.Text(), default="", nullable=False),
        sa.Column("auth_mechanism", sa.Integer(), default=0, nullable=False),
        sa.Column("require_tls", sa.Boolean(), default=False, nullable=False),
        sa.Column("tls_auth_level", sa.String(length=32), nullable=True),
        sa.Column("tls_domain", sa.String(length=253), nullable=True),
        sa.Column("domain_secure_enabled", sa.Boolean(), default=False, nullable=False),
        sa.Column("tls_certificate_name", sa.Text(), nullable=True),
        sa.Column("ignore_starttls", sa.Boolean(), default=False, nullable=False),
        sa.Column("cloud_services_mail_enabled", sa.Boolean(), default=False, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("identity_key"),
    )
    sa.Table(
        "organisations",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("auth_thumbprint", sa.String(length=40), nullable=True),
        sa.Column("next_auth_thumbprint", sa.String(length=40), nullable=True),
        sa.Column("next_auth_effective", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_auth_thumbprint", sa.String(length=40), nullable=True),
        sa.Column("auth_service_name", sa.String(length=64), default="", nullable=False),
        sa.Column("auth_realm", sa.String(length=256), default="", nullable=False),
        sa.Column("tls_send_domain_secure_list", sa.Text(), default="", nullable=False),
        sa.Column("tls_receive_domain_secure_list", sa.Text(), default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Table(
        "published_certificates",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thumbprint", sa.String(length=40), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("encrypted_pkcs8", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thumbprint"),
    )
    sa.Table(
        "servers",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("fqdn", sa.String(length=253), nullable=False),
        sa.Column("roles", sa.String(length=256), default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("default_smtp_thumbprint", sa.String(length=40), nullable=True),
        sa.Column("tls_min_version", sa.String(length=4), default="1.2", nullable=False),
        sa.Column("tls_max_version", sa.String(length=4), default="1.3", nullable=False),
        sa.Column("send_trusted_issuer_list", sa.Boolean(), nullable=True),
        sa.Column("observed", sa.Boolean(), default=False, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name_key"),
    )
    sa.Table(
        "certificates",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=8), nullable=False),
        sa.Column("thumbprint", sa.String(length=40), nullable=False, index=True),
        sa.Column("der", sa.LargeBinary(), nullable=True),
        sa.Column("csr_der", sa.LargeBinary(), nullable=True),
        sa.Column("spki_sha1", sa.String(length=40), nullable=True, index=True),
        sa.Column("services", sa.Integer(), default=0, nullable=False),
        sa.Column("friendly_name", sa.String(length=256), default="", nullable=False),
        sa.Column("exportable", sa.Boolean(), default=False, nullable=False),
        sa.Column("key_provider", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "store", "thumbprint"),
    )
    sa.Table(
        "edge_subscriptions",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edge_thumbprint", sa.String(length=40), nullable=False),
        sa.Column("edge_der", sa.LargeBinary(), nullable=False),
        sa.Column("hub_certificates", sa.Text(), default="", nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_ok", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id"),
    )
    sa.Table(
        "mailboxes",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    sa.Table(
        "observed_certificates",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=8), nullable=False),
        sa.Column("thumbprint", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dns_names", sa.Text(), default="", nullable=False),
        sa.Column("services", sa.Integer(), default=0, nullable=False),
        sa.Column("has_private_key", sa.Boolean(), default=False, nullable=False),
        sa.Column("key_provider", sa.String(length=256), nullable=True),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("signature_algorithm", sa.String(length=64), nullable=True),
        sa.Column("serial_number", sa.String(length=128), default="", nullable=False),
        sa.Column("friendly_name", sa.String(length=256), default="", nullable=False),
        sa.Column("source", sa.String(length=256), default="", nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "store", "thumbprint"),
    )
    sa.Table(
        "virtual_directories",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("internal_url", sa.Text(), nullable=True),
        sa.Column("external_url", sa.Text(), nullable=True),
        sa.Column("require_ssl", sa.Boolean(), default=True, nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "name"),
    )
    sa.Table(
        "private_keys",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("encrypted_pkcs8", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    metadata = sa.MetaData()
    _baseline(metadata)
    metadata.create_all(bind, checkfirst=True)
    present = sa.inspect(bind).get_multi_columns()
    for table in metadata.sorted_tables:
        names = {c["name"] for c in present.get((None, table.name), [])}
        for column in table.columns:
            if column.name not in names:
                op.execute(_add_column_clause(bind.dialect, table.name, column))


def _add_column_clause(dialect: sa.Dialect, table: str, column: sa.Column[object]) -> str:
    clause = f'ALTER TABLE {table} ADD COLUMN "{column.name}" {column.type.compile(dialect)}'
    default = getattr(column.default, "arg", None)
    if isinstance(default, bool):
        clause += f" NOT NULL DEFAULT {'TRUE' if default else 'FALSE'}"
    elif isinstance(default, int | str):
        clause += f" NOT NULL DEFAULT {default!r}"
    return clause


def downgrade() -> None:
    metadata = sa.MetaData()
    _baseline(metadata)
    metadata.drop_all(op.get_bind())
