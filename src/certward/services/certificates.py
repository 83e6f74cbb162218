"""A server's own certificates (the My store): Exchange's certificate cmdlets as operations,
each one transaction.

The service reads time from an injected clock, talks to storage through the ``UnitOfWork``
port, and does no other I/O: bytes come in (file contents) and go out (a CSR, a PFX). Where an
output must be written for the operation to count (a CSR file), the caller passes a ``sink``
that is called inside the transaction, so a failed write leaves the store unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.clock import Clock
from certward.codes.certificates import (
    CERTIFICATE_DAYS_INVALID,
    CERTIFICATE_EXISTS,
    CERTIFICATE_IN_USE,
    CERTIFICATE_IS_DEFAULT_SMTP,
    CERTIFICATE_KEY_UNSUPPORTED,
    CERTIFICATE_NAMED_BY_CONNECTOR,
    CERTIFICATE_NOT_EXPORTABLE,
    CERTIFICATE_PENDING,
    CERTIFICATE_PFX_PASSWORD_EMPTY,
    CERTIFICATE_REQUEST_OUTPUT_MISSING,
    IMPORT_KEY_NOT_RSA,
    IMPORT_KEY_WITHOUT_CERTIFICATE,
    IMPORT_ONLY_CA_CERTIFICATES,
    IMPORT_REPLY_FOR_OTHER_SERVER,
    IMPORT_REPLY_WITHOUT_REQUEST,
    IMPORT_SEVERAL_CERTIFICATES,
)
from certward.codes.pki import NAME_SYNTAX_INVALID, PFX_DAMAGED
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    CertificateRecord,
    Connector,
    ConnectorKind,
    Password,
    Server,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.pki import build, certinfo, chain, tlsname
from certward.pki.names import NameSyntaxError, parse_exchange_dn
from certward.services._records import (
    DEFAULT_FRIENDLY_NAME,
    DEFAULT_NEW_SERVICES,
    EnableResult,
    RenewResult,
    Sink,
    add_record,
    add_successor,
    add_to_trust_stores,
    auth_thumbprint,
    check_services_for_server,
    complete_request,
    csr_bytes,
    enable_services,
    observed_views,
    renewal_request,
    require_issued_with_key,
    self_signed_successor,
    store_request,
    take_over,
    thumb,
    view_of,
    views_of,
    years_after,
)
from certward.services.audit import record_in
from certward.services.ports import Repository, UnitOfWork
from certward.services.views import CertificateView, TrustStores

if TYPE_CHECKING:  # imported where used: PKCS#12 and file formats are not needed to list
    from certward.pki import formats


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: a PFX (or PEM with key) added, or a pending request completed."""

    thumbprint: Thumbprint
    completed_request: bool
    chain_added: list[tuple[StoreName, Thumbprint, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class CertificateService:
    """New, request, import, enable, export, convert, renew and remove a server's
    certificates (seeds 002, 003 and 004)."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    # -- reading ----------------------------------------------------------------------------
    def list_certificates(self, server: str) -> list[CertificateView]:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            return views_of(repo, repo.server(server), StoreName.MY, now)

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
                seen = observed_views(repo, srv, now, stores)
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
        sans = build.domains_with_cn(name, domains)
        build.validate_key_size(key_size)
        if days is not None and days < 1:
            raise CERTIFICATE_DAYS_INVALID(
                f"a certificate must be valid for at least one day (got {days})", days=days
            )
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            wanted = services if services is not None else _default_new_services(srv)
            check_services_for_server(srv, wanted)
            not_after = (
                now + dt.timedelta(days=days)
                if days is not None
                else years_after(now, srv.version.self_signed_years)
            )
            key = build.generate_key(key_size)
            cert = build.self_signed(key, name, sans, not_before=now, not_after=not_after)
            record = add_record(
                repo,
                srv.name,
                cert,
                now=now,
                key=key,
                friendly_name=friendly_name or DEFAULT_FRIENDLY_NAME,
                exportable=exportable,
            )
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
        sans = build.domains_with_cn(name, domains)
        build.validate_key_size(key_size)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            key = build.generate_key(key_size)
            record = store_request(
                repo,
                srv.name,
                key,
                name,
                sans,
                exportable=exportable,
                friendly_name=friendly_name,
                now=now,
            )
            sink(csr_bytes(record, binary=binary))
            return view_of(repo, record, now)

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
        from certward.pki import formats

        bundle = formats.load_bundle(data, source=source, password=password)
        provider = _pfx_key_provider(data, bundle, password, source)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            srv = repo.server(server)
            if bundle.private_key is not None:
                leaf, warnings = _import_with_key(
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
                leaf, completed, warnings = _import_reply(repo, srv, bundle, source), True, []
            extras = [c for c in bundle.certificates if thumb(c) != thumb(leaf)]
            added = add_to_trust_stores(repo, srv.name, extras, now)
            return ImportResult(thumb(leaf), completed, added, warnings)

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
            check_services_for_server(srv, services)
            return enable_services(repo, record, services, replace_default_smtp, now)

    # -- Export-ExchangeCertificate ---------------------------------------------------------
    def export_pfx(
        self,
        server: str,
        thumbprint: Thumbprint,
        *,
        password: Password,
        legacy: bool = False,
        destination: str = "",
    ) -> bytes:
        """The certificate, its chain and private key as a PFX; always audited
        (``key.export``: server, thumbprint, ``destination`` such as the file name)."""
        if not password.reveal():
            raise CERTIFICATE_PFX_PASSWORD_EMPTY(
                "the PFX password must not be empty", thumbprint=thumbprint, server=server
            )
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            der = require_issued_with_key(
                record,
                pending=f"{thumbprint} is a pending request; there is nothing to export",
                no_key=f"certificate {thumbprint} has no private key to export",
                thumbprint=thumbprint,
            )
            if not record.exportable:
                raise CERTIFICATE_NOT_EXPORTABLE(
                    f"the private key of certificate {thumbprint} is not exportable "
                    "(it was created or imported as not exportable)",
                    thumbprint=thumbprint,
                    server=record.server,
                )
            key = repo.private_key(record)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise CERTIFICATE_KEY_UNSUPPORTED(
                    f"certificate {thumbprint} has an unsupported key type",
                    thumbprint=thumbprint,
                    server=record.server,
                )
            cert = certinfo.load_der(der)
            trust = TrustStores.of(repo, record.server)
            issuers = chain.build_chain(cert, [*trust.intermediates, *trust.roots])
            record_in(
                repo,
                "key.export",
                {
                    "server": record.server,
                    "thumbprint": record.thumbprint,
                    "format": "pfx",
                    "legacy": legacy,
                    "file": destination,
                },
                self._clock.now(),
            )
            from certward.pki import pfx

            return pfx.export_pfx(
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
        from certward.pki import pfx

        provider = pfx.validate_provider_name(provider)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            require_issued_with_key(
                record,
                pending=f"{thumbprint} is a pending request; it has no certificate yet",
                no_key=f"certificate {thumbprint} has no private key on {record.server}: "
                "there is no key to move to another provider",
                thumbprint=thumbprint,
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
                raise CERTIFICATE_PENDING(
                    f"{thumbprint} is a pending request; complete it first",
                    thumbprint=thumbprint,
                    server=record.server,
                )
            srv = repo.server(server)
            cert = certinfo.load_der(record.der)
            if not certinfo.is_self_signed(cert):
                if sink is None:
                    raise CERTIFICATE_REQUEST_OUTPUT_MISSING(
                        f"certificate {thumbprint} is CA-issued: renewal makes a new request, "
                        "and the request needs a file to go to",
                        thumbprint=thumbprint,
                        server=record.server,
                    )
                request = renewal_request(repo, record, now)
                sink(csr_bytes(request, binary=binary))
                return RenewResult(thumbprint, request.thumbprint, pending_request=True)
            new_cert, key = self_signed_successor(cert, now)
            new = add_successor(repo, record, new_cert, key, now)
            default = srv.default_smtp_thumbprint == record.thumbprint
            take_over(repo, new, record.services, default, now)
            return RenewResult(thumbprint, new.thumbprint, pending_request=False)

    # -- Remove-ExchangeCertificate ---------------------------------------------------------
    def remove(self, server: str, thumbprint: Thumbprint, *, force: bool = False) -> None:
        """Remove-ExchangeCertificate, with Exchange's refusals.

        Never removed: the default SMTP (internal transport) certificate, and a certificate
        that a Send connector names when no other certificate on the server carries that
        name. Removed only with ``force``: a certificate enabled for services, and the
        organisation's auth certificate.
        """
        # Imported here: the connectors and Exchange's selection rules they load matter to
        # removing a certificate, not to listing them (the command line's start-up).
        from certward.services.connectors import connectors_naming

        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            srv = repo.server(server)
            if srv.default_smtp_thumbprint == record.thumbprint:
                raise CERTIFICATE_IS_DEFAULT_SMTP(
                    f"certificate {thumbprint} is the internal transport (default SMTP) "
                    f"certificate of {srv.name} and cannot be removed: that would stop "
                    "transport; another certificate must become the default SMTP certificate "
                    "first",
                    thumbprint=thumbprint,
                    server=srv.name,
                )
            stranded = [
                c.identity
                for c in connectors_naming(repo, record, ConnectorKind.SEND)
                if _only_match(repo, c, record)
            ]
            if stranded:
                raise CERTIFICATE_NAMED_BY_CONNECTOR(
                    f"certificate {thumbprint} cannot be removed: Send connector(s) "
                    f"{', '.join(stranded)} name it in TlsCertificateName. Point them at "
                    "another certificate first",
                    thumbprint=thumbprint,
                    server=srv.name,
                    connectors=stranded,
                )
            reasons = []
            if record.services:
                reasons.append(f"it is enabled for {record.services}")
            if auth_thumbprint(repo) == record.thumbprint:
                reasons.append("it is the organisation's auth certificate")
            if reasons and not force:
                raise CERTIFICATE_IN_USE(
                    f"certificate {thumbprint} was not removed: {'; '.join(reasons)}",
                    thumbprint=thumbprint,
                    server=srv.name,
                    reasons=reasons,
                )
            repo.delete_certificate(record)


# -- inside an open transaction -------------------------------------------------------------
def _import_with_key(
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
        raise IMPORT_KEY_WITHOUT_CERTIFICATE(
            f"{source}: the private key does not belong to any certificate in it", file=source
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise IMPORT_KEY_NOT_RSA(
            f"{source}: only RSA keys are supported for Exchange certificates", file=source
        )
    thumbprint = thumb(leaf)
    if repo.find_certificate(srv.name, thumbprint) is not None:
        raise CERTIFICATE_EXISTS(
            f"{source}: certificate {thumbprint} already exists on server {srv.name}",
            file=source,
            thumbprint=thumbprint,
            server=srv.name,
        )
    add_record(
        repo,
        srv.name,
        leaf,
        now=now,
        key=key,
        friendly_name=bundle.friendly_name or "",
        exportable=exportable,
        key_provider=key_provider,
    )
    warnings = []
    if leaf.not_valid_after_utc < now:
        warnings.append(f"certificate {thumbprint} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    return leaf, warnings


def _import_reply(
    repo: Repository,
    srv: Server,
    bundle: formats.Bundle,
    source: str,
) -> x509.Certificate:
    """Complete this server's pending request with the CA reply in ``bundle``."""
    leaves = _end_entities(bundle.certificates)
    if not leaves:
        raise IMPORT_ONLY_CA_CERTIFICATES(
            f"{source}: holds only CA certificates; they belong in the Root or CA store",
            file=source,
        )
    if len(leaves) > 1:
        raise IMPORT_SEVERAL_CERTIFICATES(
            f"{source}: holds {len(leaves)} end-entity certificates; import one at a time",
            file=source,
            count=len(leaves),
        )
    leaf = leaves[0]
    thumbprint = thumb(leaf)
    pending = repo.requests_for_key(certinfo.spki(leaf))
    here = [r for r in pending if r.server == srv.name]
    if not here and pending:
        elsewhere = ", ".join(sorted({r.server for r in pending}))
        raise IMPORT_REPLY_FOR_OTHER_SERVER(
            f"{source}: this reply answers a request made on server {elsewhere}; "
            f"import it there (a CA reply completes the request only on the server "
            "that created it), then export a PFX for the other servers",
            file=source,
            server=srv.name,
            requested_on=elsewhere,
        )
    if repo.find_certificate(srv.name, thumbprint) is not None:
        raise CERTIFICATE_EXISTS(
            f"{source}: certificate {thumbprint} already exists on server {srv.name}",
            file=source,
            thumbprint=thumbprint,
            server=srv.name,
        )
    if not here:
        holders = [
            s.name
            for s in repo.servers()
            if (r := repo.find_certificate(s.name, thumbprint)) is not None and r.has_private_key
        ]
        hint = (
            f"it is installed with its key on {', '.join(holders)}: export a PFX there "
            "and import that here"
            if holders
            else "import it on the server that made the request, or import a PFX "
            "that carries the key"
        )
        raise IMPORT_REPLY_WITHOUT_REQUEST(
            f"{source}: no pending request on {srv.name} matches this certificate, and "
            f"a certificate without its private key cannot be used; {hint}",
            file=source,
            server=srv.name,
            thumbprint=thumbprint,
        )
    complete_request(repo, here[0], leaf)
    return leaf


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


def _pfx_key_provider(
    data: bytes, bundle: formats.Bundle, password: Password | None, source: str
) -> str:
    """Where Windows would put the key of an imported file: the PFX key bag's provider
    attribute; without one (or for PEM), the legacy CAPI default, as Windows does. The
    attributes sit outside the encryption: the password (and a second decryption) is needed
    only when the key bag is inside an encrypted safe."""
    from certward.pki import pfx

    if bundle.kind != "PKCS#12" or bundle.private_key is None:
        return pfx.effective_provider(None)
    contents = pfx.read_pfx(data, None, source=source)
    if contents.key_place is pfx.KeyPlace.UNKNOWN and password is not None:
        contents = pfx.read_pfx(data, password, source=source)
    try:
        return pfx.validate_provider_name(pfx.effective_provider(contents.key_attributes))
    except ValueError as exc:  # pfx.provider_invalid, read from the file: its content is bad
        raise PFX_DAMAGED(
            f"{source}: the key bag names a key provider Windows cannot store ({exc})",
            file=source,
        ) from None


def _subject(text: str) -> x509.Name:
    try:
        return parse_exchange_dn(text)
    except NameSyntaxError as exc:
        raise NAME_SYNTAX_INVALID(f"subject {text!r}: {exc.message}", **exc.facts) from None


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


def _default_new_services(server: Server) -> ServiceSet:
    return ServiceSet.of(Service.SMTP) if server.is_edge else DEFAULT_NEW_SERVICES
