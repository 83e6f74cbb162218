"""The store: SQLAlchemy-backed repository of organisation, servers and certificates.

Every operation runs inside :meth:`SqlStore.transaction`: one database transaction that
commits when the block ends normally and rolls back on any exception, so a failed operation
leaves nothing half-written. Rows are mapped to the frozen dataclasses of ``certward.model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.hazmat.primitives.asymmetric import types
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from certward.errors import NotFoundError, StoreError
from certward.model import (
    CertificateRecord,
    ExchangeVersion,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.storage.schema import (
    Base,
    CertificateRow,
    OrganisationRow,
    PrivateKeyRow,
    PublishedCertificateRow,
    ServerRow,
)
from certward.storage.vault import KeyVault


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Repository:
    """Domain-level reads and writes within one open transaction."""

    def __init__(self, session: Session, vault: KeyVault) -> None:
        self._session = session
        self._vault = vault

    # -- organisation -------------------------------------------------------------------
    def organisation(self) -> Organisation | None:
        row = self._session.scalars(select(OrganisationRow)).first()
        if row is None:
            return None
        return Organisation(
            name=row.name,
            domain=row.domain,
            auth_thumbprint=Thumbprint(row.auth_thumbprint) if row.auth_thumbprint else None,
        )

    def save_organisation(self, org: Organisation) -> None:
        row = self._session.scalars(select(OrganisationRow)).first()
        if row is None:
            row = OrganisationRow(name=org.name)
            self._session.add(row)
        row.name = org.name
        row.domain = org.domain
        row.auth_thumbprint = org.auth_thumbprint
        self._session.flush()

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
        self._session.flush()

    def _find_server_row(self, name: str) -> ServerRow | None:
        return self._session.scalars(
            select(ServerRow).where(ServerRow.name_key == name.lower())
        ).first()

    def _server_row(self, name: str) -> ServerRow:
        row = self._find_server_row(name)
        if row is None:
            raise NotFoundError(f"server {name!r} not found (see 'certward server list')")
        return row

    @staticmethod
    def _server(row: ServerRow) -> Server:
        return Server(
            name=row.name,
            fqdn=row.fqdn,
            roles=frozenset(Role(value) for value in row.roles.split(",") if value),
            version=ExchangeVersion(row.version),
            default_smtp_thumbprint=(
                Thumbprint(row.default_smtp_thumbprint) if row.default_smtp_thumbprint else None
            ),
        )

    # -- certificates ---------------------------------------------------------------------
    def certificates(self, server: str, store: StoreName | None = None) -> list[CertificateRecord]:
        server_row = self._server_row(server)
        query = select(CertificateRow).where(CertificateRow.server_id == server_row.id)
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
            where = f"the {store.value} store of server {self.server(server).name}"
            raise NotFoundError(f"no certificate with thumbprint {thumbprint} in {where}")
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
        if self._find_cert_row(record.server, record.thumbprint, record.store) is not None:
            raise StoreError(
                f"certificate {record.thumbprint} already exists in the {record.store.value} "
                f"store of server {server_row.name}"
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
            raise StoreError(
                f"certificate {new.thumbprint} already exists on server {row.server.name}"
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
            raise StoreError(f"certificate {record.thumbprint} has no private key")
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
            raise NotFoundError(f"certificate {thumbprint} is not published in the organisation")
        return row.der, self._vault.open(row.encrypted_pkcs8)

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
            raise NotFoundError(
                f"no certificate with thumbprint {thumbprint} in the {store.value} store "
                f"of server {server}"
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
        return CertificateRecord(
            server=server,
            store=StoreName(row.store),
            thumbprint=Thumbprint(row.thumbprint),
            der=row.der,
            csr_der=row.csr_der,
            services=ServiceSet(Service(row.services)),
            friendly_name=row.friendly_name,
            has_private_key=row.private_key is not None,
            exportable=row.exportable,
            key_provider=row.key_provider,
            created_at=_utc(row.created_at),
        )


def _spki_id(spki_der: bytes) -> str:
    return hashlib.sha1(spki_der, usedforsecurity=False).hexdigest().upper()


class SqlStore:
    """Engine, schema and transactions for one database URL."""

    def __init__(self, url: str, vault: KeyVault) -> None:
        self.url = url
        self._vault = vault
        try:
            self._engine = create_engine(url)
            if url.startswith("sqlite"):
                event.listen(self._engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(self._engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"{url}: cannot open the database ({exc.__class__.__name__})") from exc
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Repository]:
        session = self._sessions()
        try:
            with session.begin():
                yield Repository(session, self._vault)
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise StoreError(f"database error: {exc.__class__.__name__}: {detail}") from exc
        finally:
            session.close()

    def close(self) -> None:
        self._engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
