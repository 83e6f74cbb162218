"""Health: read the organisation in one transaction, run the rules as of a date."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from certward.clock import Clock
from certward.codes.general import SERVER_NOT_FOUND
from certward.errors import CertwardError
from certward.health.engine import HealthReport, evaluate
from certward.health.findings import Severity
from certward.health.profiles import PROFILES
from certward.health.snapshot import (
    HeldCertificate,
    OrgSnapshot,
    ServerState,
    TrustedCertificate,
    skipped_reason,
)
from certward.model import (
    CertificateRecord,
    Connector,
    ObservedCertificate,
    ObservedFacts,
    Server,
    ServiceSet,
    StoreName,
    Thumbprint,
    VirtualDirectory,
)
from certward.model.certfacts import CertFacts
from certward.model.deploy import DeployRecord, deploy_records
from certward.pki import certinfo
from certward.pki.profile import CertProfile, described
from certward.services.ports import Repository, UnitOfWork


def _profile(record: CertificateRecord) -> CertProfile:
    assert record.der is not None
    return CertProfile.of(certinfo.load_der(record.der))


class HeldEntry(Protocol):
    """A completed certificate in a store of a server certward runs, without its DER."""

    @property
    def store(self) -> StoreName: ...
    @property
    def thumbprint(self) -> Thumbprint: ...
    @property
    def services(self) -> ServiceSet: ...
    @property
    def has_private_key(self) -> bool: ...
    @property
    def key_provider(self) -> str | None: ...


@runtime_checkable
class SnapshotReads(Protocol):
    """The store's reads of the whole organisation at once (a few queries, not a set per
    server): :class:`certward.storage.snapshot_repo.SnapshotRepository`."""

    def personal_certificates(self) -> Mapping[str, Sequence[HeldEntry]]: ...
    def trusted_thumbprints(self) -> Mapping[tuple[str, StoreName], Sequence[Thumbprint]]: ...
    def distinct_ders(self, thumbprints: Collection[str]) -> Mapping[Thumbprint, bytes]: ...
    def all_virtual_directories(self) -> Mapping[str, Sequence[VirtualDirectory]]: ...
    def all_observed_certificates(self) -> Mapping[str, Sequence[ObservedCertificate]]: ...
    def all_observed_facts(self) -> Mapping[str, ObservedFacts]: ...
    def all_connectors(self) -> Sequence[Connector]: ...
    def certificate_facts(self, thumbprints: Collection[str]) -> Mapping[Thumbprint, CertFacts]: ...
    def record_certificate_facts(self, facts: Iterable[CertFacts]) -> None: ...


def read_snapshot(
    repo: Repository, record: Callable[[Iterable[CertFacts]], None] | None = None
) -> OrgSnapshot:
    """The organisation as health sees it, read in one go: with a store that reads the
    whole organisation at once, a few queries and each certificate parsed once per
    thumbprint (and remembered across reads); else server by server.

    The facts worked out from DER (certificates stored before their facts were) are given
    to ``record``, by default written through ``repo``; a caller reading without the
    write lock collects them and writes them afterwards."""
    if isinstance(repo, SnapshotReads):
        return _read_at_once(repo, repo, record or repo.record_certificate_facts)
    return read_snapshot_per_server(repo)


def read_snapshot_per_server(repo: Repository) -> OrgSnapshot:
    """The organisation read server by server, each certificate parsed where it is held
    (what :func:`read_snapshot` reads faster; kept as its reference)."""
    states = [server_state(repo, server) for server in repo.servers()]
    return _snapshot(repo, states)


def _snapshot(
    repo: Repository, states: list[ServerState], connectors: Sequence[Connector] | None = None
) -> OrgSnapshot:
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
        connectors=tuple(repo.connectors() if connectors is None else connectors),
        accepted_domains=tuple(repo.accepted_domains()),
        auth_certificates=auth,
        edge_subscriptions=tuple(repo.edge_subscriptions()),
        observed_organisation=repo.observed_organisation(),
        acme_orders=tuple(repo.acme_orders()),
        deployments=_deployments(repo),
    )


def _deployments(repo: Repository) -> tuple[DeployRecord, ...]:
    return tuple(deploy_records(repo.deployments(), repo.last_deploy_results()))


def _read_at_once(
    repo: Repository,
    reads: SnapshotReads,
    record: Callable[[Iterable[CertFacts]], None],
) -> OrgSnapshot:
    servers = repo.servers()
    personal = reads.personal_certificates()
    trusted = reads.trusted_thumbprints()
    vdirs = reads.all_virtual_directories()
    observed: Mapping[str, Sequence[ObservedCertificate]] = {}
    facts: Mapping[str, ObservedFacts] = {}
    if any(s.observed for s in servers):
        observed = reads.all_observed_certificates()
        facts = reads.all_observed_facts()
    thumbprints = {e.thumbprint for entries in personal.values() for e in entries}
    for tps in {id(tps): tps for tps in trusted.values()}.values():  # equal stores share one
        thumbprints.update(tps)
    profiles = PROFILES.profiles(
        thumbprints,
        reads.distinct_ders,
        facts=repo.certificate_facts,  # recorded: nothing parsed
        record=record,  # those worked out from DER here
    )
    # One object per distinct certificate (and binding): 1,000 servers trusting the same
    # 300 roots hold 300 objects, not 300,000, and share one tuple of them.
    shared: dict[tuple[Thumbprint, int, bool, str | None], HeldCertificate] = {}
    stores: dict[Thumbprint, TrustedCertificate] = {}
    same: dict[tuple[Thumbprint, ...], tuple[TrustedCertificate, ...]] = {}

    def store(server: str, name: StoreName) -> tuple[TrustedCertificate, ...]:
        tps = tuple(trusted.get((server, name), ()))
        found = same.get(tps)
        if found is None:
            entries = []
            for tp in tps:
                entry = stores.get(tp)
                if entry is None and (profile := profiles.get(tp)) is not None:
                    entry = stores[tp] = TrustedCertificate(tp, profile)
                if entry is not None:  # else written since the index was read
                    entries.append(entry)
            found = same[tps] = tuple(entries)
        return found

    states = []
    for server in servers:
        name = server.name
        if server.observed:
            states.append(
                _observed_state(server, facts.get(name), observed.get(name, ()),
                                vdirs.get(name, ()))
            )  # fmt: skip
            continue
        certificates = []
        for e in personal.get(name, ()):
            profile = profiles.get(e.thumbprint)
            if profile is None:  # written since the index was read
                continue
            # (equal service sets from one read are one object: identity is enough to share)
            key = (e.thumbprint, id(e.services), e.has_private_key, e.key_provider)
            cert = shared.get(key)
            if cert is None:
                cert = shared[key] = HeldCertificate(
                    e.thumbprint, profile, e.services, e.has_private_key, e.key_provider
                )
            certificates.append(cert)
        states.append(
            ServerState(
                server=server,
                certificates=tuple(certificates),
                roots=store(name, StoreName.ROOT),
                intermediates=store(name, StoreName.CA),
                vdirs=tuple(vdirs.get(name, ())),
            )
        )
    return _snapshot(repo, states, reads.all_connectors())


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
        profile = profile._replace(key_type=_KEY_TYPES[algorithm])
    return profile


def server_state(repo: Repository, server: Server) -> ServerState:
    """A server's stores as health sees them; an observed server's as its dumps showed:
    archived certificates left out (Exchange hides them), and those HealthChecker skips set
    aside with its reason."""
    vdirs = repo.virtual_directories(server.name)
    if server.observed:
        return _observed_state(
            server,
            repo.observed_facts(server.name),
            repo.observed_certificates(server.name),
            vdirs,
        )
    entries = [
        (r.store, HeldCertificate(r.thumbprint, _profile(r), r.services, r.has_private_key,
                                  r.key_provider))
        for r in repo.certificates(server.name)
        if r.der is not None
    ]  # fmt: skip
    return _state(server, entries, vdirs)


def _observed_state(
    server: Server,
    facts: ObservedFacts | None,
    certificates: Iterable[ObservedCertificate],
    vdirs: Iterable[VirtualDirectory],
) -> ServerState:
    skipped: list[tuple[HeldCertificate, str]] = []
    entries = []
    for c in certificates:
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
    return _state(server, entries, vdirs, facts=facts, skipped=skipped)


def _state(
    server: Server,
    entries: list[tuple[StoreName, HeldCertificate]],
    vdirs: Iterable[VirtualDirectory],
    *,
    facts: ObservedFacts | None = None,
    skipped: list[tuple[HeldCertificate, str]] | None = None,
) -> ServerState:
    def trusted(store: StoreName) -> tuple[TrustedCertificate, ...]:
        return tuple(TrustedCertificate(h.thumbprint, h.profile) for s, h in entries if s is store)

    return ServerState(
        server=server,
        certificates=tuple(h for store, h in entries if store is StoreName.MY),
        roots=trusted(StoreName.ROOT),
        intermediates=trusted(StoreName.CA),
        vdirs=tuple(vdirs),
        facts=facts,
        skipped=tuple(skipped or ()),
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
        worked_out: list[CertFacts] = []
        with collection_paused():
            # Read without the write lock (a run at 1,000 servers reads for a second and
            # the console's and agents' writes must not wait for it); facts worked out
            # from DER meanwhile are written afterwards, in a short transaction of their own.
            with self._uow.reading() as repo:
                if server is not None and not repo.has_server(server):
                    raise SERVER_NOT_FOUND(f"server {server!r} not found", server=server)
                snapshot = read_snapshot(repo, record=worked_out.extend)
            if worked_out:
                with self._uow.transaction() as repo:
                    repo.record_certificate_facts(worked_out)
            now = as_of or self._clock.now()
            report = evaluate(snapshot, now, server=server, min_severity=min_severity)
            # Freed while the collector is paused: resumed, its next collection need not
            # walk the snapshot's objects (some 10^6 at 1,000 servers) only to find them live.
            del snapshot
        return report


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for one health run. A run makes some 10^5
    objects that live until it ends, and a collection walks every object alive (at 1,000
    servers a fresh process spent a quarter of its run collecting, finding nothing); what a
    run leaves in cycles is collected when the collector next runs."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
