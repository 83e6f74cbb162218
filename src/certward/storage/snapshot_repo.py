"""The repository's reads of the whole organisation for health (issue 16), mixed into
:class:`certward.storage.Repository`: a few set-based queries, whatever the number of
servers, instead of one set per server.

A certificate's DER is read once per thumbprint (the 300 roots every server trusts are read
once, not once per server), and only for thumbprints the caller has not parsed yet: a
thumbprint names one certificate, whose content never changes.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from certward.model import (
    Connector,
    ObservedCertificate,
    ObservedFacts,
    StoreName,
    Thumbprint,
    VirtualDirectory,
)
from certward.storage import facts, rows, snapshot_rows
from certward.storage.schema import (
    CertificateRow,
    ConnectorRow,
    ObservedCertificateRow,
    ObservedFactsRow,
    PrivateKeyRow,
    ServerRow,
    VirtualDirectoryRow,
)

_CHUNK = 500  # SQLite's bound parameters per IN (...)


class SnapshotRepository:
    _session: Session

    def personal_certificates(self) -> dict[str, list[snapshot_rows.HeldRow]]:
        """Every completed certificate in the Personal store of every server certward runs,
        by server name (in the order they were stored), and whether each has a key: one
        query, which finds each server's rows by the stores' index."""
        names = self._run_servers()
        found = self._session.execute(
            select(
                CertificateRow.server_id,
                CertificateRow.thumbprint,
                CertificateRow.services,
                CertificateRow.key_provider,
                PrivateKeyRow.id,
            )
            .outerjoin(PrivateKeyRow, PrivateKeyRow.certificate_id == CertificateRow.id)
            .where(
                CertificateRow.server_id.in_(
                    select(ServerRow.id).where(ServerRow.observed.is_(False))
                ),
                CertificateRow.store == StoreName.MY.value,
                CertificateRow.der.is_not(None),
            )
            .order_by(CertificateRow.id)
        )
        return snapshot_rows.held_rows(found, names)

    def _run_servers(self) -> dict[int, str]:
        """The servers certward runs (not observed ones): names by id."""
        return dict(
            self._session.execute(
                select(ServerRow.id, ServerRow.name).where(ServerRow.observed.is_(False))
            ).all()
        )

    def trusted_thumbprints(self) -> dict[tuple[str, StoreName], tuple[Thumbprint, ...]]:
        """The thumbprints in the Root and CA stores of every server certward runs, by
        (server name, store), in the order they were stored; servers whose store holds the
        same thumbprints in the same order share one tuple. One query over the stores' index
        (not their rows): each store's thumbprints and ids as two strings, put in id order
        here (both strings list the rows in the same order, whatever order the database
        chose). A pending request's row (no DER) is listed too: its thumbprint is its CSR's
        hash, which names no certificate, so no DER or profile is found for it."""
        names = self._run_servers()
        found = self._session.execute(
            select(
                CertificateRow.server_id,
                CertificateRow.store,
                func.aggregate_strings(CertificateRow.thumbprint, ","),
                func.aggregate_strings(cast(CertificateRow.id, String), ","),
            )
            .where(CertificateRow.store.in_((StoreName.ROOT.value, StoreName.CA.value)))
            .group_by(CertificateRow.server_id, CertificateRow.store)
        )
        return snapshot_rows.trusted_stores(found, names)

    def distinct_ders(self, thumbprints: Collection[str]) -> dict[Thumbprint, bytes]:
        """The DER of each of ``thumbprints`` the store holds, read once per thumbprint
        however many servers hold it (any server certward runs, any store)."""
        wanted = sorted(set(thumbprints))
        found: dict[Thumbprint, bytes] = {}
        first = (
            select(func.min(CertificateRow.id))
            .where(CertificateRow.der.is_not(None))
            .group_by(CertificateRow.thumbprint)
        )
        for start in range(0, len(wanted), _CHUNK):
            chunk = self._session.execute(
                select(CertificateRow.thumbprint, CertificateRow.der).where(
                    CertificateRow.id.in_(
                        first.where(CertificateRow.thumbprint.in_(wanted[start : start + _CHUNK]))
                    )
                )
            )
            for thumb, der in chunk:
                if der is not None:
                    found[Thumbprint(thumb)] = der
        return found

    def all_virtual_directories(self) -> dict[str, list[VirtualDirectory]]:
        """Every server's virtual directories by server name: one query, of columns."""
        v = VirtualDirectoryRow
        found_rows = self._session.execute(
            select(ServerRow.name, v.name, v.path, v.internal_url, v.external_url, v.require_ssl)
            .join(ServerRow, v.server_id == ServerRow.id)
            .order_by(v.id)
        )
        found: dict[str, list[VirtualDirectory]] = {}
        for server, name, path, internal, external, require_ssl in found_rows:
            found.setdefault(server, []).append(
                VirtualDirectory(server, name, path, internal, external, require_ssl)
            )
        return found

    def all_connectors(self) -> list[Connector]:
        """Every connector, as :meth:`Repository.connectors` reads them (by identity): one
        query, of columns; each distinct binding, smart host and setting made once."""
        columns = [getattr(ConnectorRow, name) for name in rows.CONNECTOR_COLUMNS]
        return rows.connectors_of(
            self._session.execute(select(*columns).order_by(ConnectorRow.identity_key))
        )

    def all_observed_certificates(self) -> dict[str, list[ObservedCertificate]]:
        """Every observed server's certificates (as its dumps showed them) by server name,
        in the order they were recorded: one query."""
        found_rows = self._session.execute(
            select(ServerRow.name, ObservedCertificateRow)
            .join(ServerRow, ObservedCertificateRow.server_id == ServerRow.id)
            .order_by(ObservedCertificateRow.id)
        )
        found: dict[str, list[ObservedCertificate]] = {}
        for server, row in found_rows:
            found.setdefault(server, []).append(observed_certificate(row, server))
        return found

    def all_observed_facts(self) -> dict[str, ObservedFacts]:
        """What each observed server's collection showed besides certificates: one query."""
        found_rows = self._session.execute(
            select(ServerRow.name, ObservedFactsRow.document).join(
                ServerRow, ObservedFactsRow.server_id == ServerRow.id
            )
        )
        return {server: facts.read_facts(server, document) for server, document in found_rows}


def observed_certificate(row: ObservedCertificateRow, server: str) -> ObservedCertificate:
    """An observed certificate as stored (the one reading of its row, for every caller)."""
    return rows.observed_certificate_of(row, server)
