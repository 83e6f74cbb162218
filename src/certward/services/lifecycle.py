"""Certificate lifecycle use cases, each one transaction (Exchange's cmdlets as operations).

The service reads time from an injected clock, talks to storage through the ``UnitOfWork``
port, and does no other I/O: bytes come in (file contents) and go out (a CSR, a PFX). Where an
output must be written for the operation to count (a CSR file), the caller passes a ``sink``
that is called inside the transaction, so a failed write leaves the store unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.clock import Clock
from certward.codes.certificates import SMTP_DEFAULT_OVERWRITE
from certward.errors import (
    Answer,
    ConfirmationRequired,
    NotFoundError,
    PkiError,
    StoreError,
)
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    AuthConfig,
    CertificateRecord,
    CertStatus,
    Connector,
    ConnectorKind,
    ExchangeVersion,
    Organisation,
    Password,
    Role,
    Server,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.model.organisation import validate_tls_range
from certward.model.vdirs import default_vdirs
from certward.pki import build, certinfo, chain, formats, pfx, pkcs12, tlsname
from certward.pki.names import NameSyntaxError, parse_exchange_dn
from certward.services.connectors import connectors_naming, default_receive_connectors
from certward.services.health import server_state
from certward.services.ports import Repository, UnitOfWork
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

_NETBIOS = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}")

Sink = Callable[[bytes], None]


def _years(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


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


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: a PFX (or PEM with key) added, or a pending request completed."""

    thumbprint: Thumbprint
    completed_request: bool
    chain_added: list[tuple[StoreName, Thumbprint, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RenewResult:
    old: Thumbprint
    new: Thumbprint
    pending_request: bool


@dataclass(frozen=True, slots=True)
class StoreAddResult:
    added: list[tuple[Thumbprint, str]]
    already_present: list[Thumbprint]


@dataclass(frozen=True, slots=True)
class ServerSummary:
    server: Server
    certificate_count: int


class Lifecycle:
    """Organisation, servers and the certificate operations of seeds 002 and 003."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    # -- organisation and servers ---------------------------------------------------------
    def init_organisation(self, name: str, *, domain: str | None = None) -> Organisation:
        if not name.strip():
            raise StoreError("the organisation name must not be empty")
        if domain is not None:
            domain = _domain(domain)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            existing = repo.organisation()
            if existing is not None:
                raise StoreError(f"organisation {existing.name!r} already exists in this store")
            cert, key = make_auth_certificate(now, domain)
            org = Organisation(
                name=name.strip(), domain=domain, auth=AuthConfig(current_thumbprint=_thumb(cert))
            )
            repo.save_organisation(org)
            # Like the AD configuration partition: the org keeps the certificate and key,
            # and every server (present or added later) gets a copy.
            repo.save_published_certificate(certinfo.to_der(cert), key)
            for server in repo.servers():
                publish_auth_certificate(repo, server.name, cert, key, now)
            return org

    def organisation(self) -> Organisation:
        with self._uow.transaction() as repo:
            return _require_org(repo)

    def add_server(
        self,
        name: str,
        *,
        fqdn: str,
        roles: Sequence[Role] = (),
        version: ExchangeVersion = ExchangeVersion.EX2019,
    ) -> Server:
        if not _NETBIOS.fullmatch(name):
            raise StoreError(
                f"invalid server name {name!r}: a NetBIOS name of 1-15 letters, digits or '-'"
            )
        fqdn = _domain(fqdn)
        role_set = frozenset(roles) or frozenset({Role.MAILBOX})
        if Role.EDGE_TRANSPORT in role_set and len(role_set) > 1:
            raise StoreError("the Edge Transport role cannot be combined with other roles")
        now = self._clock.now()
        with self._uow.transaction() as repo:
            org = _require_org(repo)
            if repo.has_server(name):
                raise StoreError(f"server {repo.server(name).name!r} already exists")
            server = Server(name=name, fqdn=fqdn, roles=role_set, version=version)
            repo.save_server(server)
            if _setup_creates_self_signed(server):
                key = build.generate_key()
                subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
                cert = build.self_signed(
                    key,
                    subject,
                    build.domains_with_cn(subject, [name, fqdn]),
                    not_before=now,
                    not_after=_years(now, version.self_signed_years),
                )
                services = _setup_services(server)
                repo.add_certificate(
                    CertificateRecord(
                        server=name,
                        store=StoreName.MY,
                        thumbprint=_thumb(cert),
                        der=certinfo.to_der(cert),
                        services=services,
                        friendly_name=DEFAULT_FRIENDLY_NAME,
                        has_private_key=True,
                        exportable=False,
                        key_provider=CAPI_SCHANNEL_PROVIDER,
                        created_at=now,
                    ),
                    private_key=key,
                    spki_der=certinfo.spki(cert),
                )
                server = replace(server, default_smtp_thumbprint=_thumb(cert))
                repo.save_server(server)
            self._publish_existing_auth(repo, org, name)
            for connector in default_receive_connectors(server):
                repo.save_connector(connector)
            if not server.is_edge and server.roles & {Role.MAILBOX, Role.CLIENT_ACCESS}:
                for vdir in default_vdirs(server.name, server.fqdn):
                    repo.save_virtual_directory(vdir)
            return server

    def set_server(
        self,
        name: str,
        *,
        tls_min_version: str | None = None,
        tls_max_version: str | None = None,
        send_trusted_issuer_list: bool | None = None,
    ) -> Server:
        """Per-server TLS policy (Schannel's protocol settings and SendTrustedIssuerList)."""
        with self._uow.transaction() as repo:
            server = repo.server(name)
            minimum = tls_min_version or server.tls_min_version
            maximum = tls_max_version or server.tls_max_version
            try:
                validate_tls_range(minimum, maximum)
            except ValueError as exc:
                raise StoreError(str(exc)) from None
            updated = replace(
                server,
                tls_min_version=minimum,
                tls_max_version=maximum,
                send_trusted_issuer_list_setting=(
                    server.send_trusted_issuer_list_setting
                    if send_trusted_issuer_list is None
                    else send_trusted_issuer_list
                ),
            )
            repo.save_server(updated)
            return updated

    def servers(self) -> list[ServerSummary]:
        with self._uow.transaction() as repo:
            return [
                ServerSummary(
                    server,
                    len(repo.observed_certificates(server.name, StoreName.MY))
                    if server.observed
                    else len(repo.certificates(server.name, StoreName.MY)),
                )
                for server in repo.servers()
            ]

    def server(self, name: str) -> Server:
        with self._uow.transaction() as repo:
            return repo.server(name)

    # -- reading ----------------------------------------------------------------------------
    def list_certificates(self, server: str) -> list[CertificateView]:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if srv.observed:
                return _observed_views(repo, srv, now, [StoreName.MY])
            trust = TrustStores.of(repo, srv.name)
            auth = _auth_thumbprint(repo)
            return [
                describe(record, server=srv, trust=trust, now=now, auth_thumbprint=auth)
                for record in repo.certificates(srv.name, StoreName.MY)
            ]

    def holders(self, thumbprint: Thumbprint) -> list[tuple[str, ServiceSet]]:
        """Which servers of the organisation hold this certificate, and for what."""
        with self._uow.transaction() as repo:
            found = [(s.name, repo.find_certificate(s.name, thumbprint)) for s in repo.servers()]
            return [(name, record.services) for name, record in found if record is not None]

    def show_certificate(self, server: str, thumbprint: Thumbprint) -> CertificateView:
        """A certificate of the My store, else of the CA or Root store."""
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if srv.observed:
                stores = [StoreName.MY, StoreName.CA, StoreName.ROOT]
                seen = _observed_views(repo, srv, now, stores)
                found = next((v for v in seen if v.thumbprint == thumbprint), None)
                if found is not None:
                    return found
            record = repo.find_certificate(server, thumbprint)
            for store in (StoreName.CA, StoreName.ROOT):
                record = record or repo.find_certificate(server, thumbprint, store)
            if record is None:
                record = repo.certificate(server, thumbprint)  # raises: not found
            return view_of(repo, record, now)

    # -- New-ExchangeCertificate ------------------------------------------------------------
    def new_self_signed(
        self,
        server: str,
        *,
        subject: str,
        domains: Sequence[str] = (),
        exportable: bool = False,
        services: ServiceSet | None = None,
        key_size: int = build.DEFAULT_KEY_SIZE,
        days: int | None = None,
        friendly_name: str | None = None,
        replace_default_smtp: bool | None = None,
    ) -> EnableResult:
        name = _subject(subject)
        sans = _sans(name, domains)
        _key_size(key_size)
        if days is not None and days < 1:
            raise StoreError(f"--days must be at least 1 (got {days})")
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            wanted = services if services is not None else _default_new_services(srv)
            _check_services_for_server(srv, wanted)
            not_after = (
                now + dt.timedelta(days=days)
                if days is not None
                else _years(now, srv.version.self_signed_years)
            )
            key = build.generate_key(key_size)
            cert = build.self_signed(key, name, sans, not_before=now, not_after=not_after)
            record = CertificateRecord(
                server=srv.name,
                store=StoreName.MY,
                thumbprint=_thumb(cert),
                der=certinfo.to_der(cert),
                friendly_name=friendly_name or DEFAULT_FRIENDLY_NAME,
                has_private_key=True,
                exportable=exportable,
                key_provider=CAPI_SCHANNEL_PROVIDER,
                created_at=now,
            )
            repo.add_certificate(record, private_key=key, spki_der=certinfo.spki(cert))
            return enable_services(repo, record, wanted, replace_default_smtp, now)

    def request_certificate(
        self,
        server: str,
        *,
        subject: str,
        domains: Sequence[str] = (),
        exportable: bool = False,
        key_size: int = build.DEFAULT_KEY_SIZE,
        friendly_name: str | None = None,
        sink: Sink,
        binary: bool = False,
    ) -> CertificateView:
        """New-ExchangeCertificate -GenerateRequest: store the pending request, emit the CSR."""
        name = _subject(subject)
        sans = _sans(name, domains)
        _key_size(key_size)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            key = build.generate_key(key_size)
            record = self._store_request(repo, srv, key, name, sans, exportable, friendly_name, now)
            sink(_csr_bytes(record, binary=binary))
            return view_of(repo, record, now)

    def _store_request(
        self,
        repo: Repository,
        srv: Server,
        key: rsa.RSAPrivateKey,
        subject: x509.Name,
        sans: Sequence[str],
        exportable: bool,
        friendly_name: str | None,
        now: dt.datetime,
    ) -> CertificateRecord:
        csr = build.certificate_request(key, subject, sans)
        csr_der = csr.public_bytes(serialization.Encoding.DER)
        record = CertificateRecord(
            server=srv.name,
            store=StoreName.MY,
            thumbprint=certinfo.request_id(csr_der),
            csr_der=csr_der,
            friendly_name=friendly_name or DEFAULT_FRIENDLY_NAME,
            has_private_key=True,
            exportable=exportable,
            key_provider=CAPI_SCHANNEL_PROVIDER,
            created_at=now,
        )
        repo.add_certificate(record, private_key=key, spki_der=certinfo.spki(csr))
        return record

    # -- Import-ExchangeCertificate ---------------------------------------------------------
    def import_file(
        self,
        server: str,
        data: bytes,
        *,
        source: str,
        password: Password | None = None,
        exportable: bool = False,
    ) -> ImportResult:
        bundle = formats.load_bundle(data, source=source, password=password)
        provider = _pfx_key_provider(data, bundle, password, source)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if bundle.private_key is not None:
                leaf, warnings = self._import_with_key(
                    repo,
                    srv,
                    bundle,
                    source=source,
                    exportable=exportable,
                    now=now,
                    key_provider=provider,
                )
                completed = False
            else:
                leaf, completed, warnings = self._import_reply(repo, srv, bundle, source), True, []
            extras = [c for c in bundle.certificates if _thumb(c) != _thumb(leaf)]
            added = add_to_trust_stores(repo, srv.name, extras, now)
            return ImportResult(_thumb(leaf), completed, added, warnings)

    def _import_with_key(
        self,
        repo: Repository,
        srv: Server,
        bundle: formats.Bundle,
        *,
        source: str,
        exportable: bool,
        now: dt.datetime,
        key_provider: str = CAPI_SCHANNEL_PROVIDER,
    ) -> tuple[x509.Certificate, list[str]]:
        key = bundle.private_key
        assert key is not None
        key_spki = certinfo.spki(key)
        leaf = next((c for c in bundle.certificates if certinfo.spki(c) == key_spki), None)
        if leaf is None:
            raise PkiError(f"{source}: the private key does not belong to any certificate in it")
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PkiError(f"{source}: only RSA keys are supported for Exchange certificates")
        thumb = _thumb(leaf)
        if repo.find_certificate(srv.name, thumb) is not None:
            raise StoreError(f"{source}: certificate {thumb} already exists on server {srv.name}")
        repo.add_certificate(
            CertificateRecord(
                server=srv.name,
                store=StoreName.MY,
                thumbprint=thumb,
                der=certinfo.to_der(leaf),
                friendly_name=bundle.friendly_name or "",
                has_private_key=True,
                exportable=exportable,
                key_provider=key_provider,
                created_at=now,
            ),
            private_key=key,
            spki_der=key_spki,
        )
        warnings = []
        if leaf.not_valid_after_utc < now:
            warnings.append(f"certificate {thumb} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
        return leaf, warnings

    def _import_reply(
        self,
        repo: Repository,
        srv: Server,
        bundle: formats.Bundle,
        source: str,
    ) -> x509.Certificate:
        """Complete this server's pending request with the CA reply in ``bundle``."""
        leaves = _end_entities(bundle.certificates)
        if not leaves:
            raise PkiError(
                f"{source}: holds only CA certificates; to trust them use "
                "'certward store add --store Root|CA'"
            )
        if len(leaves) > 1:
            raise PkiError(
                f"{source}: holds {len(leaves)} end-entity certificates; import one at a time"
            )
        leaf = leaves[0]
        thumb = _thumb(leaf)
        pending = repo.requests_for_key(certinfo.spki(leaf))
        here = [r for r in pending if r.server == srv.name]
        if not here and pending:
            elsewhere = ", ".join(sorted({r.server for r in pending}))
            raise StoreError(
                f"{source}: this reply answers a request made on server {elsewhere}; "
                f"import it there (a CA reply completes the request only on the server "
                "that created it), then export a PFX for the other servers"
            )
        if repo.find_certificate(srv.name, thumb) is not None:
            raise StoreError(f"{source}: certificate {thumb} already exists on server {srv.name}")
        if not here:
            holders = [
                s.name
                for s in repo.servers()
                if (r := repo.find_certificate(s.name, thumb)) is not None and r.has_private_key
            ]
            hint = (
                f"it is installed with its key on {', '.join(holders)}: export a PFX there "
                "and import that here"
                if holders
                else "import it on the server that made the request, or import a PFX "
                "that carries the key"
            )
            raise StoreError(
                f"{source}: no pending request on {srv.name} matches this certificate, and "
                f"a certificate without its private key cannot be used; {hint}"
            )
        request = here[0]
        completed = replace(request, thumbprint=thumb, der=certinfo.to_der(leaf), csr_der=None)
        repo.replace_certificate(request, completed)
        return leaf

    # -- Enable-ExchangeCertificate ---------------------------------------------------------
    def enable(
        self,
        server: str,
        thumbprint: Thumbprint,
        services: ServiceSet,
        *,
        replace_default_smtp: bool | None = None,
    ) -> EnableResult:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            srv = repo.server(server)
            _check_services_for_server(srv, services)
            return enable_services(repo, record, services, replace_default_smtp, now)

    # -- Export-ExchangeCertificate ---------------------------------------------------------
    def export_pfx(
        self,
        server: str,
        thumbprint: Thumbprint,
        *,
        password: Password,
        legacy: bool = False,
    ) -> bytes:
        if not password.reveal():
            raise StoreError("the PFX password must not be empty")
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            if record.der is None:
                raise StoreError(f"{thumbprint} is a pending request; there is nothing to export")
            if not record.has_private_key:
                raise StoreError(f"certificate {thumbprint} has no private key to export")
            if not record.exportable:
                raise StoreError(
                    f"the private key of certificate {thumbprint} is not exportable "
                    "(it was created or imported without --exportable)"
                )
            key = repo.private_key(record)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise StoreError(f"certificate {thumbprint} has an unsupported key type")
            cert = certinfo.load_der(record.der)
            trust = TrustStores.of(repo, record.server)
            issuers = chain.build_chain(cert, [*trust.intermediates, *trust.roots])
            return pkcs12.export_pfx(
                key,
                cert,
                issuers,
                password,
                friendly_name=record.friendly_name or None,
                legacy=legacy,
                key_provider=record.key_provider,
                machine_key_set=True,  # Exchange's certificates live in the machine store
            )

    # -- key providers (seed 004) -----------------------------------------------------------
    def convert_key_provider(
        self, server: str, thumbprint: Thumbprint, provider: str
    ) -> tuple[str | None, CertificateView]:
        """Move a certificate's private key to another provider (the PFX round trip of seed
        004 done in the store): same certificate and key, same thumbprint. Returns the old
        provider and the certificate."""
        try:
            provider = pfx.validate_provider_name(provider)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        now = self._clock.now()
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            if record.is_pending:
                raise StoreError(f"{thumbprint} is a pending request; it has no certificate yet")
            if not record.has_private_key:
                raise StoreError(
                    f"certificate {thumbprint} has no private key on {record.server}: there "
                    "is no key to move to another provider"
                )
            updated = replace(record, key_provider=provider)
            repo.update_certificate(updated)
            return record.key_provider, view_of(repo, updated, now)

    # -- renewal ----------------------------------------------------------------------------
    def renew(
        self, server: str, thumbprint: Thumbprint, *, sink: Sink | None = None, binary: bool = False
    ) -> RenewResult:
        """Seed 003: a self-signed certificate is renewed into a new one with the same
        subject, names and services; a CA-issued one into a new request (new key)."""
        now = self._clock.now()
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            if record.der is None:
                raise StoreError(f"{thumbprint} is a pending request; complete it first")
            srv = repo.server(server)
            cert = certinfo.load_der(record.der)
            bits = certinfo.key_size(cert.public_key())
            sans = certinfo.dns_names(cert)
            size = bits if bits in build.KEY_SIZES else build.DEFAULT_KEY_SIZE
            key = build.generate_key(size)
            if not certinfo.is_self_signed(cert):
                if sink is None:
                    raise StoreError(
                        f"certificate {thumbprint} is CA-issued: renewal makes a new request; "
                        "pass --out FILE for it"
                    )
                request = self._store_request(
                    repo,
                    srv,
                    key,
                    cert.subject,
                    sans,
                    record.exportable,
                    record.friendly_name,
                    now,
                )
                sink(_csr_bytes(request, binary=binary))
                return RenewResult(thumbprint, request.thumbprint, pending_request=True)
            lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
            new_cert = build.self_signed(
                key, cert.subject, sans, not_before=now, not_after=now + lifetime
            )
            new = replace(
                record,
                thumbprint=_thumb(new_cert),
                der=certinfo.to_der(new_cert),
                services=ServiceSet(),
                created_at=now,
            )
            repo.add_certificate(new, private_key=key, spki_der=certinfo.spki(new_cert))
            # The renewed certificate takes over: the default-SMTP role only if the old had it.
            keep_default = srv.default_smtp_thumbprint == record.thumbprint
            if record.services:
                enable_services(repo, new, record.services, keep_default, now)
            elif keep_default:
                repo.save_server(replace(srv, default_smtp_thumbprint=new.thumbprint))
            return RenewResult(thumbprint, new.thumbprint, pending_request=False)

    # -- Remove-ExchangeCertificate ---------------------------------------------------------
    def remove(self, server: str, thumbprint: Thumbprint, *, force: bool = False) -> None:
        """Remove-ExchangeCertificate, with Exchange's refusals.

        Never removed: the default SMTP (internal transport) certificate, and a certificate
        that a Send connector names when no other certificate on the server carries that
        name. Removed only with ``force``: a certificate enabled for services, and the
        organisation's auth certificate.
        """
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            srv = repo.server(server)
            if srv.default_smtp_thumbprint == record.thumbprint:
                raise StoreError(
                    f"certificate {thumbprint} is the internal transport (default SMTP) "
                    f"certificate of {srv.name} and cannot be removed: that would stop "
                    "transport. Enable another certificate for SMTP with --force first; it "
                    "becomes the default, then remove this one"
                )
            stranded = [
                c.identity
                for c in connectors_naming(repo, record, ConnectorKind.SEND)
                if _only_match(repo, c, record)
            ]
            if stranded:
                raise StoreError(
                    f"certificate {thumbprint} cannot be removed: Send connector(s) "
                    f"{', '.join(stranded)} name it in TlsCertificateName. Point them at "
                    "another certificate first (certward connector set NAME --tls-certificate)"
                )
            reasons = []
            if record.services:
                reasons.append(f"it is enabled for {record.services}")
            if _auth_thumbprint(repo) == record.thumbprint:
                reasons.append("it is the organisation's auth certificate")
            if reasons and not force:
                raise StoreError(
                    f"certificate {thumbprint} was not removed: {'; '.join(reasons)}. "
                    "Pass --force to remove it anyway"
                )
            repo.delete_certificate(record)

    # -- Root and CA stores -----------------------------------------------------------------
    def store_list(self, server: str, store: StoreName) -> list[CertificateView]:
        _trust_store(store)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if srv.observed:
                return _observed_views(repo, srv, now, [store])
            trust = TrustStores.of(repo, srv.name)
            auth = _auth_thumbprint(repo)
            return [
                describe(r, server=srv, trust=trust, now=now, auth_thumbprint=auth)
                for r in repo.certificates(srv.name, store)
            ]

    def store_add(
        self, server: str, store: StoreName, data: bytes, *, source: str
    ) -> StoreAddResult:
        _trust_store(store)
        certificates = formats.load_certificates(data, source=source)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            added: list[tuple[Thumbprint, str]] = []
            present: list[Thumbprint] = []
            seen: set[str] = set()
            for cert in certificates:
                thumb = _thumb(cert)
                if thumb in seen or repo.find_certificate(srv.name, thumb, store) is not None:
                    present.append(thumb)
                    continue
                seen.add(thumb)
                repo.add_certificate(
                    CertificateRecord(
                        server=srv.name,
                        store=store,
                        thumbprint=thumb,
                        der=certinfo.to_der(cert),
                        created_at=now,
                    )
                )
                added.append((thumb, certinfo.facts(cert).subject))
            return StoreAddResult(added, present)

    def store_remove(self, server: str, store: StoreName, *thumbprints: Thumbprint) -> None:
        """Remove one or many certificates in one transaction (all of them, or none)."""
        _trust_store(store)
        with self._uow.transaction() as repo:
            for thumbprint in thumbprints:
                repo.delete_certificate(repo.certificate(server, thumbprint, store))

    # -- auth certificate publishing --------------------------------------------------------
    def _publish_existing_auth(self, repo: Repository, org: Organisation, server: str) -> None:
        """Copy the organisation's auth certificates (current and next, with keys) onto a
        new server."""
        now = self._clock.now()
        for thumbprint in (org.auth.current_thumbprint, org.auth.next_thumbprint):
            if thumbprint is None:
                continue
            der, key = repo.published_certificate(thumbprint)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise StoreError("the organisation's auth certificate has an unsupported key type")
            publish_auth_certificate(repo, server, certinfo.load_der(der), key, now)


# -- operations inside an open transaction (shared with renewal) ---------------------------
def view_of(repo: Repository, record: CertificateRecord, now: dt.datetime) -> CertificateView:
    srv = repo.server(record.server)
    return describe(
        record,
        server=srv,
        trust=TrustStores.of(repo, srv.name),
        now=now,
        auth_thumbprint=_auth_thumbprint(repo),
    )


def enable_services(
    repo: Repository,
    record: CertificateRecord,
    services: ServiceSet,
    replace_default_smtp: bool | None,
    now: dt.datetime,
) -> EnableResult:
    if record.is_pending:
        raise StoreError(
            f"{record.thumbprint} is a pending request; import the CA's reply before enabling it"
        )
    if not record.has_private_key:
        raise StoreError(
            f"certificate {record.thumbprint} has no private key and cannot be enabled"
        )
    assert record.der is not None
    cert = certinfo.load_der(record.der)
    if cert.not_valid_after_utc < now:
        raise StoreError(
            f"certificate {record.thumbprint} expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC and cannot be enabled"
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
        thumb = _thumb(cert)
        if repo.find_certificate(server, thumb, store) is None:
            repo.add_certificate(
                CertificateRecord(
                    server=server,
                    store=store,
                    thumbprint=thumb,
                    der=certinfo.to_der(cert),
                    created_at=now,
                )
            )
            added.append((store, thumb, certinfo.facts(cert).subject))
    return added


# -- helpers -------------------------------------------------------------------------------
def _pfx_key_provider(
    data: bytes, bundle: formats.Bundle, password: Password | None, source: str
) -> str:
    """Where Windows would put the key of an imported file: the PFX key bag's provider
    attribute; without one (or for PEM), the legacy CAPI default, as Windows does. The
    attributes sit outside the encryption: the password (and a second decryption) is needed
    only when the key bag is inside an encrypted safe."""
    if bundle.kind != "PKCS#12" or bundle.private_key is None:
        return pfx.effective_provider(None)
    contents = pfx.read_pfx(data, None, source=source)
    if contents.key_place is pfx.KeyPlace.UNKNOWN and password is not None:
        contents = pfx.read_pfx(data, password, source=source)
    try:
        return pfx.validate_provider_name(pfx.effective_provider(contents.key_attributes))
    except ValueError as exc:
        raise PkiError(f"{source}: {exc}") from None


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
    thumb = _thumb(cert)
    if repo.find_certificate(server, thumb) is not None:
        return False
    repo.add_certificate(
        CertificateRecord(
            server=server,
            store=StoreName.MY,
            thumbprint=thumb,
            der=certinfo.to_der(cert),
            services=ServiceSet.of(Service.SMTP),
            friendly_name=AUTH_FRIENDLY_NAME,
            has_private_key=True,
            exportable=True,
            key_provider=CAPI_SCHANNEL_PROVIDER,
            created_at=now,
        ),
        private_key=key,
        spki_der=certinfo.spki(cert),
    )
    return True


def _only_match(repo: Repository, connector: Connector, record: CertificateRecord) -> bool:
    """True when no other certificate on the record's server answers the connector's name."""
    name = connector.tls_certificate_name
    assert name is not None
    return not any(
        other.der is not None
        and other.thumbprint != record.thumbprint
        and tlsname.matches(certinfo.load_der(other.der), name)
        for other in repo.certificates(record.server, StoreName.MY)
    )


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
        not_after=_years(now, AUTH_CERTIFICATE_YEARS),
    )
    return cert, key


def _thumb(cert: x509.Certificate) -> Thumbprint:
    return certinfo.thumbprint(certinfo.to_der(cert))


def _require_org(repo: Repository) -> Organisation:
    org = repo.organisation()
    if org is None:
        raise NotFoundError("no organisation in this store; run 'certward org init NAME' first")
    return org


def _auth_thumbprint(repo: Repository) -> str | None:
    org = repo.organisation()
    return org.auth_thumbprint if org else None


def _domain(value: str) -> str:
    try:
        return build.validate_domain(value)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def _subject(text: str) -> x509.Name:
    try:
        return parse_exchange_dn(text)
    except NameSyntaxError as exc:
        raise PkiError(f"subject {text!r}: {exc}") from None


def _sans(subject: x509.Name, domains: Sequence[str]) -> list[str]:
    try:
        return build.domains_with_cn(subject, domains)
    except ValueError as exc:
        raise PkiError(str(exc)) from None


def _key_size(bits: int) -> None:
    try:
        build.validate_key_size(bits)
    except ValueError as exc:
        raise PkiError(str(exc)) from None


def _csr_bytes(record: CertificateRecord, *, binary: bool) -> bytes:
    assert record.csr_der is not None
    if binary:
        return record.csr_der
    csr = x509.load_der_x509_csr(record.csr_der)
    return csr.public_bytes(serialization.Encoding.PEM)


def _end_entities(certificates: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Certificates that are not CAs and issued none of the others in the file."""
    result = []
    for cert in certificates:
        if certinfo.is_ca(cert):
            continue
        if any(other is not cert and chain.issued_by(other, cert) for other in certificates):
            continue
        result.append(cert)
    return result


def _setup_creates_self_signed(server: Server) -> bool:
    """Exchange 2007 setup makes no self-signed certificate for a Mailbox-only server."""
    return not (server.version is ExchangeVersion.EX2007 and server.roles == {Role.MAILBOX})


def _setup_services(server: Server) -> ServiceSet:
    if server.is_edge:
        return ServiceSet.of(Service.SMTP)
    services = ServiceSet.of(Service.IMAP, Service.POP, Service.IIS, Service.SMTP)
    if Role.UNIFIED_MESSAGING in server.roles and server.version <= ExchangeVersion.EX2010:
        services = services | ServiceSet.of(Service.UM)
    return services


def _default_new_services(server: Server) -> ServiceSet:
    return ServiceSet.of(Service.SMTP) if server.is_edge else DEFAULT_NEW_SERVICES


def _check_services_for_server(server: Server, services: ServiceSet) -> None:
    if server.is_edge:
        refused = services.without(EDGE_SERVICES.value)
        if refused:
            raise StoreError(
                f"server {server.name} is an Edge Transport server: it cannot use a "
                f"certificate for {refused} (SMTP only)"
            )


def _trust_store(store: StoreName) -> None:
    if store is StoreName.MY:
        raise StoreError(
            "the My store holds the server's own certificates: use 'certward cert import'"
        )


def _observed_views(
    repo: Repository, srv: Server, now: dt.datetime, stores: Sequence[StoreName]
) -> list[CertificateView]:
    """An observed server's certificates in ``stores`` (in that order), as its dumps showed
    them. Status from dates and from the chain by names through its observed CA and Root
    stores (signatures cannot be checked without the certificates' bytes)."""
    state = server_state(repo, srv)
    profiles = {(StoreName.MY, c.thumbprint): c.profile for c in state.certificates}
    profiles |= {(StoreName.ROOT, c.thumbprint): c.profile for c in state.roots}
    profiles |= {(StoreName.CA, c.thumbprint): c.profile for c in state.intermediates}
    auth = _auth_thumbprint(repo)
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
