"""TLS-ALPN-01 (RFC 8737): real handshakes with pyOpenSSL against the solver's listener."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import struct
from collections.abc import Iterator

import josepy
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL

from acme import challenges
from certward.acme.solvers import SolverContext, SolverSettings, make_solver
from certward.acme.tlsalpn01 import (
    ACME_IDENTIFIER_OID,
    ALPN_PROTOCOL,
    TLSALPN01,
    TLSALPN01Response,
    TlsAlpn01Solver,
)
from certward.errors import CertwardError
from tests.acme.bind9 import issue_with_acme_library
from tests.acme.helpers import register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli


@pytest.fixture(scope="module")
def account_key() -> josepy.JWK:
    return josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture
def solver() -> Iterator[TlsAlpn01Solver]:
    solver = TlsAlpn01Solver(port=0, address="127.0.0.1")
    try:
        yield solver
    finally:
        solver.close()


def _challenge() -> TLSALPN01:
    return TLSALPN01(token=os.urandom(32))


def _handshake(
    port: int, server_name: str, alpn: list[bytes] | None = None
) -> tuple[x509.Certificate, bytes | None]:
    """A pyOpenSSL client handshake offering ``alpn``; the certificate and chosen protocol."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_alpn_protos([ALPN_PROTOCOL] if alpn is None else alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(None)  # pyOpenSSL wants a blocking socket; the kernel times it out
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 5, 0))
        connection = SSL.Connection(context, sock)
        connection.set_tlsext_host_name(server_name.encode())
        connection.set_connect_state()
        connection.do_handshake()
        certificate = connection.get_peer_certificate(as_cryptography=True)
        protocol = connection.get_alpn_proto_negotiated()
        connection.shutdown()
    assert certificate is not None
    return certificate, protocol or None


def test_the_listener_serves_the_rfc_8737_certificate_with_acme_tls_1(
    solver: TlsAlpn01Solver, account_key: josepy.JWK
) -> None:
    challenge = _challenge()
    solver.perform("mail.contoso.test", challenge, account_key)
    assert solver.port is not None
    certificate, protocol = _handshake(solver.port, "mail.contoso.test")
    assert protocol == ALPN_PROTOCOL
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["mail.contoso.test"]
    identifier = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert identifier.critical
    digest = hashlib.sha256(challenge.key_authorization(account_key).encode()).digest()
    assert identifier.value.value == b"\x04\x20" + digest  # DER OCTET STRING of the digest
    assert challenge.validation(account_key) == digest


def test_one_listener_serves_each_pending_name_and_stops_after_the_last(
    solver: TlsAlpn01Solver, account_key: josepy.JWK
) -> None:
    mail, autodiscover = _challenge(), _challenge()
    solver.perform("mail.contoso.test", mail, account_key)
    port = solver.port
    assert port is not None
    solver.perform("autodiscover.contoso.test", autodiscover, account_key)
    assert solver.port == port
    certificate, _ = _handshake(port, "autodiscover.contoso.test")
    assert certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName) == ["autodiscover.contoso.test"]
    solver.cleanup("mail.contoso.test", mail, account_key)
    with pytest.raises(SSL.Error):  # no longer pending: no certificate for it
        _handshake(port, "mail.contoso.test")
    _handshake(port, "autodiscover.contoso.test")
    solver.cleanup("autodiscover.contoso.test", autodiscover, account_key)
    assert solver.port is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_client_without_acme_tls_1_gets_no_certificate(
    solver: TlsAlpn01Solver, account_key: josepy.JWK
) -> None:
    solver.perform("mail.contoso.test", _challenge(), account_key)
    assert solver.port is not None
    with pytest.raises(SSL.Error):
        _handshake(solver.port, "mail.contoso.test", alpn=[b"http/1.1"])


def test_a_busy_port_is_a_typed_error(account_key: josepy.JWK) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        solver = TlsAlpn01Solver(port=port, address="127.0.0.1")
        with pytest.raises(CertwardError) as caught:
            solver.perform("mail.contoso.test", _challenge(), account_key)
    assert caught.value.code.id == "tls_alpn01.listen_failed"
    assert f"127.0.0.1:{port}" in caught.value.message
    assert solver.port is None


def test_the_challenge_types_are_in_the_acme_library_registry(account_key: josepy.JWK) -> None:
    # An ACME server's tls-alpn-01 challenge decodes as a key-authorization challenge, and
    # its answer is an empty JSON object, as RFC 8737 section 3 says.
    decoded = challenges.Challenge.from_json({"type": "tls-alpn-01", "token": "a" * 43})
    assert isinstance(decoded, TLSALPN01)
    response = decoded.response(account_key)
    assert isinstance(response, TLSALPN01Response)
    assert response.to_partial_json() == {}
    assert response.verify(decoded, account_key.public_key())


def test_the_registry_makes_the_solver_from_its_options(account_key: josepy.JWK) -> None:
    solver = make_solver(
        SolverSettings("tls-alpn-01", {"port": "0", "address": "127.0.0.1"}), SolverContext()
    )
    assert isinstance(solver, TlsAlpn01Solver)
    try:
        solver.perform("www.contoso.test", _challenge(), account_key, now=dt.datetime.now(dt.UTC))
        assert solver.port is not None
        _handshake(solver.port, "www.contoso.test")
    finally:
        solver.close()


def test_pebble_validates_tls_alpn01_against_the_listener(pebble: Pebble) -> None:
    # Pebble resolves every name to 127.0.0.1 (pebble-challtestsrv) and connects to its
    # tlsPort there: the solver listens on that port.
    solver = TlsAlpn01Solver(port=pebble.tls_port, address="127.0.0.1")
    try:
        certificate = issue_with_acme_library(
            pebble.directory_url,
            pebble.ca_bundle,
            ["mail.contoso.test", "autodiscover.contoso.test"],
            "tls-alpn-01",
            solver,
        )
    finally:
        solver.close()
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == [
        "autodiscover.contoso.test",
        "mail.contoso.test",
    ]
    assert solver.port is None


def test_certward_obtains_a_certificate_by_tls_alpn01(org: Cli, pebble: Pebble) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        names = ["mail.contoso.test", "autodiscover.contoso.test"]
        obtained = acme.request(
            "EXCH01",
            subject="CN=mail.contoso.test",
            domains=names,
            challenge="tls-alpn-01",
            solver_options={"port": str(pebble.tls_port), "address": "127.0.0.1"},
        )
        view = app.certificates.show_certificate("EXCH01", obtained.thumbprint)
        assert view.has_private_key and not view.is_self_signed
        assert set(view.certificate_domains) == set(names)
        (order,) = acme.orders()
        assert order.challenge == "tls-alpn-01" and order.error is None
        # The listener is gone with the challenges.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", pebble.tls_port), timeout=5).close()
    finally:
        app.store.close()


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(CertwardError) as caught:
        make_solver(SolverSettings("tls-alpn-01", {"prot": "443"}), SolverContext())
    assert caught.value.code.id == "acme.solver_settings"
    assert "'prot'" in caught.value.message
