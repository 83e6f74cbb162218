"""``certward connector``, ``transport domain-secure``, ``cert tls-name`` and the removal rules
that connectors bring (issue 3), driven through the CLI.

The organisation (Contoso; EXCH01 and EXCH02, Exchange 2019 Mailbox) is built once per module
and copied into each test's store: setting it up costs three RSA keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from certward.compose import build_app
from tests.conftest import Cli, database_bytes, thumbprints

SEED_SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
SEED_DOTNET = "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
HYBRID = "Outbound to Office 365"
FRONTEND = "EXCH01\\Default Frontend EXCH01"
WELL_FORMED_NOWHERE = "<I>CN=Fabrikam Issuing CA, O=Fabrikam, C=US<S>CN=mail.fabrikam.com"
SETUP_RECEIVE_CONNECTORS = {
    # name -> port, as Exchange 2019 setup creates them on a Mailbox server
    "Default Frontend": 25,
    "Client Frontend": 587,
    "Outbound Proxy Frontend": 717,
    "Default": 2525,
    "Client Proxy": 465,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("contoso")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CERTWARD_MASTER_KEY", raising=False)
        app = build_app(str(directory / "certward.db"))
        app.organisation.init_organisation("Contoso", domain="contoso.com")
        for server in ("EXCH01", "EXCH02"):
            app.organisation.add_server(server, fqdn=f"{server.lower()}.contoso.com")
        app.store.close()
    yield directory


@pytest.fixture
def contoso(template: Path, isolated_store: Path, cli: Cli) -> Cli:
    """Like the ``org`` fixture (Contoso, EXCH01, EXCH02), copied from the module's template."""
    shutil.copytree(template, isolated_store.parent, dirs_exist_ok=True)
    return cli


# -- helpers -----------------------------------------------------------------------------------
def error_line(result: Result) -> str:
    """The one ``error: ...`` line a refused command prints."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def all_connectors(cli: Cli) -> dict[str, dict[str, Any]]:
    return {c["identity"]: c for c in cli.json("connector", "list")}


def show(cli: Cli, name: str) -> dict[str, Any]:
    return cli.json("connector", "show", name)


def resolution(connector: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """server -> (status, thumbprint) of the connector's TlsCertificateName."""
    return {
        r["server"]: (r["status"], r["thumbprint"]) for r in connector["tls_certificate_resolution"]
    }


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {key for key in before if before[key] != after[key]}


def default_smtp(cli: Cli, server: str) -> str:
    return cli.json("server", "show", server)["default_smtp_thumbprint"]


def new_certificate(cli: Cli, server: str, subject: str, *extra: str) -> str:
    """``cert new`` without services (nothing else holds on to it); returns the thumbprint."""
    result = cli(
        "cert", "new", "--server", server, "--subject", subject, "--services", "None", *extra
    )
    return result.stdout.split()[0]


def tls_name(cli: Cli, thumbprint: str, server: str) -> str:
    return cli("cert", "tls-name", thumbprint, "--server", server).stdout.strip()


def add_hybrid_send(cli: Cli, *extra: str) -> dict[str, Any]:
    return cli.json(
        "connector", "add", "send", HYBRID, "--server", "EXCH01", "--server", "EXCH02",
        "--address-space", "contoso.mail.onmicrosoft.com", *extra,
    )  # fmt: skip


# -- default receive connectors -----------------------------------------------------------------
def test_server_add_creates_the_default_receive_connectors(contoso: Cli) -> None:
    contoso("server", "add", "EXCH03", "--fqdn", "exch03.contoso.com")
    connectors = all_connectors(contoso)
    for server in ("EXCH01", "EXCH02", "EXCH03"):
        for name, port in SETUP_RECEIVE_CONNECTORS.items():
            connector = connectors[f"{server}\\{name} {server}"]
            assert connector["name"] == f"{name} {server}"
            assert connector["kind"] == "receive"
            assert connector["servers"] == [server]
            assert connector["bindings"] == [f"0.0.0.0:{port}"]
            assert connector["fqdn"] == f"{server.lower()}.contoso.com"
            assert "Tls" in connector["auth_mechanism"]
            assert connector["tls_certificate_name"] is None
            assert connector["tls_certificate_name_status"] == "Empty"
    frontend = connectors["EXCH01\\Default Frontend EXCH01"]
    assert frontend["auth_mechanism"] == [
        "Tls", "Integrated", "BasicAuth", "BasicAuthRequireTLS", "ExchangeServer",
    ]  # fmt: skip
    client = connectors["EXCH01\\Client Frontend EXCH01"]
    assert client["auth_mechanism"] == ["Tls", "Integrated", "BasicAuth", "BasicAuthRequireTLS"]
    assert not [c for c in connectors.values() if c["kind"] == "send"]

    table = contoso("connector", "list").stdout
    assert "EXCH03\\Default Frontend EXCH03" in table and "Empty" in table


# -- connector add ------------------------------------------------------------------------------
def test_add_send_connector_with_every_send_flag(contoso: Cli) -> None:
    added = add_hybrid_send(
        contoso,
        "--fqdn", "mail.contoso.com",
        "--address-space", "fabrikam.com",
        "--smart-host", "contoso-com.mail.protection.outlook.com",
        "--smart-host", "[2001:db8::25]:587",
        "--auth-mechanism", "BasicAuthRequireTLS",
        "--require-tls",
        "--tls-auth-level", "DomainValidation",
        "--tls-domain", "mail.protection.outlook.com",
        "--no-domain-secure",
        "--no-ignore-starttls",
        "--tls-certificate-name", WELL_FORMED_NOWHERE,
        "--cloud-services-mail",
    )  # fmt: skip
    expected = {
        "name": HYBRID,
        "identity": HYBRID,
        "kind": "send",
        "servers": ["EXCH01", "EXCH02"],
        "fqdn": "mail.contoso.com",
        "bindings": [],
        "address_spaces": ["contoso.mail.onmicrosoft.com", "fabrikam.com"],
        "smart_hosts": ["contoso-com.mail.protection.outlook.com", "[2001:db8::25]:587"],
        "auth_mechanism": ["BasicAuthRequireTLS"],
        "require_tls": True,
        "tls_auth_level": "DomainValidation",
        "tls_domain": "mail.protection.outlook.com",
        "domain_secure_enabled": False,
        "tls_certificate_name": WELL_FORMED_NOWHERE,
        "ignore_starttls": False,
        "cloud_services_mail_enabled": True,
        "tls_certificate_name_status": "NotFound",
    }
    assert {key: added[key] for key in expected} == expected
    assert resolution(added) == {"EXCH01": ("NotFound", None), "EXCH02": ("NotFound", None)}
    assert show(contoso, HYBRID) == added  # stored as shown


def test_add_domain_secure_and_ignore_starttls_send_connectors(contoso: Cli) -> None:
    secure = contoso.json(
        "connector", "add", "send", "Fabrikam secure", "--server", "EXCH01",
        "--address-space", "fabrikam.com", "--domain-secure",
    )  # fmt: skip
    assert secure["domain_secure_enabled"] is True
    assert secure["smart_hosts"] == []
    legacy = contoso.json(
        "connector", "add", "send", "Legacy partner", "-s", "EXCH02",
        "--address-space", "legacy.example", "--ignore-starttls",
    )  # fmt: skip
    assert legacy["ignore_starttls"] is True
    assert legacy["servers"] == ["EXCH02"]
    assert legacy["auth_mechanism"] == ["None"]
    assert legacy["fqdn"] is None
    assert legacy["require_tls"] is False


def test_add_receive_connector_with_every_receive_flag(contoso: Cli) -> None:
    added = contoso.json(
        "connector", "add", "receive", "Partner inbound", "--server", "EXCH01",
        "--fqdn", "mail.contoso.com",
        "--bind", "0.0.0.0:2526", "--bind", "[::]:2526",
        "--auth-mechanism", "Tls,BasicAuth,BasicAuthRequireTLS",
        "--require-tls",
        "--domain-secure",
        "--tls-certificate-name", WELL_FORMED_NOWHERE,
        "--cloud-services-mail",
    )  # fmt: skip
    assert added["identity"] == "EXCH01\\Partner inbound"
    assert added["kind"] == "receive"
    assert added["servers"] == ["EXCH01"]
    assert added["fqdn"] == "mail.contoso.com"
    assert added["bindings"] == ["0.0.0.0:2526", "[::]:2526"]
    assert added["auth_mechanism"] == ["Tls", "BasicAuth", "BasicAuthRequireTLS"]
    assert added["require_tls"] is True
    assert added["domain_secure_enabled"] is True
    assert added["cloud_services_mail_enabled"] is True
    assert added["tls_certificate_name"] == WELL_FORMED_NOWHERE
    assert resolution(added) == {"EXCH01": ("NotFound", None)}
    assert all_connectors(contoso)["EXCH01\\Partner inbound"] == added


def test_a_receive_connector_defaults_to_tls_and_the_servers_fqdn(contoso: Cli) -> None:
    added = contoso.json(
        "connector", "add", "receive", "Relay", "--server", "exch02", "--bind", "10.0.0.2:2526"
    )
    assert added["identity"] == "EXCH02\\Relay"
    assert added["fqdn"] == "exch02.contoso.com"
    assert added["auth_mechanism"] == ["Tls"]
    assert added["require_tls"] is False
    assert added["tls_certificate_name_status"] == "Empty"


# -- connector set ------------------------------------------------------------------------------
def test_set_changes_only_the_given_options(contoso: Cli) -> None:
    before = show(contoso, "Default Frontend EXCH01")  # unambiguous name, no SERVER\ needed
    moved = contoso.json("connector", "set", "Default Frontend EXCH01", "--bind", "127.0.0.1:2525")
    assert moved["bindings"] == ["127.0.0.1:2525"]
    assert changed_keys(before, moved) == {"bindings"}

    tightened = contoso.json(
        "connector", "set", FRONTEND, "--require-tls", "--fqdn", "mail.contoso.com"
    )
    assert (tightened["require_tls"], tightened["fqdn"]) == (True, "mail.contoso.com")
    assert changed_keys(moved, tightened) == {"require_tls", "fqdn"}

    loosened = contoso.json("connector", "set", FRONTEND, "--no-require-tls")
    assert changed_keys(tightened, loosened) == {"require_tls"}
    assert show(contoso, FRONTEND) == loosened
    # the other server's connector of the same kind is untouched
    assert show(contoso, "EXCH02\\Default Frontend EXCH02")["bindings"] == ["0.0.0.0:25"]


def test_set_on_a_send_connector_replaces_lists_and_moves_servers(contoso: Cli) -> None:
    before = add_hybrid_send(contoso, "--smart-host", "relay1.contoso.com")
    after = contoso.json(
        "connector", "set", HYBRID, "--smart-host", "relay2.contoso.com:587",
        "--address-space", "fabrikam.com", "--server", "EXCH02",
    )  # fmt: skip
    assert after["smart_hosts"] == ["relay2.contoso.com:587"]
    assert after["address_spaces"] == ["fabrikam.com"]
    assert after["servers"] == ["EXCH02"]
    assert changed_keys(before, after) == {
        "smart_hosts", "address_spaces", "servers", "tls_certificate_resolution",
    }  # fmt: skip


def test_a_receive_connectors_server_cannot_change(contoso: Cli, isolated_store: Path) -> None:
    stored = database_bytes(isolated_store)
    result = contoso("connector", "set", FRONTEND, "--server", "EXCH02", ok=False)
    assert "cannot be changed" in error_line(result)
    assert database_bytes(isolated_store) == stored


# -- refusals -----------------------------------------------------------------------------------
SEND_X = ("connector", "add", "send", "X", "--server", "EXCH01")
SEND_XA = (*SEND_X, "--address-space", "contoso.com")
RECV_X = ("connector", "add", "receive", "X", "--server", "EXCH01")
RECV_XB = (*RECV_X, "--bind", "0.0.0.0:2526")
REFUSED = [
    # Exchange's rules for send connectors
    ("send-no-address-space", SEND_X, "at least one address space"),
    ("level-without-requiretls", (*SEND_XA, "--tls-auth-level", "CertificateValidation"),
     "TlsAuthLevel needs RequireTLS and not IgnoreSTARTTLS"),
    ("requiretls-and-ignorestarttls", (*SEND_XA, "--require-tls", "--ignore-starttls"),
     "RequireTLS and IgnoreSTARTTLS cannot both be set"),
    ("tlsdomain-without-domainvalidation",
     (*SEND_XA, "--require-tls", "--tls-auth-level", "CertificateValidation",
      "--tls-domain", "mail.protection.outlook.com"),
     "TlsDomain can be set only with TlsAuthLevel DomainValidation"),
    ("domainsecure-with-smarthost", (*SEND_XA, "--domain-secure", "--smart-host", "relay.x.com"),
     "DomainSecureEnabled needs DNS routing"),
    ("domainsecure-with-ignorestarttls", (*SEND_XA, "--domain-secure", "--ignore-starttls"),
     "DomainSecureEnabled needs IgnoreSTARTTLS off"),
    ("send-with-bind", (*SEND_XA, "--bind", "0.0.0.0:25"), "--bind belongs to receive"),
    ("basicauth-without-smarthost", (*SEND_XA, "--auth-mechanism", "BasicAuth"),
     "needs --smart-host"),
    ("send-integrated", (*SEND_XA, "--smart-host", "relay.x.com", "--auth-mechanism", "Integrated"),
     "a send connector takes one smart-host auth mechanism"),
    # Exchange's rules for receive connectors
    ("receive-no-binding", RECV_X, "needs a binding"),
    ("receive-requiretls-without-tls",
     (*RECV_XB, "--auth-mechanism", "BasicAuth", "--require-tls"),
     "RequireTLS on a receive connector needs AuthMechanism Tls"),
    ("basicauthrequiretls-alone", (*RECV_XB, "--auth-mechanism", "Tls,BasicAuthRequireTLS"),
     "BasicAuthRequireTLS also requires BasicAuth and Tls"),
    ("exchangeserver-without-tls", (*RECV_XB, "--auth-mechanism", "ExchangeServer"),
     "ExchangeServer is available only with Tls"),
    ("receive-domainsecure-externalauthoritative",
     (*RECV_XB, "--auth-mechanism", "Tls,ExternalAuthoritative", "--domain-secure"),
     "not ExternalAuthoritative"),
    ("externalauthoritative-with-basicauth",
     (*RECV_XB, "--auth-mechanism", "Tls,BasicAuth,ExternalAuthoritative"),
     "ExternalAuthoritative can be combined only with Tls"),
    ("receive-two-servers", (*RECV_XB, "--server", "EXCH02"), "exactly one"),
    ("receive-tls-auth-level", (*RECV_XB, "--tls-auth-level", "EncryptionOnly"),
     "belong to send connectors"),
    ("receive-address-space", (*RECV_XB, "--address-space", "contoso.com"),
     "belong to send connectors"),
    # values that do not parse
    ("unknown-auth-mechanism", (*RECV_XB, "--auth-mechanism", "Tls,Kerberos"),
     "unknown auth mechanism 'Kerberos'"),
    ("unknown-tls-auth-level", (*SEND_XA, "--require-tls", "--tls-auth-level", "Strict"),
     "unknown TLS auth level"),
    ("bind-without-port", (*RECV_X, "--bind", "0.0.0.0"), "HOST:PORT"),
    ("smart-host-bad-port", (*SEND_XA, "--smart-host", "relay.x.com:99999"), "bad port"),
    ("bad-fqdn", (*SEND_XA, "--fqdn", "not a host"), "invalid domain name"),
    ("bad-tls-domain",
     (*SEND_XA, "--require-tls", "--tls-auth-level", "DomainValidation", "--tls-domain", "a b"),
     "invalid domain name"),
    ("tls-name-without-tags", (*SEND_XA, "--tls-certificate-name", "CN=mail.contoso.com"),
     "not a TlsCertificateName"),
    # HealthChecker's SyntaxInvalid cannot be stored: the CLI validates the X.500 names
    ("tls-name-syntax-invalid",
     (*SEND_XA, "--tls-certificate-name", "<I>CN=Contoso CA, X=1<S>CN=mail.contoso.com"),
     "unknown attribute 'X'"),
    ("tls-name-bad-country",
     (*SEND_XA, "--tls-certificate-name", "<I>CN=Contoso CA, C=USA<S>CN=mail.contoso.com"),
     "two-letter"),
    ("tls-name-and-certificate",
     (*SEND_XA, "--tls-certificate-name", WELL_FORMED_NOWHERE, "--tls-certificate", "AB" * 20),
     "not both"),
    ("unknown-certificate", (*SEND_XA, "--tls-certificate", "AB" * 20),
     "is not on the connector's server(s) EXCH01"),
    ("not-a-thumbprint", (*SEND_XA, "--tls-certificate", "xyz"), "not a certificate thumbprint"),
    # names, kinds, servers
    ("unknown-kind", ("connector", "add", "both", "X", "--server", "EXCH01"), "send or receive"),
    ("unknown-server", ("connector", "add", "send", "X", "--server", "EXCH09",
                        "--address-space", "contoso.com"), "EXCH09"),
    ("no-server", ("connector", "add", "send", "X", "--address-space", "contoso.com"),
     "needs a server; pass --server"),
    ("backslash-in-name", ("connector", "add", "send", "EXCH01\\X", "--server", "EXCH01",
                           "--address-space", "contoso.com"), "invalid connector name"),
    ("duplicate", ("connector", "add", "receive", "Default Frontend EXCH01", "--server", "EXCH01",
                   "--bind", "0.0.0.0:2526"), "already exists"),
    # connector set checks the resulting connector with the same rules
    ("set-requiretls-without-tls",
     ("connector", "set", FRONTEND, "--auth-mechanism", "BasicAuth", "--require-tls"),
     "RequireTLS on a receive connector needs AuthMechanism Tls"),
    ("set-send-option-on-receive", ("connector", "set", FRONTEND, "--ignore-starttls"),
     "belong to send connectors"),
    ("set-unknown-connector", ("connector", "set", "Nope", "--fqdn", "a.contoso.com"),
     "connector 'Nope' not found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"), [pytest.param(args, msg, id=case) for case, args, msg in REFUSED]
)
def test_invalid_connectors_are_refused_and_nothing_is_stored(
    contoso: Cli, isolated_store: Path, args: tuple[str, ...], message: str
) -> None:
    stored = database_bytes(isolated_store)
    result = contoso(*args, ok=False)
    assert message in error_line(result)
    assert database_bytes(isolated_store) == stored


# -- TlsCertificateName from a certificate ------------------------------------------------------
def test_cert_tls_name_prints_issuer_and_subject(contoso: Cli) -> None:
    own = default_smtp(contoso, "EXCH01")
    assert tls_name(contoso, own, "EXCH01") == "<I>CN=EXCH01<S>CN=EXCH01"
    seed = new_certificate(contoso, "EXCH01", SEED_SUBJECT, "--domain", "webmail.p365labs.com")
    assert tls_name(contoso, seed.lower(), "exch01") == f"<I>{SEED_DOTNET}<S>{SEED_DOTNET}"

    missing = contoso("cert", "tls-name", seed, "--server", "EXCH02", ok=False)
    assert seed in error_line(missing)


def test_cert_tls_name_refuses_a_pending_request(contoso: Cli, tmp_path: Path) -> None:
    out = tmp_path / "request.req"
    request = contoso(
        "cert", "request", "--server", "EXCH01", "--subject", SEED_SUBJECT, "--out", str(out)
    ).stdout.split()[0]
    result = contoso("cert", "tls-name", request, "--server", "EXCH01", ok=False)
    assert "pending request" in error_line(result)


def test_tls_certificate_builds_the_name_and_resolves_per_server(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    thumb = new_certificate(
        contoso, "EXCH01", SEED_SUBJECT, "--domain", "webmail.p365labs.com", "--exportable"
    )
    expected_name = tls_name(contoso, thumb, "EXCH01")

    hybrid = add_hybrid_send(contoso, "--tls-certificate", thumb.lower())
    assert hybrid["tls_certificate_name"] == expected_name
    assert resolution(hybrid) == {"EXCH01": ("Match", thumb), "EXCH02": ("NotFound", None)}
    assert hybrid["tls_certificate_name_status"] == "NotFound"  # worst across servers

    # Only EXCH01 holds it: a receive connector on EXCH02 cannot name it by thumbprint.
    refused = contoso(
        "connector", "set", "EXCH02\\Default Frontend EXCH02", "--tls-certificate", thumb, ok=False
    )
    assert "not on the connector's server(s) EXCH02" in error_line(refused)

    pfx = tmp_path / "webmail.pfx"
    contoso("cert", "export", thumb, "--server", "EXCH01", "--out", str(pfx),
            "--password-file", str(password_file))  # fmt: skip
    contoso("cert", "import", "--server", "EXCH02", str(pfx), "--password-file", str(password_file))
    hybrid = show(contoso, HYBRID)
    assert resolution(hybrid) == {"EXCH01": ("Match", thumb), "EXCH02": ("Match", thumb)}
    assert hybrid["tls_certificate_name_status"] == "Match"

    frontend = contoso.json("connector", "set", FRONTEND, "--tls-certificate", thumb)
    assert frontend["tls_certificate_name"] == expected_name
    assert resolution(frontend) == {"EXCH01": ("Match", thumb)}


def test_list_and_show_report_each_status(contoso: Cli) -> None:
    own = default_smtp(contoso, "EXCH01")
    contoso("connector", "set", FRONTEND, "--tls-certificate", own)
    contoso(
        "connector", "set", "EXCH02\\Default Frontend EXCH02",
        "--tls-certificate-name", WELL_FORMED_NOWHERE,
    )  # fmt: skip
    listed = all_connectors(contoso)

    matched = listed[FRONTEND]
    assert matched["tls_certificate_name"] == "<I>CN=EXCH01<S>CN=EXCH01"
    assert matched["tls_certificate_name_status"] == "Match"
    assert matched["tls_certificate_resolution"] == [
        {"server": "EXCH01", "status": "Match", "thumbprint": own, "matches": [own]}
    ]
    not_found = listed["EXCH02\\Default Frontend EXCH02"]
    assert not_found["tls_certificate_name_status"] == "NotFound"
    assert resolution(not_found) == {"EXCH02": ("NotFound", None)}
    empty = listed["EXCH01\\Client Frontend EXCH01"]
    assert empty["tls_certificate_name_status"] == "Empty"
    assert resolution(empty) == {"EXCH01": ("Empty", None)}
    assert show(contoso, FRONTEND) == matched

    table = contoso("connector", "list").stdout
    for status in ("Match", "NotFound", "Empty"):
        assert status in table
    text = contoso("connector", "show", FRONTEND).stdout
    assert f"Match {own}" in text

    # the name is matched case-insensitively; "" clears it
    lowered = contoso.json(
        "connector", "set", FRONTEND, "--tls-certificate-name", "<i>cn=exch01<s>cn=exch01"
    )
    assert resolution(lowered) == {"EXCH01": ("Match", own)}
    cleared = contoso.json("connector", "set", FRONTEND, "--tls-certificate-name", "")
    assert cleared["tls_certificate_name"] is None
    assert resolution(cleared) == {"EXCH01": ("Empty", None)}


def test_syntax_invalid_names_are_refused_by_the_cli(contoso: Cli, isolated_store: Path) -> None:
    """SyntaxInvalid is a status HealthChecker reports; certward refuses to store such a name."""
    stored = database_bytes(isolated_store)
    for bad in ("<I>CN=Contoso CA<S>", "<I>Contoso CA<S>mail.contoso.com", "webmail"):
        result = contoso("connector", "set", FRONTEND, "--tls-certificate-name", bad, ok=False)
        assert "TlsCertificateName" in error_line(result)
    assert database_bytes(isolated_store) == stored
    assert show(contoso, FRONTEND)["tls_certificate_name_status"] == "Empty"


def test_names_shared_by_several_servers_need_the_identity(contoso: Cli) -> None:
    for server in ("EXCH01", "EXCH02"):
        contoso(
            "connector", "add", "receive", "Relay", "--server", server, "--bind", "0.0.0.0:2526"
        )
    ambiguous = contoso("connector", "show", "Relay", ok=False)
    assert "EXCH01\\Relay, EXCH02\\Relay" in error_line(ambiguous)
    assert show(contoso, "EXCH02\\Relay")["servers"] == ["EXCH02"]
    contoso("connector", "remove", "EXCH02\\Relay")
    assert "EXCH02\\Relay" not in all_connectors(contoso)
    assert show(contoso, "Relay")["identity"] == "EXCH01\\Relay"


# -- domain-secure lists ------------------------------------------------------------------------
def test_domain_secure_lists(contoso: Cli) -> None:
    assert contoso.json("transport", "show") == {
        "tls_send_domain_secure_list": [],
        "tls_receive_domain_secure_list": [],
    }
    contoso("transport", "domain-secure", "add", "send", "fabrikam.com")
    contoso("transport", "domain-secure", "add", "send", "Woodgrove.COM")
    contoso("transport", "domain-secure", "add", "receive", "fabrikam.com")
    contoso("transport", "domain-secure", "add", "send", "fabrikam.com")  # already there
    assert contoso.json("transport", "show") == {
        "tls_send_domain_secure_list": ["fabrikam.com", "woodgrove.com"],
        "tls_receive_domain_secure_list": ["fabrikam.com"],
    }
    contoso("transport", "domain-secure", "remove", "send", "fabrikam.com")
    assert contoso.json("transport", "show") == {
        "tls_send_domain_secure_list": ["woodgrove.com"],
        "tls_receive_domain_secure_list": ["fabrikam.com"],
    }
    text = contoso("transport", "show").stdout
    assert "{woodgrove.com}" in text and "{fabrikam.com}" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "send", "*.fabrikam.com"), "no wildcards"),
        (("add", "receive", "*"), "no wildcards"),
        (("remove", "receive", "woodgrove.com"), "not in the receive domain-secure list"),
        (("add", "both", "fabrikam.com"), "send or receive"),
        (("add", "send", "not a domain"), "invalid domain name"),
    ],
)
def test_domain_secure_refusals(
    contoso: Cli, isolated_store: Path, args: tuple[str, ...], message: str
) -> None:
    contoso("transport", "domain-secure", "add", "receive", "fabrikam.com")
    stored = database_bytes(isolated_store)
    result = contoso("transport", "domain-secure", *args, ok=False)
    assert message in error_line(result)
    assert database_bytes(isolated_store) == stored
    assert contoso.json("transport", "show")["tls_receive_domain_secure_list"] == ["fabrikam.com"]


# -- removal rules ------------------------------------------------------------------------------
def test_a_certificate_a_send_connector_names_cannot_be_removed(contoso: Cli) -> None:
    thumb = new_certificate(contoso, "EXCH01", SEED_SUBJECT, "--domain", "webmail.p365labs.com")
    add_hybrid_send(contoso, "--tls-certificate", thumb)

    refused = contoso("cert", "remove", thumb, "--server", "EXCH01", "--force", ok=False)
    line = error_line(refused)
    assert HYBRID in line and "TlsCertificateName" in line
    assert thumb in thumbprints(contoso, "EXCH01")

    # Another certificate on the server with the same issuer and subject carries the name.
    renewed = contoso("cert", "renew", thumb, "--server", "EXCH01").stdout.split()[-1]
    assert tls_name(contoso, renewed, "EXCH01") == tls_name(contoso, thumb, "EXCH01")
    contoso("cert", "remove", thumb, "--server", "EXCH01")
    remaining = thumbprints(contoso, "EXCH01")
    assert thumb not in remaining and renewed in remaining
    assert resolution(show(contoso, HYBRID))["EXCH01"] == ("Match", renewed)


def test_the_default_smtp_certificate_cannot_be_removed(contoso: Cli) -> None:
    own = default_smtp(contoso, "EXCH01")
    refused = contoso("cert", "remove", own, "--server", "EXCH01", "--force", ok=False)
    assert "default SMTP" in error_line(refused)
    assert own in thumbprints(contoso, "EXCH01")
    assert default_smtp(contoso, "EXCH01") == own
