"""The store: SQLAlchemy-backed repository of organisation, servers and certificates.

Every operation runs inside :meth:`SqlStore.transaction`: one database transaction that
commits when the block ends normally and rolls back on any exception, so a failed operation
leaves nothing half-written. Rows are mapped to the frozen dataclasses of ``certward.model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric import types
from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import ORMExecuteState, Session, selectinload, sessionmaker

from certward.codes.certificates import (
    CERTIFICATE_EXISTS,
    CERTIFICATE_NO_PRIVATE_KEY,
    CERTIFICATE_NOT_FOUND,
)
from certward.codes.general import (
    SERVER_NOT_FOUND,
    SERVER_OBSERVED,
    STORE_DATABASE_ERROR,
    STORE_OBJECT_EXISTS,
    STORE_OBJECT_NOT_FOUND,
    STORE_UNAVAILABLE,
)
from certward.errors import CertwardError
from certward.model import (
    CertificateRecord,
    Connector,
    EdgeSubscription,
    Mailbox,
    ObservedCertificate,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    Server,
    StoreName,
    Thumbprint,
    VirtualDirectory,
)
from certward.model.audit import ACTOR, AuditEntry
from certward.storage import audit_capture, facts, rows, snapshot_rows
from certward.storage.access_repo import AccessRepository, audit_row
from certward.storage.acme_repo import AcmeRepository
from certward.storage.agents_repo import AgentsRepository
from certward.storage.deploy_repo import DeployRepository
from certward.storage.facts_repo import FactsRepository
from certward.storage.inventory_repo import InventoryRepository
from certward.storage.migrations import READ_ONLY, ensure_schema
from certward.storage.schema import (
    AcceptedDomainRow,
    CertificateRow,
    ConnectorRow,
    EdgeSubscriptionRow,
    GenerationRow,
    MailboxRow,
    MetaRow,
    ObservedCertificateRow,
    ObservedFactsRow,
    OrganisationRow,
    PrivateKeyRow,
    PublishedCertificateRow,
    ServerRow,
    VirtualDirectoryRow,
)
from certward.storage.snapshot_repo import SnapshotRepository, observed_certificate
from certward.storage.vault import KeyVault
from certward.storage.watch_repo import WatchRepository

_utc = rows.utc


class Repository(
    AccessRepository,
    WatchRepository,
    InventoryRepository,
    DeployRepository,
    FactsRepository,
    AcmeRepository,
    AgentsRepository,
    SnapshotRepository,
):
    """Domain-level reads and writes within one open transaction."""

    def __init__(self, session: Session, vault: KeyVault) -> None:
        self._session = session
        self._vault = vault

    # -- organisation -------------------------------------------------------------------
    def organisation(self) -> Organisation | None:
        row = self._session.scalars(select(OrganisationRow).order_by(OrganisationRow.id)).first()
        return None if row is None else rows.organisation_of(row)

    def save_organisation(self, org: Organisation) -> None:
        row = self._session.scalars(select(OrganisationRow).order_by(OrganisationRow.id)).first()
        if row is None:
            row = OrganisationRow(name=org.name)
            self._session.add(row)
        row.name = org.name
        row.domain = org.domain
        row.auth_thumbprint = org.auth.current_thumbprint
        row.next_auth_thumbprint = org.auth.next_thumbprint
        row.next_auth_effective = org.auth.next_effective
        row.previous_auth_thumbprint = org.auth.previous_thumbprint
        row.auth_service_name = org.auth.service_name
        row.auth_realm = org.auth.realm
        row.tls_send_domain_secure_list = ",".join(org.transport.tls_send_domain_secure_list)
        row.tls_receive_domain_secure_list = ",".join(org.transport.tls_receive_domain_secure_list)
        self._session.flush()

    # -- facts about the store itself ----------------------------------------------------
    def meta(self, name: str) -> str | None:
        """The value stored under ``name`` in the store's meta table, or None."""
        row = self._session.get(MetaRow, name)
        return None if row is None else row.value

    def set_meta(self, name: str, value: str) -> None:
        row = self._session.get(MetaRow, name)
        if row is None:
            self._session.add(MetaRow(name=name, value=value))
        else:
            row.value = value
        self._session.flush()

    # -- connectors -----------------------------------------------------------------------
    def connectors(self) -> list[Connector]:
        rows = self._session.scalars(select(ConnectorRow).order_by(ConnectorRow.identity_key))
        return [_connector(row) for row in rows]

    def find_connector(self, identity: str) -> Connector | None:
        row = self._connector_row(identity)
        return None if row is None else _connector(row)

    def save_connector(self, connector: Connector, *, previous_identity: str | None = None) -> None:
        row = self._connector_row(previous_identity or connector.identity)
        if row is None:
            row = ConnectorRow()
            self._session.add(row)
        row.identity_key = connector.identity.lower()
        row.name = connector.name
        row.kind = connector.kind.value
        row.servers = ",".join(connector.servers)
        row.fqdn = connector.fqdn
        row.bindings = ",".join(str(b) for b in connector.bindings)
        row.address_spaces = ",".join(connector.address_spaces)
        row.smart_hosts = ",".join(str(h) for h in connector.smart_hosts)
        row.auth_mechanism = connector.auth_mechanism.value
        row.require_tls = connector.require_tls
        row.tls_auth_level = connector.tls_auth_level.value if connector.tls_auth_level else None
        row.tls_domain = connector.tls_domain
        row.domain_secure_enabled = connector.domain_secure_enabled
        row.tls_certificate_name = connector.tls_certificate_name
        row.ignore_starttls = connector.ignore_starttls
        row.cloud_services_mail_enabled = connector.cloud_services_mail_enabled
        self._session.flush()

    def delete_connector(self, identity: str) -> None:
        row = self._connector_row(identity)
        if row is None:
            raise STORE_OBJECT_NOT_FOUND(
                f"connector {identity!r} not found", kind="connector", name=identity
            )
        self._session.delete(row)
        self._session.flush()

    def _connector_row(self, identity: str) -> ConnectorRow | None:
        return self._session.scalars(
            select(ConnectorRow).where(ConnectorRow.identity_key == identity.lower())
        ).first()

    # -- servers ------------------------------------------------------------------------
    def servers(self) -> list[Server]:
        rows = self._session.scalars(select(ServerRow).order_by(ServerRow.name_key))
        return [self._server(row) for row in rows]

    def server(self, name: str) -> Server:
        return self._server(self._server_row(name))

    def has_server(self, name: str) -> bool:
        return self._find_server_row(name) is not None

    def save_server(self, server: Server) -> None:
        row = self._find_server_row(server.name)
        if row is None:
            row = ServerRow(name=server.name, name_key=server.name.lower())
            self._session.add(row)
        row.fqdn = server.fqdn
        row.roles = ",".join(sorted(role.value for role in server.roles))
        row.version = int(server.version)
        row.default_smtp_thumbprint = server.default_smtp_thumbprint
        row.tls_min_version = server.tls_min_version
        row.tls_max_version = server.tls_max_version
        row.send_trusted_issuer_list = server.send_trusted_issuer_list_setting
        row.observed = server.observed
        self._session.flush()

    def _find_server_row(self, name: str) -> ServerRow | None:
        return self._session.scalars(
            select(ServerRow).where(ServerRow.name_key == name.lower())
        ).first()

    def _server_row(self, name: str) -> ServerRow:
        row = self._find_server_row(name)
        if row is None:
            raise SERVER_NOT_FOUND(f"server {name!r} not found", server=name)
        return row

    @staticmethod
    def _server(row: ServerRow) -> Server:
        return rows.server_of(row)

    # -- virtual directories -------------------------------------------------------------
    def virtual_directories(self, server: str) -> list[VirtualDirectory]:
        row = self._server_row(server)
        rows = self._session.scalars(
            select(VirtualDirectoryRow)
            .where(VirtualDirectoryRow.server_id == row.id)
            .order_by(VirtualDirectoryRow.id)
        )
        return [
            VirtualDirectory(
                row.name, v.name, v.path, v.internal_url, v.external_url, v.require_ssl
            )
            for v in rows
        ]

    def save_virtual_directory(self, vdir: VirtualDirectory) -> None:
        server_row = self._server_row(vdir.server)
        row = self._session.scalars(
            select(VirtualDirectoryRow).where(
                VirtualDirectoryRow.server_id == server_row.id,
                VirtualDirectoryRow.name == vdir.name,
            )
        ).first()
        if row is None:
            row = VirtualDirectoryRow(server_id=server_row.id, name=vdir.name)
            self._session.add(row)
        row.path = vdir.path
        row.internal_url = vdir.internal_url
        row.external_url = vdir.external_url
        row.require_ssl = vdir.require_ssl
        self._session.flush()

    def certificate_counts(self, store: StoreName) -> dict[str, int]:
        """How many certificates each server has in ``store`` (lower-case server name ->
        count; observed servers' as their dumps showed), counted by the database."""
        counts: dict[str, int] = {}
        for table in (CertificateRow, ObservedCertificateRow):
            rows = self._session.execute(
                select(ServerRow.name_key, func.count(table.id))
                .join(table, table.server_id == ServerRow.id)
                .where(table.store == store.value)
                .group_by(ServerRow.name_key)
            )
            for name_key, count in rows:
                counts[name_key] = counts.get(name_key, 0) + int(count)
        return counts

    # -- observed servers' certificates ------------------------------------------------------
    def observed_certificates(
        self, server: str, store: StoreName | None = None
    ) -> list[ObservedCertificate]:
        server_row = self._server_row(server)
        query = select(ObservedCertificateRow).where(
            ObservedCertificateRow.server_id == server_row.id
        )
        if store is not None:
            query = query.where(ObservedCertificateRow.store == store.value)
        rows = self._session.scalars(query.order_by(ObservedCertificateRow.id))
        return [self._observed(row, server_row.name) for row in rows]

    def replace_observed_certificates(
        self, server: str, store: StoreName, certificates: list[ObservedCertificate]
    ) -> None:
        """What one dump of ``store`` shows replaces what an earlier dump showed."""
        server_row = self._server_row(server)
        for row in self._session.scalars(
            select(ObservedCertificateRow).where(
                ObservedCertificateRow.server_id == server_row.id,
                ObservedCertificateRow.store == store.value,
            )
        ):
            self._session.delete(row)
        self._session.flush()
        for cert in certificates:
            self._session.add(
                ObservedCertificateRow(
                    server_id=server_row.id,
                    store=store.value,
                    thumbprint=cert.thumbprint,
                    subject=cert.subject,
                    issuer=cert.issuer,
                    not_before=cert.not_before,
                    not_after=cert.not_after,
                    dns_names="\n".join(cert.dns_names),
                    services=cert.services.value.value,
                    has_private_key=cert.has_private_key,
                    key_provider=cert.key_provider,
                    key_size=cert.key_size,
                    signature_algorithm=cert.signature_algorithm,
                    serial_number=cert.serial_number,
                    friendly_name=cert.friendly_name,
                    source=cert.source,
                    archived=cert.archived,
                    exportable=cert.exportable,
                    status=cert.status,
                    public_key_algorithm=cert.public_key_algorithm,
                    der=cert.der,
                )
            )
        self._session.flush()

    _observed = staticmethod(observed_certificate)

    # -- what observed servers showed besides certificates ---------------------------------
    def observed_facts(self, server: str) -> ObservedFacts | None:
        server_row = self._server_row(server)
        row = self._session.scalars(
            select(ObservedFactsRow).where(ObservedFactsRow.server_id == server_row.id)
        ).first()
        return None if row is None else facts.read_facts(server_row.name, row.document)

    def save_observed_facts(self, observed: ObservedFacts) -> None:
        server_row = self._server_row(observed.server)
        row = self._session.scalars(
            select(ObservedFactsRow).where(ObservedFactsRow.server_id == server_row.id)
        ).first()
        if row is None:
            row = ObservedFactsRow(server_id=server_row.id)
            self._session.add(row)
        row.document = facts.facts_document(observed)
        self._session.flush()

    def observed_organisation(self) -> ObservedOrganisationFacts | None:
        document = self.meta(facts.OBSERVED_ORGANISATION)
        return None if document is None else facts.read_organisation(document)

    def save_observed_organisation(self, observed: ObservedOrganisationFacts) -> None:
        self.set_meta(facts.OBSERVED_ORGANISATION, facts.organisation_document(observed))

    def delete_server(self, name: str) -> None:
        """The server and its rows (the database's ON DELETE CASCADE takes certificates,
        their keys, observed certificates, vdirs, mailboxes, facts, its Edge subscription)."""
        row = self._server_row(name)
        self._session.delete(row)
        self._session.flush()
        self._session.expire_all()  # rows the database removed must not be read from the session

    # -- edge subscriptions -----------------------------------------------------------------
    def edge_subscriptions(self) -> list[EdgeSubscription]:
        found = self._session.scalars(select(EdgeSubscriptionRow).order_by(EdgeSubscriptionRow.id))
        return [snapshot_rows.edge_subscription_of(row, row.server.name) for row in found]

    def save_edge_subscription(self, subscription: EdgeSubscription) -> None:
        server_row = self._server_row(subscription.edge)
        row = self._session.scalars(
            select(EdgeSubscriptionRow).where(EdgeSubscriptionRow.server_id == server_row.id)
        ).first()
        if row is None:
            row = EdgeSubscriptionRow(server_id=server_row.id)
            self._session.add(row)
        row.site = subscription.site
        row.created_at = subscription.created
        row.edge_thumbprint = subscription.edge_thumbprint
        row.edge_der = subscription.edge_der
        row.hub_certificates = "\n".join(
            f"{h.server}={h.thumbprint}" for h in subscription.hub_certificates
        )
        row.last_sync_at = subscription.last_sync
        row.last_sync_ok = subscription.last_sync_ok
        self._session.flush()

    def delete_edge_subscription(self, edge: str) -> None:
        server_row = self._server_row(edge)
        row = self._session.scalars(
            select(EdgeSubscriptionRow).where(EdgeSubscriptionRow.server_id == server_row.id)
        ).first()
        if row is None:
            raise STORE_OBJECT_NOT_FOUND(
                f"{server_row.name} has no Edge subscription",
                kind="edge subscription",
                name=server_row.name,
            )
        self._session.delete(row)
        self._session.flush()

    # -- accepted domains and mailboxes ---------------------------------------------------
    def accepted_domains(self) -> list[str]:
        return list(
            self._session.scalars(
                select(AcceptedDomainRow.domain).order_by(AcceptedDomainRow.domain)
            )
        )

    def add_accepted_domain(self, domain: str) -> None:
        if domain.lower() in self.accepted_domains():
            raise STORE_OBJECT_EXISTS(
                f"accepted domain {domain} already exists", kind="accepted domain", name=domain
            )
        self._session.add(AcceptedDomainRow(domain=domain.lower()))
        self._session.flush()

    def mailboxes(self, server: str | None = None) -> list[Mailbox]:
        query = select(MailboxRow).order_by(MailboxRow.address)
        if server is not None:
            query = query.where(MailboxRow.server_id == self._server_row(server).id)
        return [
            Mailbox(row.address, row.server.name, row.password_hash)
            for row in self._session.scalars(query)
        ]

    def add_mailbox(self, mailbox: Mailbox) -> None:
        address = mailbox.address.lower()
        if self._session.scalars(select(MailboxRow).where(MailboxRow.address == address)).first():
            raise STORE_OBJECT_EXISTS(
                f"mailbox {address} already exists", kind="mailbox", name=address
            )
        self._session.add(
            MailboxRow(
                address=address,
                server=self._server_row(mailbox.server),
                password_hash=mailbox.password_hash,
            )
        )
        self._session.flush()

    # -- certificates ---------------------------------------------------------------------
    def certificates(self, server: str, store: StoreName | None = None) -> list[CertificateRecord]:
        server_row = self._server_row(server)
        query = (
            select(CertificateRow)
            .where(CertificateRow.server_id == server_row.id)
            # whether each has a key, in one more query (not one per certificate), without
            # loading the sealed keys themselves
            .options(selectinload(CertificateRow.private_key).load_only(PrivateKeyRow.id))
        )
        if store is not None:
            query = query.where(CertificateRow.store == store.value)
        rows = self._session.scalars(query.order_by(CertificateRow.id))
        return [self._record(row, server_row.name) for row in rows]

    def find_certificate(
        self, server: str, thumbprint: Thumbprint, store: StoreName = StoreName.MY
    ) -> CertificateRecord | None:
        row = self._find_cert_row(server, thumbprint, store)
        return None if row is None else self._record(row, row.server.name)

    def certificate(
        self, server: str, thumbprint: Thumbprint, store: StoreName = StoreName.MY
    ) -> CertificateRecord:
        record = self.find_certificate(server, thumbprint, store)
        if record is None:
            srv = self.server(server)
            where = f"the {store.value} store of server {srv.name}"
            if srv.observed:
                where += " (an observed server: certward holds none of its certificates' keys)"
            raise CERTIFICATE_NOT_FOUND(
                f"no certificate with thumbprint {thumbprint} in {where}",
                thumbprint=thumbprint,
                server=srv.name,
                store=store.value,
            )
        return record

    def requests_for_key(self, spki_der: bytes) -> list[CertificateRecord]:
        """Pending requests on any server whose key is the given public key."""
        rows = self._session.scalars(
            select(CertificateRow).where(
                CertificateRow.spki_sha1 == _spki_id(spki_der), CertificateRow.der.is_(None)
            )
        )
        return [self._record(row, row.server.name) for row in rows]

    def add_certificate(
        self,
        record: CertificateRecord,
        *,
        private_key: types.PrivateKeyTypes | None = None,
        spki_der: bytes | None = None,
    ) -> None:
        server_row = self._server_row(record.server)
        if server_row.observed:
            raise SERVER_OBSERVED(
                f"{server_row.name} is an observed server: certward records what its output "
                "shows and holds none of its keys; make this change on the server itself",
                server=server_row.name,
            )
        if self._find_cert_row(record.server, record.thumbprint, record.store) is not None:
            raise CERTIFICATE_EXISTS(
                f"certificate {record.thumbprint} already exists in the {record.store.value} "
                f"store of server {server_row.name}",
                thumbprint=record.thumbprint,
                server=server_row.name,
                store=record.store.value,
            )
        row = CertificateRow(server=server_row, store=record.store.value)
        self._apply(row, record)
        row.spki_sha1 = _spki_id(spki_der) if spki_der else None
        if private_key is not None:
            row.private_key = PrivateKeyRow(encrypted_pkcs8=self._vault.seal(private_key))
        self._session.add(row)
        self._session.flush()

    def update_certificate(self, record: CertificateRecord) -> None:
        """Update the mutable fields (services, friendly name) of a stored record."""
        row = self._cert_row(record.server, record.thumbprint, record.store)
        self._apply(row, record)
        self._session.flush()

    def replace_certificate(self, old: CertificateRecord, new: CertificateRecord) -> None:
        """Turn a pending request into its issued certificate, keeping the key."""
        row = self._cert_row(old.server, old.thumbprint, old.store)
        if self._find_cert_row(new.server, new.thumbprint, new.store) is not None:
            raise CERTIFICATE_EXISTS(
                f"certificate {new.thumbprint} already exists on server {row.server.name}",
                thumbprint=new.thumbprint,
                server=row.server.name,
                store=new.store.value,
            )
        row.thumbprint = new.thumbprint
        self._apply(row, new)
        self._session.flush()

    def delete_certificate(self, record: CertificateRecord) -> None:
        row = self._cert_row(record.server, record.thumbprint, record.store)
        self._session.delete(row)
        self._session.flush()

    def private_key(self, record: CertificateRecord) -> types.PrivateKeyTypes:
        row = self._cert_row(record.server, record.thumbprint, record.store)
        if row.private_key is None:
            raise CERTIFICATE_NO_PRIVATE_KEY(
                f"certificate {record.thumbprint} has no private key",
                thumbprint=record.thumbprint,
                server=record.server,
            )
        return self._vault.open(row.private_key.encrypted_pkcs8)

    def save_published_certificate(self, der: bytes, key: types.PrivateKeyTypes) -> None:
        thumb = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
        self._session.add(
            PublishedCertificateRow(
                thumbprint=thumb, der=der, encrypted_pkcs8=self._vault.seal(key)
            )
        )
        self._session.flush()

    def published_certificate(self, thumbprint: Thumbprint) -> tuple[bytes, types.PrivateKeyTypes]:
        row = self._session.scalars(
            select(PublishedCertificateRow).where(PublishedCertificateRow.thumbprint == thumbprint)
        ).first()
        if row is None:
            raise STORE_OBJECT_NOT_FOUND(
                f"certificate {thumbprint} is not published in the organisation",
                kind="published certificate",
                name=thumbprint,
            )
        return row.der, self._vault.open(row.encrypted_pkcs8)

    # -- sealed private keys as stored (the master key's check and rotation) ----------------
    def sealed_keys(self, *, limit: int | None = None) -> list[bytes]:
        """Stored private keys as sealed (encrypted PKCS#8 DER), certificates' first."""
        found = list(self._session.scalars(select(PrivateKeyRow.encrypted_pkcs8).limit(limit)))
        if limit is None or len(found) < limit:
            left = None if limit is None else limit - len(found)
            query = select(PublishedCertificateRow.encrypted_pkcs8).limit(left)
            found += self._session.scalars(query)
        if limit is None or len(found) < limit:
            found += self.acme_sealed_keys()[: None if limit is None else limit - len(found)]
        return found

    def reseal_keys(self, reseal: Callable[[bytes], bytes]) -> int:
        """Replace every stored sealed key by ``reseal(sealed)``; how many were replaced."""
        count = 0
        for row in self._session.scalars(select(PrivateKeyRow)):
            row.encrypted_pkcs8 = reseal(row.encrypted_pkcs8)
            count += 1
        for published in self._session.scalars(select(PublishedCertificateRow)):
            published.encrypted_pkcs8 = reseal(published.encrypted_pkcs8)
            count += 1
        count += self.acme_reseal_keys(reseal)
        self._session.flush()
        return count

    def published_der(self, thumbprint: Thumbprint) -> bytes | None:
        return self._session.scalars(
            select(PublishedCertificateRow.der).where(
                PublishedCertificateRow.thumbprint == thumbprint
            )
        ).first()

    def _find_cert_row(
        self, server: str, thumbprint: Thumbprint, store: StoreName
    ) -> CertificateRow | None:
        server_row = self._server_row(server)
        return self._session.scalars(
            select(CertificateRow).where(
                CertificateRow.server_id == server_row.id,
                CertificateRow.store == store.value,
                CertificateRow.thumbprint == thumbprint,
            )
        ).first()

    def _cert_row(self, server: str, thumbprint: Thumbprint, store: StoreName) -> CertificateRow:
        row = self._find_cert_row(server, thumbprint, store)
        if row is None:
            raise CERTIFICATE_NOT_FOUND(
                f"no certificate with thumbprint {thumbprint} in the {store.value} store "
                f"of server {server}",
                thumbprint=thumbprint,
                server=server,
                store=store.value,
            )
        return row

    @staticmethod
    def _apply(row: CertificateRow, record: CertificateRecord) -> None:
        row.thumbprint = record.thumbprint
        row.der = record.der
        row.csr_der = record.csr_der
        row.services = record.services.value.value
        row.friendly_name = record.friendly_name
        row.exportable = record.exportable
        row.key_provider = record.key_provider
        row.created_at = record.created_at or dt.datetime.now(dt.UTC)

    @staticmethod
    def _record(row: CertificateRow, server: str) -> CertificateRecord:
        return rows.certificate_record_of(row, server, has_private_key=row.private_key is not None)


def _connector(row: ConnectorRow) -> Connector:
    return rows.connector_of(row)


def _spki_id(spki_der: bytes) -> str:
    return hashlib.sha1(spki_der, usedforsecurity=False).hexdigest().upper()


class SqlStore:
    """Engine, schema and transactions for one database URL."""

    def __init__(self, url: str, vault: KeyVault) -> None:
        self.url = url
        self._vault = vault
        self._postgresql = url.startswith("postgresql")
        self._sqlite = url.startswith("sqlite")
        try:
            if url.startswith("sqlite"):
                self._engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_S})
                event.listen(self._engine, "connect", _sqlite_connect)
                event.listen(self._engine, "begin", _sqlite_begin)
            else:
                self._engine = create_engine(url)
        except SQLAlchemyError as exc:
            raise STORE_UNAVAILABLE(
                f"{url}: cannot open the database ({exc.__class__.__name__})", database=url
            ) from exc
        try:
            _while_busy(lambda: ensure_schema(self._engine), sqlite=self._sqlite)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise STORE_UNAVAILABLE(
                f"{url}: cannot open the database ({exc.__class__.__name__}: {_one_line(exc)})",
                database=url,
            ) from exc
        except BaseException:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._writing = threading.local()  # whether this thread is inside transaction()
        event.listen(self._sessions, "after_flush", _note_writes)
        event.listen(self._sessions, "after_flush", audit_capture.collect)
        event.listen(self._sessions, "do_orm_execute", _note_statement_writes)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Repository]:
        """One unit of work that holds the store's write lock from its start.

        SQLite begins it with ``BEGIN IMMEDIATE``; PostgreSQL locks the generation row
        (``SELECT ... FOR UPDATE``) first. A second writer therefore waits for the first
        to commit and then reads what it wrote, instead of overwriting it. When the block
        changed something, the generation counter goes up in the same transaction, and
        the audit log gains one entry naming what changed and who changed it (the actor of
        :data:`certward.model.audit.ACTOR`; :mod:`certward.storage.audit_capture`).

        On SQLite a changing transaction is then checkpointed from the WAL into the
        database file (passively: readers are not waited for), so that a copy of the file
        alone, as backups and tests make, holds every commit.

        A transaction cannot be opened inside another on the same thread: the inner one
        would wait for the outer one's lock for ever (PostgreSQL) or until SQLite's busy
        timeout, so it is refused at once as the programming error it is."""
        if getattr(self._writing, "active", False):
            raise RuntimeError(
                "a store transaction opened inside another on the same thread "
                "(it would wait for the outer one's write lock)"
            )
        session = self._sessions()
        wrote = False
        self._writing.active = True
        try:
            with session.begin():
                if self._postgresql:
                    session.execute(select(GenerationRow.value).with_for_update())
                yield Repository(session, self._vault)
                session.flush()
                changes = audit_capture.take(session)
                if changes:
                    actor = ACTOR.get()
                    session.add(
                        audit_row(
                            AuditEntry(
                                at=dt.datetime.now(dt.UTC),
                                actor=actor.name,
                                via=actor.via,
                                action=actor.action,
                                changes=tuple(changes),
                            )
                        )
                    )
                    session.flush()
                wrote = session.info.pop(_WROTE, False)
                if wrote:
                    session.execute(update(GenerationRow).values(value=GenerationRow.value + 1))
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc
        finally:
            self._writing.active = False
            audit_capture.discard(session)
            session.close()
        if wrote and self._sqlite:
            self._checkpoint()

    @contextmanager
    def reading(self) -> Iterator[Repository]:
        """A read that takes no write lock (SQLite begins it deferred; PostgreSQL locks no
        row), for lookups made on every request (a token, a console session) and for reads
        of many queries (health's snapshot). Every query of the block sees the same state of
        the store: SQLite's read transaction holds its snapshot, and on PostgreSQL the block
        runs at REPEATABLE READ (a read-only transaction there never fails to serialise).
        Whatever the block changes is rolled back: use :meth:`transaction` to write."""
        session = self._sessions()
        options: dict[str, object] = {READ_ONLY: True}
        if self._postgresql:
            options["isolation_level"] = "REPEATABLE READ"
        try:
            session.connection(execution_options=options)
            yield Repository(session, self._vault)
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc
        finally:
            audit_capture.discard(session)
            session.info.pop(_WROTE, None)
            session.rollback()
            session.close()

    def _checkpoint(self) -> None:
        connection = self._engine.raw_connection()  # the driver's, outside any transaction
        try:
            connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        except sqlite3.Error:
            pass  # the next checkpoint (SQLite's own at 1000 pages, or this) catches up
        finally:
            connection.close()

    def generation(self) -> int:
        """How many changing transactions the store has committed: a short read that takes
        no write lock, for callers that reload only when the store changed."""
        try:
            with self._engine.connect() as connection:
                connection.execution_options(**{READ_ONLY: True})
                value = connection.execute(select(GenerationRow.value)).scalar()
        except SQLAlchemyError as exc:
            raise _store_error(exc) from exc
        return int(value or 0)

    def close(self) -> None:
        self._engine.dispose()


_BUSY_TIMEOUT_S = 60.0
_WROTE = "certward_wrote"


def _note_writes(session: Session, _context: object) -> None:
    if (
        session.new
        or session.deleted
        or any(session.is_modified(obj, include_collections=False) for obj in session.dirty)
    ):
        session.info[_WROTE] = True


_UNIQUE_OBJECTS = {
    "organisations": "an organisation (a store holds one)",
    "servers": "a server of that name",
    "certificates": "a certificate with that thumbprint in that store of the server",
    "observed_certificates": "an observed certificate with that thumbprint in that store",
    "observed_facts": "facts for that observed server",
    "private_keys": "a private key for that certificate",
    "published_certificates": "a published certificate with that thumbprint",
    "connectors": "a connector of that identity",
    "accepted_domains": "that accepted domain",
    "mailboxes": "a mailbox of that address",
    "virtual_directories": "a virtual directory of that name on that server",
    "edge_subscriptions": "an Edge subscription of that server",
    "meta": "a meta value of that name",
    "users": "a user of that name",
    "api_tokens": "an API token with that identifier",
    "web_sessions": "a console session with that identifier",
    "one_time_logins": "a one-time login with that code",
}


def _store_error(exc: SQLAlchemyError) -> CertwardError:
    """A database error as one coded line: a unique constraint the domain requires names
    the object that already exists; anything else is ``store.database_error``."""
    table = _unique_violation(exc)
    if table is not None:
        what = _UNIQUE_OBJECTS.get(table, f"a row of {table} with those values")
        return STORE_OBJECT_EXISTS(
            f"the store already holds {what}; nothing was written", kind=table
        )
    name = exc.__class__.__name__
    return STORE_DATABASE_ERROR(f"database error: {name}: {_one_line(exc)}", error=name)


def _unique_violation(exc: SQLAlchemyError) -> str | None:
    """The table whose unique constraint ``exc`` reports, or None for other errors."""
    if not isinstance(exc, IntegrityError):
        return None
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # psycopg: unique_violation
        diag = getattr(orig, "diag", None)
        return str(getattr(diag, "table_name", None) or "") or "?"
    found = re.match(r"UNIQUE constraint failed: (\w+)\.", str(orig))  # sqlite3
    return found.group(1) if found else None


def _note_statement_writes(state: ORMExecuteState) -> None:
    """An ``insert``/``update``/``delete`` statement run on the session also changes it."""
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True
        table = getattr(state.statement, "table", None)
        if table is not None:
            audit_capture.note_bulk(state.session, str(getattr(table, "name", table)))


def _one_line(exc: SQLAlchemyError) -> str:
    """The driver's message on one line (PostgreSQL's has a DETAIL line)."""
    detail = str(getattr(exc, "orig", None) or exc)
    return " ".join(detail.split())


def _while_busy(action: Callable[[], None], *, sqlite: bool) -> None:
    """Run ``action``, again while SQLite says the database is locked, up to the busy
    timeout. Most waits are SQLite's own (the busy timeout), but a few lock conflicts are
    reported at once instead, to avoid a deadlock: a new database's switch to WAL while
    another process creates the schema is one. Seen as 1 failure in about 40 runs of 16
    processes first using one new database."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            action()
            return
        except OperationalError as exc:
            locked = "locked" in str(exc.orig) or "busy" in str(exc.orig)
            if not sqlite or not locked or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # a back-off between attempts, not a synchronisation
        pause = min(pause * 2, 0.25)


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    """Per connection: foreign keys, WAL, and no implicit BEGIN from the driver, so that
    :func:`_sqlite_begin` decides how each transaction begins (SQLAlchemy's documented
    pysqlite recipe)."""
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")  # persistent: the first opener switches
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Writers begin with the write lock held (``BEGIN IMMEDIATE``); a second writer waits
    up to the busy timeout. Short reads (:meth:`SqlStore.generation`) begin deferred."""
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
