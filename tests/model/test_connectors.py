"""Connector model: Exchange's validity rules, TlsCertificateName syntax, smart hosts, bindings.

Every rule of ``validation_errors`` is checked twice: one connector that breaks it (the
message is asserted) and its valid twin, the smallest change that satisfies it (no errors).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.model import (
    AuthMechanism,
    Binding,
    Connector,
    ConnectorKind,
    ExchangeVersion,
    Role,
    Server,
    SmartHost,
    TlsAuthLevel,
    TlsCertificateName,
)
from certward.model.connectors import (
    auth_mechanism_names,
    domain_list_errors,
    parse_auth_mechanism,
    validation_errors,
)
from certward.services.connectors import default_receive_connectors

A = AuthMechanism
TLS_NAME = "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US<S>CN=webmail.p365labs.com, O=Contoso, C=NL"
ANY = Binding("0.0.0.0", 25)  # Exchange's default binding
SMART = (SmartHost("contoso-com.mail.protection.outlook.com"),)

RECEIVE = Connector(
    name="Partner inbound",
    kind=ConnectorKind.RECEIVE,
    servers=("EXCH01",),
    bindings=(ANY,),
    auth_mechanism=A.TLS,
)
SEND = Connector(
    name="Outbound to Office 365",
    kind=ConnectorKind.SEND,
    servers=("EXCH01", "EXCH02"),
    address_spaces=("contoso.mail.onmicrosoft.com",),
)
SEND_SMART = replace(SEND, smart_hosts=SMART)


def receive(**changes: object) -> Connector:
    return replace(RECEIVE, **changes)  # type: ignore[arg-type]


def send(**changes: object) -> Connector:
    return replace(SEND, **changes)  # type: ignore[arg-type]


def smart(**changes: object) -> Connector:
    return replace(SEND_SMART, **changes)  # type: ignore[arg-type]


# (rule, invalid connector, its valid twin, a fragment of the expected message)
RULES = [
    # -- both kinds ------------------------------------------------------------------------
    ("needs a server", send(servers=()), send(), "at least one server"),
    (
        "TlsCertificateName syntax",
        send(tls_certificate_name="CN=webmail.p365labs.com"),
        send(tls_certificate_name=TLS_NAME),
        "not a TlsCertificateName",
    ),
    (
        "TlsCertificateName needs issuer and subject",
        receive(tls_certificate_name="<I>   <S>CN=webmail.p365labs.com"),
        receive(tls_certificate_name=TLS_NAME),
        "needs both an issuer and a subject",
    ),
    (
        "ExternalAuthoritative excludes BasicAuth",
        smart(auth_mechanism=A.EXTERNAL_AUTHORITATIVE | A.BASIC_AUTH),
        smart(auth_mechanism=A.EXTERNAL_AUTHORITATIVE),
        "a send connector takes one smart-host auth mechanism",
    ),
    (
        "ExternalAuthoritative excludes Integrated",
        receive(auth_mechanism=A.TLS | A.INTEGRATED | A.EXTERNAL_AUTHORITATIVE),
        receive(auth_mechanism=A.TLS | A.EXTERNAL_AUTHORITATIVE),
        "ExternalAuthoritative can be combined only with Tls",
    ),
    # -- receive ---------------------------------------------------------------------------
    (
        "BasicAuthRequireTLS needs BasicAuth",
        receive(auth_mechanism=A.TLS | A.BASIC_AUTH_REQUIRE_TLS),
        receive(auth_mechanism=A.TLS | A.BASIC_AUTH | A.BASIC_AUTH_REQUIRE_TLS),
        "BasicAuthRequireTLS also requires BasicAuth and Tls",
    ),
    (
        "BasicAuthRequireTLS needs Tls",
        receive(auth_mechanism=A.BASIC_AUTH | A.BASIC_AUTH_REQUIRE_TLS),
        receive(auth_mechanism=A.TLS | A.BASIC_AUTH | A.BASIC_AUTH_REQUIRE_TLS),
        "BasicAuthRequireTLS also requires BasicAuth and Tls",
    ),
    (
        "receive connector has one server",
        receive(servers=("EXCH01", "EXCH02")),
        receive(servers=("EXCH02",)),
        "exactly one server",
    ),
    ("receive connector needs a binding", receive(bindings=()), receive(), "needs a binding"),
    (
        "ExchangeServer needs Tls",
        receive(auth_mechanism=A.EXCHANGE_SERVER),
        receive(auth_mechanism=A.TLS | A.EXCHANGE_SERVER),
        "ExchangeServer is available only with Tls",
    ),
    (
        "RequireTLS on receive needs Tls",
        receive(require_tls=True, auth_mechanism=A.BASIC_AUTH),
        receive(require_tls=True, auth_mechanism=A.TLS | A.BASIC_AUTH),
        "RequireTLS on a receive connector needs AuthMechanism Tls",
    ),
    (
        "DomainSecureEnabled on receive needs Tls",
        receive(domain_secure_enabled=True, auth_mechanism=A.NONE),
        receive(domain_secure_enabled=True, auth_mechanism=A.TLS),
        "DomainSecureEnabled on a receive connector needs AuthMechanism Tls",
    ),
    (
        "DomainSecureEnabled on receive excludes ExternalAuthoritative",
        receive(domain_secure_enabled=True, auth_mechanism=A.TLS | A.EXTERNAL_AUTHORITATIVE),
        receive(domain_secure_enabled=True, auth_mechanism=A.TLS),
        "not ExternalAuthoritative",
    ),
    (
        "address spaces belong to send",
        receive(address_spaces=("contoso.com",)),
        receive(),
        "address spaces and smart hosts belong to send connectors",
    ),
    (
        "smart hosts belong to send",
        receive(smart_hosts=SMART),
        receive(),
        "address spaces and smart hosts belong to send connectors",
    ),
    (
        "TlsAuthLevel belongs to send",
        receive(tls_auth_level=TlsAuthLevel.CERTIFICATE_VALIDATION),
        receive(),
        "TlsAuthLevel, TlsDomain and IgnoreSTARTTLS belong to send connectors",
    ),
    (
        "TlsDomain belongs to send",
        receive(tls_domain="mail.protection.outlook.com"),
        receive(),
        "TlsAuthLevel, TlsDomain and IgnoreSTARTTLS belong to send connectors",
    ),
    (
        "IgnoreSTARTTLS belongs to send",
        receive(ignore_starttls=True),
        receive(),
        "TlsAuthLevel, TlsDomain and IgnoreSTARTTLS belong to send connectors",
    ),
    # -- send ------------------------------------------------------------------------------
    ("bindings belong to receive", send(bindings=(ANY,)), send(), "--bind belongs to receive"),
    (
        "send connector needs an address space",
        send(address_spaces=()),
        send(address_spaces=("*",)),
        "at least one address space",
    ),
    (
        "TlsAuthLevel needs RequireTLS",
        send(tls_auth_level=TlsAuthLevel.CERTIFICATE_VALIDATION),
        send(tls_auth_level=TlsAuthLevel.CERTIFICATE_VALIDATION, require_tls=True),
        "TlsAuthLevel needs RequireTLS and not IgnoreSTARTTLS",
    ),
    (
        "TlsAuthLevel excludes IgnoreSTARTTLS",
        send(tls_auth_level=TlsAuthLevel.ENCRYPTION_ONLY, ignore_starttls=True),
        send(tls_auth_level=TlsAuthLevel.ENCRYPTION_ONLY, require_tls=True),
        "TlsAuthLevel needs RequireTLS and not IgnoreSTARTTLS",
    ),
    (
        "TlsDomain only with DomainValidation",
        send(
            require_tls=True,
            tls_auth_level=TlsAuthLevel.CERTIFICATE_VALIDATION,
            tls_domain="mail.protection.outlook.com",
        ),
        send(
            require_tls=True,
            tls_auth_level=TlsAuthLevel.DOMAIN_VALIDATION,
            tls_domain="mail.protection.outlook.com",
        ),
        "TlsDomain can be set only with TlsAuthLevel DomainValidation",
    ),
    (
        "TlsDomain without any TlsAuthLevel",
        send(tls_domain="mail.protection.outlook.com"),
        send(),
        "TlsDomain can be set only with TlsAuthLevel DomainValidation",
    ),
    (
        "RequireTLS excludes IgnoreSTARTTLS",
        send(require_tls=True, ignore_starttls=True),
        send(require_tls=True),
        "RequireTLS and IgnoreSTARTTLS cannot both be set",
    ),
    (
        "DomainSecureEnabled excludes IgnoreSTARTTLS",
        send(domain_secure_enabled=True, ignore_starttls=True),
        send(domain_secure_enabled=True),
        "DomainSecureEnabled needs IgnoreSTARTTLS off",
    ),
    (
        "DomainSecureEnabled needs DNS routing",
        smart(domain_secure_enabled=True),
        send(domain_secure_enabled=True),
        "DomainSecureEnabled needs DNS routing (no smart hosts)",
    ),
    (
        "BasicAuth needs a smart host",
        send(auth_mechanism=A.BASIC_AUTH),
        smart(auth_mechanism=A.BASIC_AUTH),
        "smart-host authentication (BasicAuth) needs --smart-host",
    ),
    (
        "BasicAuthRequireTLS needs a smart host",
        send(auth_mechanism=A.BASIC_AUTH_REQUIRE_TLS),
        smart(auth_mechanism=A.BASIC_AUTH_REQUIRE_TLS),
        "smart-host authentication (BasicAuth) needs --smart-host",
    ),
    (
        "send connector has no Integrated",
        smart(auth_mechanism=A.INTEGRATED),
        smart(auth_mechanism=A.EXCHANGE_SERVER),
        "a send connector takes one smart-host auth mechanism",
    ),
    (
        "send connector has no Tls mechanism",
        smart(auth_mechanism=A.TLS),
        smart(auth_mechanism=A.NONE),
        "a send connector takes one smart-host auth mechanism",
    ),
]


@pytest.mark.parametrize(
    ("invalid", "valid", "message"),
    [pytest.param(bad, good, msg, id=rule) for rule, bad, good, msg in RULES],
)
def test_each_rule_refuses_the_invalid_connector_and_accepts_its_twin(
    invalid: Connector, valid: Connector, message: str
) -> None:
    errors = validation_errors(invalid)
    assert any(message in error for error in errors), errors
    assert validation_errors(valid) == []


def test_a_connector_breaking_several_rules_gets_every_message() -> None:
    errors = validation_errors(
        send(address_spaces=(), require_tls=True, ignore_starttls=True, bindings=(ANY,))
    )
    assert len(errors) == 3
    assert any("address space" in e for e in errors)
    assert any("RequireTLS and IgnoreSTARTTLS" in e for e in errors)
    assert any("--bind" in e for e in errors)


def test_a_full_hybrid_send_connector_is_valid() -> None:
    hybrid = smart(
        fqdn="mail.contoso.com",
        smart_hosts=(SmartHost("contoso-com.mail.protection.outlook.com"),),
        require_tls=True,
        tls_auth_level=TlsAuthLevel.DOMAIN_VALIDATION,
        tls_domain="mail.protection.outlook.com",
        tls_certificate_name=TLS_NAME,
        cloud_services_mail_enabled=True,
    )
    assert validation_errors(hybrid) == []


# Exchange documents more exclusions than the rules above implement (Set-ReceiveConnector:
# "The only other value that you can use with ExternalAuthoritative is Tls"; Set-SendConnector:
# -SmartHostAuthMechanism takes one of None | BasicAuth | BasicAuthRequireTLS | ExchangeServer
# | ExternalAuthoritative, not a combination).
def test_external_authoritative_is_combined_with_tls_only() -> None:
    assert validation_errors(receive(auth_mechanism=A.TLS | A.EXTERNAL_AUTHORITATIVE)) == []
    errors = validation_errors(
        receive(auth_mechanism=A.TLS | A.EXCHANGE_SERVER | A.EXTERNAL_AUTHORITATIVE)
    )
    assert errors, "Tls, ExchangeServer, ExternalAuthoritative must be refused"


def test_a_send_connector_takes_one_smart_host_auth_mechanism() -> None:
    assert validation_errors(smart(auth_mechanism=A.EXCHANGE_SERVER)) == []
    errors = validation_errors(smart(auth_mechanism=A.BASIC_AUTH | A.EXCHANGE_SERVER))
    assert errors, "SmartHostAuthMechanism BasicAuth, ExchangeServer must be refused"


@pytest.mark.parametrize(
    "server",
    [
        Server("EXCH01", "exch01.contoso.com", frozenset({Role.MAILBOX})),
        Server("EDGE01", "edge01.contoso.com", frozenset({Role.EDGE_TRANSPORT})),
        Server(
            "HUB01",
            "hub01.contoso.com",
            frozenset({Role.HUB_TRANSPORT}),
            version=ExchangeVersion.EX2010,
        ),
    ],
    ids=["2019-mailbox", "edge", "2010-hub"],
)
def test_the_connectors_setup_creates_are_valid(server: Server) -> None:
    connectors = default_receive_connectors(server)
    assert connectors
    for connector in connectors:
        assert validation_errors(connector) == [], connector.name


# -- TlsCertificateName syntax -----------------------------------------------------------------
def test_tls_certificate_name_splits_issuer_and_subject() -> None:
    name = TlsCertificateName.parse(TLS_NAME)
    assert name.issuer == "CN=Bar Test Issuing CA, O=Bar Test, C=US"
    assert name.subject == "CN=webmail.p365labs.com, O=Contoso, C=NL"
    assert str(name) == TLS_NAME


@pytest.mark.parametrize(
    "text",
    [
        "<i>CN=Bar Test Issuing CA, O=Bar Test, C=US<s>CN=webmail.p365labs.com, O=Contoso, C=NL",
        "<i>CN=Bar Test Issuing CA, O=Bar Test, C=US<S>CN=webmail.p365labs.com, O=Contoso, C=NL",
        "<I>CN=Bar Test Issuing CA, O=Bar Test, C=US<s>CN=webmail.p365labs.com, O=Contoso, C=NL",
        "  <I> CN=Bar Test Issuing CA, O=Bar Test, C=US <S> CN=webmail.p365labs.com, O=Contoso, "
        "C=NL \n",
        "\t<I>CN=Bar Test Issuing CA, O=Bar Test, C=US<S>\n"
        "CN=webmail.p365labs.com, O=Contoso, C=NL",
    ],
    ids=["lower-tags", "lower-i", "lower-s", "blanks", "tab-newline"],
)
def test_tags_are_case_insensitive_and_blanks_are_trimmed(text: str) -> None:
    assert TlsCertificateName.parse(text) == TlsCertificateName.parse(TLS_NAME)
    assert str(TlsCertificateName.parse(text)) == TLS_NAME


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a TlsCertificateName"),
        ("   ", "not a TlsCertificateName"),
        ("CN=webmail.p365labs.com", "not a TlsCertificateName"),
        ("<I>CN=Bar Test Issuing CA", "not a TlsCertificateName"),
        ("<S>CN=webmail.p365labs.com", "not a TlsCertificateName"),
        ("<S>CN=webmail.p365labs.com<I>CN=Bar Test Issuing CA", "not a TlsCertificateName"),
        ("[I]CN=Bar Test Issuing CA[S]CN=webmail.p365labs.com", "not a TlsCertificateName"),
        ("<I><S>CN=webmail.p365labs.com", "needs both an issuer and a subject"),
        ("<I>CN=Bar Test Issuing CA<S>", "needs both an issuer and a subject"),
        ("<I> \t <S>  ", "needs both an issuer and a subject"),
    ],
)
def test_malformed_tls_certificate_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TlsCertificateName.parse(text)


_ASCII = st.characters(codec="ascii", categories=["L", "N", "P", "Zs"], exclude_characters="<>")
_PART = st.text(
    alphabet=_ASCII,
    min_size=1,
    max_size=30,
).map(str.strip)


@given(issuer=_PART.filter(bool), subject=_PART.filter(bool))
def test_tls_certificate_name_round_trips(issuer: str, subject: str) -> None:
    name = TlsCertificateName(issuer, subject)
    assert TlsCertificateName.parse(str(name)) == name


# -- smart hosts and bindings ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("mail.contoso.com", "mail.contoso.com", 25, "mail.contoso.com"),
        (" mail.contoso.com:587 ", "mail.contoso.com", 587, "mail.contoso.com:587"),
        ("10.0.0.25:2525", "10.0.0.25", 2525, "10.0.0.25:2525"),
        ("[2001:db8::25]:587", "2001:db8::25", 587, "[2001:db8::25]:587"),
        ("[2001:db8::25]", "2001:db8::25", 25, "[2001:db8::25]"),
        ("2001:db8::25", "2001:db8::25", 25, "[2001:db8::25]"),
        ("mail.contoso.com:25", "mail.contoso.com", 25, "mail.contoso.com"),
    ],
)
def test_smart_host_parsing(text: str, host: str, port: int, shown: str) -> None:
    parsed = SmartHost.parse(text)
    assert (parsed.host, parsed.port) == (host, port)
    assert str(parsed) == shown


@pytest.mark.parametrize(
    "text", ["", "   ", ":25", "[]:25", "mail.contoso.com:0", "mail.contoso.com:65536",
             "mail.contoso.com:smtp", "mail.contoso.com:", "[2001:db8::25", "[2001:db8::25]:x"]
)  # fmt: skip
def test_bad_smart_hosts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        SmartHost.parse(text)


@pytest.mark.parametrize(
    ("text", "host", "port", "shown"),
    [
        ("0.0.0.0:25", "0.0.0.0", 25, "0.0.0.0:25"),
        ("127.0.0.1:2525", "127.0.0.1", 2525, "127.0.0.1:2525"),
        ("[::]:587", "::", 587, "[::]:587"),
        ("[2001:db8::25]:25", "2001:db8::25", 25, "[2001:db8::25]:25"),
        ("::1:2525", "::1", 2525, "[::1]:2525"),
        (" mail.contoso.com:465 ", "mail.contoso.com", 465, "mail.contoso.com:465"),
    ],
)
def test_binding_parsing(text: str, host: str, port: int, shown: str) -> None:
    parsed = Binding.parse(text)
    assert (parsed.host, parsed.port) == (host, port)
    assert str(parsed) == shown


@pytest.mark.parametrize(
    "text", ["0.0.0.0", "[::1]", "127.0.0.1:", ":25", "127.0.0.1:0", "127.0.0.1:70000",
             "127.0.0.1:smtp", "[::1]25", "[::1"]
)  # fmt: skip
def test_bad_bindings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HOST:PORT|bad port"):
        Binding.parse(text)


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_HOSTNAME = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_HOST = st.one_of(
    _HOSTNAME,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
_PORT = st.integers(min_value=1, max_value=65535)


@given(host=_HOST, port=_PORT)
def test_smart_host_round_trips(host: str, port: int) -> None:
    value = SmartHost(host, port)
    assert SmartHost.parse(str(value)) == value


@given(host=_HOST, port=_PORT)
def test_binding_round_trips(host: str, port: int) -> None:
    value = Binding(host, port)
    text = str(value)
    assert Binding.parse(text) == value
    assert text.startswith("[") == (":" in host)  # IPv6 addresses are bracketed


# -- auth mechanisms, TLS auth level, domain-secure lists ---------------------------------------
def test_auth_mechanism_names_parse_case_insensitively() -> None:
    assert parse_auth_mechanism("Tls, BasicAuth") == A.TLS | A.BASIC_AUTH
    assert parse_auth_mechanism("tls,BASICAUTH , basicauthrequiretls") == (
        A.TLS | A.BASIC_AUTH | A.BASIC_AUTH_REQUIRE_TLS
    )
    assert parse_auth_mechanism(["Tls", "ExchangeServer"]) == A.TLS | A.EXCHANGE_SERVER
    assert parse_auth_mechanism("None") == A.NONE
    assert parse_auth_mechanism(" none ") == A.NONE
    assert auth_mechanism_names(A.NONE) == ["None"]


@pytest.mark.parametrize("text", ["Kerberos", "Tls, Kerberos", "None, Tls", "Tls,None"])
def test_unknown_or_mixed_none_auth_mechanisms_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="auth mechanism"):
        parse_auth_mechanism(text)


_MECHANISMS = [
    "Tls",
    "Integrated",
    "BasicAuth",
    "BasicAuthRequireTLS",
    "ExchangeServer",
    "ExternalAuthoritative",
]


@given(st.sets(st.sampled_from(_MECHANISMS), min_size=1))
def test_auth_mechanism_names_round_trip(names: set[str]) -> None:
    parsed = parse_auth_mechanism(", ".join(sorted(names)))
    assert auth_mechanism_names(parsed) == [n for n in _MECHANISMS if n in names]
    assert parse_auth_mechanism(auth_mechanism_names(parsed)) == parsed


def test_tls_auth_level_parses_exchange_spellings() -> None:
    assert TlsAuthLevel.parse("domainvalidation") is TlsAuthLevel.DOMAIN_VALIDATION
    assert TlsAuthLevel.parse(" EncryptionOnly ") is TlsAuthLevel.ENCRYPTION_ONLY
    with pytest.raises(ValueError, match=r"unknown TLS auth level 'Strict'.*DomainValidation"):
        TlsAuthLevel.parse("Strict")


def test_domain_secure_lists_take_no_wildcards() -> None:
    assert domain_list_errors(["contoso.com", "fabrikam.com", "mail.fabrikam.com"]) == []
    errors = domain_list_errors(["contoso.com", "*.fabrikam.com", "*"])
    assert len(errors) == 2
    assert "'*.fabrikam.com'" in errors[0] and "no wildcards" in errors[0]
    assert "'*'" in errors[1]
