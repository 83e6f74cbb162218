"""What the certificate, store, organisation and renewal services share: operations inside an
open transaction (``repo``), no service classes.

Every certificate record that certward stores is made by :func:`add_record`, the one factory
of a stored :class:`~certward.model.CertificateRecord`; a pending request becomes its
certificate through :func:`complete_request`. A self-signed certificate is renewed by
:func:`self_signed_successor` and :func:`add_successor`, used by ``cert renew`` and by the
renewal plan alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, types

from certward.codes.certificates import (
    CERTIFICATE_EXPIRED,
    CERTIFICATE_KEY_UNSUPPORTED,
    CERTIFICATE_NO_PRIVATE_KEY,
    CERTIFICATE_PENDING,
    CERTIFICATE_SERVICES_NOT_ON_EDGE,
    SMTP_DEFAULT_OVERWRITE,
)
from certward.codes.general import ORGANISATION_MISSING
from certward.errors import Answer, CertwardError, ConfirmationRequired
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    CertificateRecord,
    CertStatus,
    Organisation,
    Server,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.pki import build, certinfo
from certward.pki.names import parse_exchange_dn
from certward.pki.profile import certificate_facts
from certward.services import _names
from certward.services.ports import Repository
from certward.services.views import (
    CertificateView,
    TrustStores,
    describe,
    describe_observed,
    exchange_datetime,
)

AUTH_CERTIFICATE_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
DEFAULT_FRIENDLY_NAME = "Microsoft Exchange"
AUTH_FRIENDLY_NAME = "Microsoft Exchange Server Auth Certificate"
AUTH_CERTIFICATE_YEARS = 5
# New-ExchangeCertificate's default services for a self-signed certificate.
DEFAULT_NEW_SERVICES = ServiceSet.of(Service.IMAP, Service.POP, Service.SMTP)
# Services the Edge Transport role can use (no IIS, POP, IMAP or UM on an Edge).
EDGE_SERVICES = ServiceSet.of(Service.SMTP, Service.FEDERATION)

Sink = Callable[[bytes], None]
NO_SERVICES = ServiceSet()


def years_after(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def thumb(cert: x509.Certificate) -> Thumbprint:
    return certinfo.thumbprint(certinfo.to_der(cert))


# -- the one factory of a stored certificate record -----------------------------------------
def add_record(
    repo: Repository,
    server: str,
    item: x509.Certificate | x509.CertificateSigningRequest,
    *,
    now: dt.datetime | None,
    store: StoreName = StoreName.MY,
    key: types.PrivateKeyTypes | None = None,
    services: ServiceSet = NO_SERVICES,
    friendly_name: str = "",
    exportable: bool = False,
    key_provider: str | None = CAPI_SCHANNEL_PROVIDER,
) -> CertificateRecord:
    """Store a certificate (or, for a CSR, a pending request) on a server and return its
    record. With ``key`` the record has a private key in ``key_provider``; without one it is a
    certificate of a trust store or one whose key lives elsewhere."""
    if friendly_name:
        _names.friendly_name(friendly_name)
    if isinstance(item, x509.CertificateSigningRequest):
        csr_der = item.public_bytes(serialization.Encoding.DER)
        der = None
        thumbprint = certinfo.request_id(csr_der)
    else:
        csr_der = None
        der = certinfo.to_der(item)
        thumbprint = certinfo.thumbprint(der)
    record = CertificateRecord(
        server=server,
        store=store,
        thumbprint=thumbprint,
        der=der,
        csr_der=csr_der,
        services=services,
        friendly_name=friendly_name,
        has_private_key=key is not None,
        exportable=exportable,
        key_provider=key_provider if key is not None else None,
        created_at=now,
    )
    repo.add_certificate(
        record,
        private_key=key,
        spki_der=certinfo.spki(item) if key is not None else None,
    )
    if der is not None and isinstance(item, x509.Certificate):
        record_facts(repo, der, item)
    return record


def complete_request(
    repo: Repository, request: CertificateRecord, cert: x509.Certificate
) -> CertificateRecord:
    """A pending request becomes the CA's certificate (same record, same key)."""
    completed = replace(request, thumbprint=thumb(cert), der=certinfo.to_der(cert), csr_der=None)
    repo.replace_certificate(request, completed)
    assert completed.der is not None
    record_facts(repo, completed.der, cert)
    return completed


def record_facts(repo: Repository, der: bytes, cert: x509.Certificate) -> None:
    """Record what the certificate says about itself (read once, here, as it enters the
    store). One that cannot be read gets no facts: its readers give its coded error."""
    try:
        facts = certificate_facts(der, cert)
    except CertwardError:
        return
    repo.record_certificate_facts([facts])


def copy_with_key(
    repo: Repository, source: CertificateRecord, server: str, now: dt.datetime
) -> CertificateRecord:
    """Put a certificate and its key on another server (a PFX's round trip), no services."""
    assert source.der is not None
    return add_record(
        repo,
        server,
        certinfo.load_der(source.der),
        now=now,
        key=repo.private_key(source),
        friendly_name=source.friendly_name,
        exportable=source.exportable,
        key_provider=source.key_provider,
    )


def store_request(
    repo: Repository,
    server: str,
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    sans: Sequence[str],
    *,
    exportable: bool,
    friendly_name: str | None,
    now: dt.datetime,
) -> CertificateRecord:
    """New-ExchangeCertificate -GenerateRequest: the pending request, with its key."""
    return add_record(
        repo,
        server,
        build.certificate_request(key, subject, sans),
        now=now,
        key=key,
        friendly_name=friendly_name or DEFAULT_FRIENDLY_NAME,
        exportable=exportable,
    )


def csr_bytes(record: CertificateRecord, *, binary: bool) -> bytes:
    assert record.csr_der is not None
    if binary:
        return record.csr_der
    csr = x509.load_der_x509_csr(record.csr_der)
    return csr.public_bytes(serialization.Encoding.PEM)


# -- renewal --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RenewResult:
    """A renewal started on one server: a new self-signed certificate, or a new request."""

    old: Thumbprint
    new: Thumbprint
    pending_request: bool


def renewal_request(
    repo: Repository, record: CertificateRecord, now: dt.datetime
) -> CertificateRecord:
    """Renewing a CA-issued certificate: a new request on the record's server with the same
    subject and names, a new key of the same size, exportable as the old one was."""
    assert record.der is not None
    cert = certinfo.load_der(record.der)
    return store_request(
        repo,
        record.server,
        build.generate_key(_renewal_key_size(cert)),
        cert.subject,
        certinfo.dns_names(cert),
        exportable=record.exportable,
        friendly_name=record.friendly_name,
        now=now,
    )


def self_signed_successor(
    old: x509.Certificate, now: dt.datetime
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Renewing a self-signed certificate (seed 003): same subject, names and lifetime, a new
    key of the same size, valid from ``now``."""
    key = build.generate_key(_renewal_key_size(old))
    lifetime = old.not_valid_after_utc - old.not_valid_before_utc
    cert = build.self_signed(
        key, old.subject, certinfo.dns_names(old), not_before=now, not_after=now + lifetime
    )
    return cert, key


def add_successor(
    repo: Repository,
    old: CertificateRecord,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    now: dt.datetime,
) -> CertificateRecord:
    """Store a renewed self-signed certificate beside the old one: its friendly name,
    exportability and key provider, no services yet."""
    return add_record(
        repo,
        old.server,
        cert,
        now=now,
        key=key,
        friendly_name=old.friendly_name,
        exportable=old.exportable,
        key_provider=old.key_provider,
    )


def take_over(
    repo: Repository,
    new: CertificateRecord,
    services: ServiceSet,
    default_smtp: bool,
    now: dt.datetime,
) -> None:
    """A renewed certificate takes over from the old one on its server: the old one's
    services, and the default-SMTP role only if the old one had it."""
    if services:
        enable_services(repo, new, services, default_smtp, now)
    if default_smtp:
        server = repo.server(new.server)
        repo.save_server(replace(server, default_smtp_thumbprint=new.thumbprint))


def _renewal_key_size(cert: x509.Certificate) -> int:
    bits = certinfo.key_size(cert.public_key())
    return bits if bits in build.KEY_SIZES else build.DEFAULT_KEY_SIZE


# -- Enable-ExchangeCertificate -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DefaultSmtpQuestion:
    """Exchange's prompt when SMTP is enabled while another default SMTP cert exists."""

    server: str
    current: Thumbprint
    current_expires: dt.datetime
    new: Thumbprint
    new_expires: dt.datetime

    @property
    def text(self) -> str:
        return (
            "Overwrite the existing default SMTP certificate?\n\n"
            f"Current certificate: '{self.current}' "
            f"(expires {exchange_datetime(self.current_expires)})\n"
            f"Replace it with certificate: '{self.new}' "
            f"(expires {exchange_datetime(self.new_expires)})"
        )


REPLACE_DEFAULT_SMTP = Answer("replace", "replace it")
KEEP_DEFAULT_SMTP = Answer("keep", "keep it")


def default_smtp_confirmation(question: DefaultSmtpQuestion) -> ConfirmationRequired:
    """Exchange's question, as the error a caller answers by repeating the operation."""
    return ConfirmationRequired(
        f"certificate {question.new} would replace the default SMTP certificate "
        f"{question.current} of server {question.server}",
        code=SMTP_DEFAULT_OVERWRITE,
        question=question.text,
        answers=(REPLACE_DEFAULT_SMTP, KEEP_DEFAULT_SMTP),
        server=question.server,
        current=question.current,
        new=question.new,
    )


@dataclass(frozen=True, slots=True)
class EnableResult:
    view: CertificateView
    default_smtp_changed: bool = False
    iis_moved_from: Thumbprint | None = None


def require_issued_with_key(
    record: CertificateRecord,
    *,
    pending: str,
    no_key: str,
    thumbprint: Thumbprint | None = None,
) -> bytes:
    """Refuse a pending request or a certificate without a private key, with the caller's
    messages; return the certificate's DER. ``thumbprint`` is the one the caller was given
    (the record's by default)."""
    thumbprint = record.thumbprint if thumbprint is None else thumbprint
    if record.der is None:
        raise CERTIFICATE_PENDING(pending, thumbprint=thumbprint, server=record.server)
    if not record.has_private_key:
        raise CERTIFICATE_NO_PRIVATE_KEY(no_key, thumbprint=thumbprint, server=record.server)
    return record.der


def enable_services(
    repo: Repository,
    record: CertificateRecord,
    services: ServiceSet,
    replace_default_smtp: bool | None,
    now: dt.datetime,
) -> EnableResult:
    der = require_issued_with_key(
        record,
        pending=f"{record.thumbprint} is a pending request; "
        "import the CA's reply before enabling it",
        no_key=f"certificate {record.thumbprint} has no private key and cannot be enabled",
    )
    cert = certinfo.load_der(der)
    if cert.not_valid_after_utc < now:
        raise CERTIFICATE_EXPIRED(
            f"certificate {record.thumbprint} expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC and cannot be enabled",
            thumbprint=record.thumbprint,
            server=record.server,
            not_after=cert.not_valid_after_utc.isoformat(),
        )
    srv = repo.server(record.server)
    iis_moved_from: Thumbprint | None = None
    default_changed = False
    if Service.SMTP in services and srv.default_smtp_thumbprint != record.thumbprint:
        current = (
            repo.find_certificate(srv.name, srv.default_smtp_thumbprint)
            if srv.default_smtp_thumbprint
            else None
        )
        if current is None or current.der is None:
            replace_it = True
        elif replace_default_smtp is None:
            raise default_smtp_confirmation(
                DefaultSmtpQuestion(
                    server=srv.name,
                    current=current.thumbprint,
                    current_expires=certinfo.load_der(current.der).not_valid_after_utc,
                    new=record.thumbprint,
                    new_expires=cert.not_valid_after_utc,
                )
            )
        else:
            replace_it = replace_default_smtp
        if replace_it:
            repo.save_server(replace(srv, default_smtp_thumbprint=record.thumbprint))
            default_changed = True
    if Service.IIS in services:
        for other in repo.certificates(srv.name, StoreName.MY):
            if other.thumbprint != record.thumbprint and Service.IIS in other.services:
                repo.update_certificate(
                    replace(other, services=other.services.without(Service.IIS))
                )
                iis_moved_from = other.thumbprint
    updated = replace(record, services=record.services | services)
    repo.update_certificate(updated)
    return EnableResult(view_of(repo, updated, now), default_changed, iis_moved_from)


def check_services_for_server(server: Server, services: ServiceSet) -> None:
    if server.is_edge:
        refused = services.without(EDGE_SERVICES.value)
        if refused:
            raise CERTIFICATE_SERVICES_NOT_ON_EDGE(
                f"server {server.name} is an Edge Transport server: it cannot use a "
                f"certificate for {refused} (SMTP only)",
                server=server.name,
                services=str(refused),
            )


# -- trust stores ---------------------------------------------------------------------------
def add_to_trust_stores(
    repo: Repository,
    server: str,
    certificates: Sequence[x509.Certificate],
    now: dt.datetime,
) -> list[tuple[StoreName, Thumbprint, str]]:
    """Chain certificates from an imported file: roots to Root, the rest to CA."""
    added = []
    for cert in certificates:
        store = StoreName.ROOT if certinfo.is_self_signed(cert) else StoreName.CA
        if repo.find_certificate(server, thumb(cert), store) is None:
            record = add_record(repo, server, cert, now=now, store=store)
            added.append((store, record.thumbprint, certinfo.facts(cert).subject))
    return added


# -- the organisation's auth certificate ----------------------------------------------------
def make_auth_certificate(
    now: dt.datetime, domain: str | None
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The OAuth auth certificate: self-signed, RSA 2048, SHA-256, five years."""
    key = build.generate_key()
    cert = build.self_signed(
        key,
        parse_exchange_dn(AUTH_CERTIFICATE_SUBJECT),
        [domain] if domain else [],
        not_before=now,
        not_after=years_after(now, AUTH_CERTIFICATE_YEARS),
    )
    return cert, key


def publish_auth_certificate(
    repo: Repository,
    server: str,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    now: dt.datetime | None,
) -> bool:
    """Put an auth certificate (enabled for SMTP, exportable) on a server; False if it is
    there, or the server has no use for it: an Edge Transport server is outside Active
    Directory, and an observed server gets its copy from the real organisation."""
    srv = repo.server(server)
    if srv.is_edge or srv.observed:
        return False
    if repo.find_certificate(server, thumb(cert)) is not None:
        return False
    add_record(
        repo,
        server,
        cert,
        now=now,
        key=key,
        services=ServiceSet.of(Service.SMTP),
        friendly_name=AUTH_FRIENDLY_NAME,
        exportable=True,
    )
    return True


def publish_existing_auth(
    repo: Repository, org: Organisation, server: str, now: dt.datetime
) -> None:
    """Copy the organisation's auth certificates (current and next, with keys) onto a new
    server."""
    for thumbprint in (org.auth.current_thumbprint, org.auth.next_thumbprint):
        if thumbprint is None:
            continue
        der, key = repo.published_certificate(thumbprint)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CERTIFICATE_KEY_UNSUPPORTED(
                "the organisation's auth certificate has an unsupported key type",
                thumbprint=thumbprint,
            )
        publish_auth_certificate(repo, server, certinfo.load_der(der), key, now)


def require_org(repo: Repository) -> Organisation:
    org = repo.organisation()
    if org is None:
        raise ORGANISATION_MISSING("no organisation in this store")
    return org


def auth_thumbprint(repo: Repository) -> str | None:
    org = repo.organisation()
    return org.auth_thumbprint if org else None


# -- reading --------------------------------------------------------------------------------
def view_of(repo: Repository, record: CertificateRecord, now: dt.datetime) -> CertificateView:
    srv = repo.server(record.server)
    return describe(
        record,
        server=srv,
        trust=TrustStores.of(repo, srv.name),
        now=now,
        auth_thumbprint=auth_thumbprint(repo),
    )


def views_of(
    repo: Repository, srv: Server, store: StoreName, now: dt.datetime
) -> list[CertificateView]:
    """A server's certificates in one store, as Get-ExchangeCertificate shows them."""
    if srv.observed:
        return observed_views(repo, srv, now, [store])
    trust = TrustStores.of(repo, srv.name)
    auth = auth_thumbprint(repo)
    return [
        describe(record, server=srv, trust=trust, now=now, auth_thumbprint=auth)
        for record in repo.certificates(srv.name, store)
    ]


def observed_views(
    repo: Repository, srv: Server, now: dt.datetime, stores: Sequence[StoreName]
) -> list[CertificateView]:
    """An observed server's certificates in ``stores`` (in that order), as its dumps showed
    them. Status from dates and from the chain by names through its observed CA and Root
    stores (signatures cannot be checked without the certificates' bytes)."""
    from certward.services.health import server_state  # the health rules: observed only

    state = server_state(repo, srv)
    profiles = {(StoreName.MY, c.thumbprint): c.profile for c in state.certificates}
    profiles |= {(StoreName.ROOT, c.thumbprint): c.profile for c in state.roots}
    profiles |= {(StoreName.CA, c.thumbprint): c.profile for c in state.intermediates}
    auth = auth_thumbprint(repo)
    seen = repo.observed_certificates(srv.name)
    views = []
    for store in stores:
        for cert in (c for c in seen if c.store is store):
            profile = profiles[(store, cert.thumbprint)]
            if not profile.not_before <= now <= profile.not_after:
                status = CertStatus.DATE_INVALID
            elif profile.self_signed or state.chain_gap(profile) is None:
                status = CertStatus.VALID
            else:
                status = CertStatus.UNTRUSTED
            views.append(describe_observed(cert, server=srv, status=status, auth_thumbprint=auth))
    return views
