"""A server's trust stores: the Root (Trusted Root Certification Authorities) and CA
(Intermediate Certification Authorities) stores, each operation one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from certward.clock import Clock
from certward.codes.certificates import TRUST_STORE_IS_MY
from certward.model import StoreName, Thumbprint
from certward.pki import certinfo, formats
from certward.services._records import add_record, thumb, views_of
from certward.services.ports import UnitOfWork
from certward.services.views import CertificateView


@dataclass(frozen=True, slots=True)
class StoreAddResult:
    added: list[tuple[Thumbprint, str]]
    already_present: list[Thumbprint]


class TrustStoreService:
    """List, add and remove certificates of a server's Root and CA stores."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def store_list(self, server: str, store: StoreName) -> list[CertificateView]:
        _trust_store(store)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            return views_of(repo, repo.server(server), store, now)

    def store_add(
        self, server: str, store: StoreName, data: bytes, *, source: str
    ) -> StoreAddResult:
        _trust_store(store)
        certificates = formats.load_certificates(data, source=source)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            added: list[tuple[Thumbprint, str]] = []
            present: list[Thumbprint] = []
            seen: set[str] = set()
            for cert in certificates:
                thumbprint = thumb(cert)
                if (
                    thumbprint in seen
                    or repo.find_certificate(srv.name, thumbprint, store) is not None
                ):
                    present.append(thumbprint)
                    continue
                seen.add(thumbprint)
                add_record(repo, srv.name, cert, now=now, store=store)
                added.append((thumbprint, certinfo.facts(cert).subject))
            return StoreAddResult(added, present)

    def store_remove(self, server: str, store: StoreName, *thumbprints: Thumbprint) -> None:
        """Remove one or many certificates in one transaction (all of them, or none)."""
        _trust_store(store)
        with self._uow.transaction() as repo:
            for thumbprint in thumbprints:
                repo.delete_certificate(repo.certificate(server, thumbprint, store))


def _trust_store(store: StoreName) -> None:
    if store is StoreName.MY:
        raise TRUST_STORE_IS_MY(
            "the My store holds the server's own certificates with their keys, not trust anchors",
            store=store.value,
        )
