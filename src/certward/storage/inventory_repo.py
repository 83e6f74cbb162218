"""The repository's bulk reads and writes of certificates, mixed into
:class:`certward.storage.Repository`: the whole organisation's (issue 14: the web service's
``/metrics`` at 20,000 certificates) and a trust store's (issue 16: ``store add`` and
``store list`` of 10,000).

One query each, without the per-row loads of :meth:`Repository.certificates` (its key
relationship): a scrape reads the index every time and the DER only of thumbprints it has
not parsed yet (a thumbprint names one certificate, whose content never changes). Many
certificates without keys go in with one INSERT (executemany), audited row by row."""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, LargeBinary, insert, select
from sqlalchemy.orm import Session

from certward.codes.general import SERVER_OBSERVED
from certward.model import CertificateRecord, Service, ServiceSet, StoreName, Thumbprint
from certward.storage import audit_capture
from certward.storage.rows import utc
from certward.storage.schema import (
    CertificateRow,
    ObservedCertificateRow,
    PrivateKeyRow,
    ServerRow,
)

_CHUNK = 500  # SQLite's bound parameters per IN (...)
_INSERT_CHUNK = 1000  # rows per executemany: the statement's parameters stay small


# A certificate record's columns, in the order the readers unpack them (the key's id,
# by an outer join, says whether it has one; no key is loaded).
RECORD_COLUMNS = (
    CertificateRow.thumbprint,
    CertificateRow.der,
    CertificateRow.csr_der,
    CertificateRow.services,
    CertificateRow.friendly_name,
    CertificateRow.exportable,
    CertificateRow.key_provider,
    CertificateRow.created_at,
    PrivateKeyRow.id,
)


@dataclass(frozen=True, slots=True)
class IndexedCertificate:
    """A completed certificate of a server certward runs: where it is, what it serves."""

    server: str
    thumbprint: Thumbprint
    services: ServiceSet


@dataclass(frozen=True, slots=True)
class IndexedObservedCertificate:
    """A certificate of an observed server as its output described it (not archived)."""

    server: str
    thumbprint: Thumbprint
    subject: str
    not_after: dt.datetime
    services: ServiceSet


class InventoryRepository:
    _session: Session

    def _server_row(self, name: str) -> ServerRow:  # pragma: no cover - Repository's own
        raise NotImplementedError

    # -- a trust store's certificates, many at once -----------------------------------------
    def certificate_thumbprints(self, server: str, store: StoreName) -> set[Thumbprint]:
        """The thumbprints of every record in ``store`` of ``server`` (one query)."""
        server_id = self._server_row(server).id
        return {
            Thumbprint(thumb)
            for thumb in self._session.scalars(
                select(CertificateRow.thumbprint).where(
                    CertificateRow.server_id == server_id, CertificateRow.store == store.value
                )
            )
        }

    def certificate_records(self, server: str, store: StoreName) -> list[CertificateRecord]:
        """``store`` of ``server`` as :meth:`Repository.certificates` gives it, in one query
        (whether each has a key by an outer join, no key loaded)."""
        server_row = self._server_row(server)
        rows = self._session.execute(
            select(
                *RECORD_COLUMNS,
            )
            .outerjoin(PrivateKeyRow, PrivateKeyRow.certificate_id == CertificateRow.id)
            .where(CertificateRow.server_id == server_row.id, CertificateRow.store == store.value)
            .order_by(CertificateRow.id)
        )
        return [
            CertificateRecord(
                server=server_row.name,
                store=store,
                thumbprint=Thumbprint(thumb),
                der=der,
                csr_der=csr_der,
                services=ServiceSet(Service(services)),
                friendly_name=friendly_name,
                has_private_key=key_id is not None,
                exportable=exportable,
                key_provider=key_provider,
                created_at=utc(created_at),
            )
            for thumb, der, csr_der, services, friendly_name, exportable, key_provider, created_at, key_id in rows  # noqa: E501
        ]

    def add_certificates(self, records: list[CertificateRecord]) -> None:
        """Store ``records`` (certificates without private keys: a trust store's) with one
        INSERT per thousand (executemany); each is audited as a new certificate, as
        :meth:`Repository.add_certificate` is. A record already stored fails the whole
        transaction (the unique constraint): callers leave those out."""
        from certward.storage.repository import _WROTE

        servers: dict[str, ServerRow] = {}
        # On the session's connection, not session.execute: the statement is audited row by
        # row below, not as one "bulk change".
        connection = self._session.connection()
        write = _sqlite_insert(connection) if connection.dialect.name == "sqlite" else None
        for start in range(0, len(records), _INSERT_CHUNK):
            chunk = records[start : start + _INSERT_CHUNK]
            rows = [self._certificate_row(record, servers) for record in chunk]
            if write is not None:
                write(rows)
            else:
                connection.execute(insert(CertificateRow), rows)
            self._session.info[_WROTE] = True
            audit_capture.note_new_rows(
                self._session,
                "certificates",
                [
                    (f"{servers[record.server].name}/{row['store']}/{row['thumbprint']}", row)
                    for record, row in zip(chunk, rows, strict=True)
                ],
            )

    def _certificate_row(
        self, record: CertificateRecord, servers: dict[str, ServerRow]
    ) -> dict[str, Any]:
        if record.has_private_key:
            raise ValueError(f"{record.thumbprint}: add_certificates stores no keys")
        server_row = servers.get(record.server)
        if server_row is None:
            server_row = servers[record.server] = self._server_row(record.server)
            if server_row.observed:
                raise SERVER_OBSERVED(
                    f"{server_row.name} is an observed server: certward records what its "
                    "output shows and holds none of its keys; make this change on the "
                    "server itself",
                    server=server_row.name,
                )
        return {
            "server_id": server_row.id,
            "store": record.store.value,
            "thumbprint": record.thumbprint,
            "der": record.der,
            "csr_der": record.csr_der,
            "spki_sha1": None,
            "services": record.services.value.value,
            "friendly_name": record.friendly_name,
            "exportable": record.exportable,
            "key_provider": record.key_provider,
            "created_at": record.created_at or dt.datetime.now(dt.UTC),
        }

    def certificate_index(self, store: StoreName = StoreName.MY) -> list[IndexedCertificate]:
        """Every completed certificate in ``store`` of every server certward runs."""
        rows = self._session.execute(
            select(ServerRow.name, CertificateRow.thumbprint, CertificateRow.services)
            .join(ServerRow, CertificateRow.server_id == ServerRow.id)
            .where(
                CertificateRow.store == store.value,
                CertificateRow.der.is_not(None),
                ServerRow.observed.is_(False),
            )
            .order_by(ServerRow.name_key, CertificateRow.id)
        )
        return [
            IndexedCertificate(name, Thumbprint(thumb), ServiceSet(Service(services)))
            for name, thumb, services in rows
        ]

    def certificate_ders(self, thumbprints: Collection[str]) -> dict[Thumbprint, bytes]:
        """The DER of each of ``thumbprints`` that the store holds (any server, any store)."""
        wanted = sorted(set(thumbprints))
        found: dict[Thumbprint, bytes] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(CertificateRow.thumbprint, CertificateRow.der).where(
                    CertificateRow.thumbprint.in_(wanted[start : start + _CHUNK]),
                    CertificateRow.der.is_not(None),
                )
            )
            for thumb, der in rows:
                if der is not None:
                    found.setdefault(Thumbprint(thumb), der)
        return found

    def observed_certificate_index(
        self, store: StoreName = StoreName.MY
    ) -> list[IndexedObservedCertificate]:
        """Every observed server's certificates in ``store`` (archived ones left out)."""
        rows = self._session.execute(
            select(
                ServerRow.name,
                ObservedCertificateRow.thumbprint,
                ObservedCertificateRow.subject,
                ObservedCertificateRow.not_after,
                ObservedCertificateRow.services,
            )
            .join(ServerRow, ObservedCertificateRow.server_id == ServerRow.id)
            .where(
                ObservedCertificateRow.store == store.value,
                ObservedCertificateRow.archived.is_(False),
            )
            .order_by(ServerRow.name_key, ObservedCertificateRow.id)
        )
        return [
            IndexedObservedCertificate(
                name,
                Thumbprint(thumb),
                subject,
                not_after if not_after.tzinfo else not_after.replace(tzinfo=dt.UTC),
                ServiceSet(Service(services)),
            )
            for name, thumb, subject, not_after, services in rows
        ]


_NOT_GIVEN = object()


def _sqlite_insert(connection: Connection) -> Callable[[list[dict[str, Any]]], None]:
    """An executemany of certificate rows through SQLite's driver: SQLAlchemy's handling of
    each row's parameters was a third of the statement's cost at 10,000 rows. Each value is
    stored as SQLAlchemy stores it (its type's bind processor for this dialect), but for
    binary ones, which the driver stores as they are (as the processor's memoryview)."""
    table = CertificateRow.__table__
    names = [c.name for c in table.columns if c.name != "id"]
    processors = []
    for at, name in enumerate(names):
        impl = table.c[name].type.dialect_impl(connection.dialect)
        processor = (
            None if isinstance(impl, LargeBinary) else impl.bind_processor(connection.dialect)
        )
        if processor is not None:
            processors.append((at, processor))
    statement = (  # the table's own column names: no input goes into the text
        f"INSERT INTO {CertificateRow.__tablename__} ({', '.join(names)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(names))})"
    )

    row_values = operator.itemgetter(*names)

    def write(rows: list[dict[str, Any]]) -> None:
        values = []
        # The last value each processor was given, and what it gave: the rows of a bulk
        # write mostly share them (one creation time), processed once.
        last: list[tuple[Any, Any]] = [(_NOT_GIVEN, None)] * len(processors)
        for row in rows:
            value = list(row_values(row))
            for n, (at, processor) in enumerate(processors):
                given = value[at]
                before, made = last[n]
                if given is not before:
                    made = processor(given)
                    last[n] = given, made
                value[at] = made
            values.append(tuple(value))
        connection.exec_driver_sql(statement, values)

    return write
