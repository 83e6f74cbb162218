"""Certificates' recorded facts (issue 16): worked out once per thumbprint, stored beside the
certificate, and read instead of parsing it, with the same results: a profile equal to the
one parsed from the DER, a listing byte-identical to the parsing one, the same coded error
for a damaged certificate. A missing (or outdated) row is worked out and written back."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, delete, insert, select, update

from certward.compose import App, build_app
from certward.errors import CertwardError
from certward.health.profiles import ProfileMemo, checked_profile
from certward.model import CertificateRecord, StoreName, Thumbprint
from certward.model.certfacts import FACTS_FORMAT
from certward.pki import certinfo
from certward.pki.profile import CertProfile, certificate_facts
from certward.services._records import views_of
from certward.services.health import read_snapshot, read_snapshot_per_server
from certward.storage.schema import CertificateRow, ServerRow
from certward.storage.schema_facts import certificate_facts as facts_table

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _cert(
    subject: x509.Name,
    *,
    issuer: x509.Name | None = None,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = EC_KEY,
    signer: ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | None = None,
    sans: tuple[str, ...] = (),
    ca: bool | None = None,
    days: tuple[int, int] = (-1, 365),
    digest: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in sans]), critical=False
        )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    signing = key if signer is None else signer
    algorithm = (
        None if isinstance(signing, ed25519.Ed25519PrivateKey) else digest or hashes.SHA256()
    )
    return builder.sign(signing, algorithm)  # type: ignore[arg-type]


ROOT_NAME = _name((NameOID.ORGANIZATION_NAME, "Contoso"), (NameOID.COMMON_NAME, "Contoso Root"))


def _variety() -> list[x509.Certificate]:
    """Self-signed and CA-issued, EC, RSA and Ed25519, with and without SANs."""
    return [
        _cert(ROOT_NAME, ca=True),
        _cert(_name((NameOID.COMMON_NAME, "mail.contoso.com")), issuer=ROOT_NAME,
              sans=("mail.contoso.com", "autodiscover.contoso.com"), key=RSA_KEY,
              signer=EC_KEY),
        _cert(_name((NameOID.COMMON_NAME, "Microsoft Exchange")), key=RSA_KEY,
              digest=hashes.SHA384(), sans=("exch01",)),
        _cert(_name((NameOID.COMMON_NAME, "edge.contoso.com")), key=ED_KEY),
        _cert(_name((NameOID.COMMON_NAME, "forged self-issued")), signer=RSA_KEY),
        _cert(_name((NameOID.COUNTRY_NAME, "US"), (NameOID.COMMON_NAME, 'a "quoted", name')),
              issuer=ROOT_NAME, days=(-30, -1), ca=False),
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(6))
def test_the_profile_from_facts_is_the_profile_parsed(index: int) -> None:
    der = certinfo.to_der(_variety()[index])
    facts = certificate_facts(der)
    assert CertProfile.from_facts(facts) == checked_profile(der)
    parsed = certinfo.facts(certinfo.load_der(der))
    assert (facts.subject_text, facts.issuer_text, facts.serial_number) == (
        parsed.subject,
        parsed.issuer,
        parsed.serial_number,
    )
    assert facts.certificate_domains == parsed.certificate_domains
    assert facts.self_signed is parsed.is_self_signed


def test_a_forged_self_issued_certificate_is_not_self_signed() -> None:
    facts = certificate_facts(certinfo.to_der(_variety()[4]))
    assert facts.subject == facts.issuer and not facts.self_signed


def _damaged() -> bytes:
    der = certinfo.to_der(_variety()[1])
    at = der.rindex(b"autodiscover.contoso.com") - 1  # the DNS name's length, in the SAN
    return der[:at] + b"\x7f" + der[at + 1 :]


def test_a_damaged_certificate_gives_the_checked_error() -> None:
    damaged = _damaged()
    with pytest.raises(CertwardError) as checked:
        checked_profile(damaged)
    with pytest.raises(type(checked.value)) as made:
        certificate_facts(damaged)
    assert str(made.value) == str(checked.value)


# -- stored -----------------------------------------------------------------------------------


@pytest.fixture
def app(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)
    application = build_app(database_url)
    application.organisation.init_organisation("Contoso", domain="contoso.com")
    application.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    application.organisation.add_server("EXCH02", fqdn="exch02.contoso.com")
    with application.store.engine.begin() as conn:  # the servers' own: not under test here
        conn.execute(delete(facts_table))
    try:
        yield application
    finally:
        application.store.close()


def test_a_certificate_made_for_a_server_has_its_facts_recorded(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "ab" * 32)
    application = build_app(database_url)
    try:
        application.organisation.init_organisation("Contoso", domain="contoso.com")
        application.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
        with application.store.transaction() as repo:
            ders = {r.thumbprint: r.der for r in repo.certificates("EXCH01") if r.der}
            recorded = repo.certificate_facts(ders)
        assert ders and recorded == {t: certificate_facts(d) for t, d in ders.items() if d}
    finally:
        application.store.close()


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _facts_rows(app: App) -> dict[str, int]:
    with app.store.engine.connect() as conn:
        return dict(conn.execute(select(facts_table.c.thumbprint, facts_table.c.format)).all())


def test_facts_are_stored_once_per_thumbprint_and_read_back_equal(app: App) -> None:
    certs = _variety()
    ders = {certinfo.thumbprint(certinfo.to_der(c)): certinfo.to_der(c) for c in certs}
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs), source="bundle")
    app.stores.store_add("EXCH02", StoreName.CA, _pem(*certs), source="bundle")
    assert _facts_rows(app) == dict.fromkeys(ders, FACTS_FORMAT)  # one row each, not two
    with app.store.transaction() as repo:
        stored = repo.certificate_facts(ders)
    assert stored == {t: certificate_facts(d) for t, d in ders.items()}
    for facts in stored.values():  # in UTC, as cryptography gives them
        assert facts.not_before.tzinfo is dt.UTC and facts.not_after.tzinfo is dt.UTC


def _listing(app: App, server: str, store: StoreName) -> str:
    return json.dumps([v.to_json() for v in app.stores.store_list(server, store)], indent=2)


def _parsed_listing(app: App, server: str, store: StoreName) -> str:
    """The listing made by parsing every certificate (the one-at-a-time path)."""
    with app.store.transaction() as repo:
        views = views_of(repo, repo.server(server), store, app.clock.now())
    return json.dumps([v.to_json() for v in views], indent=2)


def test_a_listing_from_facts_is_the_parsed_listing_and_a_missing_row_is_written_back(
    app: App,
) -> None:
    certs = _variety()
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs[:1], *certs[2:4]), source="r")
    app.stores.store_add("EXCH01", StoreName.CA, _pem(certs[1], *certs[4:]), source="c")
    for store in (StoreName.ROOT, StoreName.CA):
        assert _listing(app, "EXCH01", store) == _parsed_listing(app, "EXCH01", store)

    # rows lost (a store written by an older certward) or of another format
    thumbs = sorted(_facts_rows(app))
    with app.store.engine.begin() as conn:
        conn.execute(delete(facts_table).where(facts_table.c.thumbprint.in_(thumbs[:3])))
        conn.execute(update(facts_table).where(facts_table.c.thumbprint == thumbs[3])
                     .values(format=FACTS_FORMAT - 1, subject_text="stale"))  # fmt: skip
    generation = app.store.generation()
    for store in (StoreName.ROOT, StoreName.CA):
        assert _listing(app, "EXCH01", store) == _parsed_listing(app, "EXCH01", store)
    assert _facts_rows(app) == dict.fromkeys(thumbs, FACTS_FORMAT)  # written back
    assert app.store.generation() == generation  # not a change of the store


def _insert_raw(app: App, server: str, store: StoreName, der: bytes) -> None:
    """A certificate row as an older certward (or another writer) left it: no facts."""
    with app.store.engine.begin() as conn:
        server_id = conn.execute(select(ServerRow.id).where(ServerRow.name == server)).scalar()
        conn.execute(
            insert(CertificateRow).values(
                server_id=server_id,
                store=store.value,
                thumbprint=certinfo.thumbprint(der),
                der=der,
                services=0,
                friendly_name="",
                exportable=False,
                created_at=NOW,
            )
        )


def test_a_damaged_certificate_still_gives_its_coded_error_and_no_row(app: App) -> None:
    damaged = _damaged()
    _insert_raw(app, "EXCH01", StoreName.CA, damaged)
    with pytest.raises(CertwardError) as listed:
        app.stores.store_list("EXCH01", StoreName.CA)
    with pytest.raises(type(listed.value)) as checked:
        checked_profile(damaged)
    assert str(listed.value) == str(checked.value)
    assert listed.value.code.id == "pki.certificate_damaged"
    assert _facts_rows(app) == {}


def test_health_reads_facts_instead_of_parsing_and_records_those_it_parsed(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = _variety()
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(certs[0]), source="r")
    raw = {certinfo.thumbprint(certinfo.to_der(c)) for c in certs[1:4]}
    for cert in certs[1:4]:  # Personal certificates inserted without facts
        _insert_raw(app, "EXCH01", StoreName.MY, certinfo.to_der(cert))
    assert not raw & set(_facts_rows(app))
    monkeypatch.setattr("certward.services.health.PROFILES", ProfileMemo())
    with app.store.transaction() as repo:
        first = read_snapshot(repo)
    assert raw <= set(_facts_rows(app))  # those parsed were recorded

    asked: list[set[Thumbprint]] = []
    memo = ProfileMemo()
    monkeypatch.setattr("certward.services.health.PROFILES", memo)
    with app.store.transaction() as repo:
        original = repo.distinct_ders

        def ders(wanted):  # type: ignore[no-untyped-def]
            asked.append(set(wanted))
            return original(wanted)

        monkeypatch.setattr(repo, "distinct_ders", ders)
        again = read_snapshot(repo)
        parsed = read_snapshot_per_server(repo)
    assert asked == []  # a fresh process's read: every profile from the recorded facts
    for snapshot in (again, parsed):
        for state, other in zip(first.servers, snapshot.servers, strict=True):
            assert state.certificates == other.certificates
            assert state.roots == other.roots


def test_the_health_service_reads_without_the_write_lock_then_records_what_it_parsed(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = _variety()
    raw = {certinfo.thumbprint(certinfo.to_der(c)) for c in certs[1:3]}
    for cert in certs[1:3]:
        _insert_raw(app, "EXCH01", StoreName.MY, certinfo.to_der(cert))
    monkeypatch.setattr("certward.services.health.PROFILES", ProfileMemo())
    opened: list[str] = []
    reading, transaction = app.store.reading, app.store.transaction

    def count_reading():  # type: ignore[no-untyped-def]
        opened.append("reading")
        return reading()

    def count_transaction():  # type: ignore[no-untyped-def]
        opened.append("transaction")
        return transaction()

    monkeypatch.setattr(app.store, "reading", count_reading)
    monkeypatch.setattr(app.store, "transaction", count_transaction)
    app.health.check()
    assert opened == ["reading", "transaction"]  # the read, then the facts it worked out
    assert raw <= set(_facts_rows(app))
    opened.clear()
    app.health.check()
    assert opened == ["reading"]  # nothing left to record: no write at all


def test_a_read_only_transaction_writes_no_facts(app: App) -> None:
    der = certinfo.to_der(_variety()[0])
    with app.store.reading() as repo:
        repo.record_certificate_facts([certificate_facts(der)])
    assert _facts_rows(app) == {}


def test_the_migration_records_the_facts_of_stored_certificates(
    app: App, database_url: str
) -> None:
    from certward.storage.migrations import downgrade, upgrade

    certs = _variety()
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs), source="bundle")
    damaged = _damaged()
    _insert_raw(app, "EXCH01", StoreName.CA, damaged)
    with app.store.engine.connect() as conn:  # every readable certificate stored
        stored = conn.execute(
            select(CertificateRow.thumbprint, CertificateRow.der).where(
                CertificateRow.der.is_not(None), CertificateRow.der != damaged
            )
        )
        ders = {t: bytes(d) for t, d in stored}
    app.store.close()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        downgrade(conn, "0008")
    with engine.begin() as conn:
        upgrade(conn)
    engine.dispose()
    reopened = build_app(database_url)
    try:
        rows = _facts_rows(reopened)
        assert certinfo.thumbprint(damaged) not in rows  # its readers still say why
        assert set(ders) <= set(rows)
        with reopened.store.transaction() as repo:
            recorded = repo.certificate_facts(ders)
        assert recorded == {t: certificate_facts(d) for t, d in ders.items()}
    finally:
        reopened.store.close()


def test_a_store_add_records_facts_for_the_new_certificates_only(app: App) -> None:
    certs = _variety()
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs[:2]), source="a")
    with app.store.engine.begin() as conn:
        conn.execute(delete(facts_table))
    result = app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs[:3]), source="b")
    assert len(result.added) == 1 and len(result.already_present) == 2
    assert list(_facts_rows(app)) == [result.added[0][0]]


def test_records_carry_their_der_whether_or_not_facts_are_recorded(app: App) -> None:
    certs = _variety()
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(*certs), source="a")
    with app.store.transaction() as repo:
        with_facts = [r for r, _ in repo.certificates_with_facts("EXCH01", StoreName.ROOT)]
        plain = repo.certificate_records("EXCH01", StoreName.ROOT)
    assert with_facts == plain
    assert all(isinstance(r, CertificateRecord) and r.der for r in with_facts)


def test_facts_survive_the_certificate_row_and_serve_another_server(app: App) -> None:
    root = _variety()[0]
    thumb = certinfo.thumbprint(certinfo.to_der(root))
    app.stores.store_add("EXCH01", StoreName.ROOT, _pem(root), source="r")
    app.stores.store_remove("EXCH01", StoreName.ROOT, Thumbprint(thumb))
    app.stores.store_add("EXCH02", StoreName.ROOT, _pem(root), source="r")
    assert list(_facts_rows(app)) == [thumb]
    assert _listing(app, "EXCH02", StoreName.ROOT) == _parsed_listing(app, "EXCH02", StoreName.ROOT)
