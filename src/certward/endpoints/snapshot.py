"""What a running server needs to know, read from the store in one go (pure data), and
the reloader that reads it again only when the store changed."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import types

from certward.endpoints.tls import ServerTls
from certward.model import (
    Connector,
    ConnectorKind,
    Mailbox,
    Server,
    Thumbprint,
    VirtualDirectory,
)
from certward.pki import certinfo, chain
from certward.pki.selection import Candidate


@dataclass(frozen=True)
class EndpointSnapshot:
    server: Server
    candidates: tuple[Candidate, ...]
    keys: Mapping[Thumbprint, types.PrivateKeyTypes] = field(repr=False)
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    connectors: tuple[Connector, ...]
    receive_domain_secure: tuple[str, ...]
    send_domain_secure: tuple[str, ...]
    accepted_domains: tuple[str, ...]
    mailboxes: Mapping[str, Mailbox] = field(repr=False)
    vdirs: tuple[VirtualDirectory, ...] = ()
    # HTTP-01 key authorizations by token, answered at /.well-known/acme-challenge/ (issue 15)
    acme_challenges: Mapping[str, str] = field(default_factory=dict, repr=False)

    # Worked out once per snapshot, not per connection: a server with hundreds of receive
    # connectors looked each one up by a scan, and built (and checked the signatures of) a
    # chain for each connector's first connection, though they present the same certificate.
    @functools.cached_property
    def receive_connectors(self) -> tuple[Connector, ...]:
        return tuple(
            c
            for c in self.connectors
            if c.kind is ConnectorKind.RECEIVE and self.server.name in c.servers
        )

    def receive_connector(self, identity: str) -> Connector | None:
        """The receive connector named ``identity`` (the first, as a scan would find it)."""
        return self._receive_by_identity.get(identity)

    @functools.cached_property
    def _receive_by_identity(self) -> dict[str, Connector]:
        found: dict[str, Connector] = {}
        for c in self.receive_connectors:
            found.setdefault(c.identity, c)
        return found

    def chain_for(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """Intermediates to send after the leaf (not the root)."""
        made = self._chains.get(cert)
        if made is None:
            made = self._chains[cert] = [
                c for c in chain.build_chain(cert, list(self.intermediates))
                if not certinfo.is_self_signed(c)
            ]  # fmt: skip
        return list(made)

    def certificate_facts(self, cert: x509.Certificate) -> certinfo.CertificateFacts:
        """:func:`certinfo.facts` of a certificate this server presents (for its logs)."""
        made = self._facts.get(cert)
        if made is None:
            made = self._facts[cert] = certinfo.facts(cert)
        return made

    @functools.cached_property
    def _chains(self) -> dict[x509.Certificate, list[x509.Certificate]]:
        return {}

    @functools.cached_property
    def _facts(self) -> dict[x509.Certificate, certinfo.CertificateFacts]:
        return {}

    def server_tls(self, chosen: Candidate, **options: Any) -> ServerTls:
        """TLS settings for presenting ``chosen``: its key, its chain, the server's policy."""
        cert = chosen.x509()
        return ServerTls(
            certificate=cert,
            key=self.keys[chosen.thumbprint],
            chain=self.chain_for(cert),
            min_version=self.server.tls_min_version,
            max_version=self.server.tls_max_version,
            **options,
        )

    @functools.cached_property
    def version(self) -> str:
        """Changes whenever anything a listener depends on changes (computed once)."""
        digest = hashlib.sha256()
        s = self.server
        digest.update(repr((s, sorted(self.accepted_domains))).encode())
        for c in self.candidates:
            digest.update(f"{c.thumbprint}{c.services.value.value}{c.has_private_key}".encode())
        for cert in (*self.roots, *self.intermediates):
            digest.update(certinfo.to_der(cert))
        digest.update(repr((self.connectors, self.receive_domain_secure)).encode())
        digest.update(repr(sorted(self.mailboxes)).encode())
        digest.update(repr(self.vdirs).encode())
        digest.update(repr(sorted(self.acme_challenges.items())).encode())
        return digest.hexdigest()


@dataclass
class Reloader:
    """Reads the snapshot again only when the store's change counter moved.

    ``generation`` is cheap (one row); ``load`` decrypts keys and reads every table. The
    counter is read before the load, so a change committed during a load is seen at the
    next poll and loaded again, never missed.
    """

    generation: Callable[[], int]
    load: Callable[[], EndpointSnapshot]
    polls: int = 0
    loads: int = 0
    last: EndpointSnapshot | None = None  # the snapshot the last load read
    _seen: int | None = None

    def poll(self) -> EndpointSnapshot | None:
        """The new snapshot if the store changed since the last load, else None."""
        self.polls += 1
        current = self.generation()
        if current == self._seen:
            return None
        snapshot = self.load()
        self._seen = current
        self.loads += 1
        self.last = snapshot
        return snapshot

    def current(self) -> EndpointSnapshot:
        """The store's snapshot now: loaded if the store changed, else the last one."""
        snapshot = self.poll() or self.last
        assert snapshot is not None  # the first poll always loads
        return snapshot
