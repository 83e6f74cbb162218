"""Health: read the organisation in one transaction, run the rules as of a date."""

from __future__ import annotations

import datetime as dt

from certward.clock import Clock
from certward.errors import NotFoundError
from certward.health.engine import HealthReport, evaluate
from certward.health.findings import Severity
from certward.health.snapshot import (
    HeldCertificate,
    OrgSnapshot,
    ServerState,
    TrustedCertificate,
)
from certward.model import CertificateRecord, Server, StoreName, Thumbprint
from certward.pki import certinfo
from certward.pki.profile import CertProfile, described
from certward.services.ports import Repository, UnitOfWork


def _profile(record: CertificateRecord) -> CertProfile:
    assert record.der is not None
    return CertProfile.of(certinfo.load_der(record.der))


def read_snapshot(repo: Repository) -> OrgSnapshot:
    states = [
        _observed_state(repo, server) if server.observed else _state(repo, server)
        for server in repo.servers()
    ]
    org = repo.organisation()
    auth: dict[Thumbprint, CertProfile] = {}
    if org is not None:
        a = org.auth
        for tp in (a.current_thumbprint, a.next_thumbprint, a.previous_thumbprint):
            der = repo.published_der(tp) if tp else None
            if tp and der:
                auth[tp] = CertProfile.of(certinfo.load_der(der))
            elif tp:  # an observed organisation: the auth certificate as its servers show it
                seen = next((c for s in states if (c := s.find(tp)) is not None), None)
                if seen is not None:
                    auth[tp] = seen.profile
    return OrgSnapshot(
        organisation=org,
        servers=tuple(states),
        connectors=tuple(repo.connectors()),
        accepted_domains=tuple(repo.accepted_domains()),
        auth_certificates=auth,
        edge_subscriptions=tuple(repo.edge_subscriptions()),
    )


def _state(repo: Repository, server: Server) -> ServerState:
    records = repo.certificates(server.name)
    held = tuple(
        HeldCertificate(r.thumbprint, _profile(r), r.services, r.has_private_key, r.key_provider)
        for r in records
        if r.store is StoreName.MY and r.der is not None
    )
    trusted = {
        store: tuple(
            TrustedCertificate(r.thumbprint, _profile(r))
            for r in records
            if r.store is store and r.der is not None
        )
        for store in (StoreName.ROOT, StoreName.CA)
    }
    return ServerState(
        server=server,
        certificates=held,
        roots=trusted[StoreName.ROOT],
        intermediates=trusted[StoreName.CA],
        vdirs=tuple(repo.virtual_directories(server.name)),
    )


def _observed_state(repo: Repository, server: Server) -> ServerState:
    """A server known from its real output: what the dumps described, nothing more."""
    seen = repo.observed_certificates(server.name)
    held = tuple(
        HeldCertificate(c.thumbprint, described(c), c.services, c.has_private_key, c.key_provider)
        for c in seen
        if c.store is StoreName.MY
    )
    trusted = {
        store: tuple(
            TrustedCertificate(c.thumbprint, described(c, is_ca=True))
            for c in seen
            if c.store is store
        )
        for store in (StoreName.ROOT, StoreName.CA)
    }
    return ServerState(
        server=server,
        certificates=held,
        roots=trusted[StoreName.ROOT],
        intermediates=trusted[StoreName.CA],
        vdirs=tuple(repo.virtual_directories(server.name)),
        observed=True,
    )


class HealthService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def check(
        self,
        *,
        server: str | None = None,
        as_of: dt.datetime | None = None,
        min_severity: Severity = Severity.INFO,
    ) -> HealthReport:
        with self._uow.transaction() as repo:
            if server is not None and not repo.has_server(server):
                raise NotFoundError(f"server {server!r} not found (see 'certward server list')")
            snapshot = read_snapshot(repo)
        now = as_of or self._clock.now()
        return evaluate(snapshot, now, server=server, min_severity=min_severity)
