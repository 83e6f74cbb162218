"""The snapshot's indexes and the set-based read give what the scans they replace gave
(issue 16): on small random organisations, the indexed lookups against the original scans
(kept here as the reference), the rules' findings over both, the fast profile against
``CertProfile.of``, and the organisation read at once against the read server by server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certward.compose import build_app
from certward.errors import CertwardError
from certward.health.engine import evaluate, narrowed
from certward.health.findings import Severity
from certward.health.profiles import ProfileMemo, checked_profile, profile_of_der
from certward.health.snapshot import (
    _MAX_DEPTH,
    HeldCertificate,
    OrgSnapshot,
    ServerState,
    TrustedCertificate,
)
from certward.model import (
    AuthMechanism,
    CertificateRecord,
    Connector,
    ConnectorKind,
    ObservedCertificate,
    Organisation,
    Role,
    Server,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.pki import certinfo, tlsname
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate, resolve_tls_name
from certward.services.health import read_snapshot, read_snapshot_per_server
from tests.health.builders import NOW, auth_certificate, issued, issuing, root, self_signed, thumb

# -- the scans the indexes replaced, as they were ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScannedState(ServerState):
    def find(self, thumbprint: Thumbprint | None) -> HeldCertificate | None:
        if thumbprint is None:
            return None
        return next((c for c in self.certificates if c.thumbprint == thumbprint), None)

    def issuer_chain(
        self, profile: CertProfile
    ) -> tuple[list[TrustedCertificate], x509.Name | None]:
        pool = [*self.intermediates, *self.roots]
        chain: list[TrustedCertificate] = []
        wanted = profile.issuer
        for _ in range(_MAX_DEPTH):
            found = next((c for c in pool if c.profile.subject == wanted), None)
            if found is None:
                return chain, wanted
            chain.append(found)
            if found.profile.self_signed or found.profile.issuer == found.profile.subject:
                break
            wanted = found.profile.issuer
        return chain, None

    def candidates(self) -> list[Candidate]:
        return [
            Candidate(c.thumbprint, c.profile, c.has_private_key, c.services)
            for c in self.certificates
        ]


@dataclasses.dataclass(frozen=True)
class ScannedSnapshot(OrgSnapshot):
    def server(self, name: str) -> ServerState | None:
        return next((s for s in self.servers if s.name.lower() == name.lower()), None)

    def receive_connectors(self, server: str) -> list[Connector]:
        return [
            c for c in self.connectors if c.kind is ConnectorKind.RECEIVE and server in c.servers
        ]

    def connectors_of(self, server: str) -> list[Connector]:
        return [c for c in self.connectors if server in c.servers]

    def connectors_naming(self, state: ServerState, cert: HeldCertificate) -> list[Connector]:
        found = []
        for connector in self.connectors:
            value = connector.tls_certificate_name
            if state.name not in connector.servers or not value:
                continue
            if tlsname.check(value) is None and tlsname.matches(cert.profile, value):
                found.append(connector)
        return found

    def resolve_tls_name(self, state: ServerState, value: str | None, *, now: dt.datetime):  # type: ignore[no-untyped-def]
        return resolve_tls_name(state.candidates(), value, now=now)

    def x500(self, name: x509.Name) -> str:
        return dotnet_x500(name)


# -- small random organisations ---------------------------------------------------------------


@functools.cache
def _pool() -> tuple[x509.Certificate, ...]:
    """Leaves: CA-issued (valid, expired, soon due, renewed with the same names), self-signed."""
    return (
        issued(),
        issued(start_days_ago=400, days=365),  # expired; issued() is its renewal
        issued("smtp.contoso.com", ("smtp.contoso.com",), days=40),
        self_signed("EXCH01", ("EXCH01", "exch01.contoso.com")),
        self_signed("EXCH02", ("EXCH02", "exch02.contoso.com"), start_days_ago=2000),
        auth_certificate(),
    )


def _tls_name(cert: x509.Certificate) -> str:
    return str(tlsname.tls_certificate_name(cert))


_NAMES = ("EXCH01", "EXCH02", "EXCH03")
_SERVICES = ("", "SMTP", "IIS,SMTP", "IMAP,POP,SMTP", "IIS")


@st.composite
def _organisations(draw: st.DrawFn) -> OrgSnapshot:
    pool = _pool()
    names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=3, unique=True))
    states = []
    for name in names:
        chosen = draw(st.lists(st.sampled_from(range(len(pool))), max_size=5))
        certificates = tuple(
            HeldCertificate(
                thumb(pool[i]),
                CertProfile.of(pool[i]),
                ServiceSet.parse(draw(st.sampled_from(_SERVICES))),
                draw(st.booleans()),
            )
            for i in chosen
        )
        stores = [TrustedCertificate(thumb(c), CertProfile.of(c))
                  for c in (root().certificate, issuing().certificate)]  # fmt: skip
        roots = tuple(draw(st.lists(st.sampled_from(stores), max_size=2)))
        cas = tuple(draw(st.lists(st.sampled_from(stores), max_size=2)))
        smtp = draw(st.sampled_from([None, *(c.thumbprint for c in certificates)]))
        roles = draw(st.sampled_from([{Role.MAILBOX}, {Role.EDGE_TRANSPORT}]))
        server = Server(name, f"{name.lower()}.contoso.com", frozenset(roles),
                        default_smtp_thumbprint=smtp)  # fmt: skip
        states.append(ScannedState(server, certificates, roots, cas))
    values = [None, "", "<I>garbage", *(_tls_name(c) for c in pool),
              _tls_name(pool[0]).upper()]  # fmt: skip
    connectors = []
    for n in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(list(ConnectorKind)))
        on = draw(st.lists(st.sampled_from([*names, "ELSEWHERE"]), min_size=1, max_size=3))
        connectors.append(
            Connector(
                name=f"Connector {n}",
                kind=kind,
                servers=tuple(on),
                fqdn=draw(st.sampled_from([None, "mail.contoso.com", "smtp.contoso.com"])),
                auth_mechanism=AuthMechanism.TLS,
                domain_secure_enabled=draw(st.booleans()),
                tls_certificate_name=draw(st.sampled_from(values)),
            )
        )
    auth = auth_certificate()
    return ScannedSnapshot(
        organisation=Organisation("Contoso", "contoso.com"),
        servers=tuple(states),
        connectors=tuple(connectors),
        auth_certificates={thumb(auth): CertProfile.of(auth)},
    )


def _name(state: ServerState | None) -> str | None:
    return None if state is None else state.name


def _indexed(snap: OrgSnapshot) -> OrgSnapshot:
    """The same organisation as the real classes (with their indexes)."""
    states = tuple(
        ServerState(s.server, s.certificates, s.roots, s.intermediates, s.vdirs)
        for s in snap.servers
    )
    fields = {f.name: getattr(snap, f.name) for f in dataclasses.fields(OrgSnapshot)}
    return OrgSnapshot(**{**fields, "servers": states})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_organisations())
def test_the_indexed_lookups_answer_as_the_scans_did(scanned: OrgSnapshot) -> None:
    indexed = _indexed(scanned)
    for name in [*_NAMES, "exch01", "ELSEWHERE"]:
        assert _name(indexed.server(name)) == _name(scanned.server(name))
        assert indexed.receive_connectors(name) == scanned.receive_connectors(name)
        assert indexed.connectors_of(name) == scanned.connectors_of(name)
    for fast, slow in zip(indexed.servers, scanned.servers, strict=True):
        for cert in [*slow.certificates, *(HeldCertificate(thumb(c), CertProfile.of(c))
                                           for c in _pool())]:  # fmt: skip
            assert fast.find(cert.thumbprint) == slow.find(cert.thumbprint)
            assert indexed.connectors_naming(fast, cert) == scanned.connectors_naming(slow, cert)
            assert fast.issuer_chain(cert.profile) == slow.issuer_chain(cert.profile)
            assert fast.chain_gap(cert.profile) == slow.chain_gap(cert.profile)
        for connector in scanned.connectors:
            value = connector.tls_certificate_name
            assert indexed.resolve_tls_name(fast, value, now=NOW) == resolve_tls_name(
                slow.candidates(), value, now=NOW
            )
        assert indexed.in_use(fast) == scanned.in_use(slow)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_organisations(), st.sampled_from([NOW, NOW + dt.timedelta(days=300)]))
def test_the_rules_find_over_the_indexes_what_they_found_over_the_scans(
    scanned: OrgSnapshot, now: dt.datetime
) -> None:
    assert evaluate(_indexed(scanned), now) == evaluate(scanned, now)


# -- the fast profile -------------------------------------------------------------------------


@functools.cache
def _keys() -> tuple[object, ...]:
    return (
        rsa.generate_private_key(65537, 2048),
        ec.generate_private_key(ec.SECP384R1()),
        ed25519.Ed25519PrivateKey.generate(),
    )


@settings(max_examples=80, deadline=None)
@given(
    key=st.integers(0, 2),
    signer=st.integers(0, 2),
    self_issued=st.booleans(),
    ca_flag=st.sampled_from([None, True, False]),
    sans=st.lists(st.from_regex(r"[a-z]{1,8}\.contoso\.com", fullmatch=True), max_size=3),
    cn=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1,
               max_size=20),
)  # fmt: skip
def test_the_fast_profile_is_the_checked_profile(
    key: int, signer: int, self_issued: bool, ca_flag: bool | None,
    sans: list[str], cn: str,
) -> None:  # fmt: skip
    keys = _keys()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = subject if self_issued else x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Some Issuing CA")]
    )  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(keys[key].public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in sans]), critical=False
        )
    if ca_flag is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True
        )
    signing = keys[signer]
    algorithm = None if isinstance(signing, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signing, algorithm)  # type: ignore[arg-type]
    der = certinfo.to_der(cert)
    assert profile_of_der(der) == checked_profile(der)


def test_a_damaged_certificate_gives_the_checked_error() -> None:
    der = certinfo.to_der(issued())
    at = der.rindex(b"mail.contoso.com") - 1  # the DNS name's length, inside the SAN extension
    damaged = der[:at] + b"\x7f" + der[at + 1 :]
    with pytest.raises(CertwardError) as checked:
        checked_profile(damaged)
    with pytest.raises(type(checked.value)) as fast:
        profile_of_der(damaged)
    assert str(fast.value) == str(checked.value)


def test_the_memo_parses_each_thumbprint_once() -> None:
    memo = ProfileMemo()
    ders = {thumb(c): certinfo.to_der(c) for c in _pool()}
    asked: list[set[Thumbprint]] = []

    def reader(wanted):  # type: ignore[no-untyped-def]
        asked.append(set(wanted))
        return {t: ders[t] for t in wanted}

    first = memo.profiles(ders.keys(), reader)
    again = memo.profiles(ders.keys(), reader)
    assert first == again == {t: CertProfile.of(certinfo.load_der(d)) for t, d in ders.items()}
    assert asked == [set(ders)]  # the second read asked for nothing


# -- the organisation read at once ------------------------------------------------------------


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)


def test_the_organisation_read_at_once_is_the_organisation_read_server_by_server() -> None:
    app = build_app()
    pool = _pool()
    with app.store.transaction() as repo:
        repo.save_organisation(Organisation("Contoso"))
        for n, name in enumerate(_NAMES):
            repo.save_server(Server(name, f"{name.lower()}.contoso.com",
                                    frozenset({Role.MAILBOX}), observed=n == 2))  # fmt: skip
        for n, name in enumerate(_NAMES[:2]):
            for i, cert in enumerate(pool[n:]):
                repo.add_certificate(
                    CertificateRecord(
                        name,
                        StoreName.MY,
                        thumb(cert),
                        certinfo.to_der(cert),
                        services=ServiceSet.parse(_SERVICES[i % 5]),
                        created_at=NOW,
                    )
                )
            for authority in (root(), issuing()):
                der = certinfo.to_der(authority.certificate)
                store = StoreName.ROOT if authority is root() else StoreName.CA
                repo.add_certificate(CertificateRecord(name, store, thumb(authority.certificate),
                                                       der, created_at=NOW))  # fmt: skip
        seen = pool[0]
        repo.replace_observed_certificates(
            "EXCH03",
            StoreName.MY,
            [
                ObservedCertificate(
                    server="EXCH03", store=StoreName.MY, thumbprint=thumb(seen),
                    subject=dotnet_x500(seen.subject), issuer=dotnet_x500(seen.issuer),
                    not_before=seen.not_valid_before_utc, not_after=seen.not_valid_after_utc,
                    status="Valid",
                )
            ],
        )  # fmt: skip
    with app.store.transaction() as repo:
        at_once = read_snapshot(repo)
        by_server = read_snapshot_per_server(repo)
    app.store.close()
    assert at_once == by_server
    assert [len(s.certificates) for s in at_once.servers] == [len(pool), len(pool) - 1, 1]
    assert evaluate(at_once, NOW) == evaluate(by_server, NOW)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _organisations(),
    st.sampled_from([None, *_NAMES, "exch02"]),
    st.sampled_from(list(Severity)),
)
def test_a_report_narrowed_from_the_whole_one_is_the_report_asked_for(
    scanned: OrgSnapshot, server: str | None, minimum: Severity
) -> None:
    snap = _indexed(scanned)
    whole = evaluate(snap, NOW)
    assert narrowed(whole, server=server, min_severity=minimum) == evaluate(
        snap, NOW, server=server, min_severity=minimum
    )
