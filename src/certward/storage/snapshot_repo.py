"""The repository's reads of the whole organisation for health (issue 16), mixed into
:class:`certward.storage.Repository`: a few set-based queries, whatever the number of
servers, instead of one set per server.

A certificate's DER is read once per thumbprint (the 300 roots every server trusts are read
once, not once per server), and only for thumbprints the caller has not parsed yet: a
thumbprint names one certificate, whose content never changes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certward.model import (
    ObservedCertificate,
    ObservedFacts,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
    VirtualDirectory,
)
from certward.storage import facts
from certward.storage.schema import (
    CertificateRow,
    ObservedCertificateRow,
    ObservedFactsRow,
    PrivateKeyRow,
    ServerRow,
    VirtualDirectoryRow,
)

_CHUNK = 500  # SQLite's bound parameters per IN (...)


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A completed certificate in a store of a server certward runs (without its DER)."""

    store: StoreName
    thumbprint: Thumbprint
    services: ServiceSet
    has_private_key: bool
    key_provider: str | None


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SnapshotRepository:
    _session: Session

    def personal_certificates(self) -> dict[str, list[HeldRow]]:
        """Every completed certificate in the Personal store of every server certward runs,
        by server name (in the order they were stored), and whether each has a key: one
        query."""
        rows = self._session.execute(
            select(
                ServerRow.name,
                CertificateRow.thumbprint,
                CertificateRow.services,
                CertificateRow.key_provider,
                PrivateKeyRow.id,
            )
            .join(ServerRow, CertificateRow.server_id == ServerRow.id)
            .outerjoin(PrivateKeyRow, PrivateKeyRow.certificate_id == CertificateRow.id)
            .where(
                CertificateRow.store == StoreName.MY.value,
                CertificateRow.der.is_not(None),
                ServerRow.observed.is_(False),
            )
            .order_by(CertificateRow.id)
        )
        found: dict[str, list[HeldRow]] = {}
        service_sets: dict[int, ServiceSet] = {}
        for server, thumb, services, provider, key_id in rows:
            service_set = service_sets.get(services)
            if service_set is None:
                service_set = service_sets[services] = ServiceSet(Service(services))
            found.setdefault(server, []).append(
                HeldRow(StoreName.MY, Thumbprint(thumb), service_set, key_id is not None, provider)
            )
        return found

    def trusted_thumbprints(self) -> dict[tuple[str, StoreName], list[Thumbprint]]:
        """The thumbprints in the Root and CA stores of every server certward runs, by
        (server name, store), in the order they were stored: one query, whose rows (300
        roots on each of 1,000 servers) are only grouped."""
        names = dict(
            self._session.execute(
                select(ServerRow.id, ServerRow.name).where(ServerRow.observed.is_(False))
            ).all()
        )
        rows = self._session.execute(
            select(CertificateRow.server_id, CertificateRow.store, CertificateRow.thumbprint)
            .where(
                CertificateRow.store.in_((StoreName.ROOT.value, StoreName.CA.value)),
                CertificateRow.der.is_not(None),
            )
            .order_by(CertificateRow.server_id, CertificateRow.store, CertificateRow.id)
        )
        found: dict[tuple[str, StoreName], list[Thumbprint]] = {}
        for (server_id, store), group in itertools.groupby(rows, key=operator.itemgetter(0, 1)):
            name = names.get(server_id)
            if name is not None:
                found[(name, StoreName(store))] = [Thumbprint(row[2]) for row in group]
        return found

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
            rows = self._session.execute(
                select(CertificateRow.thumbprint, CertificateRow.der).where(
                    CertificateRow.id.in_(
                        first.where(CertificateRow.thumbprint.in_(wanted[start : start + _CHUNK]))
                    )
                )
            )
            for thumb, der in rows:
                if der is not None:
                    found[Thumbprint(thumb)] = der
        return found

    def all_virtual_directories(self) -> dict[str, list[VirtualDirectory]]:
        """Every server's virtual directories by server name: one query."""
        rows = self._session.execute(
            select(ServerRow.name, VirtualDirectoryRow)
            .join(ServerRow, VirtualDirectoryRow.server_id == ServerRow.id)
            .order_by(VirtualDirectoryRow.id)
        )
        found: dict[str, list[VirtualDirectory]] = {}
        for server, v in rows:
            found.setdefault(server, []).append(
                VirtualDirectory(
                    server, v.name, v.path, v.internal_url, v.external_url, v.require_ssl
                )
            )
        return found

    def all_observed_certificates(self) -> dict[str, list[ObservedCertificate]]:
        """Every observed server's certificates (as its dumps showed them) by server name,
        in the order they were recorded: one query."""
        rows = self._session.execute(
            select(ServerRow.name, ObservedCertificateRow)
            .join(ServerRow, ObservedCertificateRow.server_id == ServerRow.id)
            .order_by(ObservedCertificateRow.id)
        )
        found: dict[str, list[ObservedCertificate]] = {}
        for server, row in rows:
            found.setdefault(server, []).append(observed_certificate(row, server))
        return found

    def all_observed_facts(self) -> dict[str, ObservedFacts]:
        """What each observed server's collection showed besides certificates: one query."""
        rows = self._session.execute(
            select(ServerRow.name, ObservedFactsRow.document).join(
                ServerRow, ObservedFactsRow.server_id == ServerRow.id
            )
        )
        return {server: facts.read_facts(server, document) for server, document in rows}


def observed_certificate(row: ObservedCertificateRow, server: str) -> ObservedCertificate:
    """An observed certificate as stored (the one reading of its row, for every caller)."""
    return ObservedCertificate(
        server=server,
        store=StoreName(row.store),
        thumbprint=Thumbprint(row.thumbprint),
        subject=row.subject,
        issuer=row.issuer,
        not_before=_utc(row.not_before),
        not_after=_utc(row.not_after),
        dns_names=tuple(filter(None, row.dns_names.splitlines())),
        services=ServiceSet(Service(row.services)),
        has_private_key=row.has_private_key,
        key_provider=row.key_provider,
        key_size=row.key_size,
        signature_algorithm=row.signature_algorithm,
        serial_number=row.serial_number,
        friendly_name=row.friendly_name,
        source=row.source,
        archived=bool(row.archived),
        exportable=row.exportable,
        status=row.status,
        public_key_algorithm=row.public_key_algorithm,
        der=row.der,
    )
