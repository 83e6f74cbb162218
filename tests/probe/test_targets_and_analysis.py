import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from certward.errors import InputError
from certward.pki import build, ca
from certward.pki.names import parse_exchange_dn
from certward.probe.analysis import certificate_report, client_auth_report
from certward.probe.report import ClientAuth, NameMatch
from certward.probe.targets import (
    Protocol,
    parse_connect_to,
    parse_resolver,
    parse_server_name,
    parse_target,
    with_overrides,
)
from tests.conftest import openssl

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "protocol", "port"),
    [
        ("smtp://mx.contoso.com", Protocol.SMTP, 25),
        ("smtp://mx.contoso.com:587", Protocol.SMTP, 587),
        ("SMTPS://mx.contoso.com", Protocol.SMTPS, 465),
        ("imap://mail.contoso.com", Protocol.IMAP, 143),
        ("imaps://mail.contoso.com", Protocol.IMAPS, 993),
        ("pop3://mail.contoso.com", Protocol.POP3, 110),
        ("pop3s://mail.contoso.com", Protocol.POP3S, 995),
        ("https://webmail.contoso.com", Protocol.HTTPS, 443),
    ],
)
def test_targets(text: str, protocol: Protocol, port: int) -> None:
    target = parse_target(text)
    assert (target.protocol, target.port) == (protocol, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [("gopher://x", "unknown scheme"), ("smtp://", "no host"), ("contoso.com", "or a mail domain"),
     ("smtp://x:99999", "bad port")],
)  # fmt: skip
def test_bad_targets(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as raised:
        parse_target(text)
    assert raised.value.code.id == "probe.target_invalid"
    assert raised.value.facts == {"target": text}
    assert "--" not in raised.value.message  # the service never names a flag


def test_a_name_to_send_and_an_address_to_connect_to() -> None:
    by_ip = parse_target("https://192.0.2.10:8443")
    assert by_ip.server_name is None and by_ip.reference == "192.0.2.10"  # no SNI
    named = with_overrides(by_ip, sni=parse_server_name("Mail.Contoso.com."))
    assert named.server_name == named.reference == "mail.contoso.com"
    assert named.address is None and named.host == "192.0.2.10"
    pinned = with_overrides(
        parse_target("smtp://mail.contoso.com"),
        connect_to=dict([parse_connect_to("mail.contoso.com:[2001:db8::25]")]),
    )
    assert (pinned.address, pinned.server_name) == ("2001:db8::25", "mail.contoso.com")
    untouched = with_overrides(parse_target("smtp://other.contoso.com"), connect_to={})
    assert untouched.address is None
    assert parse_target("imaps://[2001:db8::1]").reference == "2001:db8::1"
    assert parse_resolver("192.0.2.53") == ("192.0.2.53", 53)
    assert parse_resolver("[2001:db8::53]:5353") == ("2001:db8::53", 5353)


@pytest.mark.parametrize(
    ("parse", "text", "code"),
    [
        (parse_server_name, "192.0.2.1", "probe.server_name_invalid"),
        (parse_server_name, "bad name", "probe.server_name_invalid"),
        (parse_connect_to, "mail.contoso.com", "probe.connect_to_invalid"),
        (parse_connect_to, "mail.contoso.com:not-an-ip", "probe.connect_to_invalid"),
        (parse_resolver, "dns.contoso.com", "probe.resolver_invalid"),
        (parse_resolver, "192.0.2.53:99999", "probe.resolver_invalid"),
    ],
)
def test_bad_overrides_are_coded_input_errors(parse: object, text: str, code: str) -> None:
    with pytest.raises(InputError) as raised:
        parse(text)  # type: ignore[operator]
    assert raised.value.code.id == code


ROOT = ca.make_root("Probe Test Root", now=NOW - dt.timedelta(days=30))


def issued(cn: str, sans: list[str], *, days: int = 90) -> x509.Certificate:
    key = build.generate_key(1024)
    csr = build.certificate_request(key, parse_exchange_dn(f"CN={cn}"), sans)
    return ca.issue(ROOT, csr, now=NOW - dt.timedelta(days=1), days=days)


def sha1_self_signed(tmp_path: Path) -> x509.Certificate:
    """cryptography will not sign with SHA-1; the openssl command still does."""
    out = tmp_path / "sha1.pem"
    openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", str(tmp_path / "k"),
            "-subj", "/CN=mx.contoso.com", "-sha1", "-days", "2", "-out", str(out))  # fmt: skip
    return x509.load_pem_x509_certificate(out.read_bytes())


def test_san_match_trust_and_days() -> None:
    report = certificate_report(
        [issued("mx.contoso.com", ["mx.contoso.com"])], reference="MX.contoso.com", now=NOW,
        roots=[ROOT.certificate],
    )  # fmt: skip
    assert report.trusted and report.name_match is NameMatch.SAN
    assert report.days_left == 89 and report.key_type == "RSA" and report.key_size == 1024
    assert not report.includes_root and report.signature_hash == "sha256"


def test_cn_only_is_told_apart_and_trust_is_separate_from_the_name() -> None:
    report = certificate_report(
        [issued("webmail.inframan.nl", ["o365mail.inframan.nl"])],
        reference="webmail.inframan.nl", now=NOW, roots=[],
    )  # fmt: skip
    assert report.name_match is NameMatch.CN_ONLY
    assert not report.trusted and report.trust_error


def test_expired_chains_and_a_root_sent_along_are_reported() -> None:
    old = issued("mx.contoso.com", ["mx.contoso.com"], days=1)
    report = certificate_report(
        [old, ROOT.certificate], reference="mx.contoso.com", now=NOW + dt.timedelta(days=2),
        roots=[ROOT.certificate],
    )  # fmt: skip
    assert report.days_left < 0 and not report.trusted
    assert report.includes_root


def test_sha1_signatures_are_flagged(tmp_path: Path) -> None:
    cert = sha1_self_signed(tmp_path)
    report = certificate_report([cert], reference="mx.contoso.com", now=NOW, roots=[cert])
    assert report.signature_hash == "sha1" and report.sha1_signature


def test_client_auth_sizes_and_the_schannel_limit() -> None:
    none = client_auth_report(requested=False, refused_without=False, ca_names=[])
    assert none.requested is ClientAuth.NONE
    empty = client_auth_report(requested=True, refused_without=False, ca_names=[])
    assert (empty.requested, empty.ca_names_count, empty.ca_names_size) == (
        ClientAuth.OPTIONAL, 0, 2,
    )  # fmt: skip
    names = [b"x" * 155] * 355
    big = client_auth_report(requested=True, refused_without=True, ca_names=names)
    assert big.requested is ClientAuth.REQUIRED and big.ca_names_size == 2 + 355 * 157
    assert big.over_schannel_limit


def _server_answer(hello: bytes, low: int, high: int) -> bytes:
    """What an OpenSSL server accepting TLS ``low``..``high`` answers to ``hello`` (in
    memory, no socket)."""
    from OpenSSL import SSL

    key = build.generate_key(1024)
    cert = build.self_signed(key, parse_exchange_dn("CN=mx.contoso.com"), ["mx.contoso.com"],
                             not_before=NOW, not_after=NOW + dt.timedelta(days=2))  # fmt: skip
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(low)
    context.set_max_proto_version(high)
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    context.use_certificate(cert)
    context.use_privatekey(key)
    server = SSL.Connection(context, None)
    server.set_accept_state()
    server.bio_write(hello)
    with pytest.raises(SSL.Error):  # it waits for the client's next flight, or refuses
        server.do_handshake()
    return server.bio_read(65536)


@pytest.mark.parametrize(
    ("offer", "accepts", "selected"),
    [
        (("1.0", "1.3"), ("1.2", "1.3"), "TLSv1.3"),
        (("1.0", "1.2"), ("1.2", "1.3"), "TLSv1.2"),
        (("1.0", "1.1"), ("1.0", "1.2"), "TLSv1.1"),
        (("1.0", "1.1"), ("1.2", "1.3"), None),  # an alert
    ],
)
def test_a_version_check_reads_the_servers_choice_from_its_server_hello(
    offer: tuple[str, str], accepts: tuple[str, str], selected: str | None
) -> None:
    from certward.endpoints.tls import VERSIONS
    from certward.probe.wire import client_hello, server_hello_version

    answer = _server_answer(
        client_hello("mx.contoso.com", *offer), VERSIONS[accepts[0]], VERSIONS[accepts[1]]
    )
    if selected is None:
        assert answer[0] == 21  # an alert record: refused
        return
    assert answer[0] == 22  # a handshake record holding the ServerHello first
    size = int.from_bytes(answer[3:5], "big")
    assert server_hello_version(answer[5 : 5 + size]) == selected
    assert server_hello_version(b"\x02\x00\x00") is None  # cut short
    assert server_hello_version(b"\x0b" + answer[6 : 5 + size]) is None  # not a ServerHello


def _offered_suites(hello: bytes) -> list[bytes]:
    """The cipher suites a ClientHello record offers, in its order."""
    position = 5 + 4 + 2 + 32  # record header, handshake header, legacy_version, random
    position += 1 + hello[position]  # session id
    size = int.from_bytes(hello[position : position + 2], "big")
    suites = hello[position + 2 : position + 2 + size]
    return [suites[i : i + 2] for i in range(0, size, 2)]


def test_a_version_check_offers_the_main_connections_suites_key_transport_first() -> None:
    from OpenSSL import SSL

    from certward.probe.wire import client_hello, server_hello_version

    context = SSL.Context(SSL.TLS_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")  # what the main connection offers
    default = SSL.Connection(context, None)
    default.set_connect_state()
    with pytest.raises(SSL.WantReadError):
        default.do_handshake()
    hello = client_hello("mx.contoso.com", "1.0", "1.2")
    offered = _offered_suites(hello)
    assert sorted(offered) == sorted(_offered_suites(default.bio_read(65536)))
    assert offered[0] == b"\x00\x9d"  # TLS_RSA_WITH_AES_256_GCM_SHA384
    # A server taking the client's order (OpenSSL's default) selects TLS 1.2 as before, and
    # answers without a ServerKeyExchange: nothing to sign for a check that stops here.
    answer = _server_answer(hello, SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION)
    messages, position = b"", 0
    while position + 5 <= len(answer) and answer[position] == 22:  # handshake records
        size = int.from_bytes(answer[position + 3 : position + 5], "big")
        messages += answer[position + 5 : position + 5 + size]
        position += 5 + size
    kinds, position = [], 0
    while position + 4 <= len(messages):
        kinds.append(messages[position])
        position += 4 + int.from_bytes(messages[position + 1 : position + 4], "big")
    assert server_hello_version(messages) == "TLSv1.2"
    assert kinds == [2, 11, 14]  # ServerHello, Certificate, ServerHelloDone
