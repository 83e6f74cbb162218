"""Parity with Microsoft's HealthChecker (docs/healthchecker.md): each of its certificate and
TLS checks, on observed data, yields the certward finding the table maps it to.

The cases' ids are the "Test" column of docs/healthchecker.md (a test keeps the two in step).
Snapshots: the healthy organisation of builders.py observed whole (every server real, with
what a collection shows: Get-ExchangeCertificate Status, IIS bindings, SCHANNEL and .NET TLS
settings, DisableRootAutoUpdate), broken one thing at a time.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.health.engine import registered_rules
from certward.health.findings import Finding, Severity
from certward.health.snapshot import OrgSnapshot, ServerState, TrustedCertificate, skipped_reason
from certward.model import (
    AuthConfig,
    HybridConfiguration,
    IisBinding,
    NetTlsSetting,
    ObservedCertificate,
    SchannelSetting,
    SmartHost,
    StoreName,
    Thumbprint,
    TlsAuthLevel,
)
from certward.model.connectors import Connector, ConnectorKind
from certward.pki import certinfo
from certward.pki.profile import CertProfile
from certward.pki.tlsname import tls_certificate_name
from certward.services.health import observed_profile
from tests.health.builders import (
    DAY,
    NOW,
    SERVERS,
    auth_certificate,
    change_connector,
    change_server,
    default_smtp,
    healthy,
    healthy_bindings,
    healthy_tls,
    held,
    issued,
    observed,
    replace_certificate,
    self_signed,
    set_server,
    sha1_signed,
    thumb,
)

REPO = Path(__file__).resolve().parents[2]
HYBRID = "Outbound to Office 365"


def findings(snap: OrgSnapshot, rule_id: str) -> list[Finding]:
    rule = next(r for r in registered_rules() if r.id == rule_id)
    return list(rule.check(snap, NOW))


def real(snap: OrgSnapshot | None = None, **kwargs: object) -> OrgSnapshot:
    return observed(snap if snap is not None else healthy(), **kwargs)  # type: ignore[arg-type]


def _in_use(cert: x509.Certificate) -> OrgSnapshot:
    """EXCH01's CA-issued IIS/SMTP certificate replaced by ``cert`` (named by nothing)."""
    snap = change_server(
        healthy(), "EXCH01", replace_certificate(issued(), [held(cert, "IIS,SMTP")])
    )
    return real(change_connector(snap, HYBRID, servers=("EXCH02",)))


@cache
def ecc_certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.com")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - 30 * DAY)
        .not_valid_after(NOW + 300 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.contoso.com")]), False)
        .sign(key, hashes.SHA256())
    )


def _observed(**changes: object) -> ObservedCertificate:
    """A certificate as Get-ExchangeCertificate printed it (no DER)."""
    base = ObservedCertificate(
        server="EXCH01", store=StoreName.MY, thumbprint=Thumbprint("C" * 40),
        subject="CN=mail.contoso.com", issuer="CN=Health Test Issuing CA",
        not_before=NOW - 30 * DAY, not_after=NOW + 300 * DAY, dns_names=("mail.contoso.com",),
        key_size=2048, signature_algorithm="sha256RSA", public_key_algorithm="RSA",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _with_profile(profile: CertProfile) -> OrgSnapshot:
    """EXCH01's CA-issued certificate with ``profile`` (what the dumps described)."""

    def change(state: ServerState) -> ServerState:
        certs = tuple(
            dataclasses.replace(c, profile=profile) if c.thumbprint == thumb(issued()) else c
            for c in state.certificates
        )
        return dataclasses.replace(state, certificates=certs)

    return change_server(real(), "EXCH01", change)


def _schannel(version: str, side: str, enabled: int | None, dbd: int | None) -> OrgSnapshot:
    tls = healthy_tls()
    schannel = tuple(
        SchannelSetting(s.protocol, s.side, enabled, dbd)
        if (s.protocol, s.side) == (f"TLS {version}", side)
        else s
        for s in tls.schannel
    )
    return real(tls=dataclasses.replace(tls, schannel=schannel))


def _net(value: int | None, *, legacy_enabled: bool = False) -> OrgSnapshot:
    tls = healthy_tls()
    net = (NetTlsSetting("v4.0.30319", False, value, 1), NetTlsSetting("v4.0.30319", True, 1, 1))
    schannel = tls.schannel
    if legacy_enabled:
        schannel = tuple(SchannelSetting(s.protocol, s.side) for s in schannel
                         if s.protocol in ("TLS 1.0", "TLS 1.1"))  # fmt: skip
        schannel += tuple(s for s in tls.schannel if s.protocol not in ("TLS 1.0", "TLS 1.1"))
    return real(tls=dataclasses.replace(tls, net=net, schannel=schannel))


def _root_auto_update(value: int, *, exo_root: bool = False) -> OrgSnapshot:
    snap = real(tls=dataclasses.replace(healthy_tls(), disable_root_auto_update=value))
    if not exo_root:
        return snap
    g2 = x509.Name.from_rfc4514_string(
        "CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US"
    )
    root = TrustedCertificate(
        Thumbprint("DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"),
        CertProfile.from_names(g2, g2, (), NOW - 4000 * DAY, NOW + 4000 * DAY, True, is_ca=True),
    )
    for name in SERVERS:
        snap = change_server(snap, name, lambda s: dataclasses.replace(s, roots=(*s.roots, root)))
    return snap


def _bindings(*extra: IisBinding, back_end: IisBinding | None = None) -> OrgSnapshot:
    def bindings(server: str) -> tuple[IisBinding, ...]:
        base = healthy_bindings(server)
        if back_end is not None:
            base = (base[0], back_end)
        return (*base, *extra)

    return real(bindings=bindings)


def _exo(**changes: object) -> OrgSnapshot:
    return real(change_connector(healthy(), HYBRID, **changes))


def _relay(require_tls: bool) -> OrgSnapshot:
    relay = Connector(
        name="Relay to Microsoft 365", kind=ConnectorKind.SEND, servers=SERVERS,
        address_spaces=("SMTP:*;1",),
        smart_hosts=(SmartHost("contoso-com.mail.protection.outlook.com"),),
        require_tls=require_tls, tls_auth_level=TlsAuthLevel.CERTIFICATE_VALIDATION,
        fqdn="mail.contoso.com",
    )  # fmt: skip
    snap = healthy()
    return real(dataclasses.replace(snap, connectors=(*snap.connectors, relay)))


def _auth(config: AuthConfig, cert: x509.Certificate) -> OrgSnapshot:
    snap = healthy()
    assert snap.organisation is not None
    return real(
        dataclasses.replace(
            snap,
            organisation=dataclasses.replace(snap.organisation, auth=config),
            auth_certificates={thumb(cert): CertProfile.of(cert)},
        )
    )


def _old_auth(days_left: int) -> x509.Certificate:
    return self_signed("Microsoft Exchange Server Auth Certificate", (),
                       start_days_ago=5 * 365 - days_left, years=5)  # fmt: skip


def _named_expiring(start_days_ago: int) -> OrgSnapshot:
    """The hybrid connector names the CA-issued certificate, which expires soon."""
    soon = issued(start_days_ago=start_days_ago)
    snap = healthy()
    for name in SERVERS:
        snap = change_server(snap, name, replace_certificate(issued(), [held(soon, "IIS,SMTP")]))
    return real(
        change_connector(snap, HYBRID, tls_certificate_name=str(tls_certificate_name(soon)))
    )


def _expired_transport() -> OrgSnapshot:
    old = self_signed("EXCH01", ("EXCH01", "exch01.contoso.com"), start_days_ago=800, years=2)

    def change(state: ServerState) -> ServerState:
        state = replace_certificate(default_smtp("EXCH01"), [held(old, "IMAP,POP,SMTP")])(state)
        return set_server(default_smtp_thumbprint=thumb(old))(state)

    return real(change_server(healthy(), "EXCH01", change))


def _iis_expired() -> OrgSnapshot:
    """An expired certificate on EXCH01, bound to the Default Web Site on port 8443."""
    old = issued(start_days_ago=400)
    snap = _bindings(IisBinding("Default Web Site", 8443, thumbprint=thumb(old)))
    return change_server(
        snap, "EXCH01", lambda s: dataclasses.replace(s, certificates=(*s.certificates, held(old)))
    )


def _schannel_both(version: str, enabled: int | None, dbd: int | None) -> OrgSnapshot:
    tls = healthy_tls()
    schannel = tuple(
        SchannelSetting(s.protocol, s.side, enabled, dbd) if s.protocol == f"TLS {version}" else s
        for s in tls.schannel
    )
    return real(tls=dataclasses.replace(tls, schannel=schannel))


def _hybrid(name: str | None) -> OrgSnapshot:
    snap = real()
    assert snap.observed_organisation is not None
    org = dataclasses.replace(snap.observed_organisation, hybrid=HybridConfiguration(name))
    return dataclasses.replace(snap, observed_organisation=org)


Case = tuple[str, Callable[[], OrgSnapshot], str, Severity | None, str | None]
CASES: list[Case] = [
    # Invoke-AnalyzerSecurityExchangeCertificates.ps1
    ("lifetime-under-60", lambda: _in_use(issued(start_days_ago=320)), "CW-CERT-001",
     Severity.WARNING, "EXCH01"),
    ("lifetime-under-30", lambda: _in_use(issued(start_days_ago=345)), "CW-CERT-001",
     Severity.ERROR, "EXCH01"),
    ("expired", lambda: _in_use(issued(start_days_ago=400)), "CW-CERT-001", Severity.CRITICAL,
     "EXCH01"),
    ("status-revoked", lambda: real(status="Revoked"), "CW-CERT-002", Severity.ERROR, "EXCH01"),
    ("status-dateinvalid", lambda: real(status="DateInvalid"), "CW-CERT-002", Severity.ERROR,
     "EXCH01"),
    ("status-invalid", lambda: real(status="Invalid"), "CW-CERT-002", Severity.ERROR, "EXCH02"),
    ("status-untrusted", lambda: real(status="Untrusted"), "CW-CERT-002", Severity.WARNING,
     "EXCH01"),
    ("status-revocationcheckfailure", lambda: real(status="RevocationCheckFailure"),
     "CW-CERT-002", Severity.WARNING, "EXCH01"),
    ("status-pendingrequest", lambda: real(status="PendingRequest"), "CW-CERT-002",
     Severity.WARNING, "EXCH01"),
    ("status-unknown", lambda: real(status="Unknown"), "CW-CERT-002", Severity.WARNING, "EXCH01"),
    ("status-valid", lambda: real(status="Valid"), "CW-CERT-002", None, None),
    ("rsa-1024", lambda: _in_use(issued(bits=1024)), "CW-KEY-001", Severity.ERROR, "EXCH01"),
    ("rsa-1024-described", lambda: _with_profile(observed_profile(_observed(key_size=1024))),
     "CW-KEY-001", Severity.ERROR, "EXCH01"),
    ("ecc-256-not-flagged", lambda: _in_use(ecc_certificate()), "CW-KEY-001", None, None),
    ("ecc-described-not-flagged",
     lambda: _with_profile(observed_profile(_observed(key_size=256, public_key_algorithm="ECC",
                                                      signature_algorithm="sha256ECDSA"))),
     "CW-KEY-001", None, None),
    ("sha1", lambda: _in_use(sha1_signed()), "CW-SIG-001", Severity.WARNING, "EXCH01"),
    ("md5-described",
     lambda: _with_profile(observed_profile(_observed(signature_algorithm="md5RSA"))),
     "CW-SIG-001", Severity.WARNING, "EXCH01"),
    ("internal-transport-missing",
     lambda: real(change_server(healthy(), "EXCH01", set_server(default_smtp_thumbprint=None))),
     "CW-TRANS-001", Severity.CRITICAL, "EXCH01"),
    ("internal-transport-expired", _expired_transport, "CW-TRANS-001", Severity.CRITICAL,
     "EXCH01"),
    ("auth-expired", lambda: _auth(AuthConfig(thumb(_old_auth(-10))), _old_auth(-10)),
     "CW-AUTH-001", Severity.CRITICAL, None),
    ("auth-missing", lambda: _auth(AuthConfig(), auth_certificate()), "CW-AUTH-001",
     Severity.CRITICAL, None),
    ("auth-due-no-next", lambda: _auth(AuthConfig(thumb(_old_auth(40))), _old_auth(40)),
     "CW-AUTH-001", Severity.ERROR, None),
    ("auth-next-staged",
     lambda: _auth(AuthConfig(thumb(_old_auth(40)), Thumbprint("AB" * 20), NOW + DAY),
                   _old_auth(40)),
     "CW-AUTH-001", None, None),
    ("auth-not-on-server",
     lambda: real(change_server(healthy(), "EXCH02", replace_certificate(auth_certificate(), []))),
     "CW-AUTH-002", Severity.ERROR, "EXCH02"),
    # Get-ExchangeConnectorCustomObject.ps1 and Invoke-AnalyzerHybridInformation.ps1
    ("tls-name-empty", lambda: _exo(tls_certificate_name=None), "CW-CONN-001", Severity.ERROR,
     "EXCH01"),
    ("tls-name-syntax", lambda: _exo(tls_certificate_name="CN=mail.contoso.com"),
     "CW-CONN-001", Severity.ERROR, "EXCH01"),
    ("tls-name-not-found", lambda: _exo(tls_certificate_name="<I>CN=Nobody<S>CN=None"),
     "CW-CONN-001", Severity.ERROR, "EXCH01"),
    ("tls-name-expiring-60", lambda: _named_expiring(320), "CW-CERT-001", Severity.WARNING,
     "EXCH01"),
    ("tls-name-expiring-30", lambda: _named_expiring(345), "CW-CERT-001", Severity.ERROR,
     "EXCH02"),
    # Invoke-AnalyzerFrequentConfigurationIssues.ps1: the send connector to Exchange Online
    ("exo-cloud-mail-disabled", lambda: _exo(cloud_services_mail_enabled=False), "CW-CONN-003",
     Severity.WARNING, None),
    ("exo-no-fqdn-no-tls-name", lambda: _exo(tls_certificate_name=None, fqdn=None),
     "CW-CONN-003", Severity.WARNING, None),
    ("exo-tls-auth-level", lambda: _exo(cloud_services_mail_enabled=False,
                                        tls_auth_level=TlsAuthLevel.ENCRYPTION_ONLY),
     "CW-CONN-003", Severity.WARNING, None),
    ("exo-tls-auth-level-hybrid", lambda: _exo(tls_auth_level=TlsAuthLevel.ENCRYPTION_ONLY),
     "CW-CONN-002", Severity.WARNING, None),
    ("exo-tls-domain", lambda: _exo(tls_domain="contoso.com"), "CW-CONN-003", Severity.WARNING,
     None),
    ("exo-relay-require-tls", lambda: _relay(False), "CW-CONN-003", Severity.ERROR, None),
    ("exo-relay-ok", lambda: _relay(True), "CW-CONN-003", None, None),
    ("hybrid-tls-name-not-found", lambda: _hybrid("<I>CN=Nobody<S>CN=None"), "CW-HYB-001",
     Severity.ERROR, "EXCH01"),
    ("hybrid-tls-name-empty", lambda: _hybrid(None), "CW-HYB-001", Severity.ERROR, "EXCH02"),
    ("hybrid-tls-name-ok", lambda: _hybrid(str(tls_certificate_name(issued()))), "CW-HYB-001",
     None, None),
    # Invoke-AnalyzerIISInformation.ps1
    ("iis-binding-not-found",
     lambda: _bindings(IisBinding("Default Web Site", 8443, thumbprint=Thumbprint("E" * 40))),
     "CW-IIS-001", Severity.ERROR, "EXCH01"),
    ("iis-binding-expired",
     _iis_expired,
     "CW-IIS-001", Severity.ERROR, "EXCH01"),
    ("iis-back-end-single-ip",
     lambda: _bindings(back_end=IisBinding("Exchange Back End", 444, address="10.0.0.5",
                                           thumbprint=thumb(default_smtp("EXCH01")))),
     "CW-IIS-001", Severity.ERROR, "EXCH02"),
    ("iis-back-end-missing", lambda: real(bindings=lambda s: healthy_bindings(s)[:1]),
     "CW-IIS-001", Severity.ERROR, "EXCH01"),
    # Invoke-AnalyzerSecuritySettings.ps1 / Get-AllTlsSettingsFromRegistry.ps1
    ("schannel-mismatch-1.2", lambda: _schannel("1.2", "Client", 0, 1), "CW-TLS-002",
     Severity.ERROR, "EXCH01"),
    ("schannel-mismatch-1.0", lambda: _schannel("1.0", "Server", 1, 0), "CW-TLS-002",
     Severity.ERROR, "EXCH01"),
    ("schannel-mismatch-1.1", lambda: _schannel("1.1", "Client", 1, 0), "CW-TLS-002",
     Severity.ERROR, "EXCH01"),
    ("schannel-1.3-enabled",
     lambda: _schannel_both("1.3", 1, 0), "CW-TLS-002", Severity.WARNING, "EXCH01"),
    ("schannel-1.2-disabled", lambda: _schannel_both("1.2", 0, 1), "CW-TLS-002", Severity.ERROR,
     "EXCH01"),
    ("schannel-half-disabled", lambda: _schannel_both("1.1", 1, 1), "CW-TLS-002",
     Severity.ERROR, "EXCH01"),
    ("schannel-1.0-enabled-by-default", lambda: _schannel_both("1.0", None, None), "CW-TLS-001",
     Severity.WARNING, "EXCH01"),
    ("net-system-default-tls-versions", lambda: _net(None), "CW-TLS-003", Severity.ERROR,
     "EXCH01"),
    ("net-sch-use-strong-crypto-legacy-on", lambda: _net(0, legacy_enabled=True), "CW-TLS-003",
     Severity.WARNING, "EXCH01"),
    # Invoke-AnalyzerFrequentConfigurationIssues.ps1: DisableRootAutoUpdate
    ("root-auto-update-disabled", lambda: _root_auto_update(1, exo_root=True), "CW-ROOT-002",
     Severity.WARNING, "EXCH01"),
    ("root-auto-update-invalid", lambda: _root_auto_update(2, exo_root=True), "CW-ROOT-002",
     Severity.WARNING, "EXCH01"),
    ("root-auto-update-exo-root-missing", lambda: _root_auto_update(1), "CW-ROOT-002",
     Severity.ERROR, "EXCH01"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "rule_id", "severity", "server"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_healthchecker_check_on_observed_data(
    build: Callable[[], OrgSnapshot], rule_id: str, severity: Severity | None, server: str | None
) -> None:
    snap = build()
    assert snap.observed and all(s.observed for s in snap.servers)
    found = findings(snap, rule_id)
    if severity is None:
        assert found == []
        return
    assert any(f.severity is severity and f.server == server for f in found), found
    for f in found:
        assert f.remediation.certward.startswith("certward ") and f.remediation.shell


def test_the_doc_table_names_every_case_and_only_registered_rules() -> None:
    doc = (REPO / "docs" / "healthchecker.md").read_text(encoding="utf-8")
    named_tests = set(re.findall(r"`test:([a-z0-9.-]+)`", doc))
    assert named_tests == {c[0] for c in CASES}
    rules = {r.id for r in registered_rules()}
    assert set(re.findall(r"CW-[A-Z]+-\d{3}", doc)) <= rules
    assert "CSS-Exchange" in doc and re.search(r"\b[0-9a-f]{40}\b", doc)


# -- certificates HealthChecker deliberately skips ----------------------------------------------


@pytest.mark.parametrize(
    ("subject", "issuer", "self_signed", "skipped"),
    [
        ("CN=3f2b…", "CN=MS-Organization-P2P-Access [2021]", False, True),
        ("CN=MS-Organization-P2P-Access [2024]", "CN=MS-Organization-P2P-Access [2024]", True,
         False),
        ("DC=Windows Azure CRP Certificate Generator",
         "DC=Windows Azure CRP Certificate Generator", True, True),
        ("DC=Windows Azure CRP Certificate Generator", "CN=Some CA", False, False),
        ("CN=mail.contoso.com", "CN=Health Test Issuing CA", False, False),
    ],
)  # fmt: skip
def test_healthchecker_skips_are_skipped_with_its_reason(
    subject: str, issuer: str, self_signed: bool, skipped: bool
) -> None:
    reason = skipped_reason(subject, issuer, self_signed)
    assert (reason is not None) is skipped
    if reason is not None:
        assert ("Azure" in reason) or ("P2P" in reason)


def test_an_observed_certificate_with_der_gets_its_real_profile() -> None:
    der = certinfo.to_der(ecc_certificate())
    described = _observed(der=der, key_size=None, public_key_algorithm=None,
                          signature_algorithm=None)  # fmt: skip
    profile = observed_profile(described)
    assert (profile.key_type, profile.key_size) == ("EC", 256)
    assert profile.signature_algorithm.lower().startswith("sha256")
    damaged = observed_profile(_observed(der=b"\x30\x03\x02\x01\x01"))
    assert (damaged.key_type, damaged.key_size) == ("RSA", 2048)  # falls back to the dump
