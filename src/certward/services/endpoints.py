"""Reading what a server's live endpoints need from the store, and running them."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import types

from certward.endpoints.selection import Candidate
from certward.endpoints.snapshot import EndpointSnapshot
from certward.model import StoreName, Thumbprint
from certward.pki import certinfo
from certward.services.ports import UnitOfWork


def load_snapshot(uow: UnitOfWork, server: str) -> EndpointSnapshot:
    """One consistent read of everything the endpoints of ``server`` depend on."""
    with uow.transaction() as repo:
        srv = repo.server(server)
        org = repo.organisation()
        candidates: list[Candidate] = []
        keys: dict[Thumbprint, types.PrivateKeyTypes] = {}
        for record in repo.certificates(srv.name, StoreName.MY):
            if record.der is None:
                continue
            candidates.append(
                Candidate(
                    record.thumbprint,
                    certinfo.load_der(record.der),
                    record.has_private_key,
                    record.services,
                )
            )
            if record.has_private_key and record.services:
                keys[record.thumbprint] = repo.private_key(record)

        def trust(store: StoreName) -> tuple:  # type: ignore[type-arg]
            return tuple(
                certinfo.load_der(r.der) for r in repo.certificates(srv.name, store) if r.der
            )

        transport = org.transport if org else None
        return EndpointSnapshot(
            server=srv,
            candidates=tuple(candidates),
            keys=keys,
            roots=trust(StoreName.ROOT),
            intermediates=trust(StoreName.CA),
            connectors=tuple(repo.connectors()),
            receive_domain_secure=transport.tls_receive_domain_secure_list if transport else (),
            send_domain_secure=transport.tls_send_domain_secure_list if transport else (),
            accepted_domains=tuple(repo.accepted_domains()),
            mailboxes={m.address: m for m in repo.mailboxes()},  # the organisation's
        )
