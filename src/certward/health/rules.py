"""The health rules: each a pure function of an organisation snapshot and ``now``.

Thresholds follow Microsoft's HealthChecker.ps1 where it has them (certificate lifetime:
error under 30 days, warning under 60; SHA-1 signatures; RSA keys under 2048 bits).
Importing this module registers every rule in :data:`certward.health.findings.RULES`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator

from certward.health import edgesync
from certward.health.findings import Finding, Remediation, Severity, rule
from certward.health.snapshot import HeldCertificate, OrgSnapshot, ServerState
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    AuthMechanism,
    Connector,
    ConnectorKind,
    Service,
    TlsAuthLevel,
    TlsNameStatus,
    is_cng_provider,
)
from certward.pki import clientca, hostnames
from certward.pki.names import dotnet_x500
from certward.pki.profile import CertProfile
from certward.pki.selection import Candidate, resolve_tls_name, select_certificate, select_iis

CRITICAL, ERROR, WARNING, INFO = (
    Severity.CRITICAL,
    Severity.ERROR,
    Severity.WARNING,
    Severity.INFO,
)
AUTH_RENEWAL_DAYS = 60  # MonitorExchangeAuthCertificate.ps1 renews at 60 days
CA_RENEWAL_NOTICE_DAYS = 90  # a public CA's first renewal notice (seed 002)
VALIDATING_LEVELS = (TlsAuthLevel.CERTIFICATE_VALIDATION, TlsAuthLevel.DOMAIN_VALIDATION)


# -- small helpers ---------------------------------------------------------------------------


def _day(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%d}"


def _subject(profile: CertProfile) -> str:
    return dotnet_x500(profile.subject)


def _renew(server: str, cert: HeldCertificate) -> Remediation:
    tp = cert.thumbprint
    if cert.profile.self_signed:
        shell = (
            f"Get-ExchangeCertificate -Thumbprint {tp} -Server {server} | "
            "New-ExchangeCertificate -Force -PrivateKeyExportable $true"
        )
    else:
        shell = (
            f"Get-ExchangeCertificate -Thumbprint {tp} -Server {server} | "
            "New-ExchangeCertificate -GenerateRequest -PrivateKeyExportable $true"
        )
    return Remediation(f"certward cert renew {tp} --server {server}", shell)


def _set_tls_name(connector: Connector, thumbprint: str) -> Remediation:
    cmdlet = "Set-SendConnector" if connector.kind is ConnectorKind.SEND else "Set-ReceiveConnector"
    return Remediation(
        f'certward connector set "{connector.identity}" --tls-certificate {thumbprint}',
        f"$c = Get-ExchangeCertificate -Thumbprint {thumbprint}; "
        f'{cmdlet} "{connector.identity}" -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)"',
    )


def _hosts(urls: tuple[str | None, ...]) -> list[str]:
    hosts = []
    for url in urls:
        if url:
            host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            if host and host not in hosts:
                hosts.append(host)
    return hosts


def _names_key(profile: CertProfile) -> tuple[str, ...]:
    """What makes two certificates "the same certificate, renewed": their names."""
    return tuple(sorted({d.lower() for d in profile.certificate_domains}))


def _chain_gap(state: ServerState, profile: CertProfile) -> tuple[Severity, str] | None:
    """Walk issuer names through the server's CA and Root stores. None when the chain
    reaches a root in the Root store. The leaf's own issuer missing is an error (the server
    cannot send a chain); a CA certificate's issuer missing is the root: a warning."""
    pool = [*state.intermediates, *state.roots]
    roots = {r.profile.subject.public_bytes() for r in state.roots}
    current = profile
    for depth in range(10):
        if current.subject.public_bytes() in roots:
            return None
        if depth and (current.self_signed or current.issuer == current.subject):
            return WARNING, f"root {dotnet_x500(current.subject)} is not in the Root store"
        issuer = next((c.profile for c in pool if c.profile.subject == current.issuer), None)
        if issuer is None:
            if depth == 0:
                text = (
                    f"issuer {dotnet_x500(current.issuer)} is in neither the CA nor the Root store"
                )
                return ERROR, text
            return WARNING, f"root {dotnet_x500(current.issuer)} is not in the Root store"
        current = issuer
    return ERROR, "the chain is longer than 10 certificates"


# -- certificates in use ---------------------------------------------------------------------


@rule(
    "CW-CERT-001",
    "Certificate in use expires",
    CRITICAL,
    ERROR,
    WARNING,
    INFO,
    prevents="Seeds 002 and 003: an expired 1-year or 5-year certificate; events 12016/12017",
)
def certificate_expiry(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate something uses (a service binding, the default SMTP certificate, a
    connector's TlsCertificateName) expired: critical; expires in under 30 days: error;
    under 60 days: warning (HealthChecker's thresholds); under 90 days, when a public CA
    sends its first renewal notice: info. An expired certificate whose renewal (same names,
    valid, newer) is on the same server is only left behind (seed 002: no harm): info.
    The auth certificate has its own rules."""
    auth = snap.organisation.auth.current_thumbprint if snap.organisation else None
    for state in snap.servers:
        for cert, uses in snap.in_use(state):
            if cert.thumbprint == auth:
                continue
            days = cert.profile.days_left(now)
            renewal = _renewal_of(state, cert, now) if days < 0 else None
            if renewal is not None:
                severity = INFO
                text = (
                    f"expired on {_day(cert.profile.not_after)}; its renewal "
                    f"{renewal.thumbprint} is on the server, remove the old one when convenient"
                )
            elif days < 0:
                severity, text = CRITICAL, f"expired on {_day(cert.profile.not_after)}"
            elif days < 30:
                severity, text = ERROR, f"expires in {int(days)} days"
            elif days < 60:
                severity, text = WARNING, f"expires in {int(days)} days"
            elif days < CA_RENEWAL_NOTICE_DAYS:
                severity, text = INFO, f"expires in {int(days)} days (renewal notice period)"
            else:
                continue
            yield Finding(
                "CW-CERT-001",
                severity,
                state.name,
                f"{_subject(cert.profile)} ({', '.join(uses)}) {text}",
                Remediation(
                    f"certward cert remove {cert.thumbprint} --server {state.name}",
                    f"Remove-ExchangeCertificate -Thumbprint {cert.thumbprint} "
                    f"-Server {state.name}",
                )
                if renewal is not None
                else _renew(state.name, cert),
                {"not_after": cert.profile.not_after.isoformat(), "days_left": int(days)},
                thumbprint=cert.thumbprint,
            )


def _renewal_of(
    state: ServerState, cert: HeldCertificate, now: dt.datetime
) -> HeldCertificate | None:
    """A valid, newer certificate with the same names on the same server."""
    key = _names_key(cert.profile)
    return next(
        (
            other
            for other in state.certificates
            if other.thumbprint != cert.thumbprint
            and not other.profile.expired(now)
            and other.profile.not_before > cert.profile.not_before
            and _names_key(other.profile) == key
        ),
        None,
    )


@rule(
    "CW-KEY-001",
    "RSA key shorter than 2048 bits",
    ERROR,
    prevents="HealthChecker: key size below 2048 bits",
)
def weak_key(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate in use has an RSA key shorter than 2048 bits."""
    for state in snap.servers:
        for cert, _uses in snap.in_use(state):
            p = cert.profile
            if p.key_type == "RSA" and 0 < p.key_size < 2048:
                yield Finding(
                    "CW-KEY-001",
                    ERROR,
                    state.name,
                    f"{_subject(p)} has a {p.key_size}-bit RSA key",
                    _renew(state.name, cert),
                    {"key_size": p.key_size},
                    thumbprint=cert.thumbprint,
                )


@rule(
    "CW-SIG-001",
    "Certificate signed with SHA-1 or MD5",
    WARNING,
    prevents="HealthChecker: SHA-1 signed certificates",
)
def weak_signature(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A certificate in use is signed with SHA-1 or MD5; clients increasingly refuse them."""
    for state in snap.servers:
        for cert, _uses in snap.in_use(state):
            p = cert.profile
            if p.signature_hash in ("sha1", "md5"):
                yield Finding(
                    "CW-SIG-001",
                    WARNING,
                    state.name,
                    f"{_subject(p)} is signed with {p.signature_algorithm}",
                    _renew(state.name, cert),
                    {"signature_algorithm": p.signature_algorithm},
                    thumbprint=cert.thumbprint,
                )


@rule(
    "CW-CHAIN-001",
    "Intermediate certificate missing",
    ERROR,
    WARNING,
    prevents="Seed 002: a CA reply completed without its intermediate; clients see an "
    "incomplete chain",
)
def chain_incomplete(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A CA-issued certificate in use whose issuer is in neither the server's CA
    (Intermediate) store nor its Root store: the server cannot send a complete chain (error).
    The chain is complete but its root is not in the Trusted Root store: warning (Exchange
    shows the certificate as Untrusted)."""
    for state in snap.servers:
        for cert, _uses in snap.in_use(state):
            if cert.profile.self_signed:
                continue
            gap = _chain_gap(state, cert.profile)
            if gap is None:
                continue
            severity, text = gap
            store = "CA" if severity is ERROR else "Root"
            yield Finding(
                "CW-CHAIN-001",
                severity,
                state.name,
                f"{_subject(cert.profile)}: {text}",
                Remediation(
                    f"certward store add --server {state.name} --store {store} issuer.cer",
                    "Import-Certificate -FilePath issuer.cer -CertStoreLocation "
                    f"Cert:\\LocalMachine\\{store}",
                ),
                {"issuer": dotnet_x500(cert.profile.issuer)},
                thumbprint=cert.thumbprint,
            )


# -- the auth certificate --------------------------------------------------------------------

_NEW_AUTH = Remediation(
    "certward auth new-next && certward auth publish",
    "New-ExchangeCertificate -KeySize 2048 -PrivateKeyExportable $true -SubjectName "
    '"cn=Microsoft Exchange Server Auth Certificate" -FriendlyName "Microsoft Exchange '
    'Server Auth Certificate" -DomainName @(); Set-AuthConfig -NewCertificateThumbprint '
    "<thumbprint> -NewCertificateEffectiveDate (Get-Date); Set-AuthConfig -PublishCertificate",
)


@rule(
    "CW-AUTH-001",
    "Auth certificate missing, expired or due",
    CRITICAL,
    ERROR,
    WARNING,
    prevents="Seed 002: OAuth (hybrid free/busy, eDiscovery) fails without a valid auth "
    "certificate",
)
def auth_certificate(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The organisation's OAuth certificate (Get-AuthConfig) is not set or not published:
    critical; expired: critical; within 60 days of expiry with no next certificate staged:
    error; a next certificate past its effective date but not published: warning."""
    org = snap.organisation
    if org is None:
        return
    current = org.auth.current_thumbprint
    profile = snap.auth_certificates.get(current) if current else None
    if current is None or profile is None:
        yield Finding(
            "CW-AUTH-001",
            CRITICAL,
            None,
            "no auth certificate is configured (Get-AuthConfig CurrentCertificateThumbprint)"
            if current is None
            else f"the auth certificate {current} is not published in the organisation",
            _NEW_AUTH,
            {"current": current},
            thumbprint=current,
        )
        return
    days = profile.days_left(now)
    nxt = org.auth.next_thumbprint
    if days < 0:
        yield Finding(
            "CW-AUTH-001",
            CRITICAL,
            None,
            f"the auth certificate expired on {_day(profile.not_after)}",
            _NEW_AUTH,
            {"not_after": profile.not_after.isoformat()},
            thumbprint=current,
        )
    elif days <= AUTH_RENEWAL_DAYS and nxt is None:
        yield Finding(
            "CW-AUTH-001",
            ERROR,
            None,
            f"the auth certificate expires in {int(days)} days and no next certificate is staged",
            Remediation(
                "certward auth new-next",
                "Set-AuthConfig -NewCertificateThumbprint <thumbprint> "
                "-NewCertificateEffectiveDate (Get-Date).AddHours(48)",
            ),
            {"days_left": int(days)},
            thumbprint=current,
        )
    effective = org.auth.next_effective
    if nxt is not None and effective is not None and effective <= now:
        yield Finding(
            "CW-AUTH-001",
            WARNING,
            None,
            f"the next auth certificate {nxt} took effect on {_day(effective)} "
            "but is not published",
            Remediation(
                "certward auth publish && certward auth clear-previous",
                "Set-AuthConfig -PublishCertificate; Set-AuthConfig -ClearPreviousCertificate",
            ),
            {"next_effective": effective.isoformat()},
            thumbprint=nxt,
        )


@rule(
    "CW-AUTH-002",
    "Auth certificate missing on a server",
    ERROR,
    prevents="Seed 002: OAuth fails on the server that lacks the auth certificate",
)
def auth_certificate_on_servers(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Every Exchange server except Edge Transport needs the current auth certificate, with
    its private key, in its Personal store."""
    org = snap.organisation
    current = org.auth.current_thumbprint if org else None
    if current is None:
        return
    holders = [s.name for s in snap.servers if (c := s.find(current)) and c.has_private_key]
    source = holders[0] if holders else "<server>"
    for state in snap.servers:
        if state.server.is_edge or state.name in holders:
            continue
        yield Finding(
            "CW-AUTH-002",
            ERROR,
            state.name,
            f"the auth certificate {current} is not in the Personal store (with its key)",
            Remediation(
                f"certward cert export {current} --server {source} --out auth.pfx "
                f"--password-file pw.txt && certward cert import --server {state.name} "
                "auth.pfx --password-file pw.txt",
                f"Export-ExchangeCertificate -Thumbprint {current} -Server {source} "
                "-BinaryEncoded -Password $pw -FileName auth.pfx; Import-ExchangeCertificate "
                f"-Server {state.name} -FileData ([IO.File]::ReadAllBytes('auth.pfx')) "
                "-Password $pw",
            ),
            thumbprint=current,
        )


# -- connectors ------------------------------------------------------------------------------


def _needs_tls_name(connector: Connector) -> bool:
    """Hybrid connectors (to and from Exchange Online) are matched by certificate name."""
    return connector.cloud_services_mail_enabled


@rule(
    "CW-CONN-001",
    "Connector TlsCertificateName does not resolve",
    CRITICAL,
    ERROR,
    prevents="Seed 002: hybrid mail flow stops after a renewal because the connector still "
    "names the old certificate",
)
def connector_tls_name(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A connector's TlsCertificateName is empty where the connector needs it (hybrid),
    has invalid syntax, or names no certificate on one of its servers: error. It names only
    expired certificates while a newer certificate with the same names is in the store, the
    renewal gotcha of seed 002: critical."""
    for connector in snap.connectors:
        value = connector.tls_certificate_name
        for server in connector.servers:
            state = snap.server(server)
            if state is None:
                continue
            candidates = state.candidates()
            status, found = resolve_tls_name(candidates, value, now=now)
            if status is TlsNameStatus.EMPTY:
                if not _needs_tls_name(connector):
                    break
                best = _best_for_names(candidates, now, None)
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"hybrid connector {connector.identity} has no TlsCertificateName",
                    _set_tls_name(connector, best.thumbprint if best else "<thumbprint>"),
                    {"status": status.value},
                    connector=connector.identity,
                )
                break
            if status is TlsNameStatus.SYNTAX_INVALID:
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"connector {connector.identity}: TlsCertificateName {value!r} is not "
                    "of the form <I>issuer<S>subject",
                    _set_tls_name(connector, "<thumbprint>"),
                    {"status": status.value, "value": value},
                    connector=connector.identity,
                )
                break
            if status is TlsNameStatus.NOT_FOUND:
                yield Finding(
                    "CW-CONN-001",
                    ERROR,
                    server,
                    f"connector {connector.identity}: no certificate on {server} matches "
                    f"its TlsCertificateName",
                    _set_tls_name(connector, "<thumbprint>"),
                    {"status": status.value, "value": value},
                    connector=connector.identity,
                )
                continue
            if all(c.profile.expired(now) for c in found):
                renewed = _best_for_names(candidates, now, found[0].profile)
                if renewed is not None:
                    yield Finding(
                        "CW-CONN-001",
                        CRITICAL,
                        server,
                        f"connector {connector.identity} names only the expired certificate "
                        f"{found[0].thumbprint}; the renewed {renewed.thumbprint} (issuer "
                        f"{dotnet_x500(renewed.profile.issuer)}) is not named",
                        _set_tls_name(connector, renewed.thumbprint),
                        {"expired": found[0].thumbprint, "renewed": renewed.thumbprint},
                        thumbprint=found[0].thumbprint,
                        connector=connector.identity,
                    )
                else:
                    yield Finding(
                        "CW-CONN-001",
                        ERROR,
                        server,
                        f"connector {connector.identity} names only expired certificates",
                        Remediation(
                            f"certward cert renew {found[0].thumbprint} --server {server}",
                            f"Get-ExchangeCertificate -Thumbprint {found[0].thumbprint} | "
                            "New-ExchangeCertificate -GenerateRequest",
                        ),
                        {"expired": found[0].thumbprint},
                        thumbprint=found[0].thumbprint,
                        connector=connector.identity,
                    )


def _best_for_names(
    candidates: list[Candidate], now: dt.datetime, like: CertProfile | None
) -> Candidate | None:
    """The newest valid CA-issued SMTP-capable certificate, with the same names as ``like``
    when given."""
    pool = [
        c
        for c in candidates
        if not c.profile.expired(now)
        and not c.profile.self_signed
        and c.has_private_key
        and (like is None or _names_key(c.profile) == _names_key(like))
    ]
    return max(pool, key=lambda c: c.profile.not_before, default=None)


@rule(
    "CW-CONN-002",
    "Secure send connector does not validate the certificate",
    WARNING,
    prevents="Seeds 000 and 002: domain security and hybrid mail need certificate validation",
)
def connector_tls_auth_level(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A domain-secure or hybrid Send connector whose TlsAuthLevel is not
    CertificateValidation or DomainValidation accepts any certificate from the peer."""
    for connector in snap.send_connectors():
        secure = connector.domain_secure_enabled or connector.cloud_services_mail_enabled
        if not secure or connector.tls_auth_level in VALIDATING_LEVELS:
            continue
        level = connector.tls_auth_level.value if connector.tls_auth_level else "not set"
        yield Finding(
            "CW-CONN-002",
            WARNING,
            None,
            f"send connector {connector.name} is domain-secure or hybrid but its "
            f"TlsAuthLevel is {level}",
            Remediation(
                f'certward connector set "{connector.name}" --require-tls '
                "--tls-auth-level CertificateValidation",
                f'Set-SendConnector "{connector.name}" -RequireTLS $true '
                "-TlsAuthLevel CertificateValidation",
            ),
            {"tls_auth_level": level},
            connector=connector.identity,
        )


# -- transport -------------------------------------------------------------------------------


@rule(
    "CW-TRANS-001",
    "No valid default SMTP certificate",
    CRITICAL,
    prevents="Seed 003/004: internal mail flow and EdgeSync need the default SMTP "
    "(internal transport) certificate",
)
def default_smtp_certificate(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A transport server (Mailbox, Hub or Edge Transport) whose default SMTP certificate
    (InternalTransportCertificateThumbprint) is not set, not in its store, has no private key,
    or has expired."""
    for state in snap.servers:
        if not state.is_transport:
            continue
        tp = state.server.default_smtp_thumbprint
        cert = state.find(tp)
        if tp is None:
            problem = "is not set"
        elif cert is None:
            problem = f"{tp} is not in the Personal store"
        elif not cert.has_private_key:
            problem = f"{tp} has no private key"
        elif cert.profile.expired(now):
            problem = f"{tp} expired on {_day(cert.profile.not_after)}"
        else:
            continue
        name, fqdn = state.name, state.server.fqdn
        yield Finding(
            "CW-TRANS-001",
            CRITICAL,
            name,
            f"the default SMTP certificate {problem}",
            Remediation(
                f'certward cert new --server {name} --subject "CN={name}" --domain {name} '
                f"--domain {fqdn} --force",
                f"New-ExchangeCertificate -Server {name} -DomainName {name},{fqdn} "
                "-Services SMTP -Force",
            ),
            {"thumbprint": tp},
            thumbprint=tp,
        )


@rule(
    "CW-TRANS-002",
    "Receive connector cannot offer STARTTLS, or offers an expired certificate",
    ERROR,
    prevents="Events 12014 (no certificate for the connector's FQDN) and 12016 (the chosen "
    "certificate expired)",
)
def receive_starttls(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Predicts Exchange's STARTTLS certificate selection for every receive connector with
    AuthMechanism Tls: no eligible certificate (enabled for SMTP, with a private key, naming
    the connector's TlsCertificateName or FQDN) means event 12014 and no STARTTLS; an expired
    chosen certificate means event 12016."""
    for state in snap.servers:
        candidates = state.candidates()
        for connector in snap.receive_connectors(state.name):
            if AuthMechanism.TLS not in connector.auth_mechanism:
                continue
            selection = select_certificate(
                candidates,
                service=Service.SMTP,
                now=now,
                host_name=connector.fqdn or state.server.fqdn,
                tls_certificate_name=connector.tls_certificate_name,
                connector=connector.identity,
            )
            chosen = selection.chosen
            if chosen is None:
                covering = [
                    c for c in candidates if hostnames.covers(c.profile, selection.name)
                ]  # fmt: skip
                tp = covering[0].thumbprint if covering else "<thumbprint>"
                yield Finding(
                    "CW-TRANS-002",
                    ERROR,
                    state.name,
                    f"receive connector {connector.identity}: no certificate enabled for SMTP "
                    f"carries {selection.name} (event 12014; STARTTLS is not offered)",
                    Remediation(
                        f"certward cert enable {tp} --server {state.name} --services SMTP "
                        "--keep-default-smtp",
                        f"Enable-ExchangeCertificate -Thumbprint {tp} -Server {state.name} "
                        "-Services SMTP",
                    ),
                    {"event": 12014, "name": selection.name},
                    connector=connector.identity,
                )
            elif chosen.profile.expired(now):
                yield Finding(
                    "CW-TRANS-002",
                    ERROR,
                    state.name,
                    f"receive connector {connector.identity} presents {chosen.thumbprint}, "
                    f"expired on {_day(chosen.profile.not_after)} (event 12016)",
                    Remediation(
                        f"certward cert renew {chosen.thumbprint} --server {state.name}",
                        f"Get-ExchangeCertificate -Thumbprint {chosen.thumbprint} | "
                        "New-ExchangeCertificate -GenerateRequest -PrivateKeyExportable $true",
                    ),
                    {"event": 12016},
                    thumbprint=chosen.thumbprint,
                    connector=connector.identity,
                )


@rule(
    "CW-TLS-001",
    "TLS 1.0 or 1.1 enabled",
    WARNING,
    prevents="Seed 002: TLS 1.0 and 1.1 are deprecated (Exchange Online refuses them since 2021)",
)
def legacy_tls(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A server accepts TLS 1.0 or TLS 1.1."""
    for state in snap.servers:
        minimum = state.server.tls_min_version
        if minimum not in ("1.0", "1.1"):
            continue
        enabled = ["1.0", "1.1"][["1.0", "1.1"].index(minimum) :]
        yield Finding(
            "CW-TLS-001",
            WARNING,
            state.name,
            f"TLS {' and '.join(enabled)} enabled (minimum TLS {minimum})",
            Remediation(
                f"certward server set {state.name} --tls-min-version 1.2",
                "foreach ($v in 'TLS 1.0','TLS 1.1') { New-Item -Force "
                '"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\'
                'Protocols\\$v\\Server" | New-ItemProperty -Name Enabled -Value 0 '
                "-PropertyType DWord -Force }",
            ),
            {"tls_min_version": minimum},
        )


# -- names -----------------------------------------------------------------------------------


@rule(
    "CW-NAME-001",
    "IIS certificate does not cover a virtual directory's host name",
    ERROR,
    prevents="Seed 002 figure 3: Outlook's 'the name on the security certificate is invalid'",
)
def iis_names(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The certificate bound to IIS must carry (CN or SAN, wildcards per RFC 6125) the host of
    every virtual directory's internal and external URL."""
    for state in snap.servers:
        if not state.vdirs:
            continue
        chosen = select_iis(state.candidates(), now=now).chosen
        hosts = _hosts(tuple(u for v in state.vdirs for u in (v.internal_url, v.external_url)))
        if chosen is None:
            yield Finding(
                "CW-NAME-001",
                ERROR,
                state.name,
                "no certificate is bound to IIS",
                Remediation(
                    f"certward cert enable <thumbprint> --server {state.name} --services IIS",
                    f"Enable-ExchangeCertificate -Thumbprint <thumbprint> -Server {state.name} "
                    "-Services IIS",
                ),
                {"hosts": ", ".join(hosts)},
            )
            continue
        missing = [h for h in hosts if not hostnames.covers(chosen.profile, h)]
        if missing:
            domains = " ".join(f"--domain {h}" for h in missing)
            yield Finding(
                "CW-NAME-001",
                ERROR,
                state.name,
                f"the IIS certificate {_subject(chosen.profile)} does not cover "
                f"{', '.join(missing)}",
                Remediation(
                    f'certward cert request --server {state.name} --subject "CN={missing[0]}" '
                    f"{domains} --out request.req",
                    f"New-ExchangeCertificate -Server {state.name} -GenerateRequest -SubjectName "
                    f'"CN={missing[0]}" -DomainName {",".join(missing)} '
                    "-PrivateKeyExportable $true -RequestFile request.req",
                ),
                {"missing": ", ".join(missing)},
                thumbprint=chosen.thumbprint,
            )


@rule(
    "CW-NAME-002",
    "No autodiscover name for an accepted domain",
    WARNING,
    prevents="Seed 002: Outlook's certificate warning when it looks up autodiscover.<domain>",
)
def autodiscover_names(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """Where Autodiscover is published (its virtual directory has an external URL), the IIS
    certificate should carry autodiscover.<domain> for every accepted domain."""
    for state in snap.servers:
        published = any(
            v.name.lower() == "autodiscover" and v.external_url for v in state.vdirs
        )  # fmt: skip
        chosen = select_iis(state.candidates(), now=now).chosen if published else None
        if chosen is None:
            continue
        wanted = [f"autodiscover.{d.lower()}" for d in snap.accepted_domains if "*" not in d]
        missing = [h for h in wanted if not hostnames.covers(chosen.profile, h)]
        if missing:
            yield Finding(
                "CW-NAME-002",
                WARNING,
                state.name,
                f"the IIS certificate does not carry {', '.join(missing)}",
                Remediation(
                    f"certward cert renew {chosen.thumbprint} --server {state.name} "
                    "(add --domain " + " --domain ".join(missing) + " to the new request)",
                    "New-ExchangeCertificate -GenerateRequest -DomainName "
                    + ",".join([*chosen.profile.certificate_domains, *missing]),
                ),
                {"missing": ", ".join(missing)},
                thumbprint=chosen.thumbprint,
            )


@rule(
    "CW-NAME-003",
    "Wildcard certificate enabled for IMAP or POP",
    WARNING,
    prevents="Exchange does not support wildcard certificates for IMAP and POP",
)
def wildcard_pop_imap(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A wildcard certificate is enabled for IMAP or POP; Exchange does not use it there."""
    for state in snap.servers:
        for cert in state.certificates:
            services = [s for s in (Service.IMAP, Service.POP) if s in cert.services]
            if services and hostnames.is_wildcard(cert.profile):
                names = ",".join(s.name or "" for s in services)
                yield Finding(
                    "CW-NAME-003",
                    WARNING,
                    state.name,
                    f"wildcard certificate {_subject(cert.profile)} is enabled for {names}",
                    Remediation(
                        f"certward cert enable <thumbprint> --server {state.name} "
                        f"--services {names}",
                        f"Set-ImapSettings -Server {state.name} -X509CertificateName "
                        f"mail.<domain>; Enable-ExchangeCertificate -Thumbprint <thumbprint> "
                        f"-Services {names}",
                    ),
                    {"services": names},
                    thumbprint=cert.thumbprint,
                )


# -- self-signed certificates ----------------------------------------------------------------


@rule(
    "CW-SELF-001",
    "Self-signed certificate on IIS with external URLs",
    ERROR,
    prevents="Seed 003: Outlook Anywhere and ActiveSync do not work with a self-signed certificate",
)
def self_signed_iis(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The certificate bound to IIS is self-signed while a virtual directory has an external
    URL: external clients cannot trust it."""
    for state in snap.servers:
        external = _hosts(tuple(v.external_url for v in state.vdirs))
        chosen = select_iis(state.candidates(), now=now).chosen if external else None
        if chosen is None or not chosen.profile.self_signed:
            continue
        yield Finding(
            "CW-SELF-001",
            ERROR,
            state.name,
            f"IIS uses the self-signed {_subject(chosen.profile)} while external URLs "
            f"({', '.join(external)}) are set",
            Remediation(
                f'certward cert request --server {state.name} --subject "CN={external[0]}" '
                + " ".join(f"--domain {h}" for h in external)
                + " --out request.req",
                f'New-ExchangeCertificate -GenerateRequest -SubjectName "CN={external[0]}" '
                f"-DomainName {','.join(external)} -PrivateKeyExportable $true",
            ),
            {"external": ", ".join(external)},
            thumbprint=chosen.thumbprint,
        )


@rule(
    "CW-SELF-002",
    "Self-signed certificate on a domain-secure or mutual-TLS connector",
    ERROR,
    prevents="Seeds 000 and 002: the partner (or Exchange Online) refuses a self-signed "
    "certificate in mutual TLS",
)
def self_signed_connector(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A domain-secure receive connector presents a self-signed certificate, or a
    domain-secure, hybrid or certificate-validating send connector would present one; mutual
    TLS needs a certificate from a CA the partner trusts."""
    for connector in snap.connectors:
        secure = connector.domain_secure_enabled or connector.cloud_services_mail_enabled
        if connector.kind is ConnectorKind.SEND:
            secure = secure or connector.tls_auth_level in VALIDATING_LEVELS
        if not secure:
            continue
        for server in connector.servers:
            state = snap.server(server)
            if state is None:
                continue
            presented = _presented(state, connector, now)
            if presented is None or not presented.profile.self_signed:
                continue
            fqdn = state.server.fqdn
            then = _set_tls_name(connector, "<new thumbprint>")
            yield Finding(
                "CW-SELF-002",
                ERROR,
                server,
                f"connector {connector.identity} presents the self-signed "
                f"{_subject(presented.profile)}",
                Remediation(
                    f'certward cert request --server {server} --subject "CN={fqdn}" '
                    f"--domain {fqdn} --out request.req, import the CA's reply, then "
                    + then.certward,
                    f"New-ExchangeCertificate -Server {server} -GenerateRequest -SubjectName "
                    f'"CN={fqdn}" -DomainName {fqdn} -RequestFile request.req; '
                    "Import-ExchangeCertificate the reply; then " + then.shell,
                ),
                {"presented": presented.thumbprint},
                thumbprint=presented.thumbprint,
                connector=connector.identity,
            )


def _presented(state: ServerState, connector: Connector, now: dt.datetime) -> Candidate | None:
    """The certificate the server presents on this connector (as certward's endpoints do)."""
    candidates = state.candidates()
    if connector.kind is ConnectorKind.RECEIVE:
        return select_certificate(
            candidates,
            service=Service.SMTP,
            now=now,
            host_name=connector.fqdn or state.server.fqdn,
            tls_certificate_name=connector.tls_certificate_name,
        ).chosen
    _status, found = resolve_tls_name(candidates, connector.tls_certificate_name, now=now)
    if found:
        return found[0]
    held = state.find(state.server.default_smtp_thumbprint)
    return held.candidate() if held else None


# -- trusted roots (seed 001) ----------------------------------------------------------------


@rule(
    "CW-ROOT-001",
    "Trusted-issuer list too long for Schannel",
    CRITICAL,
    WARNING,
    prevents="Seed 001: event 36885 and TlsApiFailureException 0x80090301 when the Root "
    "store's names exceed 16,384 bytes",
)
def trusted_issuer_list(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A server that sends its trusted-issuer list (SendTrustedIssuerList) and asks for client
    certificates (a receive connector with ExchangeServer authentication or domain security)
    sends the subject of every root in its Root store. Over 16,384 bytes Schannel truncates
    the list and mutual TLS fails: critical; over 12,288 bytes: warning."""
    for state in snap.servers:
        if not state.server.send_trusted_issuer_list:
            continue
        asking = [c for c in snap.receive_connectors(state.name) if c.requests_client_certificate]
        if not asking:
            continue
        size = clientca.encoded_size([r.profile.subject for r in state.roots])
        if size > clientca.SCHANNEL_LIMIT:
            severity = CRITICAL
        elif size > clientca.WARNING_LIMIT:
            severity = WARNING
        else:
            continue
        yield Finding(
            "CW-ROOT-001",
            severity,
            state.name,
            f"the trusted-issuer list of {len(state.roots)} roots takes {size} bytes "
            f"(Schannel's limit: {clientca.SCHANNEL_LIMIT}); fix: trim the Root store, or "
            "stop sending the list",
            Remediation(
                f"certward store remove --server {state.name} --store Root <thumbprint>  # or: "
                f"certward server set {state.name} --no-send-trusted-issuer-list",
                "certutil -delstore Root <thumbprint>  # or: Set-ItemProperty "
                "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL "
                "-Name SendTrustedIssuerList -Value 0 -Type DWord",
            ),
            {"roots": len(state.roots), "bytes": size, "limit": clientca.SCHANNEL_LIMIT},
        )


# -- consistency across the organisation ------------------------------------------------------


@rule(
    "CW-CONS-001",
    "Certificate renewed on some servers only",
    WARNING,
    prevents="Seed 002: a renewed certificate imported on one server; the others keep "
    "presenting the old one until it expires",
)
def renewal_consistency(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """The same CA-issued certificate (same names) is on several servers, and one server has
    a newer issue of it that another server lacks."""
    newest: dict[tuple[str, ...], dict[str, HeldCertificate]] = defaultdict(dict)
    for state in snap.servers:
        for cert in state.certificates:
            if cert.profile.self_signed or not cert.profile.certificate_domains:
                continue
            key = _names_key(cert.profile)
            held = newest[key].get(state.name)
            if held is None or cert.profile.not_before > held.profile.not_before:
                newest[key][state.name] = cert
    for per_server in newest.values():
        if len(per_server) < 2:
            continue
        latest_server, latest = max(per_server.items(), key=lambda i: i[1].profile.not_before)
        for server, cert in sorted(per_server.items()):
            if cert.profile.not_before >= latest.profile.not_before:
                continue
            yield Finding(
                "CW-CONS-001",
                WARNING,
                server,
                f"{_subject(cert.profile)} was renewed on {latest_server} "
                f"({latest.thumbprint}) but {server} still has only {cert.thumbprint}",
                Remediation(
                    f"certward cert export {latest.thumbprint} --server {latest_server} --out "
                    f"renewed.pfx --password-file pw.txt && certward cert import --server "
                    f"{server} renewed.pfx --password-file pw.txt",
                    f"Export-ExchangeCertificate -Thumbprint {latest.thumbprint} -Server "
                    f"{latest_server} -BinaryEncoded -Password $pw -FileName renewed.pfx; "
                    f"Import-ExchangeCertificate -Server {server} -FileData "
                    "([IO.File]::ReadAllBytes('renewed.pfx')) -Password $pw",
                ),
                {"renewed": latest.thumbprint, "renewed_on": latest_server},
                thumbprint=cert.thumbprint,
            )


# -- Edge subscriptions (seed 004) --------------------------------------------------------------


@rule(
    "CW-EDGE-001",
    "CNG key on a Hub's default transport certificate",
    CRITICAL,
    WARNING,
    prevents="Seed 004: EdgeSync fails with event 1035 (it only supports CAPI keys)",
)
def edge_cng_key(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """A Hub (Mailbox) server's default transport certificate has its private key in a CNG
    Key Storage Provider: with an Edge subscription EdgeSync fails (critical); without one,
    the first subscription will (warning)."""
    subscribed = bool(snap.edge_subscriptions)
    for hub in edgesync.subscribed_hubs(snap):
        cert = hub.find(hub.server.default_smtp_thumbprint)
        if cert is None or not is_cng_provider(cert.key_provider):
            continue
        tp = cert.thumbprint
        when = "EdgeSync fails" if subscribed else "EdgeSync will fail once an Edge subscribes"
        yield Finding(
            "CW-EDGE-001",
            CRITICAL if subscribed else WARNING,
            hub.name,
            f"the default transport certificate {tp} has a CNG key ({cert.key_provider}); "
            f"{when} with event 1035",
            Remediation(
                f"certward cert convert-key-provider {tp} --server {hub.name} --to capi",
                f'certutil -csp "{CAPI_SCHANNEL_PROVIDER}" -importpfx my converted.pfx; '
                f"Enable-ExchangeCertificate -Thumbprint {tp} -Server {hub.name} -Services SMTP",
            ),
            {
                "key_provider": cert.key_provider,
                "event": edgesync.EVENT_CNG,
                "edge_subscribed": subscribed,
            },
            thumbprint=tp,
        )


@rule(
    "CW-EDGE-002",
    "Edge lacks the chain of a Hub's transport certificate",
    ERROR,
    prevents="Seed 004: the Edge, not domain-joined, cannot validate a CA-issued Hub "
    "certificate without its root (Root store) and intermediates (CA store)",
)
def edge_chain(snap: OrgSnapshot, now: dt.datetime) -> Iterator[Finding]:
    """An Edge Transport server with a subscription lacks, in its own stores, the root or an
    intermediate of a subscribed Hub's CA-issued default transport certificate."""
    for sub in snap.edge_subscriptions:
        edge = snap.server(sub.edge)
        if edge is None:
            continue
        for hub in edgesync.subscribed_hubs(snap):
            check = edgesync.check_hub(snap, hub, edge)
            for missing in check.missing:
                store = "Root" if missing.store == "Root" else "CA"
                yield Finding(
                    "CW-EDGE-002",
                    ERROR,
                    edge.name,
                    f"{edge.name} lacks {missing.subject} (the chain of {hub.name}'s default "
                    f"transport certificate) in its {missing.store} store",
                    Remediation(
                        f"certward store add --server {edge.name} --store {store} issuer.cer",
                        "Import-Certificate -FilePath issuer.cer -CertStoreLocation "
                        f"Cert:\\LocalMachine\\{store}",
                    ),
                    {"hub": hub.name, "missing": missing.subject, "store": missing.store},
                    thumbprint=missing.thumbprint,
                )
