"""The repository's bulk reads of the whole organisation's certificates (issue 14: the web
service's ``/metrics`` at 20,000 certificates), mixed into :class:`certward.storage.Repository`.

One query each, without the per-row loads of :meth:`Repository.certificates` (its key
relationship): a scrape reads the index every time and the DER only of thumbprints it has
not parsed yet (a thumbprint names one certificate, whose content never changes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.model import Service, ServiceSet, StoreName, Thumbprint
from certward.storage.schema import CertificateRow, ObservedCertificateRow, ServerRow

_CHUNK = 500  # SQLite's bound parameters per IN (...)


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
