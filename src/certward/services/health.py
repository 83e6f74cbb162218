"""Health: read the organisation in one transaction, run the rules as of a date."""

from __future__ import annotations

import datetime as dt

from certward.clock import Clock
from certward.codes.general import SERVER_NOT_FOUND
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
    states = [server_state(repo, server) for server in repo.servers()]
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


def server_state(repo: Repository, server: Server) -> ServerState:
    """A server's stores as health sees them; an observed server's as its dumps showed."""
    if server.observed:
        entries = [
            (c.store, HeldCertificate(c.thumbprint, described(c, is_ca=c.store is not StoreName.MY),
                                      c.services, c.has_private_key, c.key_provider))
            for c in repo.observed_certificates(server.name)
        ]  # fmt: skip
    else:
        entries = [
            (r.store, HeldCertificate(r.thumbprint, _profile(r), r.services, r.has_private_key,
                                      r.key_provider))
            for r in repo.certificates(server.name)
            if r.der is not None
        ]  # fmt: skip

    def trusted(store: StoreName) -> tuple[TrustedCertificate, ...]:
        return tuple(TrustedCertificate(h.thumbprint, h.profile) for s, h in entries if s is store)

    return ServerState(
        server=server,
        certificates=tuple(h for store, h in entries if store is StoreName.MY),
        roots=trusted(StoreName.ROOT),
        intermediates=trusted(StoreName.CA),
        vdirs=tuple(repo.virtual_directories(server.name)),
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
                raise SERVER_NOT_FOUND(f"server {server!r} not found", server=server)
            snapshot = read_snapshot(repo)
        now = as_of or self._clock.now()
        return evaluate(snapshot, now, server=server, min_severity=min_severity)
