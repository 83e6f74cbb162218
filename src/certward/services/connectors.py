"""Send and Receive connectors, TlsCertificateName resolution and domain-secure lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from certward.clock import Clock
from certward.errors import InputError, NotFoundError, StoreError
from certward.model import (
    AuthMechanism,
    Binding,
    CertificateRecord,
    Connector,
    ConnectorKind,
    ExchangeVersion,
    Role,
    Server,
    SmartHost,
    StoreName,
    Thumbprint,
    TlsAuthLevel,
    TlsNameResolution,
    TlsNameStatus,
    TransportConfig,
)
from certward.model.connectors import auth_mechanism_names, domain_list_errors, validation_errors
from certward.pki import build, certinfo, tlsname
from certward.pki.selection import Candidate, resolve_tls_name
from certward.services.ports import Repository, UnitOfWork

_FRONTEND = (
    AuthMechanism.TLS
    | AuthMechanism.INTEGRATED
    | AuthMechanism.BASIC_AUTH
    | AuthMechanism.BASIC_AUTH_REQUIRE_TLS
    | AuthMechanism.EXCHANGE_SERVER
)
_CLIENT = (
    AuthMechanism.TLS
    | AuthMechanism.INTEGRATED
    | AuthMechanism.BASIC_AUTH
    | AuthMechanism.BASIC_AUTH_REQUIRE_TLS
)


def default_receive_connectors(server: Server) -> list[Connector]:
    """The receive connectors setup creates (Exchange 2013-2019 Mailbox, Edge, 2007/2010)."""

    def receive(name: str, port: int, mechanism: AuthMechanism) -> Connector:
        return Connector(
            name=name,
            kind=ConnectorKind.RECEIVE,
            servers=(server.name,),
            fqdn=server.fqdn,
            bindings=(Binding("0.0.0.0", port),),  # noqa: S104 - Exchange binds all addresses
            auth_mechanism=mechanism,
        )

    n = server.name
    if server.is_edge:
        edge = AuthMechanism.TLS | AuthMechanism.EXCHANGE_SERVER
        return [receive(f"Default internal receive connector {n}", 25, edge)]
    if server.version <= ExchangeVersion.EX2010:
        if not server.roles & {Role.HUB_TRANSPORT, Role.MAILBOX}:
            return []
        return [receive(f"Default {n}", 25, _FRONTEND), receive(f"Client {n}", 587, _CLIENT)]
    if Role.MAILBOX not in server.roles and Role.CLIENT_ACCESS not in server.roles:
        return []
    return [
        receive(f"Default Frontend {n}", 25, _FRONTEND),
        receive(f"Client Frontend {n}", 587, _CLIENT),
        receive(f"Outbound Proxy Frontend {n}", 717, _FRONTEND),
        receive(f"Default {n}", 2525, _FRONTEND),
        receive(f"Client Proxy {n}", 465, _CLIENT),
    ]


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """Settings from ``connector add``/``set``; ``None`` means "not given" (keep)."""

    fqdn: str | None = None
    bindings: tuple[Binding, ...] | None = None
    address_spaces: tuple[str, ...] | None = None
    smart_hosts: tuple[SmartHost, ...] | None = None
    auth_mechanism: AuthMechanism | None = None
    require_tls: bool | None = None
    tls_auth_level: TlsAuthLevel | None = None
    tls_domain: str | None = None
    domain_secure_enabled: bool | None = None
    tls_certificate_name: str | None = None
    tls_certificate: Thumbprint | None = None  # build the name from this certificate
    ignore_starttls: bool | None = None
    cloud_services_mail_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class ConnectorView:
    connector: Connector
    resolution: tuple[TlsNameResolution, ...]

    def to_json(self) -> dict[str, Any]:
        c = self.connector
        return {
            "name": c.name,
            "identity": c.identity,
            "kind": c.kind.value,
            "servers": list(c.servers),
            "fqdn": c.fqdn,
            "bindings": [str(b) for b in c.bindings],
            "address_spaces": list(c.address_spaces),
            "smart_hosts": [str(h) for h in c.smart_hosts],
            "auth_mechanism": auth_mechanism_names(c.auth_mechanism),
            "require_tls": c.require_tls,
            "tls_auth_level": c.tls_auth_level.value if c.tls_auth_level else None,
            "tls_domain": c.tls_domain,
            "domain_secure_enabled": c.domain_secure_enabled,
            "tls_certificate_name": c.tls_certificate_name,
            "ignore_starttls": c.ignore_starttls,
            "cloud_services_mail_enabled": c.cloud_services_mail_enabled,
            "tls_certificate_name_status": _overall(self.resolution).value,
            "tls_certificate_resolution": [
                {
                    "server": r.server,
                    "status": r.status.value,
                    "thumbprint": r.thumbprints[0] if r.thumbprints else None,
                    "matches": list(r.thumbprints),
                }
                for r in self.resolution
            ],
        }


def _overall(resolution: Sequence[TlsNameResolution]) -> TlsNameStatus:
    """The worst status across servers (Empty/SyntaxInvalid are the same everywhere)."""
    order = [
        TlsNameStatus.SYNTAX_INVALID,
        TlsNameStatus.EMPTY,
        TlsNameStatus.NOT_FOUND,
        TlsNameStatus.MATCH,
    ]
    for status in order:
        if any(r.status is status for r in resolution):
            return status
    return TlsNameStatus.EMPTY


def resolve_on_server(
    repo: Repository, connector: Connector, server: str, now: dt.datetime
) -> TlsNameResolution:
    """The certificates of ``server`` the connector's TlsCertificateName names, best first."""
    candidates = [
        Candidate.of(
            record.thumbprint, certinfo.load_der(record.der), record.has_private_key,
            record.services,
        )
        for record in repo.certificates(server, StoreName.MY)
        if record.der is not None
    ]  # fmt: skip
    status, found = resolve_tls_name(candidates, connector.tls_certificate_name, now=now)
    return TlsNameResolution(server, status, tuple(c.thumbprint for c in found))


def resolve(repo: Repository, connector: Connector, now: dt.datetime) -> ConnectorView:
    return ConnectorView(
        connector,
        tuple(resolve_on_server(repo, connector, s, now) for s in connector.servers),
    )


def find_connector(repo: Repository, name: str) -> Connector:
    """By identity (``SERVER\\Name``) or, when unambiguous, by name."""
    exact = repo.find_connector(name)
    if exact is not None:
        return exact
    matches = [c for c in repo.connectors() if c.name.lower() == name.lower()]
    if not matches:
        raise NotFoundError(f"connector {name!r} not found (see 'certward connector list')")
    if len(matches) > 1:
        identities = ", ".join(c.identity for c in matches)
        raise InputError(f"connector name {name!r} is ambiguous; use one of: {identities}")
    return matches[0]


def connectors_naming(
    repo: Repository, record: CertificateRecord, kind: ConnectorKind | None = None
) -> list[Connector]:
    """Connectors on the record's server whose TlsCertificateName names this certificate."""
    if record.der is None:
        return []
    cert = certinfo.load_der(record.der)
    result = []
    for connector in repo.connectors():
        if kind is not None and connector.kind is not kind:
            continue
        if record.server not in connector.servers or not connector.tls_certificate_name:
            continue
        if tlsname.check(connector.tls_certificate_name) is None and tlsname.matches(
            cert, connector.tls_certificate_name
        ):
            result.append(connector)
    return result


class Connectors:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def add(
        self, kind: ConnectorKind, name: str, servers: Sequence[str], settings: ConnectorSettings
    ) -> ConnectorView:
        if not name.strip() or "\\" in name:
            raise InputError(f"invalid connector name {name!r}")
        if not servers:
            raise InputError("a connector needs --server")
        now = self._clock.now()
        with self._uow.transaction() as repo:
            canonical = tuple(repo.server(s).name for s in servers)
            if kind is ConnectorKind.RECEIVE and len(canonical) != 1:
                raise InputError("a receive connector belongs to exactly one --server")
            base = Connector(
                name=name.strip(),
                kind=kind,
                servers=canonical,
                fqdn=repo.server(canonical[0]).fqdn if kind is ConnectorKind.RECEIVE else None,
            )
            if kind is ConnectorKind.RECEIVE and settings.auth_mechanism is None:
                base = replace(base, auth_mechanism=AuthMechanism.TLS)
            connector = self._apply(repo, base, settings)
            if repo.find_connector(connector.identity) is not None:
                raise StoreError(f"connector {connector.identity!r} already exists")
            repo.save_connector(connector)
            return resolve(repo, connector, now)

    def set(
        self, name: str, settings: ConnectorSettings, *, servers: Sequence[str] = ()
    ) -> ConnectorView:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            current = find_connector(repo, name)
            updated = current
            if servers:
                if current.kind is ConnectorKind.RECEIVE:
                    raise InputError("a receive connector's server cannot be changed")
                updated = replace(updated, servers=tuple(repo.server(s).name for s in servers))
            updated = self._apply(repo, updated, settings)
            repo.save_connector(updated, previous_identity=current.identity)
            return resolve(repo, updated, now)

    def remove(self, name: str) -> None:
        with self._uow.transaction() as repo:
            repo.delete_connector(find_connector(repo, name).identity)

    def list(self) -> list[ConnectorView]:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            return [resolve(repo, c, now) for c in repo.connectors()]

    def show(self, name: str) -> ConnectorView:
        now = self._clock.now()
        with self._uow.transaction() as repo:
            return resolve(repo, find_connector(repo, name), now)

    def tls_certificate_name(self, server: str, thumbprint: Thumbprint) -> str:
        with self._uow.transaction() as repo:
            record = repo.certificate(server, thumbprint)
            if record.der is None:
                raise StoreError(f"{thumbprint} is a pending request, not a certificate")
            return str(tlsname.tls_certificate_name(certinfo.load_der(record.der)))

    # -- transport config -------------------------------------------------------------------
    def transport(self) -> TransportConfig:
        with self._uow.transaction() as repo:
            org = repo.organisation()
            if org is None:
                raise NotFoundError("no organisation; run 'certward org init NAME' first")
            return org.transport

    def domain_secure(self, direction: str, domain: str, *, add: bool) -> TransportConfig:
        if direction not in ("send", "receive"):
            raise InputError(f"direction must be send or receive, not {direction!r}")
        errors = domain_list_errors([domain])
        if errors:
            raise InputError(errors[0])
        try:
            value = build.validate_domain(domain).lower()
        except ValueError as exc:
            raise InputError(str(exc)) from None
        with self._uow.transaction() as repo:
            org = repo.organisation()
            if org is None:
                raise NotFoundError("no organisation; run 'certward org init NAME' first")
            field = f"tls_{direction}_domain_secure_list"
            current: tuple[str, ...] = getattr(org.transport, field)
            if add:
                new = current if value in current else (*current, value)
            else:
                if value not in current:
                    raise NotFoundError(f"{value} is not in the {direction} domain-secure list")
                new = tuple(d for d in current if d != value)
            transport = replace(org.transport, **{field: new})
            repo.save_organisation(replace(org, transport=transport))
            return transport

    # -- helpers ----------------------------------------------------------------------------
    def _apply(
        self, repo: Repository, connector: Connector, settings: ConnectorSettings
    ) -> Connector:
        changes: dict[str, Any] = {}
        for f in fields(settings):
            value = getattr(settings, f.name)
            if value is not None and f.name != "tls_certificate":
                changes[f.name] = value
        if settings.tls_certificate is not None:
            if settings.tls_certificate_name is not None:
                raise InputError("give --tls-certificate-name or --tls-certificate, not both")
            changes["tls_certificate_name"] = self._name_from_certificate(
                repo, connector, settings.tls_certificate
            )
        if changes.get("tls_certificate_name") == "":
            changes["tls_certificate_name"] = None
        if settings.tls_domain is not None:
            try:
                changes["tls_domain"] = build.validate_domain(settings.tls_domain)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        if settings.fqdn is not None:
            try:
                changes["fqdn"] = build.validate_domain(settings.fqdn)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        updated = replace(connector, **changes)
        name = updated.tls_certificate_name
        if name is not None and tlsname.check(name) is not None:
            try:
                tlsname.parse_names(name)
            except ValueError as exc:
                raise InputError(str(exc)) from None
        errors = validation_errors(updated)
        if errors:
            raise InputError(f"connector {updated.identity!r}: " + "; ".join(errors))
        return updated

    @staticmethod
    def _name_from_certificate(
        repo: Repository, connector: Connector, thumbprint: Thumbprint
    ) -> str:
        for server in connector.servers:
            record = repo.find_certificate(server, thumbprint)
            if record is not None and record.der is not None:
                return str(tlsname.tls_certificate_name(certinfo.load_der(record.der)))
        raise NotFoundError(
            f"certificate {thumbprint} is not on the connector's server(s) "
            f"{', '.join(connector.servers)}"
        )
