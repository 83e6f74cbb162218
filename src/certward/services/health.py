"""Health: read the organisation in one transaction, run the rules as of a date."""

from __future__ import annotations

import dataclasses
import datetime as dt

from certward.clock import Clock
from certward.codes.general import SERVER_NOT_FOUND
from certward.errors import CertwardError
from certward.health.engine import HealthReport, evaluate
from certward.health.findings import Severity
from certward.health.snapshot import (
    HeldCertificate,
    OrgSnapshot,
    ServerState,
    TrustedCertificate,
    skipped_reason,
)
from certward.model import CertificateRecord, ObservedCertificate, Server, StoreName, Thumbprint
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
        observed_organisation=repo.observed_organisation(),
        acme_orders=tuple(repo.acme_orders()),
    )


# How a dump names the public key's algorithm, as CertProfile.key_type names it.
_KEY_TYPES = {"RSA": "RSA", "ECC": "EC", "EC": "EC", "ECDSA": "EC", "DSA": "DSA"}


def observed_profile(cert: ObservedCertificate) -> CertProfile:
    """The real profile when a dump carried the certificate (CliXML RawData), else the one
    described by what Windows printed; a damaged DER falls back to the description."""
    if cert.der is not None:
        try:
            return CertProfile.of(certinfo.load_der(cert.der))
        except (CertwardError, ValueError):  # a damaged RawData: what the dump printed
            pass
    profile = described(cert, is_ca=cert.store is not StoreName.MY)
    algorithm = (cert.public_key_algorithm or "").upper()
    if algorithm in _KEY_TYPES:
        profile = dataclasses.replace(profile, key_type=_KEY_TYPES[algorithm])
    return profile


def server_state(repo: Repository, server: Server) -> ServerState:
    """A server's stores as health sees them; an observed server's as its dumps showed:
    archived certificates left out (Exchange hides them), and those HealthChecker skips set
    aside with its reason."""
    facts = None
    skipped: list[tuple[HeldCertificate, str]] = []
    if server.observed:
        facts = repo.observed_facts(server.name)
        entries = []
        for c in repo.observed_certificates(server.name):
            if c.archived:  # hidden from Exchange (Get-ExchangeCertificate) and the rules
                continue
            profile = observed_profile(c)
            held = HeldCertificate(c.thumbprint, profile, c.services, c.has_private_key,
                                   c.key_provider, c.status)  # fmt: skip
            reason = skipped_reason(c.subject, c.issuer, profile.self_signed)
            if reason is not None and c.store is StoreName.MY:
                skipped.append((held, reason))
            else:
                entries.append((c.store, held))
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
        facts=facts,
        skipped=tuple(skipped),
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
