"""The organisation as the health rules see it: pure data, read from the store in one go.

A server is either one certward runs (its certificates' bytes are known) or an observed one,
built from what a real Exchange server printed (certutil, Get-ExchangeCertificate): then only
the certificates' profiles are known, and the rules read nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from certward.model import (
    Connector,
    ConnectorKind,
    EdgeSubscription,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    Thumbprint,
    VirtualDirectory,
)
from certward.pki import tlsname
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate


@dataclass(frozen=True)
class HeldCertificate:
    """A certificate of a server's Personal (My) store."""

    thumbprint: Thumbprint
    profile: CertProfile
    services: ServiceSet = field(default_factory=ServiceSet)
    has_private_key: bool = True
    key_provider: str | None = None

    def candidate(self) -> Candidate:
        return Candidate(self.thumbprint, self.profile, self.has_private_key, self.services)


@dataclass(frozen=True)
class TrustedCertificate:
    """A certificate of a server's Trusted Root (Root) or Intermediate (CA) store."""

    thumbprint: Thumbprint
    profile: CertProfile


@dataclass(frozen=True, slots=True)
class ChainGap:
    """Where a certificate's chain stops short of the server's Root store."""

    issuer_missing: bool  # the leaf's own issuer is in no store: the server cannot send a chain
    text: str


@dataclass(frozen=True)
class ServerState:
    server: Server
    certificates: tuple[HeldCertificate, ...] = ()
    roots: tuple[TrustedCertificate, ...] = ()
    intermediates: tuple[TrustedCertificate, ...] = ()
    vdirs: tuple[VirtualDirectory, ...] = ()
    observed: bool = False

    @property
    def name(self) -> str:
        return self.server.name

    def find(self, thumbprint: Thumbprint | None) -> HeldCertificate | None:
        if thumbprint is None:
            return None
        return next((c for c in self.certificates if c.thumbprint == thumbprint), None)

    def chain_gap(self, profile: CertProfile) -> ChainGap | None:
        """Walk issuer names through the CA and Root stores; None when the chain reaches a
        root in the Root store. Past the leaf, a missing issuer is the root."""
        pool = [*self.intermediates, *self.roots]
        roots = {r.profile.subject.public_bytes() for r in self.roots}
        current = profile
        for depth in range(10):
            if current.subject.public_bytes() in roots:
                return None
            if depth and (current.self_signed or current.issuer == current.subject):
                return ChainGap(
                    False, f"root {dotnet_x500(current.subject)} is not in the Root store"
                )
            issuer = next((c.profile for c in pool if c.profile.subject == current.issuer), None)
            if issuer is None:
                name = dotnet_x500(current.issuer)
                if depth == 0:
                    return ChainGap(True, f"issuer {name} is in neither the CA nor the Root store")
                return ChainGap(False, f"root {name} is not in the Root store")
            current = issuer
        return ChainGap(True, "the chain is longer than 10 certificates")

    def candidates(self) -> list[Candidate]:
        return [c.candidate() for c in self.certificates]

    @property
    def is_transport(self) -> bool:
        """Runs the transport service (and so has a default SMTP certificate)."""
        return bool(self.server.roles & {Role.MAILBOX, Role.HUB_TRANSPORT, Role.EDGE_TRANSPORT})


@dataclass(frozen=True)
class OrgSnapshot:
    organisation: Organisation | None
    servers: tuple[ServerState, ...]
    connectors: tuple[Connector, ...] = ()
    accepted_domains: tuple[str, ...] = ()
    # The auth certificates published organisation-wide (current, next, previous).
    auth_certificates: Mapping[Thumbprint, CertProfile] = field(default_factory=dict)
    edge_subscriptions: tuple[EdgeSubscription, ...] = ()

    def server(self, name: str) -> ServerState | None:
        return next((s for s in self.servers if s.name.lower() == name.lower()), None)

    def receive_connectors(self, server: str) -> list[Connector]:
        return [
            c for c in self.connectors if c.kind is ConnectorKind.RECEIVE and server in c.servers
        ]

    def send_connectors(self) -> list[Connector]:
        return [c for c in self.connectors if c.kind is ConnectorKind.SEND]

    def in_use(self, state: ServerState) -> list[tuple[HeldCertificate, list[str]]]:
        """The server's certificates that something uses, each with what uses it."""
        org = self.organisation
        auth = org.auth.current_thumbprint if org else None
        named = {
            c.thumbprint: names
            for c in state.certificates
            if (names := [k.identity for k in self.connectors_naming(state, c)])
        }
        result = []
        for cert in state.certificates:
            uses = [f"{s.name} service" for s in Service if s in cert.services and s.name]
            if cert.thumbprint == state.server.default_smtp_thumbprint:
                uses.append("default SMTP certificate")
            if cert.thumbprint == auth:
                uses.append("auth certificate")
            uses += [f"connector {name}" for name in named.get(cert.thumbprint, [])]
            if uses:
                result.append((cert, uses))
        return result

    def connectors_naming(self, state: ServerState, cert: HeldCertificate) -> list[Connector]:
        found = []
        for connector in self.connectors:
            value = connector.tls_certificate_name
            if state.name not in connector.servers or not value:
                continue
            if tlsname.check(value) is None and tlsname.matches(cert.profile, value):
                found.append(connector)
        return found
