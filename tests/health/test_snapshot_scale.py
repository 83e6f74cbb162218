"""Health at organisation scale (issue 16) finds what the rules find server by server.

A generated organisation (real certificates; servers sharing some certificates and holding
their own; Root and CA stores in different orders, with two roots of one name; expired,
renewed, self-signed, wildcard and CN-only certificates; connectors naming certificates, well
or badly; vdirs with external URLs) is stored, then:

- read at once (a few set-based queries) it is the organisation read server by server, on
  SQLite and on PostgreSQL;
- the rules over it, with the snapshot's memos and shared indexes, give the findings, evidence
  and order (and the JSON, byte for byte) that they give over the snapshot's plain scans (the
  reference in test_indexed_snapshot, with the per-server selection functions);
- a memoised host-name match is :func:`certward.pki.hostnames.covers`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import random
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.compose import build_app
from certward.health.engine import evaluate
from certward.health.snapshot import (
    HeldCertificate,
    HostNames,
    OrgSnapshot,
    ServerState,
    names_key,
)
from certward.model import (
    AuthMechanism,
    CertificateRecord,
    Connector,
    ConnectorKind,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
    VirtualDirectory,
)
from certward.model.vdirs import default_vdirs
from certward.pki import certinfo, hostnames
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate, select_certificate, select_iis
from certward.services.connectors import default_receive_connectors
from certward.services.health import read_snapshot, read_snapshot_per_server
from tests.health.builders import NOW
from tests.health.test_indexed_snapshot import ScannedSnapshot, ScannedState
from tests.storage.conftest import database_url  # noqa: F401  (a fixture)

DAY = dt.timedelta(days=1)

# -- the reference: the snapshot's plain scans, and selection server by server ----------------


@dataclasses.dataclass(frozen=True)
class Scanned(ScannedState):
    @property
    def root_subjects(self) -> frozenset[bytes]:
        return frozenset(r.profile.subject.public_bytes() for r in self.roots)

    @property
    def ca_subjects(self) -> frozenset[bytes]:
        return frozenset(c.profile.subject.public_bytes() for c in self.intermediates)


class _Covers:
    def __init__(self, profile: CertProfile) -> None:
        self.profile = profile

    def covers(self, host: str) -> bool:
        return hostnames.covers(self.profile, host)


@dataclasses.dataclass(frozen=True)
class Reference(ScannedSnapshot):
    """What each rule asks, worked out anew each time by the per-server functions."""

    @property
    def partly_shown(self) -> tuple[ServerState, ...]:
        return self.servers

    def in_use(self, state: ServerState) -> list[tuple[HeldCertificate, list[str]]]:
        auth = self.organisation.auth.current_thumbprint if self.organisation else None
        used = []
        for cert in state.certificates:
            uses = [f"{s.name} service" for s in Service if s in cert.services and s.name]
            if cert.thumbprint == state.server.default_smtp_thumbprint:
                uses.append("default SMTP certificate")
            if cert.thumbprint == auth:
                uses.append("auth certificate")
            uses += [f"connector {c.identity}" for c in self.connectors_naming(state, cert)]
            if uses:
                used.append((cert, uses))
        return used

    def compared(self, profile: CertProfile) -> tuple[str, str]:
        return dotnet_x500(profile.issuer).casefold(), dotnet_x500(profile.subject).casefold()

    def host_names(self, profile: CertProfile) -> HostNames:
        return _Covers(profile)  # type: ignore[return-value]

    def names_key(self, profile: CertProfile) -> tuple[str, ...]:
        return names_key(profile)

    def smtp_choice(self, state: ServerState, connector: Connector) -> tuple[Candidate | None, str]:
        selection = select_certificate(
            state.candidates(),
            service=Service.SMTP,
            now=NOW,
            host_name=connector.fqdn or state.server.fqdn,
            tls_certificate_name=connector.tls_certificate_name,
        )
        return selection.chosen, selection.name

    def iis_choice(self, state: ServerState, now: dt.datetime) -> Candidate | None:
        return select_iis(state.candidates(), now=now).chosen


def reference(snap: OrgSnapshot) -> OrgSnapshot:
    states = tuple(
        Scanned(s.server, s.certificates, s.roots, s.intermediates, s.vdirs, s.facts, s.skipped)
        for s in snap.servers
    )
    fields = {f.name: getattr(snap, f.name) for f in dataclasses.fields(OrgSnapshot)}
    return Reference(**{**fields, "servers": states})


# -- a generated organisation -----------------------------------------------------------------


def _name(cn: str, org: str | None = "Contoso") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@functools.cache
def _key(n: int) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: int,
    signer: int,
    *,
    start: int = -30,
    days: int = 365,
    sans: tuple[str, ...] = (),
    ca: bool = False,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(_key(key).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + start * DAY)
        .not_valid_after(NOW + (start + days) * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in sans]), critical=False
        )
    return builder.sign(_key(signer), hashes.SHA256())


@functools.cache
def _authorities() -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Roots (two of one name, under different keys) and intermediates (one of them also
    cross-signed by a second root, so that two share a name)."""
    roots = [
        _cert(_name("Root A"), _name("Root A"), 1, 1, start=-900, days=3650, ca=True),
        _cert(_name("Root B"), _name("Root B"), 2, 2, start=-900, days=3650, ca=True),
        _cert(_name("Root A"), _name("Root A"), 3, 3, start=-100, days=3650, ca=True),
        _cert(_name("Root C", None), _name("Root C", None), 4, 4, start=-900, days=3650, ca=True),
    ]
    intermediates = [
        _cert(_name("Issuing 1"), _name("Root A"), 5, 1, start=-800, days=2000, ca=True),
        _cert(_name("Issuing 1"), _name("Root B"), 5, 2, start=-800, days=2000, ca=True),
        _cert(_name("Issuing 2"), _name("Root C", None), 6, 4, start=-800, days=2000, ca=True),
        _cert(_name("Issuing 3"), _name("Nowhere CA"), 7, 7, start=-800, days=2000, ca=True),
    ]
    return roots, intermediates


def _leaves(rng: random.Random, server: str) -> list[x509.Certificate]:
    """Shared certificates (the same on many servers: mail, a renewal pair, a wildcard) and
    the server's own."""
    issuers = [_name("Issuing 1"), _name("Issuing 2"), _name("Issuing 3"), _name("Elsewhere")]
    shared = _shared()
    own = [
        _cert(_name(server), _name(server), 20, 20, start=-2000, days=1800,
              sans=(server, f"{server.lower()}.contoso.com")),  # self-signed, expired
        _cert(_name(f"{server.lower()}.contoso.com", None), rng.choice(issuers), 21, 5,
              start=-rng.randrange(400), days=rng.choice((30, 90, 365, 500))),  # CN only
        _cert(_name(f"{server.lower()}.contoso.com."), rng.choice(issuers), 22, 5,
              start=-10, days=rng.choice((20, 50, 80, 400)),
              sans=(f" {server}.Contoso.com. ", f"smtp-{server.lower()}.contoso.com")),
        _cert(_name(f"{server} new"), _name(f"{server} new"), 23, 23, start=-5, days=365,
              sans=(f"{server.lower()}.contoso.com", "mail.contoso.com")),  # newest, self-signed
    ]  # fmt: skip
    return [*rng.sample(shared, rng.randrange(len(shared) + 1)), *own]


@functools.cache
def _shared() -> list[x509.Certificate]:
    issuing = _name("Issuing 1")
    mail = ("mail.contoso.com", "autodiscover.contoso.com")
    return [
        _cert(_name("mail.contoso.com"), issuing, 10, 5, start=-400, days=365, sans=mail),
        _cert(_name("mail.contoso.com"), issuing, 11, 5, start=-20, days=365, sans=mail),
        _cert(_name("*.contoso.com"), _name("Issuing 2"), 12, 6, days=200,
              sans=("*.contoso.com", "*.*.contoso.com", "*")),
        _cert(_name("legacy.contoso.com"), _name("Issuing 3"), 13, 7, start=-300, days=310,
              sans=("legacy.contoso.com",)),
    ]  # fmt: skip


def _tls_name(cert: x509.Certificate) -> str:
    return f"<I>{dotnet_x500(cert.issuer)}<S>{dotnet_x500(cert.subject)}"


_SERVICES = ("", "SMTP", "IIS,SMTP", "IMAP,POP,SMTP", "IIS", "POP", "SMTP", "IIS,SMTP")


def store_organisation(url: str, servers: int, seed: int) -> None:
    """``servers`` servers and their connectors in the store at ``url``."""
    rng = random.Random(seed)
    roots, intermediates = _authorities()
    app = build_app(url)
    try:
        with app.store.transaction() as repo:
            repo.save_organisation(Organisation("Scale", "contoso.com"))
            repo.add_accepted_domain("contoso.com")
            repo.add_accepted_domain("fabrikam.com")
            names: list[x509.Certificate] = []
            for n in range(servers):
                name = f"EXCH{n:02d}"
                fqdn = f"{name.lower()}.contoso.com"
                leaves = _leaves(rng, name)
                names += leaves
                smtp = rng.choice([None, *(certinfo.thumbprint(certinfo.to_der(c))
                                           for c in leaves)])  # fmt: skip
                roles = rng.choice([{Role.MAILBOX}, {Role.MAILBOX}, {Role.EDGE_TRANSPORT}])
                server = Server(name, fqdn, frozenset(roles), default_smtp_thumbprint=smtp)
                repo.save_server(server)
                for cert in leaves:
                    der = certinfo.to_der(cert)
                    key = rng.random() < 0.8
                    repo.add_certificate(
                        CertificateRecord(
                            name, StoreName.MY, certinfo.thumbprint(der), der,
                            services=ServiceSet.parse(rng.choice(_SERVICES)),
                            has_private_key=key, created_at=NOW,
                        ),
                        private_key=_key(99) if key else None,
                    )  # fmt: skip
                # Root and CA stores: often the same in the same order, sometimes shuffled
                # or partial; a pending request (no DER) among the roots of some.
                trusted = []
                for store, pool in ((StoreName.ROOT, roots), (StoreName.CA, intermediates)):
                    chosen = list(pool)
                    if rng.random() < 0.3:
                        chosen = rng.sample(pool, rng.randrange(len(pool) + 1))
                    trusted += [
                        CertificateRecord(
                            name, store, certinfo.thumbprint(der), der, created_at=NOW
                        )
                        for der in map(certinfo.to_der, chosen)
                    ]
                repo.add_certificates(trusted)
                if rng.random() < 0.2:
                    request = b"0\x03\x02\x01" + bytes([n])
                    repo.add_certificate(
                        CertificateRecord(
                            name, StoreName.ROOT, certinfo.thumbprint(request), None,
                            csr_der=request, created_at=NOW,
                        )
                    )  # fmt: skip
                for connector in default_receive_connectors(server):
                    value = rng.choice(
                        [None, None, "", "<I>garbage", _tls_name(rng.choice(leaves)),
                         _tls_name(rng.choice(names)).upper()]
                    )  # fmt: skip
                    fqdn_choice = rng.choice([None, None, "mail.contoso.com", fqdn + "."])
                    repo.save_connector(
                        dataclasses.replace(
                            connector, tls_certificate_name=value, fqdn=fqdn_choice,
                            domain_secure_enabled=rng.random() < 0.1,
                        )
                    )  # fmt: skip
                external = rng.choice([None, "https://mail.contoso.com/x", f"https://{fqdn}/y"])
                for vdir in default_vdirs(name, fqdn):
                    repo.save_virtual_directory(dataclasses.replace(vdir, external_url=external))
            all_names = [f"EXCH{n:02d}" for n in range(servers)]
            for n in range(3):
                repo.save_connector(
                    Connector(
                        name=f"Outbound {n}",
                        kind=ConnectorKind.SEND,
                        servers=tuple(rng.sample(all_names, rng.randrange(1, 4))),
                        fqdn=rng.choice([None, "mail.contoso.com"]),
                        auth_mechanism=AuthMechanism.TLS,
                        domain_secure_enabled=rng.random() < 0.5,
                        cloud_services_mail_enabled=n == 0,
                        tls_certificate_name=rng.choice(
                            [None, _tls_name(_shared()[0]), _tls_name(_shared()[1])]
                        ),
                    )
                )
    finally:
        app.store.close()


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)


@pytest.fixture(scope="module")
def organisation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrgSnapshot]:
    """A generated organisation of 40 servers, read at once (checked against the read
    server by server)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'certward.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_MASTER_KEY", "ab" * 32)
        store_organisation(url, 40, seed=16)
        app = build_app(url)
        with app.store.transaction() as repo:
            at_once = read_snapshot(repo)
            by_server = read_snapshot_per_server(repo)
        app.store.close()
    assert at_once == by_server
    yield at_once


def test_the_organisation_read_at_once_is_the_organisation_read_server_by_server(
    database_url: str,  # noqa: F811
) -> None:
    store_organisation(database_url, 8, seed=8)
    app = build_app(database_url)
    try:
        with app.store.transaction() as repo:
            at_once = read_snapshot(repo)
            by_server = read_snapshot_per_server(repo)
    finally:
        app.store.close()
    assert at_once == by_server
    orders = {tuple(c.thumbprint for c in s.roots) for s in at_once.servers}
    assert len(orders) > 1  # some stores in another order: each kept as it was stored


@pytest.mark.parametrize("days", [0, 45, 200, 400])
def test_the_rules_find_over_the_memos_what_they_find_server_by_server(
    organisation: OrgSnapshot, days: int
) -> None:
    now = NOW + days * DAY
    fast = evaluate(organisation, now)
    slow = evaluate(reference(organisation), now)
    assert fast == slow
    assert json.dumps(fast.to_json()) == json.dumps(slow.to_json())
    assert len({f.rule_id for f in fast.findings}) >= 8  # the organisation has problems


def test_each_server_alone_gets_its_findings_of_the_whole_organisation(
    organisation: OrgSnapshot,
) -> None:
    whole = evaluate(organisation, NOW)
    for state in organisation.servers[:5]:
        alone = evaluate(organisation, NOW, server=state.name)
        assert alone.findings == tuple(
            f for f in whole.findings if f.server is None or f.server == state.name
        )


_LABEL = st.sampled_from(["mail", "MAIL", "*", "a*", "contoso", "com", "", " ", "x.y"])


@settings(max_examples=300, deadline=None)
@given(
    sans=st.lists(st.builds(".".join, st.lists(_LABEL, min_size=1, max_size=4)), max_size=3),
    cn=st.one_of(st.none(), st.builds(".".join, st.lists(_LABEL, min_size=1, max_size=4))),
    host=st.builds(
        lambda labels, tail: ".".join(labels) + tail,
        st.lists(_LABEL, min_size=1, max_size=4),
        st.sampled_from(["", ".", " ", ". ", " ."]),
    ),
)
def test_the_remembered_host_names_match_as_covers_does(
    sans: list[str], cn: str | None, host: str
) -> None:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    profile = CertProfile.from_names(subject, subject, tuple(sans), NOW, NOW + DAY, False)
    assert HostNames(profile).covers(host) == hostnames.covers(profile, host)


def test_a_stored_organisation_is_not_needed_for_the_reference() -> None:
    """The reference judges a snapshot made by hand as the fast path does."""
    roots, _ = _authorities()
    leaf = _shared()[0]
    state = ServerState(
        Server("EXCH01", "exch01.contoso.com", frozenset({Role.MAILBOX})),
        (HeldCertificate(Thumbprint("A" * 40), CertProfile.of(leaf), ServiceSet.parse("IIS")),),
        vdirs=(VirtualDirectory("EXCH01", "owa", "/owa", None, "https://owa.contoso.com/owa"),),
    )
    snap = OrgSnapshot(Organisation("Contoso"), (state,))
    assert evaluate(snap, NOW) == evaluate(reference(snap), NOW)
    assert roots  # the authorities are made once for the module
