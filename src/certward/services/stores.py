"""A server's trust stores: the Root (Trusted Root Certification Authorities) and CA
(Intermediate Certification Authorities) stores, each operation one transaction."""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from cryptography import x509

from certward.clock import Clock
from certward.codes.certificates import TRUST_STORE_IS_MY
from certward.model import CertificateRecord, StoreName, Thumbprint
from certward.model.certfacts import CertFacts
from certward.pki import certfacts, certinfo, formats

if TYPE_CHECKING:
    from certward.services.ports import UnitOfWork
    from certward.services.views import CertificateView

_CHUNK = 1000  # certificates written at a time


@dataclass(frozen=True, slots=True)
class StoreAddResult:
    added: list[tuple[Thumbprint, str]]
    already_present: list[Thumbprint]


class TrustBundle:
    """The certificates of a file for a trust store (a PEM bundle, DER or PKCS#7), read,
    their facts (:class:`CertFacts`) worked out as :meth:`TrustStoreService.store_add_bundle`
    needs them: use it as a block, ``with TrustBundle(data, source=name) as bundle:``.

    A file that cannot be read raises the coded error naming ``source``; so does a
    certificate in it that cannot be read, once its facts are asked for. From
    :data:`certfacts.PARALLEL_FROM` certificates on, a helper process starts on the facts on
    entering the block (:class:`certfacts.BundleFacts`): a caller that enters it before
    opening the store (the command line) has them worked out while the store opens.

    Each certificate object is let go as soon as its facts are worked out: an object keeps
    every part it was asked for (its names alone some 3 KiB), which at 10,000 would make
    memory grow with the bundle; unread, it costs little more than its DER."""

    def __init__(self, data: bytes, *, source: str) -> None:
        # Not checked part by part here: each new certificate's facts read every part once,
        # and one that cannot be read is checked then, its error naming ``source``.
        plain = certfacts.plain_pem_certificates(data)
        if plain is None:
            loaded = formats.load_certificates(data, source=source, check=False)
            plain = [certinfo.to_der(c) for c in loaded], loaded
            del loaded
        self.source = source
        self.ders = plain[0]
        """Each certificate's DER, in the file's order."""
        certs: list[x509.Certificate | None] = list(plain[1])
        del plain
        self._facts = certfacts.BundleFacts(self.ders, certs, source=source)

    def __enter__(self) -> TrustBundle:
        self._facts.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._facts.__exit__(kind, value, traceback)

    def facts_as_made(self, wanted: Container[int]) -> Iterator[tuple[int, CertFacts]]:
        """The facts of the certificates at the indices ``wanted``, each with its index, in
        the order they are worked out (:meth:`certfacts.BundleFacts.facts_as_made`)."""
        return self._facts.facts_as_made(wanted)


class TrustStoreService:
    """List, add and remove certificates of a server's Root and CA stores.

    A bundle of thousands is one transaction of a few statements: the store's thumbprints
    read once, the new certificates written with one INSERT per thousand, then their facts
    (:class:`CertFacts`, worked out by :class:`TrustBundle` meanwhile). A listing reads the store
    and its certificates' recorded facts in one query and parses nothing, unless a
    certificate's Status depends on the chain (a CA-issued certificate in a trust store),
    or its facts were never recorded (then they are worked out and recorded)."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def store_list(self, server: str, store: StoreName) -> list[CertificateView]:
        # Imported here: ``store add`` reads the bundle with this module before the helper
        # process starts, and needs none of the views (some 30 ms).
        from certward.services._records import auth_thumbprint, views_of
        from certward.services.views import TrustStores, describe, needs_chain

        _trust_store(store)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if srv.observed:
                return views_of(repo, srv, store, now)
            auth = auth_thumbprint(repo)
            no_trust = TrustStores(roots=[], intermediates=[])
            # Each view made as its row is read (rows are streamed: a store of thousands is
            # never held whole), but those whose Status depends on the chain, made after.
            views: list[CertificateView | None] = []
            chained: list[tuple[int, CertificateRecord, CertFacts]] = []
            made: list[CertFacts] = []  # facts not recorded yet: worked out, then recorded
            with certinfo.quietly():
                for record, facts in repo.certificates_with_facts(srv.name, store):
                    if facts is None and record.der is not None:
                        facts = certfacts.certificate_facts(record.der)
                        made.append(facts)
                    if facts is not None and needs_chain(facts, now):
                        chained.append((len(views), record, facts))
                        views.append(None)
                        continue
                    views.append(
                        describe(record, server=srv, trust=no_trust, now=now,
                                 auth_thumbprint=auth, facts=facts)
                    )  # fmt: skip
            repo.record_certificate_facts(made)
            if chained:  # a CA-issued certificate within its dates: the stores, parsed
                trust = TrustStores.of(repo, srv.name)
                mine = trust.roots if store is StoreName.ROOT else trust.intermediates
                parsed = {certinfo.thumbprint(certinfo.to_der(c)): c for c in mine}
                for at, record, facts in chained:
                    views[at] = describe(
                        record,
                        server=srv,
                        trust=trust,
                        now=now,
                        auth_thumbprint=auth,
                        certificate=parsed.get(record.thumbprint),
                        facts=facts,
                    )
            return [v for v in views if v is not None]

    def store_add(
        self, server: str, store: StoreName, data: bytes, *, source: str
    ) -> StoreAddResult:
        """Add the certificates of the file ``data`` (``source``: its name, for errors)."""
        _trust_store(store)
        with TrustBundle(data, source=source) as bundle:
            return self.store_add_bundle(server, store, bundle)

    def store_add_bundle(
        self, server: str, store: StoreName, bundle: TrustBundle
    ) -> StoreAddResult:
        """Add the certificates of ``bundle`` (inside its block), in one transaction: the new
        certificates are written first, while their facts are still being worked out, and
        then their facts."""
        _trust_store(store)
        ders = bundle.ders
        now = self._clock.now()
        with self._uow.transaction() as repo, certinfo.quietly():
            srv = repo.server(server)
            stored = repo.certificate_thumbprints(srv.name, store)
            new: dict[int, Thumbprint] = {}  # index in the file: thumbprint
            present: list[Thumbprint] = []
            for at, der in enumerate(ders):
                thumbprint = certinfo.thumbprint(der)
                if thumbprint in stored:
                    present.append(thumbprint)
                else:
                    stored.add(thumbprint)
                    new[at] = thumbprint
            chunk: list[CertificateRecord] = []
            for at, thumbprint in new.items():
                chunk.append(
                    CertificateRecord(
                        server=srv.name, store=store, thumbprint=thumbprint, der=ders[at],
                        created_at=now,
                    )
                )  # fmt: skip
                if len(chunk) == _CHUNK:
                    repo.add_certificates(chunk)
                    chunk = []
            repo.add_certificates(chunk)
            # Written as they are made: the helper's while it still works, not after.
            subjects: dict[int, str] = {}
            made: list[CertFacts] = []
            for at, facts in bundle.facts_as_made(new):
                made.append(facts)
                subjects[at] = facts.subject_text
                if len(made) == _CHUNK:
                    repo.record_certificate_facts(made)
                    made = []
            repo.record_certificate_facts(made)
            added = [(thumbprint, subjects[at]) for at, thumbprint in new.items()]
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
