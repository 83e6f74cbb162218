"""The interop parsers on real Windows output (fixtures/windows, verbatim) and on variants
built in the same shapes from real certificates (fixtures/built, and 355 roots made here)."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.errors import InteropError
from certward.interop import (
    AddressSpace,
    DateOrder,
    Format,
    KeyKind,
    detect,
    parse,
    parse_certutil,
    read_format_list,
    split_collection,
)
from certward.interop.dates import infer_order, parse_datetime
from certward.model import (
    AuthMechanism,
    Binding,
    Service,
    SmartHost,
    StoreName,
    TlsAuthLevel,
    TlsCertificateName,
    is_cng_provider,
)
from certward.model.connectors import validation_errors
from certward.pki.names import dotnet_x500
from tests.interop.fixtures.windows_shapes import (
    make_roots,
    render_certutil_store,
    render_format_list,
    sha1,
)

FIXTURES = Path(__file__).parent / "fixtures"
UTC = dt.UTC


def windows(name: str) -> str:
    return (FIXTURES / "windows" / name).read_text(encoding="utf-8")


def built(name: str) -> str:
    return (FIXTURES / "built" / name).read_text(encoding="utf-8")


def test_verbatim_fixtures_are_the_shared_ones() -> None:
    shared = FIXTURES.parents[2].parent / "shared" / "fixtures" / "windows"
    if not shared.is_dir():
        pytest.skip("../shared is not next to this checkout")
    for path in shared.iterdir():
        assert (FIXTURES / "windows" / path.name).read_bytes() == path.read_bytes(), path.name


# ---------------------------------------------------------------- certutil, verbatim


def test_certutil_store_older_build_spaced_hash_and_capi_key() -> None:
    text = windows("certutil-store-capi.txt")
    assert detect(text) is Format.CERTUTIL_STORE
    dump = parse(text)
    assert dump.format is Format.CERTUTIL_STORE and dump.certutil is not None
    store = dump.certutil
    assert (store.store_name, store.store, store.completed, store.verbose) == (
        "TestStore",
        None,
        True,
        False,
    )
    (cert,) = store.certificates
    assert cert.index == 0
    assert cert.serial_number == "B3F33360411E2B8045CD75CF9588A23D"
    assert cert.issuer == cert.subject == "CN=FYIcenter Root CA"
    assert cert.not_before == dt.datetime(2012, 7, 1, 22, 34, tzinfo=UTC)
    assert cert.not_after == dt.datetime(2039, 12, 31, 18, 59, tzinfo=UTC)
    assert cert.thumbprint == "32C6B7330F306441F916950DD565A7309C50B9C2"
    assert cert.is_root is True
    assert cert.key is not None
    assert cert.key.container == "JoeSoft"
    assert cert.key.unique_container == (
        "7b90a71bfc56f2582e916a51aed6df9a_e4c0ab3c-2930-4330-b979-2488d6d8e2d2"
    )
    assert cert.key.provider == "Microsoft Strong Cryptographic Provider"
    assert cert.key_kind is KeyKind.CAPI
    assert (cert.has_private_key, cert.exportable) == (True, False)
    assert dump.date_order is DateOrder.MDY


def test_certutil_user_my_simple_and_unique_container_names_capi_and_ksp() -> None:
    dump = parse(windows("certutil-store-user-my-capi-and-ksp.txt"))
    assert dump.certutil is not None
    assert (dump.certutil.store, dump.certutil.store_title) == (StoreName.MY, "Personal")
    capi, ksp = dump.certutil.certificates
    assert capi.subject == (
        "E=winfed@deverett.info, CN=WinFed, OU=Users, OU=Corp, DC=corp, DC=deverett, DC=info"
    )
    assert capi.issuer == "CN=corp-DEDC0-CA, DC=corp, DC=deverett, DC=info"
    assert capi.template == "User" and capi.is_root is False
    assert capi.thumbprint == "A50337AB015D5612B7DC4C1E759D201E74CC2A93"
    assert capi.key is not None and capi.key.unique_container is None
    assert capi.key.simple_container == "te-User-c7bcc4bd-0498-4411-af44-da2257f54387"
    assert capi.key_kind is KeyKind.CAPI and capi.has_private_key is True
    assert capi.exportable is None  # this certutil said nothing about export
    assert ksp.key is not None and ksp.key.simple_container is None
    assert ksp.key.unique_container is not None
    assert ksp.key.provider == "Microsoft Software Key Storage Provider"
    assert ksp.key_kind is KeyKind.CNG
    assert ksp.not_after == dt.datetime(2017, 12, 8, 19, 29, tzinfo=UTC)
    assert not dump.certutil.completed  # the source cut the closing line


def test_certutil_verbose_excerpt_parses_what_is_there() -> None:
    text = windows("certutil-v-store-my-excerpt.txt")
    assert detect(text) is Format.CERTUTIL_VERBOSE
    dump = parse(text)
    assert dump.certutil is not None and dump.certutil.verbose
    (cert,) = dump.certutil.certificates
    assert cert.index == 3 and not cert.complete
    assert cert.serial_number == "21000000044A30CDEAAAAE7B08000000000004"
    assert cert.signature_algorithm == "sha256RSA"
    assert cert.issuer == "CN=ROOTCA-CA"
    assert cert.subject == "CN=Contoso CA, DC=Contoso, DC=com"
    assert cert.not_before is None and cert.not_after is None  # "<DateTime>" in the source
    assert cert.thumbprint == "35599AAAABBBB0438686DD79915E943895D1E276"
    assert cert.sha256 == "96ebd75aaaabbbbb0db31f7a83891533eeada0351ce56b84f3918941c9cba610"
    key = cert.key
    assert key is not None
    assert key.container == "Contoso CA"
    assert key.provider == "Microsoft Software Key Storage Provider"
    assert (key.provider_type, key.key_spec, key.key_spec_name) == (0, 2, "AT_SIGNATURE")
    assert key.machine_keyset is True
    assert key.kind is KeyKind.CNG  # ProviderType 0: a Key Storage Provider
    assert cert.has_private_key is None  # the excerpt stops before the key test
    with pytest.raises(InteropError, match="NotBefore, NotAfter"):
        cert.to_observed("CA01", StoreName.MY)


# ---------------------------------------------------------------- Get-ExchangeCertificate


def test_exchange_certificate_ru_ru() -> None:
    text = windows("get-exchangecertificate-fl-ru-RU.txt")
    assert detect(text) is Format.EXCHANGE_CERTIFICATE
    dump = parse(text)
    assert dump.date_order is DateOrder.DMY
    (entry,) = dump.exchange_certificates
    assert entry.thumbprint == "3DAF40EC85C62DD39D98696AB5413E3EB83D6415"
    assert entry.subject == entry.issuer == "CN=Microsoft Exchange Server Auth Certificate"
    assert entry.not_before == dt.datetime(2023, 2, 2, 4, 22, 23, tzinfo=UTC)
    assert entry.not_after == dt.datetime(2028, 2, 2, 4, 22, 23, tzinfo=UTC)
    assert entry.certificate_domains == ("avalonelectrotech.local",)
    assert entry.services.value is Service.SMTP
    assert (entry.has_private_key, entry.is_self_signed, entry.public_key_size) == (
        True,
        True,
        2048,
    )
    assert (entry.status, entry.root_ca_type) == ("Valid", "None")
    assert entry.serial_number == "5D1D9B5065DDD69F40A1DE59B3369AAA"
    observed = entry.to_observed("EXCH01", source="ru.txt")
    assert observed.store is StoreName.MY and observed.has_private_key
    assert observed.dns_names == ("avalonelectrotech.local",)


def test_server_time_zone_is_attached() -> None:
    moscow = dt.timezone(dt.timedelta(hours=3))
    dump = parse(windows("get-exchangecertificate-fl-ru-RU.txt"), tz=moscow)
    (entry,) = dump.exchange_certificates
    assert entry.not_after == dt.datetime(2028, 2, 2, 1, 22, 23, tzinfo=UTC)


# ---------------------------------------------------------------- built: seed 004, CNG


def test_certutil_verbose_cng_default_transport_certificate() -> None:
    text = built("certutil-v-store-my-cng-transport.txt")
    assert detect(text) is Format.CERTUTIL_VERBOSE
    dump = parse_certutil(text)
    assert dump.store is StoreName.MY and dump.completed
    transport, renewed, expired = dump.certificates
    assert transport.subject == transport.issuer == "CN=EXCH01"
    assert transport.dns_names == ("EXCH01", "EXCH01.contoso.com")
    assert transport.public_key_length == 2048 and transport.is_root
    assert transport.key is not None
    assert (transport.key.provider_type, transport.key.key_spec) == (0, 0)
    assert transport.key.key_spec_name == "XCN_AT_NONE"
    assert transport.key_kind is KeyKind.CNG
    assert (transport.has_private_key, transport.exportable) == (True, False)
    assert renewed.key is not None and renewed.key.provider_type == 12  # "ProviderType = c"
    assert renewed.key.key_spec == 1 and renewed.key_kind is KeyKind.CAPI
    assert renewed.subject == (
        "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
    )
    assert renewed.issuer == "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US"
    assert expired.not_after == dt.datetime(2024, 10, 4, 1, 59, tzinfo=UTC)
    observed = transport.to_observed("EXCH01", StoreName.MY, source="my.txt")
    assert observed.thumbprint == transport.thumbprint and observed.has_private_key
    assert is_cng_provider(observed.key_provider)
    assert observed.dns_names == ("EXCH01", "EXCH01.contoso.com")


def test_transport_service_names_the_cng_certificate() -> None:
    text = built("get-transportservice-fl.txt")
    assert detect(text) is Format.TRANSPORT_SERVICE
    services = parse(text).transport_services
    assert [s.name for s in services] == ["EXCH01", "EXCH02"]
    certutil = parse_certutil(built("certutil-v-store-my-cng-transport.txt"))
    by_thumbprint = {c.thumbprint: c for c in certutil.certificates}
    default = by_thumbprint[services[0].internal_transport_certificate_thumbprint]
    assert default.key_kind is KeyKind.CNG  # EdgeSync would fail with event 1035


# ---------------------------------------------------------------- built: seed 002, renewal


def test_exchange_certificates_after_renewal_en_us_wrapped() -> None:
    text = built("get-exchangecertificate-fl-en-US-renewal.txt")
    dump = parse(text)
    assert dump.date_order is DateOrder.MDY
    renewed, expired, self_signed, auth = dump.exchange_certificates
    assert renewed.status == "Valid" and expired.status == "DateInvalid"
    assert renewed.services.names == ["IIS", "SMTP"] and expired.services.names == ["SMTP"]
    assert renewed.not_before == dt.datetime(2024, 9, 20, 2, 0, 0, tzinfo=UTC)
    assert expired.not_after == dt.datetime(2024, 10, 4, 1, 59, 59, tzinfo=UTC)
    assert renewed.certificate_domains == ("webmail.p365labs.com", "autodiscover.p365labs.com")
    assert (renewed.subject, renewed.issuer) == (expired.subject, expired.issuer)
    assert self_signed.services.names == ["IMAP", "POP", "SMTP"]
    assert auth.certificate_domains == ()
    # the same certificates as certutil printed them
    certutil = parse_certutil(built("certutil-v-store-my-cng-transport.txt"))
    assert {c.thumbprint for c in certutil.certificates} == {
        renewed.thumbprint,
        expired.thumbprint,
        self_signed.thumbprint,
    }


def test_receive_connectors_name_a_certificate_both_renewal_twins_match() -> None:
    text = built("get-receiveconnector-fl-renewal.txt")
    assert detect(text) is Format.RECEIVE_CONNECTOR
    first, second = parse(text).receive_connectors
    assert (first.identity, first.name, first.server) == (
        "EXCH01\\Default Frontend EXCH01",
        "Default Frontend EXCH01",
        "EXCH01",
    )
    assert first.bindings == (Binding("::", 25), Binding("0.0.0.0", 25))
    assert first.remote_ip_ranges == (
        "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "0.0.0.0-255.255.255.255",
    )
    assert first.auth_mechanism is not None
    assert AuthMechanism.EXCHANGE_SERVER in first.auth_mechanism
    assert first.permission_groups == ("AnonymousUsers", "ExchangeServers", "ExchangeLegacyServers")
    assert (first.require_tls, first.domain_secure_enabled, first.enabled) == (False, True, True)
    assert first.transport_role == "FrontendTransport" and first.cloud_services_mail
    # the TLS name was wrapped mid-word onto a second line
    assert first.tls_certificate_name == TlsCertificateName(
        "CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US",
        "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL",
    )
    assert second.server == "EXCH02"
    matching = [
        e
        for e in parse(built("get-exchangecertificate-fl-en-US-renewal.txt")).exchange_certificates
        if e.issuer == first.tls_certificate_name.issuer
        and e.subject == first.tls_certificate_name.subject
    ]
    assert sorted(e.status or "" for e in matching) == ["DateInvalid", "Valid"]
    connector = first.to_connector()
    assert connector.identity == first.identity and connector.cloud_services_mail_enabled
    assert connector.tls_certificate_name == str(first.tls_certificate_name)
    assert validation_errors(connector) == []


def test_send_connectors_hybrid_and_internet() -> None:
    text = built("get-sendconnector-fl-renewal.txt")
    assert detect(text) is Format.SEND_CONNECTOR
    hybrid, internet = parse(text).send_connectors
    assert hybrid.name.startswith("Outbound to Office 365 - ")
    assert hybrid.address_spaces == (AddressSpace("p365labs.mail.onmicrosoft.com", "smtp", 1),)
    assert hybrid.smart_hosts == (SmartHost("p365labs-com.mail.protection.outlook.com"),)
    assert hybrid.source_transport_servers == ("EXCH01", "EXCH02")
    assert hybrid.tls_auth_level is TlsAuthLevel.DOMAIN_VALIDATION
    assert hybrid.tls_domain == "mail.protection.outlook.com"
    assert (hybrid.require_tls, hybrid.cloud_services_mail_enabled, hybrid.port) == (
        True,
        True,
        25,
    )
    assert hybrid.smart_host_auth_mechanism is AuthMechanism.NONE
    assert hybrid.tls_certificate_name is not None
    assert hybrid.tls_certificate_name.subject.startswith("CN=webmail.p365labs.com")
    assert validation_errors(hybrid.to_connector()) == []
    assert internet.address_spaces == (AddressSpace("*"),)
    assert internet.smart_hosts == () and internet.dns_routing_enabled is True
    assert internet.tls_certificate_name is None and internet.tls_auth_level is None
    assert internet.fqdn is None
    connector = internet.to_connector()
    assert connector.address_spaces == ("*",) and validation_errors(connector) == []


def test_auth_config() -> None:
    text = built("get-authconfig-fl.txt")
    assert detect(text) is Format.AUTH_CONFIG
    auth = parse(text).auth_config
    assert auth is not None
    assert auth.current_certificate_thumbprint is not None
    assert auth.previous_certificate_thumbprint is None
    assert auth.next_certificate_thumbprint is None
    assert auth.next_certificate_effective_date is None
    assert auth.service_name == "00000002-0000-0ff1-ce00-000000000000"
    model = auth.to_auth_config()
    assert model.current_thumbprint == auth.current_certificate_thumbprint and model.realm == ""
    (record,) = read_format_list(text)
    assert record.get("DistinguishedName") == (
        "CN=Auth Configuration,CN=Contoso,CN=Microsoft Exchange,CN=Services,"
        "CN=Configuration,DC=contoso,DC=com"
    )


def test_auth_config_staged_next_certificate_date() -> None:
    text = render_format_list(
        [
            [
                ("CurrentCertificateThumbprint", "A" * 40),
                ("PreviousCertificateThumbprint", ""),
                ("NextCertificateThumbprint", "b" * 40),
                ("NextCertificateEffectiveDate", "17.04.2025 0:00:00"),
                ("ServiceName", "00000002-0000-0ff1-ce00-000000000000"),
                ("Realm", ""),
            ]
        ]
    )
    auth = parse(text).auth_config
    assert auth is not None and auth.next_certificate_thumbprint == "B" * 40
    assert auth.next_certificate_effective_date == dt.datetime(2025, 4, 17, tzinfo=UTC)


def test_several_cmdlets_in_one_file() -> None:
    text = built("get-sendconnector-fl-renewal.txt") + built("get-receiveconnector-fl-renewal.txt")
    dump = parse(text)
    assert dump.format is Format.SEND_CONNECTOR
    assert dump.formats == {Format.SEND_CONNECTOR, Format.RECEIVE_CONNECTOR}
    assert (len(dump.send_connectors), len(dump.receive_connectors)) == (2, 2)


# ---------------------------------------------------------------- built: seed 001, 355 roots


@pytest.fixture(scope="module")
def roots() -> list:
    return make_roots(355, start=dt.datetime(2011, 3, 1, 9, 30, tzinfo=UTC))


def test_root_store_of_355_roots(roots: list) -> None:
    text = render_certutil_store(roots)
    assert detect(text) is Format.CERTUTIL_STORE
    dump = parse(text)
    assert dump.certutil is not None
    store = dump.certutil
    assert store.store is StoreName.ROOT and store.completed
    assert store.store_title == "Trusted Root Certification Authorities"
    assert len(store.certificates) == 355
    assert [c.index for c in store.certificates] == list(range(355))
    for cert, parsed in zip(roots, store.certificates, strict=True):
        assert parsed.thumbprint == sha1(cert).upper()
        assert parsed.subject == parsed.issuer == dotnet_x500(cert.subject)
        assert parsed.not_before == cert.not_valid_before_utc.replace(second=0)
        assert parsed.is_root and parsed.key is None and parsed.has_private_key is False
    observed = [c.to_observed("EXCH01", StoreName.ROOT) for c in store.certificates]
    assert len({o.thumbprint for o in observed}) == 355
    assert not any(o.has_private_key for o in observed)


def test_root_store_in_a_day_first_culture(roots: list) -> None:
    text = render_certutil_store(roots[:3]).replace(" PM", "").replace(" AM", "")
    for cert in roots[:3]:
        for value in (cert.not_valid_before_utc, cert.not_valid_after_utc):
            us = f"{value.month}/{value.day}/{value.year}"
            text = text.replace(us, f"{value.day:02d}.{value.month:02d}.{value.year}", 1)
    dump = parse(text)
    assert dump.date_order is DateOrder.DMY
    assert dump.certutil is not None
    assert dump.certutil.certificates[0].not_before is not None
    assert dump.certutil.certificates[0].not_before.date() == roots[0].not_valid_before_utc.date()


def test_certutil_command_line_pasted_with_the_output() -> None:
    text = "C:\\>certutil -store -user My\n" + windows("certutil-store-user-my-capi-and-ksp.txt")
    dump = parse_certutil(text)
    assert dump.user_store is True and dump.store is StoreName.MY


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("samples", "order"),
    [
        (["7/1/2012 10:34 PM", "12/31/2039 6:59 PM"], DateOrder.MDY),
        (["02.02.2028 4:22:23", "02.02.2023 4:22:23"], DateOrder.DMY),
        (["16.04.2009. 11:04", "23.03.2109. 11:04"], DateOrder.DMY),  # lv-LV
        (["02/03/2028 14:00:00"], DateOrder.DMY),  # en-GB: a 24-hour clock is never en-US
        (["13/02/2028 09:00:00", "01/03/2028 09:00:00"], DateOrder.DMY),
        (["2028-02-13 09:00:00"], DateOrder.YMD),
        (["2/3/2028 4:05:06 PM"], DateOrder.MDY),  # AM/PM with slashes: en-US
    ],
)
def test_infer_order(samples: list[str], order: DateOrder) -> None:
    assert infer_order(samples) is order


def test_dates_nothing_decides_are_refused_asking_for_the_culture() -> None:
    # Until issue 13 a dump like this was read month first by guess.
    with pytest.raises(InteropError, match="give the server's culture") as refused:
        infer_order(["2/3/2028", "12/02/2016"])
    assert refused.value.code.id == "dump.culture_needed"
    assert "'2/3/2028', '12/02/2016' read both as day-first and month-first" in str(refused.value)


def test_mixed_cultures_refused() -> None:
    with pytest.raises(InteropError, match="different cultures"):
        infer_order(["7/1/2012 10:34 PM", "02.02.2028 4:22:23"])
    with pytest.raises(InteropError, match="not a date"):
        infer_order(["yesterday"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1/1/2020 12:30 AM", dt.datetime(2020, 1, 1, 0, 30, tzinfo=UTC)),
        ("1/1/2020 12:30 PM", dt.datetime(2020, 1, 1, 12, 30, tzinfo=UTC)),
        ("10/4/2028 12:15:41 PM", dt.datetime(2028, 10, 4, 12, 15, 41, tzinfo=UTC)),
        ("10/4/2024 1:59:59\u202fAM", dt.datetime(2024, 10, 4, 1, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_en_us(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text, DateOrder.MDY, UTC) == expected


def test_date_order_can_be_given() -> None:
    text = windows("certutil-store-user-my-capi-and-ksp.txt")
    dump = parse(text, date_order=DateOrder.DMY)  # 12/8/2017 8:07 PM read as 12 August
    assert dump.certutil is not None and dump.date_order is DateOrder.DMY
    assert dump.certutil.certificates[0].not_before == dt.datetime(2017, 8, 12, 20, 7, tzinfo=UTC)
    with pytest.raises(InteropError, match=r"month must be in 1\.\.12"):
        parse(text.replace("12/8/2017 8:07 PM", "12/13/2017 8:07 PM"), date_order=DateOrder.DMY)


# ---------------------------------------------------------------- Format-List reader


def test_unknown_text_is_refused() -> None:
    with pytest.raises(InteropError, match="neither certutil output nor Format-List"):
        detect("hello world\n")
    with pytest.raises(InteropError, match="empty"):
        parse("\n\n")
    with pytest.raises(InteropError, match="none of"):
        parse("Name     : EXCH01\nEdition  : Enterprise\n")


def test_collections() -> None:
    assert split_collection("{a, b, c, d...}").items == ("a", "b", "c", "d")
    assert split_collection("{a, b, c, d...}").truncated
    assert split_collection("{}").items == ()
    assert split_collection("IIS, SMTP").items == ("IIS", "SMTP")


def test_word_wrapped_value_gets_its_blank_back() -> None:
    text = (
        "Subject : CN=webmail.p365labs.com, OU=RND,\n"
        "          O=Contoso\n"
        "Status  : Valid, and this line is the widest\n"
    )
    (record,) = read_format_list(text)
    assert record.get("Subject") == "CN=webmail.p365labs.com, OU=RND, O=Contoso"


_LABELS = st.from_regex(r"[A-Z][A-Za-z0-9]{0,30}", fullmatch=True)
_VALUES = st.text(
    alphabet=string.ascii_letters + string.digits + " ,.:;<>{}[]()=-_\\/*@", max_size=250
).map(str.strip)


@st.composite
def _records(draw: st.DrawFn) -> list[list[tuple[str, str]]]:
    count = draw(st.integers(1, 4))
    records = []
    for _ in range(count):
        labels = draw(st.lists(_LABELS, min_size=1, max_size=8, unique_by=str.lower))
        records.append([(label, draw(_VALUES)) for label in labels])
    return records


@settings(max_examples=150, deadline=None)
@given(records=_records(), width=st.integers(50, 200))
def test_format_list_round_trip(records: list[list[tuple[str, str]]], width: int) -> None:
    text = render_format_list(records, width=width)
    parsed = read_format_list(text)
    assert [list(r.fields) for r in parsed] == records


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(st.from_regex(r"[a-z0-9.:*-]{1,40}", fullmatch=True), min_size=1, max_size=12),
    width=st.integers(60, 160),
    indent=st.sampled_from(["", "  ", "    "]),
)
def test_collections_survive_wrapping_trailing_blanks_and_indentation(
    items: list[str], width: int, indent: str
) -> None:
    text = render_format_list(
        [[("Name", "x"), ("RemoteIPRanges", "{" + ", ".join(items) + "}")]], width=width
    )
    pasted = "\n".join(indent + line.rstrip() if line else "" for line in text.splitlines())
    (record,) = read_format_list(pasted)
    value = record.get("RemoteIPRanges")
    assert value is not None
    assert split_collection(value).items == tuple(items)


# ---------------------------------------------------------------- robustness


def test_public_surface() -> None:
    import certward.interop as interop

    assert interop.__all__ == sorted(interop.__all__)
    assert all(hasattr(interop, name) for name in interop.__all__)


_LINES = st.sampled_from(
    [
        "================ Certificate 0 ================",
        "Serial Number: 0a1b",
        "Issuer:",
        "CN=x",
        " NotBefore: 13/13/2020 25:61 PM",
        " NotAfter: 1/2/2020 1:02 AM",
        "Cert Hash(sha1): 0a 1b",
        "Cert Hash(sha1): " + "ab" * 20,
        "ProviderType = zz",
        "KeySpec = 0 -- XCN_AT_NONE",
        "Subject Alternative Name",
        "DNS Name=a",
        "-----BEGIN CERTIFICATE-----",
        "!!!",
        "Thumbprint : 12",
        "Services   : IIS, Bogus",
        "Bindings   : {[::, 0.0.0.0:99999}",
        "RemoteIPRanges : {}",
        "AddressSpaces : {SMTP:;x}",
        "SmartHosts : {[}",
        "CurrentCertificateThumbprint : " + "C" * 40,
        "NextCertificateEffectiveDate : 31.02.2020 0:00:00",
        "TlsCertificateName : <I><S>",
        "    continued",
        "",
        "...",
    ]
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(_LINES, st.text(max_size=40)), max_size=20))
def test_any_text_parses_or_fails_with_interop_error(lines: list[str]) -> None:
    text = "\n".join(lines)
    try:
        dump = parse(text)
    except InteropError:
        return
    assert dump.format in set(Format)


# ---------------------------------------------------------------- Get-ExchangeCertificate facts


def test_exchange_certificate_status_key_size_and_exportability_reach_the_model() -> None:
    text = windows("get-exchangecertificate-fl-ru-RU.txt")
    (entry,) = parse(text).exchange_certificates
    observed = entry.to_observed("AVALON-EX01")
    assert (observed.status, observed.key_size, observed.exportable) == ("Valid", 2048, None)
    assert observed.public_key_algorithm is None  # Format-List does not show it
    assert observed.archived is False  # Get-ExchangeCertificate never lists archived ones
    # `| fl *` adds PrivateKeyExportable
    more = text.rstrip("\n") + "\nPrivateKeyExportable : False\n"
    (entry,) = parse(more).exchange_certificates
    assert entry.to_observed("AVALON-EX01").exportable is False
