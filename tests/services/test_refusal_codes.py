"""The stable codes and facts of refusals: connectors, domain security, edge, observe, mail,
virtual directories, transport, health and PFX convert, each on a real SQLite store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import NameOID

from certward.compose import App, build_app
from certward.errors import CertwardError, InputError, InteropError, NotFoundError, StoreError
from certward.model import Binding, ConnectorKind, Password, Role, Thumbprint
from certward.services.connectors import ConnectorSettings
from certward.services.observe import read_observation
from certward.services.pfx_files import convert_pfx
from tests.conftest import Cli

FIXTURES = Path(__file__).parents[1] / "interop" / "fixtures"
SEND = ConnectorSettings(address_spaces=("contoso.com",))
RECEIVE = ConnectorSettings(bindings=(Binding("0.0.0.0", 2526),))


@pytest.fixture
def app(org: Cli) -> Iterator[App]:
    """The services on organisation Contoso (EXCH01, EXCH02) in the test's own store."""
    opened = build_app(None)
    yield opened
    opened.store.close()


def refused(kind: type[CertwardError], call: Callable[[], Any]) -> CertwardError:
    with pytest.raises(kind) as info:
        call()
    return info.value


# -- connectors -------------------------------------------------------------------------------
def test_connector_lookup_codes(app: App) -> None:
    error = refused(NotFoundError, lambda: app.connectors.show("Nope"))
    assert (error.code.id, error.facts) == ("connector.not_found", {"connector": "Nope"})
    for server in ("EXCH01", "EXCH02"):
        app.connectors.add(ConnectorKind.RECEIVE, "Relay", [server], RECEIVE)
    error = refused(InputError, lambda: app.connectors.show("relay"))
    assert error.code.id == "connector.ambiguous"
    assert error.facts == {"connector": "relay", "identities": ["EXCH01\\Relay", "EXCH02\\Relay"]}
    assert "--" not in error.message


def test_connector_add_codes(app: App) -> None:
    add = app.connectors.add
    error = refused(InputError, lambda: add(ConnectorKind.SEND, "EXCH01\\X", ["EXCH01"], SEND))
    assert (error.code.id, error.facts["connector"]) == ("connector.name_syntax", "EXCH01\\X")
    error = refused(InputError, lambda: add(ConnectorKind.SEND, "X", [], SEND))
    assert error.code.id == "connector.server_missing"
    assert error.facts == {"connector": "X", "kind": ConnectorKind.SEND.value}
    assert "--server" not in error.message
    error = refused(
        InputError, lambda: add(ConnectorKind.RECEIVE, "Two", ["EXCH01", "EXCH02"], RECEIVE)
    )
    assert error.code.id == "connector.receive_one_server"
    assert error.facts["servers"] == ["EXCH01", "EXCH02"]
    error = refused(
        StoreError,
        lambda: add(ConnectorKind.RECEIVE, "Default Frontend EXCH01", ["exch01"], RECEIVE),
    )
    assert error.code.id == "connector.exists"
    assert error.facts == {"connector": "EXCH01\\Default Frontend EXCH01"}
    error = refused(
        InputError, lambda: add(ConnectorKind.SEND, "X", ["EXCH01"], ConnectorSettings())
    )
    assert error.code.id == "connector.settings_invalid"
    assert error.facts["connector"] == "X" and error.facts["problems"]
    both = ConnectorSettings(
        address_spaces=("contoso.com",),
        tls_certificate_name="<I>CN=a<S>CN=b",
        tls_certificate=Thumbprint("AB" * 20),
    )
    error = refused(InputError, lambda: add(ConnectorKind.SEND, "X", ["EXCH01"], both))
    assert error.code.id == "connector.tls_name_twice"
    absent = ConnectorSettings(
        address_spaces=("contoso.com",), tls_certificate=Thumbprint("AB" * 20)
    )
    error = refused(NotFoundError, lambda: add(ConnectorKind.SEND, "X", ["EXCH01"], absent))
    assert error.code.id == "connector.certificate_not_on_server"
    assert error.facts == {"thumbprint": "AB" * 20, "servers": ["EXCH01"]}
    fqdn = ConnectorSettings(address_spaces=("contoso.com",), fqdn="not a domain")
    error = refused(InputError, lambda: add(ConnectorKind.SEND, "X", ["EXCH01"], fqdn))
    assert error.code.id == "connector.domain_invalid"
    assert (error.facts["setting"], error.facts["value"]) == ("Fqdn", "not a domain")
    assert not [v for v in app.connectors.list() if v.connector.name == "X"]


def test_a_receive_connector_keeps_its_server(app: App) -> None:
    name = "EXCH01\\Default Frontend EXCH01"
    error = refused(
        InputError, lambda: app.connectors.set(name, ConnectorSettings(), servers=["EXCH02"])
    )
    assert error.code.id == "connector.receive_one_server"
    assert error.facts == {"connector": name, "servers": ["EXCH01"]}


def test_domain_secure_codes(app: App) -> None:
    secure = app.connectors.domain_secure
    error = refused(InputError, lambda: secure("both", "fabrikam.com", add=True))
    assert (error.code.id, error.facts) == ("domain_secure.direction", {"direction": "both"})
    error = refused(InputError, lambda: secure("send", "*.fabrikam.com", add=True))
    assert (error.code.id, error.facts) == (
        "domain_secure.domain_invalid",
        {"domain": "*.fabrikam.com"},
    )
    error = refused(NotFoundError, lambda: secure("receive", "Fabrikam.com", add=False))
    assert error.code.id == "domain_secure.not_listed"
    assert error.facts == {"domain": "fabrikam.com", "direction": "receive"}


# -- edge ---------------------------------------------------------------------------------------
def test_edge_subscription_codes(app: App) -> None:
    error = refused(InputError, lambda: app.edge.subscribe("exch01", "Default-First-Site"))
    assert (error.code.id, error.facts) == ("edge.not_edge_server", {"server": "EXCH01"})
    app.organisation.add_server("EDGE01", fqdn="edge01.contoso.com", roles=[Role.EDGE_TRANSPORT])
    app.edge.subscribe("EDGE01", "Default-First-Site")
    error = refused(StoreError, lambda: app.edge.subscribe("edge01", "Default-First-Site"))
    assert (error.code.id, error.facts) == ("edge.already_subscribed", {"server": "EDGE01"})
    assert "certward" not in error.message


# -- observe and dumps ----------------------------------------------------------------------------
def test_observe_codes_keep_the_parsers_code_and_name_the_file(app: App, tmp_path: Path) -> None:
    custom = (FIXTURES / "windows" / "certutil-store-capi.txt").read_text(encoding="utf-8")
    error = refused(InteropError, lambda: read_observation("capi.txt", custom, "WIN01"))
    assert error.code.id == "observe.store_unknown"
    assert error.facts == {"store": "TestStore", "file": "capi.txt"}
    assert "--store" not in error.message
    error = refused(InteropError, lambda: read_observation("notes.txt", "Dear admin,\n", "WIN01"))
    assert error.code.id == "dump.unrecognised"
    assert error.facts["file"] == "notes.txt" and error.message.startswith("notes.txt: ")
    error = refused(InteropError, lambda: read_observation("empty.txt", "\n\n", "WIN01"))
    assert error.code.id == "dump.empty"

    auth = (FIXTURES / "built" / "get-authconfig-fl.txt").read_text(encoding="utf-8")
    observation = read_observation("auth.txt", auth, "EXCH09")
    error = refused(InputError, lambda: app.observe.observe("EXCH09", [observation]))
    assert (error.code.id, error.facts) == ("observe.auth_beside_managed", {"file": "auth.txt"})
    assert "--db" not in error.message
    error = refused(StoreError, lambda: app.observe.observe("exch01", [observation]))
    assert (error.code.id, error.facts) == ("server.managed", {"server": "EXCH01"})
    error = refused(InputError, lambda: app.observe.observe("EXCH09", []))
    assert error.code.id == "input.missing"


def test_a_value_refused_inside_a_record_keeps_its_code_and_gains_its_place() -> None:
    receive = (FIXTURES / "built" / "get-receiveconnector-fl-renewal.txt").read_text("utf-8")
    line = next(
        n for n, text in enumerate(receive.splitlines(), 1) if text.startswith("RequireTLS")
    )
    broken = receive.replace("False", "maybe", 1)
    assert broken.splitlines()[line - 1].endswith("maybe")
    error = refused(InteropError, lambda: read_observation("r.txt", broken, "EXCH01"))
    assert error.code.id == "dump.value_invalid", error.message
    assert error.facts == {"value": "maybe", "line": 3, "field": "RequireTLS", "file": "r.txt"}
    assert error.message.startswith("r.txt: record at line 3, RequireTLS: ")

    auth = (FIXTURES / "built" / "get-authconfig-fl.txt").read_text(encoding="utf-8")
    error = refused(InteropError, lambda: read_observation("a.txt", auth + "\n" + auth, "X"))
    assert error.code.id == "dump.auth_config_repeated"


# -- mail, virtual directories, transport, health -------------------------------------------
def test_mail_codes(app: App) -> None:
    error = refused(InputError, lambda: app.mail.add_domain("*.contoso.com"))
    assert error.code.id == "mail.domain_invalid"
    password = Password(b"Pa55word!")
    error = refused(
        InputError, lambda: app.mail.add_mailbox("nobody", server="EXCH01", password=password)
    )
    assert (error.code.id, error.facts) == ("mail.address_invalid", {"address": "nobody"})
    error = refused(
        InputError,
        lambda: app.mail.add_mailbox("ann@Fabrikam.com", server="EXCH01", password=password),
    )
    assert error.code.id == "mail.domain_not_accepted"
    assert error.facts == {"domain": "fabrikam.com", "address": "ann@Fabrikam.com"}
    assert "certward" not in error.message


def test_vdir_codes(app: App) -> None:
    error = refused(NotFoundError, lambda: app.vdirs.set("EXCH01", "nope", require_ssl=True))
    assert error.code.id == "vdir.not_found"
    assert error.facts["vdir"] == "nope" and "owa" in [n.lower() for n in error.facts["known"]]
    error = refused(InputError, lambda: app.vdirs.set("EXCH01", "owa", external_url="ftp://x"))
    assert (error.code.id, error.facts) == ("vdir.url_invalid", {"url": "ftp://x"})


def test_transport_refuses_a_receive_connector(app: App) -> None:
    error = refused(
        InputError,
        lambda: app.transport.send(
            "exch01", "EXCH01\\Default Frontend EXCH01", mail_from="a@contoso.com",
            rcpt_to=["b@fabrikam.com"], subject="x", body=b"x",
        ),
    )  # fmt: skip
    assert error.code.id == "transport.not_send_connector"
    assert error.facts == {"connector": "EXCH01\\Default Frontend EXCH01", "server": "EXCH01"}


def test_send_connector_without_smart_host_is_named(app: App) -> None:
    app.connectors.add(ConnectorKind.SEND, "Out", ["EXCH01"], SEND)
    error = refused(
        CertwardError,
        lambda: app.transport.send(
            "EXCH01", "out", mail_from="a@contoso.com", rcpt_to=["b@fabrikam.com"],
            subject="x", body=b"x",
        ),
    )  # fmt: skip
    assert (error.code.id, error.facts) == ("transport.no_smart_host", {"connector": "Out"})


def test_health_of_an_unknown_server(app: App) -> None:
    error = refused(NotFoundError, lambda: app.health.check(server="EXCH09"))
    assert (error.code.id, error.facts) == ("server.not_found", {"server": "EXCH09"})


# -- PFX convert ------------------------------------------------------------------------------
def _ec_certificate() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec.contoso.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_pfx_convert_codes() -> None:
    key, cert = _ec_certificate()
    password = Password(b"Pa55word!")
    encryption = BestAvailableEncryption(password.reveal())
    no_key = pkcs12.serialize_key_and_certificates(b"x", None, cert, None, encryption)
    error = refused(
        CertwardError,
        lambda: convert_pfx(no_key, password, source="nokey.pfx", provider="p"),
    )
    assert (error.code.id, error.facts) == ("pfx.convert_no_key", {"file": "nokey.pfx"})
    with_ec = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, encryption)
    error = refused(
        CertwardError, lambda: convert_pfx(with_ec, password, source="ec.pfx", provider="p")
    )
    assert error.code.id == "pfx.convert_key_not_rsa"
    assert error.facts["file"] == "ec.pfx" and "ECDSA" in str(error.facts["key_type"])
