"""A healthy organisation snapshot made of real certificates, and ways to break it.

The healthy organisation is what certward's own defaults plus seed 002's third-party
certificate give: two Mailbox servers, a self-signed default SMTP certificate each, a
CA-issued ``mail.contoso.com`` certificate (with its intermediate and root in the stores) for
IIS and SMTP on both, the auth certificate on both, the default receive connectors and a
hybrid Send connector naming the CA-issued certificate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import subprocess
from collections.abc import Callable, Sequence

from cryptography import x509

from certward.health.snapshot import HeldCertificate, OrgSnapshot, ServerState, TrustedCertificate
from certward.model import (
    ORGANISATION_EVIDENCE,
    AuthConfig,
    ConnectorKind,
    Evidence,
    IisBinding,
    NetTlsSetting,
    ObservedFacts,
    ObservedOrganisationFacts,
    Organisation,
    Role,
    SchannelSetting,
    Server,
    ServiceSet,
    SmartHost,
    Thumbprint,
    TlsAuthLevel,
    TlsRegistry,
)
from certward.model.connectors import Connector
from certward.model.vdirs import default_vdirs
from certward.pki import build, ca, certinfo
from certward.pki.names import parse_exchange_dn
from certward.pki.profile import CertProfile
from certward.pki.tlsname import tls_certificate_name
from certward.services.connectors import default_receive_connectors

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SERVERS = ("EXCH01", "EXCH02")
MAIL = "mail.contoso.com"


def thumb(cert: x509.Certificate) -> Thumbprint:
    return certinfo.thumbprint(certinfo.to_der(cert))


@functools.cache
def root() -> ca.Authority:
    return ca.make_root("Health Test Root", now=NOW - 400 * DAY)


@functools.cache
def issuing() -> ca.Authority:
    return ca.make_intermediate(root(), "Health Test Issuing CA", now=NOW - 400 * DAY)


@functools.cache
def other_issuing() -> ca.Authority:
    """The CA's new intermediate: a renewal comes back with a different issuer (seed 002)."""
    return ca.make_intermediate(root(), "Health Test Issuing CA 2", now=NOW - 400 * DAY)


@functools.cache
def issued(
    cn: str = MAIL,
    sans: tuple[str, ...] = (MAIL, "autodiscover.contoso.com"),
    *,
    start_days_ago: int = 30,
    days: int = 365,
    bits: int = 2048,
    authority: str = "issuing",
) -> x509.Certificate:
    ca_ = issuing() if authority == "issuing" else other_issuing()
    csr = build.certificate_request(build.generate_key(bits), parse_exchange_dn(f"CN={cn}"), sans)
    return ca.issue(ca_, csr, now=NOW - start_days_ago * DAY, days=days)


@functools.cache
def self_signed(
    cn: str, sans: tuple[str, ...], *, start_days_ago: int = 30, years: int = 5
) -> x509.Certificate:
    start = NOW - start_days_ago * DAY
    return build.self_signed(
        build.generate_key(2048), parse_exchange_dn(f"CN={cn}"), sans,
        not_before=start, not_after=start + dt.timedelta(days=365 * years),
    )  # fmt: skip


@functools.cache
def sha1_signed() -> x509.Certificate:
    """cryptography refuses to sign with SHA-1; the openssl command still does."""
    pem = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", os.devnull,
         "-subj", f"/CN={MAIL}", "-addext", f"subjectAltName=DNS:{MAIL}", "-sha1",
         "-days", "300"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return x509.load_pem_x509_certificate(pem)


def held(cert: x509.Certificate, services: str = "", **kwargs: object) -> HeldCertificate:
    return HeldCertificate(
        thumb(cert), CertProfile.of(cert), ServiceSet.parse(services) if services else ServiceSet(),
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def trusted(cert: x509.Certificate) -> TrustedCertificate:
    return TrustedCertificate(thumb(cert), CertProfile.of(cert))


def auth_certificate() -> x509.Certificate:
    return self_signed("Microsoft Exchange Server Auth Certificate", (), years=5)


def default_smtp(server: str) -> x509.Certificate:
    return self_signed(server, (server, f"{server.lower()}.contoso.com"))


def healthy() -> OrgSnapshot:
    auth = auth_certificate()
    mail = issued()
    states = []
    for name in SERVERS:
        fqdn = f"{name.lower()}.contoso.com"
        smtp = default_smtp(name)
        server = Server(name, fqdn, frozenset({Role.MAILBOX}), default_smtp_thumbprint=thumb(smtp))
        vdirs = tuple(
            dataclasses.replace(
                v, internal_url=f"https://{MAIL}{v.path}", external_url=f"https://{MAIL}{v.path}"
            )
            for v in default_vdirs(name, fqdn)
        )
        states.append(
            ServerState(
                server=server,
                certificates=(
                    held(smtp, "IMAP,POP,SMTP"),
                    held(mail, "IIS,SMTP"),
                    held(auth, "SMTP"),
                ),
                roots=(trusted(root().certificate),),
                intermediates=(trusted(issuing().certificate),),
                vdirs=vdirs,
            )
        )
    connectors: list[Connector] = []
    for state in states:
        connectors += default_receive_connectors(state.server)
    connectors.append(
        Connector(
            name="Outbound to Office 365",
            kind=ConnectorKind.SEND,
            servers=SERVERS,
            address_spaces=("contoso.mail.onmicrosoft.com",),
            smart_hosts=(SmartHost("contoso-com.mail.protection.outlook.com"),),
            require_tls=True,
            tls_auth_level=TlsAuthLevel.DOMAIN_VALIDATION,
            tls_domain="mail.protection.outlook.com",
            tls_certificate_name=str(tls_certificate_name(mail)),
            cloud_services_mail_enabled=True,
        )
    )
    return OrgSnapshot(
        organisation=Organisation(
            "Contoso", "contoso.com", AuthConfig(current_thumbprint=thumb(auth))
        ),
        servers=tuple(states),
        connectors=tuple(connectors),
        accepted_domains=("contoso.com",),
        auth_certificates={thumb(auth): CertProfile.of(auth)},
    )


# -- ways to change a snapshot ---------------------------------------------------------------


def change_server(
    snap: OrgSnapshot, name: str, change: Callable[[ServerState], ServerState]
) -> OrgSnapshot:
    return dataclasses.replace(
        snap, servers=tuple(change(s) if s.name == name else s for s in snap.servers)
    )


def on_every_server(snap: OrgSnapshot, change: Callable[[ServerState], ServerState]) -> OrgSnapshot:
    for name in SERVERS:
        snap = change_server(snap, name, change)
    return snap


def set_server(**changes: object) -> Callable[[ServerState], ServerState]:
    def change(state: ServerState) -> ServerState:
        return dataclasses.replace(state, server=dataclasses.replace(state.server, **changes))  # type: ignore[arg-type]

    return change


def replace_certificate(
    old: x509.Certificate, new: Sequence[HeldCertificate]
) -> Callable[[ServerState], ServerState]:
    """Swap ``old`` in the Personal store for ``new`` (none: remove it)."""

    def change(state: ServerState) -> ServerState:
        kept = tuple(c for c in state.certificates if c.thumbprint != thumb(old))
        return dataclasses.replace(state, certificates=(*kept, *new))

    return change


def add_certificates(*new: HeldCertificate) -> Callable[[ServerState], ServerState]:
    def change(state: ServerState) -> ServerState:
        return dataclasses.replace(state, certificates=(*state.certificates, *new))

    return change


def change_connector(snap: OrgSnapshot, name: str, **changes: object) -> OrgSnapshot:
    return dataclasses.replace(
        snap,
        connectors=tuple(
            dataclasses.replace(c, **changes) if c.name == name else c  # type: ignore[arg-type]
            for c in snap.connectors
        ),
    )


# -- the healthy organisation as a real one, observed from a collection ------------------------

SERVER_EVIDENCE = frozenset(Evidence) - ORGANISATION_EVIDENCE


def healthy_tls() -> TlsRegistry:
    """What HealthChecker's TLS guide sets: TLS 1.0, 1.1 and 1.3 off on both sides, TLS 1.2
    on; .NET 4 (64-bit and Wow6432Node) on the system's TLS versions; root updates on."""
    schannel = []
    for version in ("1.0", "1.1", "1.2", "1.3"):
        on = version == "1.2"
        for side in ("Server", "Client"):
            schannel.append(SchannelSetting(f"TLS {version}", side, int(on), int(not on)))
    return TlsRegistry(
        schannel=tuple(schannel),
        net=(NetTlsSetting("v4.0.30319", False, 1, 1), NetTlsSetting("v4.0.30319", True, 1, 1)),
        disable_root_auto_update=0,
    )


def healthy_bindings(server: str) -> tuple[IisBinding, ...]:
    return (
        IisBinding("Default Web Site", 443, thumbprint=thumb(issued())),
        IisBinding("Exchange Back End", 444, thumbprint=thumb(default_smtp(server))),
    )


def observed(
    snap: OrgSnapshot,
    *,
    evidence: frozenset[Evidence] = SERVER_EVIDENCE,
    organisation: frozenset[Evidence] | None = ORGANISATION_EVIDENCE,
    tls: TlsRegistry | None = None,
    bindings: Callable[[str], tuple[IisBinding, ...]] = healthy_bindings,
    status: str | None = "Valid",
) -> OrgSnapshot:
    """Every server of ``snap`` as a real server a collection showed ``evidence`` of (its
    certificates with Get-ExchangeCertificate's ``status``), and the organisation-wide
    outputs ``organisation`` (None: no collection, the older file-by-file path)."""

    def change(state: ServerState) -> ServerState:
        facts = ObservedFacts(
            state.name,
            evidence=evidence,
            iis_bindings=bindings(state.name),
            tls=tls if tls is not None else healthy_tls(),
        )
        certificates = tuple(dataclasses.replace(c, status=status) for c in state.certificates)
        return dataclasses.replace(
            state,
            server=dataclasses.replace(state.server, observed=True),
            certificates=certificates,
            facts=facts,
        )

    org = None if organisation is None else ObservedOrganisationFacts(evidence=organisation)
    return dataclasses.replace(
        snap,
        servers=tuple(change(s) for s in snap.servers),
        observed_organisation=org,
    )


def change_facts(snap: OrgSnapshot, name: str, **changes: object) -> OrgSnapshot:
    def change(state: ServerState) -> ServerState:
        assert state.facts is not None
        return dataclasses.replace(state, facts=dataclasses.replace(state.facts, **changes))  # type: ignore[arg-type]

    return change_server(snap, name, change)
