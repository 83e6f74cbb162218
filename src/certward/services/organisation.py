"""The organisation and its servers (Exchange setup's part), each operation one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509

from certward.clock import Clock
from certward.codes.general import (
    ORGANISATION_EXISTS,
    ORGANISATION_NAME_EMPTY,
    SERVER_EXISTS,
    SERVER_ROLES_INVALID,
    SERVER_TLS_RANGE_INVALID,
)
from certward.model import (
    AuthConfig,
    ExchangeVersion,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    StoreName,
)
from certward.model.organisation import validate_tls_range
from certward.pki import build, certinfo
from certward.services._names import server_name
from certward.services._records import (
    DEFAULT_FRIENDLY_NAME,
    add_record,
    make_auth_certificate,
    publish_auth_certificate,
    publish_existing_auth,
    require_org,
    thumb,
    years_after,
)
from certward.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class ServerSummary:
    server: Server
    certificate_count: int

    def to_json(self) -> dict[str, Any]:
        """The server as ``server list --json`` and the REST API show it."""
        server = self.server
        return {
            "name": server.name,
            "fqdn": server.fqdn,
            "roles": sorted(role.value for role in server.roles),
            "version": int(server.version),
            "default_smtp_thumbprint": server.default_smtp_thumbprint,
            "tls_min_version": server.tls_min_version,
            "tls_max_version": server.tls_max_version,
            "send_trusted_issuer_list": server.send_trusted_issuer_list,
            "certificate_count": self.certificate_count,
            "observed": server.observed,
        }


class OrganisationService:
    """The organisation (with its auth certificate) and its servers."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def init_organisation(self, name: str, *, domain: str | None = None) -> Organisation:
        if not name.strip():
            raise ORGANISATION_NAME_EMPTY("the organisation name must not be empty")
        if domain is not None:
            domain = _domain(domain)
        now = self._clock.now()
        with self._uow.transaction() as repo:
            existing = repo.organisation()
            if existing is not None:
                raise ORGANISATION_EXISTS(
                    f"organisation {existing.name!r} already exists in this store",
                    organisation=existing.name,
                )
            cert, key = make_auth_certificate(now, domain)
            org = Organisation(
                name=name.strip(), domain=domain, auth=AuthConfig(current_thumbprint=thumb(cert))
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
            return require_org(repo)

    def add_server(
        self,
        name: str,
        *,
        fqdn: str,
        roles: Sequence[Role] = (),
        version: ExchangeVersion = ExchangeVersion.EX2019,
    ) -> Server:
        server_name(name)
        fqdn = _domain(fqdn)
        role_set = frozenset(roles) or frozenset({Role.MAILBOX})
        if Role.EDGE_TRANSPORT in role_set and len(role_set) > 1:
            raise SERVER_ROLES_INVALID(
                "the Edge Transport role cannot be combined with other roles",
                server=name,
                roles=sorted(role.value for role in role_set),
            )
        now = self._clock.now()
        with self._uow.transaction() as repo:
            org = require_org(repo)
            if repo.has_server(name):
                existing_name = repo.server(name).name
                raise SERVER_EXISTS(
                    f"server {existing_name!r} already exists", server=existing_name
                )
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
                    not_after=years_after(now, version.self_signed_years),
                )
                record = add_record(
                    repo,
                    name,
                    cert,
                    now=now,
                    key=key,
                    services=_setup_services(server),
                    friendly_name=DEFAULT_FRIENDLY_NAME,
                )
                server = replace(server, default_smtp_thumbprint=record.thumbprint)
                repo.save_server(server)
            publish_existing_auth(repo, org, name, now)
            # What a new server starts with; loaded here, not by every command that reads.
            from certward.model.vdirs import default_vdirs
            from certward.services.connectors import default_receive_connectors

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
                raise SERVER_TLS_RANGE_INVALID(
                    str(exc), server=server.name, minimum=minimum, maximum=maximum
                ) from None
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
            counts = repo.certificate_counts(StoreName.MY)
            return [
                ServerSummary(server, counts.get(server.name.lower(), 0))
                for server in repo.servers()
            ]

    def server(self, name: str) -> Server:
        with self._uow.transaction() as repo:
            return repo.server(name)


def _domain(value: str) -> str:
    return build.validate_domain(value)


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
