"""Send and Receive connectors, TlsCertificateName resolution and domain-secure lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from certward.clock import Clock
from certward.codes.connectors import (
    CONNECTOR_AMBIGUOUS,
    CONNECTOR_CERTIFICATE_NOT_ON_SERVER,
    CONNECTOR_CERTIFICATE_PENDING,
    CONNECTOR_DOMAIN_INVALID,
    CONNECTOR_EXISTS,
    CONNECTOR_NOT_FOUND,
    CONNECTOR_RECEIVE_ONE_SERVER,
    CONNECTOR_SERVER_MISSING,
    CONNECTOR_SETTINGS_INVALID,
    CONNECTOR_TLS_NAME_SYNTAX,
    CONNECTOR_TLS_NAME_TWICE,
    DOMAIN_SECURE_DIRECTION,
    DOMAIN_SECURE_DOMAIN_INVALID,
    DOMAIN_SECURE_NOT_LISTED,
)
from certward.codes.general import ORGANISATION_MISSING
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
from certward.services._names import connector_name
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
        raise CONNECTOR_NOT_FOUND(f"connector {name!r} not found", connector=name)
    if len(matches) > 1:
        identities = [c.identity for c in matches]
        raise CONNECTOR_AMBIGUOUS(
            f"connector name {name!r} is ambiguous; it is one of: {', '.join(identities)}",
            connector=name,
            identities=identities,
        )
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


def _secure_domain(domain: str) -> str:
    """The domain as a domain-secure list holds it (lower case), or the coded refusal."""
    problems = domain_list_errors([domain])
    if not problems:
        try:
            return build.validate_domain(domain).lower()
        except ValueError as exc:
            problems = [str(exc)]
    raise DOMAIN_SECURE_DOMAIN_INVALID(problems[0], domain=domain)


class Connectors:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def add(
        self, kind: ConnectorKind, name: str, servers: Sequence[str], settings: ConnectorSettings
    ) -> ConnectorView:
        connector_name(name)
        if not servers:
            raise CONNECTOR_SERVER_MISSING(
                f"connector {name!r} needs a server", connector=name, kind=kind.value
            )
        now = self._clock.now()
        with self._uow.transaction() as repo:
            canonical = tuple(repo.server(s).name for s in servers)
            if kind is ConnectorKind.RECEIVE and len(canonical) != 1:
                raise CONNECTOR_RECEIVE_ONE_SERVER(
                    f"a receive connector belongs to exactly one server, not {len(canonical)}",
                    connector=name,
                    servers=list(canonical),
                )
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
                raise CONNECTOR_EXISTS(
                    f"connector {connector.identity!r} already exists",
                    connector=connector.identity,
                )
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
                    raise CONNECTOR_RECEIVE_ONE_SERVER(
                        f"the server of receive connector {current.identity!r} cannot be changed",
                        connector=current.identity,
                        servers=list(current.servers),
                    )
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
                raise CONNECTOR_CERTIFICATE_PENDING(
                    f"{thumbprint} is a pending request, not a certificate",
                    thumbprint=thumbprint,
                    server=record.server,
                )
            return str(tlsname.tls_certificate_name(certinfo.load_der(record.der)))

    # -- transport config -------------------------------------------------------------------
    def transport(self) -> TransportConfig:
        with self._uow.transaction() as repo:
            org = repo.organisation()
            if org is None:
                raise ORGANISATION_MISSING("there is no organisation in this store")
            return org.transport

    def domain_secure(self, direction: str, domain: str, *, add: bool) -> TransportConfig:
        if direction not in ("send", "receive"):
            raise DOMAIN_SECURE_DIRECTION(
                f"a domain-secure list is either send or receive, not {direction!r}",
                direction=direction,
            )
        value = _secure_domain(domain)
        with self._uow.transaction() as repo:
            org = repo.organisation()
            if org is None:
                raise ORGANISATION_MISSING("there is no organisation in this store")
            field = f"tls_{direction}_domain_secure_list"
            current: tuple[str, ...] = getattr(org.transport, field)
            if add:
                new = current if value in current else (*current, value)
            else:
                if value not in current:
                    raise DOMAIN_SECURE_NOT_LISTED(
                        f"{value} is not in the {direction} domain-secure list",
                        domain=value,
                        direction=direction,
                    )
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
                raise CONNECTOR_TLS_NAME_TWICE(
                    f"connector {connector.identity!r}: the TlsCertificateName is given both "
                    "as text and from a certificate",
                    connector=connector.identity,
                )
            changes["tls_certificate_name"] = self._name_from_certificate(
                repo, connector, settings.tls_certificate
            )
        if changes.get("tls_certificate_name") == "":
            changes["tls_certificate_name"] = None
        for field_name, label in (("tls_domain", "TlsDomain"), ("fqdn", "Fqdn")):
            given = getattr(settings, field_name)
            if given is None:
                continue
            try:
                changes[field_name] = build.validate_domain(given)
            except ValueError as exc:
                raise CONNECTOR_DOMAIN_INVALID(
                    str(exc), connector=connector.identity, setting=label, value=given
                ) from None
        updated = replace(connector, **changes)
        name = updated.tls_certificate_name
        if name is not None and tlsname.check(name) is not None:
            try:
                tlsname.parse_names(name)
            except ValueError as exc:
                raise CONNECTOR_TLS_NAME_SYNTAX(
                    str(exc), connector=updated.identity, value=name
                ) from None
        errors = validation_errors(updated)
        if errors:
            raise CONNECTOR_SETTINGS_INVALID(
                f"connector {updated.identity!r}: " + "; ".join(errors),
                connector=updated.identity,
                problems=list(errors),
            )
        return updated

    @staticmethod
    def _name_from_certificate(
        repo: Repository, connector: Connector, thumbprint: Thumbprint
    ) -> str:
        for server in connector.servers:
            record = repo.find_certificate(server, thumbprint)
            if record is not None and record.der is not None:
                return str(tlsname.tls_certificate_name(certinfo.load_der(record.der)))
        raise CONNECTOR_CERTIFICATE_NOT_ON_SERVER(
            f"certificate {thumbprint} is not on the connector's server(s) "
            f"{', '.join(connector.servers)}",
            thumbprint=thumbprint,
            servers=list(connector.servers),
        )
