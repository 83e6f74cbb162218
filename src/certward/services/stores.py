"""A server's trust stores: the Root (Trusted Root Certification Authorities) and CA
(Intermediate Certification Authorities) stores, each operation one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from certward.clock import Clock
from certward.codes.certificates import TRUST_STORE_IS_MY
from certward.model import CertificateRecord, StoreName, Thumbprint
from certward.pki import certinfo, formats
from certward.pki.names import dotnet_x500
from certward.services._records import auth_thumbprint, views_of
from certward.services.ports import UnitOfWork
from certward.services.views import CertificateView, TrustStores, describe


@dataclass(frozen=True, slots=True)
class StoreAddResult:
    added: list[tuple[Thumbprint, str]]
    already_present: list[Thumbprint]


class TrustStoreService:
    """List, add and remove certificates of a server's Root and CA stores.

    A bundle of thousands is one transaction of a few statements: the store's thumbprints
    read once, the new certificates written with one INSERT; a listing reads each store
    once and parses each certificate once."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def store_list(self, server: str, store: StoreName) -> list[CertificateView]:
        _trust_store(store)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if srv.observed:
                return views_of(repo, srv, store, now)
            listed = repo.certificate_records(srv.name, store)
            other = StoreName.CA if store is StoreName.ROOT else StoreName.ROOT
            parsed = {r.thumbprint: certinfo.load_der(r.der) for r in listed if r.der is not None}
            others = [
                certinfo.load_der(r.der)
                for r in repo.certificate_records(srv.name, other)
                if r.der is not None
            ]
            mine = [parsed[r.thumbprint] for r in listed if r.der is not None]
            trust = (
                TrustStores(roots=mine, intermediates=others)
                if store is StoreName.ROOT
                else TrustStores(roots=others, intermediates=mine)
            )
            auth = auth_thumbprint(repo)
            return [
                describe(
                    record,
                    server=srv,
                    trust=trust,
                    now=now,
                    auth_thumbprint=auth,
                    certificate=parsed.get(record.thumbprint),
                )
                for record in listed
            ]

    def store_add(
        self, server: str, store: StoreName, data: bytes, *, source: str
    ) -> StoreAddResult:
        _trust_store(store)
        certificates = formats.load_certificates(data, source=source)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            stored = repo.certificate_thumbprints(srv.name, store)
            added: list[tuple[Thumbprint, str]] = []
            present: list[Thumbprint] = []
            records: list[CertificateRecord] = []
            for cert in certificates:
                der = certinfo.to_der(cert)
                thumbprint = certinfo.thumbprint(der)
                if thumbprint in stored:
                    present.append(thumbprint)
                    continue
                stored.add(thumbprint)
                records.append(
                    CertificateRecord(
                        server=srv.name, store=store, thumbprint=thumbprint, der=der, created_at=now
                    )
                )
                added.append((thumbprint, dotnet_x500(cert.subject)))
            repo.add_certificates(records)
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
