"""CliXML objects → ObservedDump: HealthChecker's real files (fixtures/clixml, see SOURCES.md)
and the collector's selections (objects with the CLIXML_SHAPES properties)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.errors import InteropError
from certward.interop.clixml import read_clixml_text
from certward.interop.clixml_objects import CLIXML_SHAPES, kind_of
from certward.interop.dump import Format, ObservedDump, parse_bytes
from certward.model import ExchangeVersion, Role, Service, ServiceSet, StoreName

FIXTURES = Path(__file__).parent / "fixtures" / "clixml"
NS = 'xmlns="http://schemas.microsoft.com/powershell/2004/04"'
UTC = dt.UTC


def load(name: str) -> ObservedDump:
    return parse_bytes((FIXTURES / name).read_bytes(), source=name)


# -- HealthChecker's real CliXML ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "thumbprints"),
    [
        (
            "e19-GetExchangeCertificate.xml",
            (
                "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7",
                "6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28",
                "38247AD2B76244411748274C508D13446311830B",
            ),
        ),
        (
            "e16-GetExchangeCertificate.xml",
            (
                "92E196F3C8D3D753FCFC5B7690C3173AA1C0ABE3",
                "823884A32609DCDC8C4B5462952586C30D814073",
                "A60C6E62FF85D208DF668D597A1B077E1534147F",
            ),
        ),
    ],
)
def test_exchange_certificates_come_from_raw_data(name: str, thumbprints: tuple[str, ...]) -> None:
    dump = load(name)
    assert dump.format is Format.EXCHANGE_CERTIFICATE_CLIXML
    assert tuple(c.thumbprint for c in dump.exchange_certificates) == thumbprints
    for entry in dump.exchange_certificates:
        assert entry.der is not None
        assert (
            hashlib.sha1(entry.der, usedforsecurity=False).hexdigest().upper() == entry.thumbprint
        )
        assert entry.public_key_algorithm == "RSA" and entry.public_key_size == 2048
        # Exchange's self-signed certificates, SHA-1 signed: still self-signed
        assert entry.is_self_signed is True
        assert entry.status is None and entry.services == ServiceSet()  # not in the file


def test_the_e19_auth_certificate_in_full() -> None:
    auth, default, _wmsvc = load("e19-GetExchangeCertificate.xml").exchange_certificates
    assert auth.subject == auth.issuer == "CN=Microsoft Exchange Server Auth Certificate"
    assert auth.not_before == dt.datetime(2019, 12, 3, 22, 47, 32, tzinfo=UTC)
    assert auth.not_after == dt.datetime(2024, 11, 6, 22, 47, 32, tzinfo=UTC)
    assert auth.serial_number == "22AEC57F54869DBD4B2AC9FA4C14AB89"
    assert auth.signature_algorithm == "sha1RSA"
    assert default.certificate_domains == ("Solo-E19A", "Solo-E19A.Solo.com")
    observed = default.to_observed("SOLO-E19A", source="e19-GetExchangeCertificate.xml")
    assert observed.der == default.der and observed.public_key_algorithm == "RSA"
    assert observed.dns_names == ("Solo-E19A", "Solo-E19A.Solo.com")


@pytest.mark.parametrize(
    ("name", "server", "fqdn", "version", "build", "roles"),
    [
        (
            "e19-GetExchangeServer.xml",
            "SOLO-E19A",
            "Solo-E19A.Solo.com",
            ExchangeVersion.EX2019,
            "15.2.986.5",
            {Role.MAILBOX, Role.CLIENT_ACCESS, Role.HUB_TRANSPORT},
        ),
        (
            "e16-GetExchangeServer.xml",
            "SOLO-E16A",
            "Solo-E16A.Solo.local",
            ExchangeVersion.EX2016,
            "15.1.2375.7",
            {Role.MAILBOX, Role.CLIENT_ACCESS, Role.HUB_TRANSPORT, Role.UNIFIED_MESSAGING},
        ),
    ],
)
def test_exchange_server(
    name: str, server: str, fqdn: str, version: ExchangeVersion, build: str, roles: set[Role]
) -> None:
    (entry,) = load(name).exchange_servers
    assert (entry.name, entry.fqdn, entry.version, entry.build) == (server, fqdn, version, build)
    assert entry.roles == roles and not entry.is_edge
    assert entry.admin_display_version is not None
    assert entry.admin_display_version.startswith("Version 15.")


def test_receive_connectors_read_as_format_list_prints_them() -> None:
    dump = load("e19-GetReceiveConnector.xml")
    names = [c.name for c in dump.receive_connectors]
    assert names == [
        "Default WIN-CTD3L0RGEN4",
        "Client Proxy WIN-CTD3L0RGEN4",
        "Default Frontend WIN-CTD3L0RGEN4",
        "Outbound Proxy Frontend WIN-CTD3L0RGEN4",
        "Client Frontend WIN-CTD3L0RGEN4",
    ]
    frontend = dump.receive_connectors[2]
    assert frontend.identity == "WIN-CTD3L0RGEN4\\Default Frontend WIN-CTD3L0RGEN4"
    assert frontend.server == "WIN-CTD3L0RGEN4"
    assert frontend.transport_role == "FrontendTransport"
    assert {b.port for b in frontend.bindings} == {25}
    assert frontend.permission_groups == (
        "AnonymousUsers",
        "ExchangeServers",
        "ExchangeLegacyServers",
    )
    assert frontend.fqdn == "WIN-CTD3L0RGEN4.exlab.dom"
    assert str(frontend.tls_certificate_name) == "<I>CN=WIN-CTD3L0RGEN4<S>CN=WIN-CTD3L0RGEN4"
    assert frontend.tls_domain_capabilities == ("fabrikam.com:AcceptCloudServicesMail",)


def test_send_connector_to_exchange_online() -> None:
    (send,) = load("e19-GetSendConnector.xml").send_connectors
    assert send.name == "Mail to O365" and send.cloud_services_mail_enabled is True
    assert [h.host for h in send.smart_hosts] == ["microsoft-com.mail.protection.outlook.com"]
    assert [a.domain for a in send.address_spaces] == ["*"]
    assert send.source_transport_servers == ("WIN-CTD3L0RGEN4",)
    assert send.tls_certificate_name is not None
    assert str(send.tls_certificate_name) == "<I>CN=localhost<S>CN=localhost"
    assert send.port == 25


@pytest.mark.parametrize(
    ("name", "current"),
    [
        ("e19-GetAuthConfig.xml", "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"),
        ("e16-GetAuthConfig.xml", "92E196F3C8D3D753FCFC5B7690C3173AA1C0ABE3"),
    ],
)
def test_auth_config(name: str, current: str) -> None:
    auth = load(name).auth_config
    assert auth is not None
    assert auth.current_certificate_thumbprint == current
    assert auth.next_certificate_thumbprint is None and auth.previous_certificate_thumbprint is None
    assert auth.service_name == "00000002-0000-0ff1-ce00-000000000000"


def test_hybrid_configuration() -> None:
    hybrid = load("e19-GetHybridConfiguration.xml").hybrid
    assert hybrid is not None
    assert hybrid.tls_certificate_name == (
        "<I>CN=GeoTrust TLS RSA CA G1, OU=www.digicert.com, O=DigiCert Inc, C=US"
        "<S>CN=mail.contoso.com"
    )
    assert hybrid.domains == ("contoso.com",)
    assert "FreeBusy" in hybrid.features and hybrid.on_premises_smart_host == "mail.contoso.com"


def test_virtual_directories() -> None:
    (owa,) = load("e19-GetOwaVirtualDirectory.xml").virtual_directories
    (ews,) = load("e19-GetWebServicesVirtualDirectory.xml").virtual_directories
    assert (owa.server, owa.name, owa.path) == ("SOLO-E19A", "owa", "/owa")
    assert owa.internal_url == "https://solo-e19a.solo.com/owa" and owa.external_url is None
    assert (ews.name, ews.internal_url) == ("ews", "https://solo-e19a.solo.com/EWS/Exchange.asmx")


@pytest.mark.parametrize(
    ("name", "thumbprint"),
    [
        ("e19-GetWebBinding.xml", "12FD38FA8F58C8A74B3039962882DEFE4199D453"),
        ("e16-GetWebBinding.xml", "B30B89B96AD0351B53D73EC2B5EA7A8B6A746B2B"),
    ],
)
def test_iis_https_bindings_including_the_back_end_on_444(name: str, thumbprint: str) -> None:
    bindings = load(name).iis_bindings
    assert [(b.site, b.address, b.port) for b in bindings] == [
        ("Default Web Site", "*", 443),
        ("Default Web Site", "127.0.0.1", 443),
        ("Exchange Back End", "*", 444),
    ]
    assert all(b.thumbprint == thumbprint and b.store == "My" for b in bindings)


def test_tls_settings_of_healthchecker() -> None:
    e19 = load("e19-GetAllTlsSettings.xml").tls_registry
    assert e19 is not None
    by = {(s.protocol, s.side): (s.enabled, s.disabled_by_default) for s in e19.schannel}
    assert by[("TLS 1.0", "Server")] == (0, 1) and by[("TLS 1.2", "Client")] == (1, 0)
    net = {(n.version, n.wow6432): n for n in e19.net}
    v4 = net[("v4.0.30319", False)]
    assert (v4.system_default_tls_versions, v4.sch_use_strong_crypto) == (1, 0)
    e16 = load("e16-GetAllTlsSettings.xml").tls_registry
    assert e16 is not None
    by16 = {(s.protocol, s.side): (s.enabled, s.disabled_by_default) for s in e16.schannel}
    assert by16[("TLS 1.0", "Server")] == (1, None)  # DisabledByDefault not set
    assert by16[("TLS 1.2", "Client")] == (None, None)
    assert all(n.system_default_tls_versions is None for n in e16.net)


def test_a_plain_certificate_object() -> None:
    (entry,) = load("e19-GetInternalTransportCertificateFromServer.xml").store_certificates
    assert entry.certificate.thumbprint == "D003810EBE1624145889D031FBB77ED2BD280FD3"
    assert entry.store is None


def test_utf16_clixml_and_utf16_text_both_go_through_parse_bytes() -> None:
    text = (FIXTURES / "e19-GetAuthConfig.xml").read_text(encoding="utf-8-sig")
    dump = parse_bytes(text.encode("utf-16"), source="auth.xml")
    assert dump.format is Format.AUTH_CONFIG_CLIXML
    fl = "\r\nCurrentCertificateThumbprint : C3EDCF181EF4F9B53D01768ECA99564014BCA6E7\r\n"
    dump = parse_bytes(fl.encode("utf-16"), source="auth.txt")
    assert dump.format is Format.AUTH_CONFIG


# -- the collector's selections ------------------------------------------------------------------
_REF = iter(range(1_000_000))


def _value(value: object, name: str = "") -> str:
    n = f' N="{name}"' if name else ""
    r = f' RefId="{next(_REF)}"'
    if value is None:
        return f"<Nil{n} />"
    if isinstance(value, bool):
        return f"<B{n}>{str(value).lower()}</B>"
    if isinstance(value, int):
        return f"<I32{n}>{value}</I32>"
    if isinstance(value, bytes):
        return f"<BA{n}>{base64.b64encode(value).decode()}</BA>"
    if isinstance(value, list):
        items = "".join(_value(v) for v in value)
        return f"<Obj{n}{r}><TN{r}><T>System.Object[]</T></TN><LST>{items}</LST></Obj>"
    if isinstance(value, tuple):  # an enum: (number, name)
        return (
            f"<Obj{n}{r}><TN{r}><T>Some.Enum</T><T>System.Enum</T><T>System.Object</T></TN>"
            f"<ToString>{escape(value[1])}</ToString><I32>{value[0]}</I32></Obj>"
        )
    return f"<S{n}>{escape(str(value))}</S>"


def clixml(*objects: tuple[str, dict[str, object]]) -> str:
    """Export-Clixml text of ``Select-Object`` objects (PSCustomObjects, ``Selected.`` type)."""
    body = ""
    for type_name, props in objects:
        members = "".join(_value(v, k) for k, v in props.items())
        r = f' RefId="{next(_REF)}"'
        body += (
            f"<Obj{r}><TN{r}><T>{type_name}</T><T>System.Management.Automation.PSCustomObject</T>"
            f"<T>System.Object</T></TN><MS>{members}</MS></Obj>"
        )
    return f'<?xml version="1.0"?>\r\n<Objs Version="1.1.0.1" {NS}>{body}</Objs>'


@pytest.fixture(scope="module")
def ec_certificate() -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.contoso.com")]), False)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return der, hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


SELECTED_CERT = (
    "Selected.Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
)


def test_the_collectors_certificate_selection(ec_certificate: tuple[bytes, str]) -> None:
    der, thumbprint = ec_certificate
    props: dict[str, object] = {
        "RawData": der,
        "Thumbprint": thumbprint,
        "Services": (6, "IIS, SMTP"),
        "Status": (0, "Valid"),
        "HasPrivateKey": True,
        "PrivateKeyExportable": False,
        "IsSelfSigned": True,
        "FriendlyName": "webmail",
        "CertificateDomains": ["mail.contoso.com", "autodiscover.contoso.com"],
        "RootCAType": (2, "None"),
        "KeyProvider": "Microsoft Software Key Storage Provider",
    }
    assert set(props) == set(CLIXML_SHAPES[Format.EXCHANGE_CERTIFICATE_CLIXML])
    dump = parse_bytes(clixml((SELECTED_CERT, props)).encode("utf-16"), source="certs.xml")
    (entry,) = dump.exchange_certificates
    assert entry.thumbprint == thumbprint and entry.public_key_algorithm == "ECC"
    assert entry.services == ServiceSet.of(Service.IIS, Service.SMTP)
    assert (entry.status, entry.has_private_key, entry.private_key_exportable) == (
        "Valid",
        True,
        False,
    )
    assert entry.certificate_domains == ("mail.contoso.com", "autodiscover.contoso.com")
    observed = entry.to_observed("EX01", source="certs.xml")
    assert (observed.status, observed.exportable, observed.key_provider) == (
        "Valid",
        False,
        "Microsoft Software Key Storage Provider",
    )
    assert observed.der == der and observed.signature_algorithm == "sha256ECDSA"


def test_a_thumbprint_that_is_not_raw_datas_is_refused(ec_certificate: tuple[bytes, str]) -> None:
    der, _ = ec_certificate
    text = clixml((SELECTED_CERT, {"RawData": der, "Thumbprint": "AB" * 20, "Status": "Valid"}))
    with pytest.raises(InteropError) as caught:
        parse_bytes(text.encode(), source="certs.xml")
    assert caught.value.code.id == "clixml.value_invalid"
    assert caught.value.message.startswith("certs.xml: object 1 (ExchangeCertificate), Thumbprint:")


def test_raw_data_that_is_no_certificate_is_refused() -> None:
    text = clixml((SELECTED_CERT, {"RawData": b"\x30\x03\x02\x01\x00", "Status": "Valid"}))
    with pytest.raises(InteropError) as caught:
        parse_bytes(text.encode(), source="certs.xml")
    assert caught.value.code.id == "clixml.value_invalid" and "RawData" in caught.value.message


def test_the_collectors_rows(ec_certificate: tuple[bytes, str]) -> None:
    der, thumbprint = ec_certificate
    text = clixml(
        ("Certward.SchannelProtocol", {"Protocol": "TLS 1.0", "Side": "Server", "Enabled": 0,
                                       "DisabledByDefault": 1}),
        ("Certward.SchannelProtocol", {"Protocol": "TLS 1.2", "Side": "Client", "Enabled": None,
                                       "DisabledByDefault": None}),
        ("Certward.NetFrameworkTls", {"Version": "v4.0.30319", "Wow6432Node": True,
                                      "SystemDefaultTlsVersions": 1, "SchUseStrongCrypto": 1}),
        ("Certward.RootAutoUpdate", {"DisableRootAutoUpdate": 1}),
        ("Certward.IisBinding", {"Site": "Exchange Back End", "Protocol": "https",
                                 "BindingInformation": "*:444:", "CertificateHash": thumbprint,
                                 "CertificateStoreName": "My"}),
        ("Certward.IisBinding", {"Site": "Default Web Site", "Protocol": "http",
                                 "BindingInformation": "*:80:", "CertificateHash": "",
                                 "CertificateStoreName": ""}),
        ("Selected.System.Security.Cryptography.X509Certificates.X509Certificate2",
         {"RawData": der, "Thumbprint": thumbprint,
          "PSParentPath": "Microsoft.PowerShell.Security\\Certificate::LocalMachine\\Root"}),
        ("Selected.Microsoft.Exchange.Data.Directory.Management.ClientAccessService",
         {"Name": "EX01", "AutoDiscoverServiceInternalUri":
          "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"}),
        ("Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.EdgeSubscription",
         {"Name": "EDGE01", "Site": "contoso.com/Configuration/Sites/London",
          "Domain": "contoso.com"}),
    )  # fmt: skip
    dump = parse_bytes(text.encode("utf-8-sig"), source="rows.xml")
    tls = dump.tls_registry
    assert tls is not None and tls.disable_root_auto_update == 1
    assert [(s.protocol, s.side, s.enabled, s.disabled_by_default) for s in tls.schannel] == [
        ("TLS 1.0", "Server", 0, 1),
        ("TLS 1.2", "Client", None, None),
    ]
    assert [(n.version, n.wow6432, n.system_default_tls_versions) for n in tls.net] == [
        ("v4.0.30319", True, 1)
    ]
    (binding,) = dump.iis_bindings
    assert (binding.site, binding.port, binding.thumbprint) == (
        "Exchange Back End",
        444,
        thumbprint,
    )
    (root,) = dump.store_certificates
    assert root.store is StoreName.ROOT and root.certificate.thumbprint == thumbprint
    (autodiscover,) = dump.virtual_directories
    assert (autodiscover.server, autodiscover.name) == ("EX01", "autodiscover")
    assert (
        autodiscover.internal_url
        == "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    )
    (edge,) = dump.edge_subscriptions
    assert (edge.name, edge.domain) == ("EDGE01", "contoso.com")
    assert dump.formats >= {Format.SCHANNEL_CLIXML, Format.IIS_BINDING_CLIXML}


@pytest.mark.parametrize("kind", sorted(CLIXML_SHAPES, key=str), ids=str)
def test_each_shape_is_recognised_from_its_properties_alone(kind: Format) -> None:
    """The contract with the collector: a PSCustomObject with a shape's properties (no
    telling type name) is recognised as that kind."""
    props = {name: "x" for name in CLIXML_SHAPES[kind]}
    (obj,) = read_clixml_text(clixml(("System.Management.Automation.PSCustomObject", props)),
                              source="shape.xml")  # fmt: skip
    assert kind_of(obj) is kind


def test_an_object_of_another_cmdlet_is_refused_naming_it() -> None:
    text = clixml(("Selected.System.Diagnostics.Process", {"ProcessName": "w3wp", "Id": 4}))
    with pytest.raises(InteropError) as caught:
        parse_bytes(text.encode(), source="ps.xml")
    assert caught.value.code.id == "clixml.unrecognised"
    assert "ps.xml: object 1 (System.Diagnostics.Process; ProcessName, Id)" in caught.value.message


def test_a_bad_value_in_a_connector_names_the_object_and_property() -> None:
    text = clixml(
        ("Selected.Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
         {"Identity": "EX01\\Default EX01", "Name": "Default EX01", "Bindings": ["0.0.0.0:x"],
          "RemoteIPRanges": ["0.0.0.0-255.255.255.255"]}),
    )  # fmt: skip
    with pytest.raises(InteropError) as caught:
        parse_bytes(text.encode(), source="rc.xml")
    assert caught.value.message.startswith("rc.xml: object 1 (ReceiveConnector), Bindings:")
    assert "line" not in caught.value.message
