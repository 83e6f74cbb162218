"""Every health rule: the broken state yields the finding; its healthy twin yields none.

Snapshots are built from real certificates (a test CA, real keys); the clock is ``NOW``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509

from certward.health.engine import evaluate, registered_rules
from certward.health.findings import Finding, Severity
from certward.health.snapshot import OrgSnapshot, ServerState, TrustedCertificate
from certward.model import (
    CNG_SOFTWARE_KSP,
    AuthConfig,
    EdgeSubscription,
    Role,
    Server,
    ServiceSet,
    Thumbprint,
)
from certward.model.deploy import DeployKind, Deployment, DeployOutcome, DeployPaths, DeployRecord
from certward.pki import clientca
from certward.pki.profile import CertProfile
from certward.pki.tlsname import tls_certificate_name
from tests.health.builders import (
    DAY,
    MAIL,
    NOW,
    add_certificates,
    auth_certificate,
    change_connector,
    change_server,
    default_smtp,
    healthy,
    held,
    issued,
    on_every_server,
    replace_certificate,
    self_signed,
    set_server,
    sha1_signed,
    thumb,
)

HYBRID = "Outbound to Office 365"
FRONTEND1 = "Default Frontend EXCH01"


def findings(snap: OrgSnapshot, rule_id: str, now: dt.datetime = NOW) -> list[Finding]:
    rule = next(r for r in registered_rules() if r.id == rule_id)
    return list(rule.check(snap, now))


def test_the_healthy_organisation_has_no_findings_at_all() -> None:
    report = evaluate(healthy(), NOW)
    assert report.findings == ()
    assert report.exit_status == 0
    assert report.rules_run == len(registered_rules()) >= 18


@pytest.mark.parametrize("rule", registered_rules(), ids=lambda r: r.id)
def test_each_rule_is_silent_on_the_healthy_organisation(rule: object) -> None:
    assert list(rule.check(healthy(), NOW)) == []  # type: ignore[attr-defined]


# -- broken states -----------------------------------------------------------------------------


def _mail_replaced(cert: x509.Certificate, services: str = "IIS,SMTP") -> OrgSnapshot:
    return change_server(healthy(), "EXCH01", replace_certificate(issued(), [held(cert, services)]))


def _auth(config: AuthConfig, cert: x509.Certificate | None = None) -> OrgSnapshot:
    snap = healthy()
    assert snap.organisation is not None
    profiles = dict(snap.auth_certificates)
    if cert is not None:
        profiles = {thumb(cert): CertProfile.of(cert)}
    return dataclasses.replace(
        snap,
        organisation=dataclasses.replace(snap.organisation, auth=config),
        auth_certificates=profiles,
    )


def _roots(count: int, *, version: int = 2010) -> OrgSnapshot:
    """EXCH01 as a 2010 Hub (sends its trusted-issuer list) with ``count`` roots whose
    subjects are like a Windows Root store's (about 46 bytes each)."""
    from certward.model import ExchangeVersion

    roots = tuple(
        TrustedCertificate(
            Thumbprint(f"{i:040X}"),
            CertProfile.from_names(
                subject=x509.Name.from_rfc4514_string(f"CN=Root CA {i:04d},O=Example Trust {i}"),
                issuer=x509.Name.from_rfc4514_string(f"CN=Root CA {i:04d},O=Example Trust {i}"),
                dns_names=(),
                not_before=NOW - 900 * DAY,
                not_after=NOW + 3000 * DAY,
                self_signed=True,
                is_ca=True,
            ),
        )
        for i in range(count)
    )

    def change(state: ServerState) -> ServerState:
        server = dataclasses.replace(
            state.server,
            version=ExchangeVersion(version),
            roles=frozenset({Role.MAILBOX, Role.HUB_TRANSPORT}),
        )
        return dataclasses.replace(state, server=server, roots=state.roots + roots)

    return change_server(healthy(), "EXCH01", change)


def _renewed_with_new_issuer() -> x509.Certificate:
    return issued(start_days_ago=2, authority="other")


def _renewal_gotcha(*, fixed: bool = False) -> OrgSnapshot:
    """Seed 002: the old certificate expired; the renewal came from the CA's new intermediate,
    so the connectors' <I>issuer<S>subject still names only the old one."""
    from tests.health.builders import other_issuing, trusted

    old = issued(start_days_ago=400)
    new = _renewed_with_new_issuer()

    def change(state: ServerState) -> ServerState:
        state = replace_certificate(issued(), [held(old, ""), held(new, "IIS,SMTP")])(state)
        return dataclasses.replace(
            state, intermediates=(*state.intermediates, trusted(other_issuing().certificate))
        )

    snap = on_every_server(healthy(), change)
    name = str(tls_certificate_name(old if not fixed else new))
    return change_connector(snap, HYBRID, tls_certificate_name=name)


def _wildcard_for_imap() -> OrgSnapshot:
    wildcard = issued("*.contoso.com", ("*.contoso.com",))
    return change_server(healthy(), "EXCH01", add_certificates(held(wildcard, "IMAP")))


def _self_signed_on_iis(*, external: bool = True) -> OrgSnapshot:
    smtp = default_smtp("EXCH01")

    def change(state: ServerState) -> ServerState:
        state = replace_certificate(issued(), [held(issued(), "SMTP")])(state)
        state = replace_certificate(smtp, [held(smtp, "IIS,IMAP,POP,SMTP")])(state)
        vdirs = tuple(
            dataclasses.replace(
                v,
                internal_url=f"https://exch01.contoso.com{v.path}",
                external_url=f"https://{MAIL}{v.path}" if external else None,
            )
            for v in state.vdirs
        )
        return dataclasses.replace(state, vdirs=vdirs)

    return change_server(healthy(), "EXCH01", change)


def _vdir_url(url: str) -> OrgSnapshot:
    def change(state: ServerState) -> ServerState:
        vdirs = tuple(
            dataclasses.replace(v, external_url=url) if v.name == "owa" else v for v in state.vdirs
        )
        return dataclasses.replace(state, vdirs=vdirs)

    return change_server(healthy(), "EXCH01", change)


def _edge_without_auth() -> OrgSnapshot:
    snap = healthy()
    edge_cert = self_signed("EDGE01", ("EDGE01", "edge01.contoso.com"))
    edge = ServerState(
        Server(
            "EDGE01",
            "edge01.contoso.com",
            frozenset({Role.EDGE_TRANSPORT}),
            default_smtp_thumbprint=thumb(edge_cert),
        ),
        certificates=(held(edge_cert, "SMTP"),),
    )
    return dataclasses.replace(snap, servers=(*snap.servers, edge))


def _default_smtp(**changes: object) -> OrgSnapshot:
    smtp = default_smtp("EXCH01")
    return change_server(
        healthy(),
        "EXCH01",
        replace_certificate(smtp, [dataclasses.replace(held(smtp, "IMAP,POP,SMTP"), **changes)]),  # type: ignore[arg-type]
    )


def _expired_default_smtp() -> OrgSnapshot:
    old = self_signed("EXCH01", ("EXCH01", "exch01.contoso.com"), start_days_ago=800, years=2)

    def change(state: ServerState) -> ServerState:
        state = replace_certificate(default_smtp("EXCH01"), [held(old, "IMAP,POP,SMTP")])(state)
        return set_server(default_smtp_thumbprint=thumb(old))(state)

    return change_server(healthy(), "EXCH01", change)


def _domain_secure_frontend(tls_name: bool) -> OrgSnapshot:
    changes: dict[str, object] = {"domain_secure_enabled": True}
    if tls_name:
        changes["tls_certificate_name"] = str(tls_certificate_name(issued()))
    return change_connector(healthy(), FRONTEND1, **changes)


def _subscribed_edge(*, cng: bool = False, ca_issued: bool = False) -> OrgSnapshot:
    """EDGE01 subscribed; EXCH01's default transport certificate CNG-keyed or CA-issued."""
    snap = _edge_without_auth()
    edge = snap.server("EDGE01")
    assert edge is not None and edge.server.default_smtp_thumbprint is not None
    sub = EdgeSubscription("EDGE01", "Default-First-Site-Name", NOW - DAY,
                           edge.server.default_smtp_thumbprint, b"")  # fmt: skip
    snap = dataclasses.replace(snap, edge_subscriptions=(sub,))
    if cng:
        snap = _default_smtp(key_provider=CNG_SOFTWARE_KSP)
        snap = dataclasses.replace(snap, servers=(*snap.servers, edge), edge_subscriptions=(sub,))
    if ca_issued:
        snap = change_server(snap, "EXCH01", set_server(default_smtp_thumbprint=thumb(issued())))
    return snap


def _renewed_on_one_server(*, both: bool = False) -> OrgSnapshot:
    renewed = issued(start_days_ago=1)
    snap = change_server(healthy(), "EXCH01", add_certificates(held(renewed, "IIS,SMTP")))
    if both:
        snap = change_server(snap, "EXCH02", add_certificates(held(renewed, "IIS,SMTP")))
    return snap


CASES: list[tuple[str, Callable[[], OrgSnapshot], str, Severity, str | None]] = [
    ("expired", lambda: _mail_replaced(issued(start_days_ago=400)), "CW-CERT-001",
     Severity.CRITICAL, "EXCH01"),
    ("20 days left", lambda: _mail_replaced(issued(start_days_ago=345)), "CW-CERT-001",
     Severity.ERROR, "EXCH01"),
    ("45 days left", lambda: _mail_replaced(issued(start_days_ago=320)), "CW-CERT-001",
     Severity.WARNING, "EXCH01"),
    ("80 days left", lambda: _mail_replaced(issued(start_days_ago=285)), "CW-CERT-001",
     Severity.INFO, "EXCH01"),
    ("expired, its renewal on the server (left behind)", _renewal_gotcha, "CW-CERT-001",
     Severity.INFO, "EXCH01"),
    ("1024-bit RSA", lambda: _mail_replaced(issued(bits=1024)), "CW-KEY-001", Severity.ERROR,
     "EXCH01"),
    ("SHA-1", lambda: _mail_replaced(sha1_signed()), "CW-SIG-001", Severity.WARNING, "EXCH01"),
    ("no intermediate",
     lambda: change_server(healthy(), "EXCH01", lambda s: dataclasses.replace(s, intermediates=())),
     "CW-CHAIN-001", Severity.ERROR, "EXCH01"),
    ("no root",
     lambda: change_server(healthy(), "EXCH01", lambda s: dataclasses.replace(s, roots=())),
     "CW-CHAIN-001", Severity.WARNING, "EXCH01"),
    ("no auth certificate", lambda: _auth(AuthConfig()), "CW-AUTH-001", Severity.CRITICAL, None),
    ("auth expired",
     lambda: _auth(AuthConfig(current_thumbprint=thumb(_old_auth())), _old_auth()),
     "CW-AUTH-001", Severity.CRITICAL, None),
    ("auth due, no next",
     lambda: _auth(AuthConfig(current_thumbprint=thumb(_due_auth())), _due_auth()),
     "CW-AUTH-001", Severity.ERROR, None),
    ("next effective, not published",
     lambda: _auth(AuthConfig(thumb(auth_certificate()), Thumbprint("AB" * 20), NOW - DAY)),
     "CW-AUTH-001", Severity.WARNING, None),
    ("auth missing on a server",
     lambda: change_server(healthy(), "EXCH02", replace_certificate(auth_certificate(), [])),
     "CW-AUTH-002", Severity.ERROR, "EXCH02"),
    ("hybrid connector without TlsCertificateName",
     lambda: change_connector(healthy(), HYBRID, tls_certificate_name=None),
     "CW-CONN-001", Severity.ERROR, "EXCH01"),
    ("TlsCertificateName syntax",
     lambda: change_connector(healthy(), HYBRID, tls_certificate_name="CN=mail.contoso.com"),
     "CW-CONN-001", Severity.ERROR, "EXCH01"),
    ("TlsCertificateName names nothing",
     lambda: change_connector(healthy(), HYBRID, tls_certificate_name="<I>CN=Nobody<S>CN=None"),
     "CW-CONN-001", Severity.ERROR, "EXCH01"),
    ("renewal gotcha (seed 002)", _renewal_gotcha, "CW-CONN-001", Severity.CRITICAL, "EXCH01"),
    ("names only an expired certificate",
     lambda: on_every_server(
         healthy(), replace_certificate(issued(), [held(issued(start_days_ago=400), "IIS,SMTP")])
     ),
     "CW-CONN-001", Severity.ERROR, "EXCH02"),
    ("hybrid connector without validation",
     lambda: change_connector(healthy(), HYBRID, tls_auth_level=None, tls_domain=None),
     "CW-CONN-002", Severity.WARNING, None),
    ("default SMTP not set",
     lambda: change_server(healthy(), "EXCH01", set_server(default_smtp_thumbprint=None)),
     "CW-TRANS-001", Severity.CRITICAL, "EXCH01"),
    ("default SMTP not in the store",
     lambda: change_server(healthy(), "EXCH01", replace_certificate(default_smtp("EXCH01"), [])),
     "CW-TRANS-001", Severity.CRITICAL, "EXCH01"),
    ("default SMTP without a key", lambda: _default_smtp(has_private_key=False), "CW-TRANS-001",
     Severity.CRITICAL, "EXCH01"),
    ("default SMTP expired", _expired_default_smtp, "CW-TRANS-001", Severity.CRITICAL, "EXCH01"),
    ("event 12014", lambda: _default_smtp(services=ServiceSet.parse("IMAP,POP")), "CW-TRANS-002",
     Severity.ERROR, "EXCH01"),
    ("event 12016", _expired_default_smtp, "CW-TRANS-002", Severity.ERROR, "EXCH01"),
    ("TLS 1.0 enabled",
     lambda: change_server(healthy(), "EXCH02", set_server(tls_min_version="1.0")),
     "CW-TLS-001", Severity.WARNING, "EXCH02"),
    ("vdir host not on the IIS certificate", lambda: _vdir_url("https://owa.contoso.com/owa"),
     "CW-NAME-001", Severity.ERROR, "EXCH01"),
    ("no autodiscover name for an accepted domain",
     lambda: dataclasses.replace(healthy(), accepted_domains=("contoso.com", "fabrikam.com")),
     "CW-NAME-002", Severity.WARNING, "EXCH01"),
    ("wildcard for IMAP", _wildcard_for_imap, "CW-NAME-003", Severity.WARNING, "EXCH01"),
    ("self-signed on IIS with external URLs", _self_signed_on_iis, "CW-SELF-001", Severity.ERROR,
     "EXCH01"),
    ("self-signed on a domain-secure receive connector", lambda: _domain_secure_frontend(False),
     "CW-SELF-002", Severity.ERROR, "EXCH01"),
    ("self-signed presented by the hybrid send connector",
     lambda: change_connector(healthy(), HYBRID, tls_certificate_name=None),
     "CW-SELF-002", Severity.ERROR, "EXCH02"),
    ("deploy failed, the old certificate still served",
     lambda: _deployed(ok=False, served=thumb(issued())), "CW-DEPLOY-001", Severity.WARNING,
     "EXCH01"),
    ("an agent's deploy failed, nothing served",
     lambda: _deployed(ok=False, served=None, host="mail1"), "CW-DEPLOY-001", Severity.ERROR,
     "EXCH01"),
    ("355 roots sent (seed 001)", lambda: _roots(355), "CW-ROOT-001", Severity.CRITICAL, "EXCH01"),
    ("270 roots sent", lambda: _roots(270), "CW-ROOT-001", Severity.WARNING, "EXCH01"),
    ("renewed on one server only", _renewed_on_one_server, "CW-CONS-001", Severity.WARNING,
     "EXCH02"),
    ("CNG transport key, Edge subscribed (seed 004)", lambda: _subscribed_edge(cng=True),
     "CW-EDGE-001", Severity.CRITICAL, "EXCH01"),
    ("Edge lacks the Hub certificate's chain", lambda: _subscribed_edge(ca_issued=True),
     "CW-EDGE-002", Severity.ERROR, "EDGE01"),
]  # fmt: skip


def _deployed(*, ok: bool, served: str | None, host: str | None = None) -> OrgSnapshot:
    """A deployment of EXCH01's IMAP certificate to Dovecot, its newest outcome ``ok`` or a
    failure rolled back, the port serving ``served``."""
    deployment = Deployment(
        name="dovecot",
        kind=DeployKind.DOVECOT,
        server="EXCH01",
        services=ServiceSet.parse("IMAP"),
        paths=DeployPaths.in_directory(DeployKind.DOVECOT, "/etc/dovecot/certward"),
        verify="imaps://127.0.0.1:993",
        host=host,
    )
    outcome = DeployOutcome(
        ok=ok,
        when=NOW - DAY,
        deployed=thumb(default_smtp("EXCH01")),
        served=served,
        rolled_back=not ok,
        code=None if ok else "deploy.not_served",
        detail="" if ok else "the port kept serving the previous certificate",
    )
    return dataclasses.replace(healthy(), deployments=(DeployRecord(deployment, outcome),))


def _old_auth() -> x509.Certificate:
    return self_signed(
        "Microsoft Exchange Server Auth Certificate", (), start_days_ago=5 * 365 + 10, years=5
    )


def _due_auth() -> x509.Certificate:
    return self_signed(
        "Microsoft Exchange Server Auth Certificate", (), start_days_ago=5 * 365 - 40, years=5
    )


@pytest.mark.parametrize(
    ("build", "rule_id", "severity", "server"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_broken_state_yields_the_finding(
    build: Callable[[], OrgSnapshot], rule_id: str, severity: Severity, server: str | None
) -> None:
    found = findings(build(), rule_id)
    assert any(f.severity is severity and f.server == server for f in found), found
    for finding in found:
        assert finding.message
        assert finding.remediation.certward.startswith("certward ")
        assert finding.remediation.shell


# -- healthy twins that differ from the baseline -----------------------------------------------

TWINS: list[tuple[str, Callable[[], OrgSnapshot], str]] = [
    ("200 days left", lambda: _mail_replaced(issued(start_days_ago=165)), "CW-CERT-001"),
    ("auth due but next staged",
     lambda: _auth(AuthConfig(thumb(_due_auth()), Thumbprint("AB" * 20), NOW + DAY), _due_auth()),
     "CW-AUTH-001"),
    ("Edge needs no auth certificate", _edge_without_auth, "CW-AUTH-002"),
    ("renewal named on the connector", lambda: _renewal_gotcha(fixed=True), "CW-CONN-001"),
    ("IIS certificate covers autodiscover",
     lambda: _vdir_url("https://autodiscover.contoso.com/owa"), "CW-NAME-001"),
    ("self-signed IIS, internal URLs only", lambda: _self_signed_on_iis(external=False),
     "CW-SELF-001"),
    ("domain-secure receive connector names the CA certificate",
     lambda: _domain_secure_frontend(True), "CW-SELF-002"),
    ("355 roots, list not sent (2019)", lambda: _roots(355, version=2019), "CW-ROOT-001"),
    ("renewed on both servers", lambda: _renewed_on_one_server(both=True), "CW-CONS-001"),
    ("CAPI transport keys, Edge subscribed", _subscribed_edge, "CW-EDGE-001"),
    ("self-signed transport certificates need no chain on the Edge", _subscribed_edge,
     "CW-EDGE-002"),
    ("deployed and served",
     lambda: _deployed(ok=True, served=thumb(default_smtp("EXCH01"))), "CW-DEPLOY-001"),
    ("TLS 1.2 minimum",
     lambda: change_server(healthy(), "EXCH02", set_server(tls_min_version="1.2")), "CW-TLS-001"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "rule_id"), [t[1:] for t in TWINS], ids=[t[0] for t in TWINS])
def test_healthy_twin_yields_no_finding(build: Callable[[], OrgSnapshot], rule_id: str) -> None:
    assert findings(build(), rule_id) == []


def test_renewal_gotcha_names_the_fix() -> None:
    (finding,) = [f for f in findings(_renewal_gotcha(), "CW-CONN-001") if f.server == "EXCH01"]
    renewed = thumb(_renewed_with_new_issuer())
    assert finding.evidence["renewed"] == renewed
    assert f"--tls-certificate {renewed}" in finding.remediation.certward
    assert "Set-SendConnector" in finding.remediation.shell


def test_root_finding_gives_count_bytes_and_both_fixes() -> None:
    (finding,) = findings(_roots(355), "CW-ROOT-001")
    expected = clientca.encoded_size(
        [r.profile.subject for r in _roots(355).servers[0].roots]
    )  # fmt: skip
    assert finding.evidence["roots"] == 356  # the test CA's root and the 355
    assert finding.evidence["bytes"] == expected > clientca.SCHANNEL_LIMIT
    assert "store remove" in finding.remediation.certward
    assert "--no-send-trusted-issuer-list" in finding.remediation.certward
    assert "SendTrustedIssuerList" in finding.remediation.shell


def test_as_of_answers_what_will_be_broken_then() -> None:
    # The CA-issued certificate was issued 30 days ago for 365 days: 335 days left.
    assert evaluate(healthy(), NOW + 300 * DAY).worst is Severity.WARNING
    assert evaluate(healthy(), NOW + 320 * DAY).worst is Severity.ERROR
    later = evaluate(healthy(), NOW + 340 * DAY)
    assert later.worst is Severity.CRITICAL and later.exit_status == 2
    assert {f.rule_id for f in later.findings} >= {"CW-CERT-001", "CW-CONN-001"}


def test_filters_and_exit_status() -> None:
    snap = change_server(healthy(), "EXCH02", set_server(tls_min_version="1.0"))
    report = evaluate(snap, NOW)
    assert report.exit_status == 1
    assert evaluate(snap, NOW, min_severity=Severity.ERROR).findings == ()
    assert evaluate(snap, NOW, server="EXCH01").findings == ()
    only = evaluate(_auth(AuthConfig()), NOW, server="EXCH01")
    assert [f.rule_id for f in only.findings] == ["CW-AUTH-001"]  # organisation-wide kept


def test_event_12014_fix_enables_the_certificate_the_connector_names() -> None:
    """A receive connector's TlsCertificateName names a certificate that is not enabled for
    SMTP: STARTTLS is not offered (event 12014), and the fix enables that certificate, the
    one the connector asks for, not one that merely carries its FQDN."""
    mail = issued()
    snap = change_connector(
        change_server(healthy(), "EXCH01", replace_certificate(mail, [held(mail, "IIS")])),
        FRONTEND1,
        tls_certificate_name=str(tls_certificate_name(mail)),
    )
    found = [
        f
        for f in evaluate(snap, NOW).findings
        if f.rule_id == "CW-TRANS-002" and f.connector == f"EXCH01\\{FRONTEND1}"
    ]
    assert found, "no event 12014 finding for the connector"
    assert found[0].severity is Severity.ERROR
    assert (
        f"cert enable {thumb(mail)} --server EXCH01 --services SMTP"
        in found[0].remediation.certward
    )
