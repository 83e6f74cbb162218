"""DNS-01 by RFC 2136 dynamic update with TSIG, against a real BIND 9 (tests/acme/bind9.py)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from acme import challenges
from certward.acme.dns01 import DnsServer, Rfc2136Solver, TsigKey, load_tsig_key, parse_tsig_key
from certward.acme.solvers import SolverContext, SolverSettings, make_solver
from certward.errors import CertwardError
from tests.acme.bind9 import (
    REFUSING_ZONE,
    ZONE,
    Bind9,
    issue_with_acme_library,
    running_bind9,
    start_bind9,
)
from tests.acme.helpers import at, register, services
from tests.acme.pebble import Pebble, start_pebble
from tests.conftest import Cli, error_line


@pytest.fixture(scope="module")
def bind9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind9]:
    yield from running_bind9(tmp_path_factory)


@pytest.fixture(scope="module")
def account_key() -> josepy.JWK:
    return josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def _challenge() -> challenges.DNS01:
    return challenges.DNS01(token=os.urandom(32))


def _solver(bind9: Bind9, **kwargs: object) -> Rfc2136Solver:
    options: dict[str, object] = {
        "resolvers": [bind9.server],
        "port": bind9.server.port,
        "propagation_timeout": 10.0,
        "timeout": 3.0,
    }
    options.update(kwargs)
    key = options.pop("key", bind9.key)
    assert isinstance(key, TsigKey)
    return Rfc2136Solver(key, **options)  # type: ignore[arg-type]


def test_perform_adds_the_txt_record_and_cleanup_removes_exactly_it(
    bind9: Bind9, account_key: josepy.JWK, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The zone and its primary are found from the name alone: the SOA above
    # _acme-challenge.www.contoso.test (through the zone's wildcard), then its MNAME.
    solver = _solver(bind9, check_nameservers=True)
    first, second = _challenge(), _challenge()
    name = f"_acme-challenge.www.{ZONE}"
    solver.perform(f"www.{ZONE}", first, account_key)
    assert bind9.txt(name) == [first.validation(account_key)]
    # A second challenge for the same name (a wildcard's) lives beside the first.
    solver.perform(f"*.www.{ZONE}", second, account_key)
    assert bind9.txt(name) == sorted(
        [first.validation(account_key), second.validation(account_key)]
    )
    solver.cleanup(f"www.{ZONE}", first, account_key)
    assert bind9.txt(name) == [second.validation(account_key)]
    solver.cleanup(f"*.www.{ZONE}", second, account_key)
    assert bind9.txt(name) == []
    assert bind9.key.secret not in caplog.text + repr(solver) + repr(vars(solver))


def test_a_configured_server_is_updated_without_looking_up_the_mname(
    bind9: Bind9, account_key: josepy.JWK
) -> None:
    challenge = _challenge()
    solver = _solver(bind9, server=bind9.server, resolvers=[], port=53)
    solver.perform(ZONE, challenge, account_key)
    assert bind9.txt(f"_acme-challenge.{ZONE}") == [challenge.validation(account_key)]
    solver.cleanup(ZONE, challenge, account_key)
    assert bind9.txt(f"_acme-challenge.{ZONE}") == []


def test_a_wrong_secret_is_a_typed_tsig_error_naming_zone_and_server(
    bind9: Bind9, account_key: josepy.JWK
) -> None:
    wrong = TsigKey(bind9.key.name, bind9.key.algorithm, "c2VjcmV0IHRoYXQgaXMgd3Jvbmc=")
    with pytest.raises(CertwardError) as caught:
        _solver(bind9, key=wrong).perform(f"mail.{ZONE}", _challenge(), account_key)
    assert caught.value.code.id == "dns01.tsig_rejected"
    assert caught.value.facts["zone"] == f"{ZONE}."
    assert caught.value.facts["server"] == str(bind9.server)
    assert str(bind9.server) in caught.value.message
    assert wrong.secret not in caught.value.message
    assert bind9.txt(f"_acme-challenge.mail.{ZONE}") == []


def test_an_unknown_key_name_is_a_typed_tsig_error(bind9: Bind9, account_key: josepy.JWK) -> None:
    unknown = TsigKey("someone-else", "hmac-sha256", bind9.key.secret)
    with pytest.raises(CertwardError) as caught:
        _solver(bind9, key=unknown).perform(f"mail.{ZONE}", _challenge(), account_key)
    assert caught.value.code.id == "dns01.tsig_rejected"
    assert bind9.key.secret not in str(caught.value.as_dict())


def test_a_zone_the_key_may_not_update_is_refused(bind9: Bind9, account_key: josepy.JWK) -> None:
    with pytest.raises(CertwardError) as caught:
        _solver(bind9).perform(f"www.{REFUSING_ZONE}", _challenge(), account_key)
    assert caught.value.code.id == "dns01.update_refused"
    assert caught.value.facts["zone"] == f"{REFUSING_ZONE}."
    assert REFUSING_ZONE in caught.value.message


def test_a_name_in_no_zone_of_the_server_is_zone_not_found(
    bind9: Bind9, account_key: josepy.JWK
) -> None:
    # northwind.test is no zone of this server: the SOA walk ends in REFUSED answers.
    with pytest.raises(CertwardError) as caught:
        _solver(bind9, server=bind9.server).perform("northwind.test", _challenge(), account_key)
    assert caught.value.code.id == "dns01.zone_not_found"
    assert "_acme-challenge.northwind.test" in caught.value.message
    assert str(bind9.server) in caught.value.message


def test_a_primary_that_does_not_hold_the_zone_is_not_authoritative(
    bind9: Bind9, account_key: josepy.JWK, tmp_path: Path
) -> None:
    # Another named holds northwind.test; the update is sent to this one, which does not.
    other = start_bind9(tmp_path / "other", zone="northwind.test", refusing_zone="other.test")
    try:
        solver = _solver(bind9, resolvers=[other.server], server=bind9.server)
        with pytest.raises(CertwardError) as caught:
            solver.perform("www.northwind.test", _challenge(), account_key)
    finally:
        other.stop()
    assert caught.value.code.id == "dns01.not_authoritative"
    assert caught.value.facts["zone"] == "northwind.test."
    assert "NOTAUTH" in caught.value.message
    assert caught.value.facts["server"] == str(bind9.server)


def test_a_name_server_that_never_answers_the_record_is_not_visible_by_the_deadline(
    bind9: Bind9, account_key: josepy.JWK, tmp_path: Path
) -> None:
    # The zone's NS (ns1.contoso.test, 127.0.0.1) is looked for on another named's port:
    # that server does not hold the zone, so it never answers the record.
    other = start_bind9(tmp_path / "other", zone="northwind.test", refusing_zone="other.test")
    challenge = _challenge()
    try:
        solver = _solver(
            bind9,
            server=bind9.server,
            port=other.server.port,
            check_nameservers=True,
            propagation_timeout=1.0,
        )
        with pytest.raises(CertwardError) as caught:
            solver.perform(f"www.{ZONE}", challenge, account_key)
    finally:
        other.stop()
    assert caught.value.code.id == "dns01.not_visible"
    assert caught.value.facts["server"] == str(other.server)
    assert caught.value.facts["zone"] == f"{ZONE}."
    # The primary has it; cleanup removes it.
    assert bind9.txt(f"_acme-challenge.www.{ZONE}") == [challenge.validation(account_key)]
    solver.cleanup(f"www.{ZONE}", challenge, account_key)
    assert bind9.txt(f"_acme-challenge.www.{ZONE}") == []


def test_a_silent_server_is_a_timeout(bind9: Bind9, account_key: josepy.JWK) -> None:
    # A UDP socket that never answers: the SOA look-up times out.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = DnsServer("127.0.0.1", silent.getsockname()[1])
        solver = _solver(bind9, resolvers=[server], timeout=0.5)
        with pytest.raises(CertwardError) as caught:
            solver.perform(f"www.{ZONE}", _challenge(), account_key)
    assert caught.value.code.id == "dns01.timeout"


def test_the_key_file_is_bind_s_format_and_its_secret_stays_out_of_repr(bind9: Bind9) -> None:
    key = load_tsig_key(bind9.key_file)
    assert (key.name, key.algorithm) == ("certward-acme", "hmac-sha256")
    assert key.secret not in repr(key)
    commented = parse_tsig_key(
        "# made by hand\nkey example.key. {\n algorithm HMAC-SHA512; // strong\n"
        ' secret "c2VjcmV0"; };\n',
        source="k.conf",
    )
    assert (commented.name, commented.algorithm) == ("example.key.", "hmac-sha512")
    # A secret holding what a comment starts with (tsig-keygen's base64 may hold "//").
    slashes = parse_tsig_key(
        'key "certward-acme" {\n\talgorithm hmac-sha256;\n'
        '\tsecret "D//fFWL/kL/lYIio0hgxHGBuiiQfE3m/Yw08QZkYvfE=";\n}; // done\n',
        source="k.conf",
    )
    assert slashes.secret == "D//fFWL/kL/lYIio0hgxHGBuiiQfE3m/Yw08QZkYvfE="


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no key clause"),
        ('key "k" { algorithm hmac-sha256; };', "no secret"),
        ('key "k" { algorithm rot13; secret "c2VjcmV0"; };', "algorithm 'rot13'"),
        ('key "k" { algorithm hmac-sha256; secret "not base64!"; };', "not base64"),
    ],
)
def test_an_unusable_key_file_is_one_line_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    with pytest.raises(CertwardError) as caught:
        load_tsig_key(path)
    assert caught.value.code.id == "dns01.tsig_key_invalid"
    assert str(path) in caught.value.message
    assert problem in caught.value.message
    assert caught.value.exit_code == 2


def test_a_missing_key_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(CertwardError) as caught:
        load_tsig_key(tmp_path / "absent.key")
    assert caught.value.code.id == "dns01.tsig_key_invalid"
    assert "absent.key" in caught.value.message


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("192.0.2.53", DnsServer("192.0.2.53", 53)),
        ("192.0.2.53:5353", DnsServer("192.0.2.53", 5353)),
        ("2001:db8::53", DnsServer("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", DnsServer("2001:db8::53", 5353)),
    ],
)
def test_dns_servers_parse(text: str, server: DnsServer) -> None:
    assert DnsServer.parse(text) == server


@pytest.mark.parametrize("text", ["ns1.contoso.test", "192.0.2.53:0", "[::1]:99999", ""])
def test_a_dns_server_that_is_no_address_is_refused(text: str) -> None:
    with pytest.raises(CertwardError) as caught:
        DnsServer.parse(text)
    assert caught.value.code.id == "dns01.server_invalid"


# -- against a real ACME server: Pebble resolving through this named ----------------------


@pytest.fixture(scope="module")
def pebble_on_bind9(tmp_path_factory: pytest.TempPathFactory, bind9: Bind9) -> Iterator[Pebble]:
    server = start_pebble(tmp_path_factory.mktemp("pebble"), dns_server=bind9.address)
    try:
        yield server
    finally:
        server.stop()


def test_pebble_validates_dns01_records_added_to_bind9(
    bind9: Bind9, pebble_on_bind9: Pebble
) -> None:
    solver = Rfc2136Solver(bind9.key, resolvers=[bind9.server], port=bind9.server.port)
    names = [f"www.{ZONE}", f"*.{ZONE}"]
    certificate = issue_with_acme_library(
        pebble_on_bind9.directory_url, pebble_on_bind9.ca_bundle, names, "dns-01", solver
    )
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == sorted(names)
    # Every challenge record is gone again.
    assert bind9.txt(f"_acme-challenge.www.{ZONE}") == []
    assert bind9.txt(f"_acme-challenge.{ZONE}") == []


# -- end to end: certward's ACME service, Pebble, bind9 -----------------------------------


def _dns01_options(bind9: Bind9, key_file: Path | None = None) -> dict[str, str]:
    return {
        "tsig-key-file": str(key_file or bind9.key_file),
        "resolvers": bind9.address,
        "port": str(bind9.server.port),
        "propagation-timeout": "20",
    }


def test_certward_obtains_a_certificate_by_dns01_and_imports_it(
    org: Cli, bind9: Bind9, pebble_on_bind9: Pebble
) -> None:
    app, acme = services()
    try:
        register(acme, pebble_on_bind9)
        names = [f"mail.{ZONE}", f"autodiscover.{ZONE}"]
        obtained = acme.request(
            "EXCH01",
            subject=f"CN=mail.{ZONE}",
            domains=names,
            challenge="dns-01",
            solver_options=_dns01_options(bind9),
        )
        view = app.certificates.show_certificate("EXCH01", obtained.thumbprint)
        assert view.has_private_key and not view.is_self_signed
        assert set(view.certificate_domains) == set(names)
        with app.store.transaction() as repo:
            record = repo.certificate("EXCH01", obtained.thumbprint)
            assert record.csr_der is None and record.der is not None  # completed
        (order,) = acme.orders()
        assert order.challenge == "dns-01" and order.error is None
        assert order.thumbprint == obtained.thumbprint
        # The order keeps where the key is, never the secret.
        assert order.solver_options["tsig-key-file"] == str(bind9.key_file)
        assert bind9.key.secret not in str(order.to_json())
        for name in names:
            assert bind9.txt(f"_acme-challenge.{name}") == []
    finally:
        app.store.close()


def test_a_wrong_tsig_key_fails_the_request_with_its_code_and_leaves_nothing(
    org: Cli, bind9: Bind9, pebble_on_bind9: Pebble, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_text(
        f'key "{bind9.key.name}" {{ algorithm hmac-sha256; '
        'secret "c2VjcmV0IHRoYXQgaXMgd3Jvbmc="; };\n'
    )
    app, acme = services()
    try:
        register(acme, pebble_on_bind9)
        before = {c.thumbprint for c in app.certificates.list_certificates("EXCH01")}
        with pytest.raises(CertwardError) as caught:
            acme.request(
                "EXCH01",
                subject=f"CN=smtp.{ZONE}",
                domains=[f"smtp.{ZONE}"],
                challenge="dns-01",
                solver_options=_dns01_options(bind9, wrong),
                notify=False,
            )
        assert caught.value.code.id == "dns01.tsig_rejected"
        assert str(bind9.server) in caught.value.message
        (order,) = acme.orders()
        assert order.error is not None and order.error.code == "dns01.tsig_rejected"
        assert order.next_attempt is not None  # retried with backoff by renew
        # The pending request the attempt made is gone with its key.
        assert {c.thumbprint for c in app.certificates.list_certificates("EXCH01")} == before
    finally:
        app.store.close()


def test_a_dns01_certificate_is_renewed_at_two_thirds_of_its_lifetime(
    org: Cli, bind9: Bind9, pebble_on_bind9: Pebble
) -> None:
    # Pebble offers no renewal information: two thirds of the lifetime decide. The renewal
    # proves the names again by DNS-01 with the key file the order names.
    app, acme = services()
    try:
        register(acme, pebble_on_bind9)
        first = acme.request(
            "EXCH01",
            subject=f"CN=owa.{ZONE}",
            domains=[f"owa.{ZONE}"],
            challenge="dns-01",
            solver_options=_dns01_options(bind9),
        )
        old = app.certificates.show_certificate("EXCH01", first.thumbprint)
    finally:
        app.store.close()
    not_before, not_after = old.not_before, old.not_after
    assert not_before is not None and not_after is not None
    two_thirds = not_before + (not_after - not_before) * 2 / 3
    app, acme = services(at(two_thirds - dt.timedelta(minutes=1)))
    try:
        (outcome,) = acme.renew().outcomes
        assert outcome.action == "not-due", outcome.reason
    finally:
        app.store.close()
    app, acme = services(at(two_thirds + dt.timedelta(minutes=1)))
    try:
        (outcome,) = acme.renew().outcomes
        assert outcome.action == "renewed", outcome.reason
        assert "two thirds" in outcome.reason
        assert outcome.new is not None and outcome.new != first.thumbprint
        renewed = app.certificates.show_certificate("EXCH01", outcome.new)
        assert renewed.has_private_key and list(renewed.certificate_domains) == [f"owa.{ZONE}"]
        assert bind9.txt(f"_acme-challenge.owa.{ZONE}") == []
    finally:
        app.store.close()


def test_the_command_line_obtains_by_dns01_and_says_what_a_bad_key_file_needs(
    org: Cli, bind9: Bind9, pebble_on_bind9: Pebble, tmp_path: Path
) -> None:
    org(
        "acme", "account", "add", "--directory", pebble_on_bind9.directory_url,
        "--email", "hostmaster@contoso.test", "--ca-bundle", str(pebble_on_bind9.ca_bundle),
    )  # fmt: skip
    options = [
        "--challenge", "dns-01",
        "--challenge-option", f"tsig-key-file={bind9.key_file}",
        "--challenge-option", f"resolvers={bind9.address}",
        "--challenge-option", f"port={bind9.server.port}",
    ]  # fmt: skip
    result = org(
        "cert", "request", "--server", "EXCH01", "--acme", "--subject", f"CN=imap.{ZONE}",
        "--domain", f"imap.{ZONE}", *options,
    )  # fmt: skip
    assert "Obtained through ACME" in result.stdout
    assert bind9.key.secret not in result.output
    (listed,) = [
        c
        for c in org.json("cert", "list", "--server", "EXCH01")
        if c["subject"] == f"CN=imap.{ZONE}"
    ]
    assert listed["has_private_key"] and not listed["is_self_signed"]
    assert listed["certificate_domains"] == [f"imap.{ZONE}"]
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    line = error_line(
        org,
        "cert", "request", "--server", "EXCH01", "--acme", "--subject", f"CN=pop.{ZONE}",
        "--domain", f"pop.{ZONE}", *options[:2], "--challenge-option", f"tsig-key-file={bad}",
    )  # fmt: skip
    assert str(bad) in line and "no key clause" in line
    assert "tsig-key-file=FILE" in line  # the hint


def test_the_registry_makes_the_solver_and_refuses_unusable_options(bind9: Bind9) -> None:
    good = {"tsig-key-file": str(bind9.key_file), "server": bind9.address}
    solver = make_solver(SolverSettings("dns-01", good), SolverContext())
    assert isinstance(solver, Rfc2136Solver)
    for options, problem in [
        ({}, "'tsig-key-file'"),
        ({**good, "tsig_key_file": "x"}, "no option 'tsig_key_file'"),
        ({**good, "port": "0"}, "between 1 and 65535"),
        ({**good, "check-nameservers": "maybe"}, "not yes or no"),
    ]:
        with pytest.raises(CertwardError) as caught:
            make_solver(SolverSettings("dns-01", options), SolverContext())
        assert caught.value.code.id == "acme.solver_settings", options
        assert problem in caught.value.message
