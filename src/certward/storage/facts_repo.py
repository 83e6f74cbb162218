"""Certificates' recorded facts (issue 16), mixed into :class:`certward.storage.Repository`:
what each certificate says about itself (:class:`CertFacts`), one row per thumbprint in
``certificate_facts`` (:mod:`certward.storage.schema_facts`).

Facts are derived data: a row is written when a certificate is first seen (a store add, or
a reader that found none and parsed the certificate), never changed, and not audited nor
counted as a change of the store (the certificate's own row is both). A row of another
format (:data:`FACTS_FORMAT`) is as good as none: the reader works the facts out again.
Written with INSERT ... ON CONFLICT DO NOTHING, so two writers of the same certificate's
facts (which are equal) do not collide.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from certward.model import CertificateRecord, Service, ServiceSet, StoreName, Thumbprint
from certward.model.certfacts import FACTS_FORMAT, CertFacts
from certward.storage import snapshot_rows
from certward.storage.inventory_repo import RECORD_COLUMNS
from certward.storage.migrations import READ_ONLY
from certward.storage.schema import CertificateRow, PrivateKeyRow, ServerRow
from certward.storage.schema_facts import certificate_facts as facts_table

_CHUNK = 500  # SQLite's bound parameters per IN (...)
_INSERT_CHUNK = 1000

# The facts' columns, in CertFacts' order after the thumbprint.
_COLUMNS = tuple(facts_table.c[name] for name in snapshot_rows.FACTS_COLUMNS)
_FACT_COUNT = len(_COLUMNS)


class FactsRepository:
    _session: Session

    def _server_row(self, name: str) -> ServerRow:  # pragma: no cover - Repository's own
        raise NotImplementedError

    def certificate_facts(self, thumbprints: Collection[str]) -> dict[Thumbprint, CertFacts]:
        """The recorded facts of each of ``thumbprints`` that has them (in this format)."""
        wanted = set(thumbprints)
        found: dict[Thumbprint, CertFacts] = {}
        if not wanted:
            return found
        connection = self._session.connection()
        if connection.dialect.name == "sqlite":  # the driver's rows, converted there
            return snapshot_rows.sqlite_certificate_facts(connection.exec_driver_sql, wanted)
        query = select(facts_table.c.thumbprint, *_COLUMNS).where(
            facts_table.c.format == FACTS_FORMAT
        )
        ordered = sorted(wanted)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            for row in self._session.execute(query.where(facts_table.c.thumbprint.in_(chunk))):
                found[Thumbprint(row[0])] = snapshot_rows.certificate_facts_of(row[0], row, 1)
        return found

    def record_certificate_facts(self, facts: Iterable[CertFacts]) -> None:
        """Store ``facts`` (those of certificates already recorded are left as they are).
        Within a read (:meth:`SqlStore.reading`) nothing is written: the next writer will."""
        connection = self._session.connection()
        if connection.get_execution_options().get(READ_ONLY):
            return
        if connection.dialect.name == "sqlite":  # the driver's executemany, rows made here
            values = [snapshot_rows.sqlite_facts_values(f) for f in facts]
            for start in range(0, len(values), _INSERT_CHUNK):
                connection.exec_driver_sql(
                    snapshot_rows.SQLITE_FACTS_UPSERT, values[start : start + _INSERT_CHUNK]
                )
            return
        inserted = [_row(f) for f in facts]
        if not inserted:
            return
        # Imported here: the dialect's module costs every SQLite command some 50 ms to load.
        from sqlalchemy.dialects import postgresql

        insert = postgresql.insert(facts_table)
        # Stored facts of an older format are replaced; the same format's are kept as is.
        statement = insert.on_conflict_do_update(
            index_elements=[facts_table.c.thumbprint],
            set_={c.name: insert.excluded[c.name] for c in facts_table.c if c.name != "thumbprint"},
            where=facts_table.c.format != FACTS_FORMAT,
        )
        for start in range(0, len(inserted), _INSERT_CHUNK):
            # On the connection, not session.execute: neither a change nor audited.
            connection.execute(statement, inserted[start : start + _INSERT_CHUNK])

    def certificates_with_facts(
        self, server: str, store: StoreName
    ) -> Iterator[tuple[CertificateRecord, CertFacts | None]]:
        """``store`` of ``server`` as :meth:`certificate_records` gives it, each record with
        its recorded facts (None: not recorded yet, or a pending request), in one query
        (streamed)."""
        server_row = self._server_row(server)
        name = server_row.name
        known = and_(
            facts_table.c.thumbprint == CertificateRow.thumbprint,
            facts_table.c.format == FACTS_FORMAT,
        )
        found = self._session.execute(
            select(
                *RECORD_COLUMNS,
                facts_table.c.thumbprint,
                *_COLUMNS,
            )
            .outerjoin(PrivateKeyRow, PrivateKeyRow.certificate_id == CertificateRow.id)
            .outerjoin(facts_table, known)
            .where(CertificateRow.server_id == server_row.id, CertificateRow.store == store.value)
            .order_by(CertificateRow.id)
            .execution_options(yield_per=1000)
        )
        services: dict[int, ServiceSet] = {}
        for row in found:
            flags = row[3]
            service_set = services.get(flags)
            if service_set is None:
                service_set = services[flags] = ServiceSet(Service(flags))
            record = CertificateRecord(
                server=name,
                store=store,
                thumbprint=Thumbprint(row[0]),
                der=row[1],
                csr_der=row[2],
                services=service_set,
                friendly_name=row[4],
                has_private_key=row[8] is not None,
                exportable=row[5],
                key_provider=row[6],
                created_at=None if row[7] is None else snapshot_rows.stored_utc(row[7]),
            )
            yield (
                record,
                (None if row[9] is None else snapshot_rows.certificate_facts_of(row[0], row, 10)),
            )


def _row(facts: CertFacts) -> dict[str, Any]:
    return {
        "thumbprint": facts.thumbprint,
        "format": FACTS_FORMAT,
        "subject": facts.subject,
        "issuer": facts.issuer,
        "subject_text": facts.subject_text,
        "issuer_text": facts.issuer_text,
        "common_name": facts.common_name,
        "dns_names": json.dumps(list(facts.dns_names)),
        "not_before": facts.not_before,
        "not_after": facts.not_after,
        "self_signed": facts.self_signed,
        "is_ca": facts.is_ca,
        "version": facts.version,
        "key_type": facts.key_type,
        "key_size": facts.key_size,
        "signature_algorithm": facts.signature_algorithm,
        "serial_number": facts.serial_number,
    }
