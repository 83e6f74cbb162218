"""SQLAlchemy 2 tables (SQLite by default, PostgreSQL by URL).

The database is made and upgraded by the Alembic revisions in ``migrations/versions``; a
change here needs a revision there (``tests/storage/test_migrations.py`` compares them).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class OrganisationRow(Base):
    __tablename__ = "organisations"
    # At most one organisation: ``singleton`` is always 1 and unique (revision 0002).
    __table_args__ = (Index("uq_organisations_singleton", "singleton", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    domain: Mapped[str | None] = mapped_column(String(253))
    auth_thumbprint: Mapped[str | None] = mapped_column(String(40))
    next_auth_thumbprint: Mapped[str | None] = mapped_column(String(40))
    next_auth_effective: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    previous_auth_thumbprint: Mapped[str | None] = mapped_column(String(40))
    auth_service_name: Mapped[str] = mapped_column(String(64), default="")
    auth_realm: Mapped[str] = mapped_column(String(256), default="")
    # comma-separated domains (no wildcards, so no commas inside)
    tls_send_domain_secure_list: Mapped[str] = mapped_column(Text, default="")
    tls_receive_domain_secure_list: Mapped[str] = mapped_column(Text, default="")
    singleton: Mapped[int | None] = mapped_column(Integer, default=1)


class ServerRow(Base):
    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)  # lower-case, for lookups
    fqdn: Mapped[str] = mapped_column(String(253))
    roles: Mapped[str] = mapped_column(String(256), default="")
    version: Mapped[int] = mapped_column(Integer)
    default_smtp_thumbprint: Mapped[str | None] = mapped_column(String(40))
    tls_min_version: Mapped[str] = mapped_column(String(4), default="1.2")
    tls_max_version: Mapped[str] = mapped_column(String(4), default="1.3")
    send_trusted_issuer_list: Mapped[bool | None] = mapped_column()
    observed: Mapped[bool] = mapped_column(default=False)

    certificates: Mapped[list[CertificateRow]] = relationship(
        back_populates="server", cascade="all, delete-orphan"
    )


class CertificateRow(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("server_id", "store", "thumbprint"),
        # A store's thumbprints in the order they were stored, from the index alone (health's
        # Root and CA stores: storage.sqlite_reads.STORE_ORDER; revision 0010).
        Index("ix_certificates_store_order", "server_id", "store", "id", "thumbprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    store: Mapped[str] = mapped_column(String(8))
    thumbprint: Mapped[str] = mapped_column(String(40), index=True)
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
    csr_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    spki_sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    services: Mapped[int] = mapped_column(Integer, default=0)
    friendly_name: Mapped[str] = mapped_column(String(256), default="")
    exportable: Mapped[bool] = mapped_column(default=False)
    key_provider: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    server: Mapped[ServerRow] = relationship(back_populates="certificates")
    private_key: Mapped[PrivateKeyRow | None] = relationship(
        back_populates="certificate", cascade="all, delete-orphan", uselist=False
    )


class PrivateKeyRow(Base):
    """A private key as encrypted PKCS#8 (DER), one per certificate record."""

    __tablename__ = "private_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), unique=True
    )
    encrypted_pkcs8: Mapped[bytes] = mapped_column(LargeBinary)

    certificate: Mapped[CertificateRow] = relationship(back_populates="private_key")


class PublishedCertificateRow(Base):
    """Organisation-wide certificates with keys (the auth certificate), like the AD
    configuration partition that Exchange publishes them to (seed 002, figure 2)."""

    __tablename__ = "published_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    thumbprint: Mapped[str] = mapped_column(String(40), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    encrypted_pkcs8: Mapped[bytes] = mapped_column(LargeBinary)


class ConnectorRow(Base):
    """A Send or Receive connector; list-valued settings are stored as text."""

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_key: Mapped[str] = mapped_column(String(400), unique=True)  # lower-case identity
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(8))
    servers: Mapped[str] = mapped_column(Text)  # comma-separated server names
    fqdn: Mapped[str | None] = mapped_column(String(253))
    bindings: Mapped[str] = mapped_column(Text, default="")
    address_spaces: Mapped[str] = mapped_column(Text, default="")
    smart_hosts: Mapped[str] = mapped_column(Text, default="")
    auth_mechanism: Mapped[int] = mapped_column(Integer, default=0)
    require_tls: Mapped[bool] = mapped_column(default=False)
    tls_auth_level: Mapped[str | None] = mapped_column(String(32))
    tls_domain: Mapped[str | None] = mapped_column(String(253))
    domain_secure_enabled: Mapped[bool] = mapped_column(default=False)
    tls_certificate_name: Mapped[str | None] = mapped_column(Text)
    ignore_starttls: Mapped[bool] = mapped_column(default=False)
    cloud_services_mail_enabled: Mapped[bool] = mapped_column(default=False)


class AcceptedDomainRow(Base):
    __tablename__ = "accepted_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)


class MailboxRow(Base):
    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)  # lower-case
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(512))

    server: Mapped[ServerRow] = relationship()


class VirtualDirectoryRow(Base):
    __tablename__ = "virtual_directories"
    __table_args__ = (UniqueConstraint("server_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(128))
    internal_url: Mapped[str | None] = mapped_column(Text)
    external_url: Mapped[str | None] = mapped_column(Text)
    require_ssl: Mapped[bool] = mapped_column(default=True)


class EdgeSubscriptionRow(Base):
    """An Edge subscription: the Edge's certificate published to the organisation, and the
    Hub certificates EdgeSync last published to the Edge (``server=thumbprint`` lines)."""

    __tablename__ = "edge_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), unique=True
    )
    site: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    edge_thumbprint: Mapped[str] = mapped_column(String(40))
    edge_der: Mapped[bytes] = mapped_column(LargeBinary)
    hub_certificates: Mapped[str] = mapped_column(Text, default="")
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_sync_ok: Mapped[bool | None] = mapped_column()

    server: Mapped[ServerRow] = relationship()


class ObservedCertificateRow(Base):
    """A certificate of an observed server, as its certutil / Exchange output described it."""

    __tablename__ = "observed_certificates"
    __table_args__ = (UniqueConstraint("server_id", "store", "thumbprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    store: Mapped[str] = mapped_column(String(8))
    thumbprint: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    dns_names: Mapped[str] = mapped_column(Text, default="")  # one per line
    services: Mapped[int] = mapped_column(Integer, default=0)
    has_private_key: Mapped[bool] = mapped_column(default=False)
    key_provider: Mapped[str | None] = mapped_column(String(256))
    key_size: Mapped[int | None] = mapped_column(Integer)
    signature_algorithm: Mapped[str | None] = mapped_column(String(64))
    serial_number: Mapped[str] = mapped_column(String(128), default="")
    friendly_name: Mapped[str] = mapped_column(String(256), default="")
    source: Mapped[str] = mapped_column(String(256), default="")
    archived: Mapped[bool] = mapped_column(default=False)
    exportable: Mapped[bool | None] = mapped_column()
    status: Mapped[str | None] = mapped_column(String(64))
    public_key_algorithm: Mapped[str | None] = mapped_column(String(16))
    der: Mapped[bytes | None] = mapped_column(LargeBinary)

    server: Mapped[ServerRow] = relationship()


class ObservedFactsRow(Base):
    """What an observed server's collection showed besides certificates (revision 0003):
    which outputs it had, its IIS bindings and TLS registry settings, as one JSON document
    (``certward.storage.facts``); read and written whole, never queried inside."""

    __tablename__ = "observed_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), unique=True
    )
    document: Mapped[str] = mapped_column(Text)


class MetaRow(Base):
    """Small named values about the store itself (e.g. a master-key check value)."""

    __tablename__ = "meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class GenerationRow(Base):
    """One row counting the committed transactions that changed something.

    Every writing transaction holds this row from its start (PostgreSQL ``FOR UPDATE``;
    SQLite's ``BEGIN IMMEDIATE`` already excludes other writers) and adds one to ``value``
    before it commits, so readers can tell cheaply whether anything changed."""

    __tablename__ = "generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# The tables of other areas, on the same Base (imported here so Base.metadata is complete).
from certward.storage import (  # noqa: E402, F401
    schema_access,
    schema_acme,
    schema_agents,
    schema_deploy,
    schema_facts,
    schema_watch,
)
