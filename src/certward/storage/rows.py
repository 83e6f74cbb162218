"""Stored rows as model objects, for every reader of the store (no SQLAlchemy here).

The repository (:mod:`certward.storage.repository`, ORM rows) and the SQLite reader of the
read commands (:mod:`certward.storage.sqlite_reads`, plain rows with the same attribute
names) make their model objects here, so a row means the same whichever way it was read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from certward.model import (
    AuthConfig,
    AuthMechanism,
    Binding,
    CertificateRecord,
    Connector,
    ConnectorKind,
    ExchangeVersion,
    ObservedCertificate,
    Organisation,
    Role,
    Server,
    Service,
    ServiceSet,
    SmartHost,
    StoreName,
    Thumbprint,
    TlsAuthLevel,
    TransportConfig,
)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as an aware UTC time (SQLite keeps no zone)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def thumb_or_none(value: str | None) -> Thumbprint | None:
    return Thumbprint(value) if value else None


def split(value: str | None) -> tuple[str, ...]:
    """A comma-separated column as its parts."""
    return tuple(part for part in (value or "").split(",") if part)


def organisation_of(row: Any) -> Organisation:
    """An ``organisations`` row."""
    return Organisation(
        name=row.name,
        domain=row.domain,
        auth=AuthConfig(
            current_thumbprint=thumb_or_none(row.auth_thumbprint),
            next_thumbprint=thumb_or_none(row.next_auth_thumbprint),
            next_effective=utc(row.next_auth_effective),
            previous_thumbprint=thumb_or_none(row.previous_auth_thumbprint),
            service_name=row.auth_service_name or AuthConfig().service_name,
            realm=row.auth_realm,
        ),
        transport=TransportConfig(
            tls_send_domain_secure_list=split(row.tls_send_domain_secure_list),
            tls_receive_domain_secure_list=split(row.tls_receive_domain_secure_list),
        ),
    )


def server_of(row: Any) -> Server:
    """A ``servers`` row."""
    return Server(
        name=row.name,
        fqdn=row.fqdn,
        roles=frozenset(Role(value) for value in row.roles.split(",") if value),
        version=ExchangeVersion(row.version),
        default_smtp_thumbprint=(
            Thumbprint(row.default_smtp_thumbprint) if row.default_smtp_thumbprint else None
        ),
        tls_min_version=row.tls_min_version or "1.2",
        tls_max_version=row.tls_max_version or "1.3",
        send_trusted_issuer_list_setting=row.send_trusted_issuer_list,
        observed=bool(row.observed),
    )


def certificate_record_of(row: Any, server: str, *, has_private_key: bool) -> CertificateRecord:
    """A ``certificates`` row of ``server``."""
    return CertificateRecord(
        server=server,
        store=StoreName(row.store),
        thumbprint=Thumbprint(row.thumbprint),
        der=row.der,
        csr_der=row.csr_der,
        services=ServiceSet(Service(row.services)),
        friendly_name=row.friendly_name,
        has_private_key=has_private_key,
        exportable=row.exportable,
        key_provider=row.key_provider,
        created_at=utc(row.created_at),
    )


def connector_of(row: Any) -> Connector:
    """A ``connectors`` row."""
    return Connector(
        name=row.name,
        kind=ConnectorKind(row.kind),
        servers=split(row.servers),
        fqdn=row.fqdn,
        bindings=tuple(Binding.parse(b) for b in split(row.bindings)),
        address_spaces=split(row.address_spaces),
        smart_hosts=tuple(SmartHost.parse(h) for h in split(row.smart_hosts)),
        auth_mechanism=AuthMechanism(row.auth_mechanism),
        require_tls=row.require_tls,
        tls_auth_level=TlsAuthLevel(row.tls_auth_level) if row.tls_auth_level else None,
        tls_domain=row.tls_domain,
        domain_secure_enabled=row.domain_secure_enabled,
        tls_certificate_name=row.tls_certificate_name,
        ignore_starttls=row.ignore_starttls,
        cloud_services_mail_enabled=row.cloud_services_mail_enabled,
    )


def observed_certificate_of(row: Any, server: str) -> ObservedCertificate:
    """An observed certificate as stored (the one reading of its row, for every caller)."""
    return ObservedCertificate(
        server=server,
        store=StoreName(row.store),
        thumbprint=Thumbprint(row.thumbprint),
        subject=row.subject,
        issuer=row.issuer,
        not_before=_aware(row.not_before),
        not_after=_aware(row.not_after),
        dns_names=tuple(filter(None, row.dns_names.splitlines())),
        services=ServiceSet(Service(row.services)),
        has_private_key=row.has_private_key,
        key_provider=row.key_provider,
        key_size=row.key_size,
        signature_algorithm=row.signature_algorithm,
        serial_number=row.serial_number,
        friendly_name=row.friendly_name,
        source=row.source,
        archived=bool(row.archived),
        exportable=row.exportable,
        status=row.status,
        public_key_algorithm=row.public_key_algorithm,
        der=row.der,
    )


CONNECTOR_COLUMNS = (
    "name", "kind", "servers", "fqdn", "bindings", "address_spaces", "smart_hosts",
    "auth_mechanism", "require_tls", "tls_auth_level", "tls_domain", "domain_secure_enabled",
    "tls_certificate_name", "ignore_starttls", "cloud_services_mail_enabled",
)  # fmt: skip
"""The columns :func:`connectors_of` reads, in its order."""


def connectors_of(found: Iterable[Sequence[Any]]) -> list[Connector]:
    """Connector rows (:data:`CONNECTOR_COLUMNS`, in order) as connectors, as
    :func:`connector_of` makes each; every distinct binding, smart host and setting made
    once (an organisation's connectors repeat them)."""
    lists: dict[str | None, tuple[str, ...]] = {}
    bindings: dict[str, tuple[Binding, ...]] = {}
    hosts: dict[str, tuple[SmartHost, ...]] = {}
    mechanisms: dict[int, AuthMechanism] = {}

    def parts(value: str | None) -> tuple[str, ...]:
        got = lists.get(value)
        if got is None:
            got = lists[value] = split(value)
        return got

    connectors = []
    for (name, kind, servers, fqdn, binds, spaces, smart, auth, require_tls, level, domain,
         secure, tls_name, ignore, cloud) in found:  # fmt: skip
        bound = bindings.get(binds)
        if bound is None:
            bound = bindings[binds] = tuple(Binding.parse(b) for b in parts(binds))
        smart_hosts = hosts.get(smart)
        if smart_hosts is None:
            smart_hosts = hosts[smart] = tuple(SmartHost.parse(h) for h in parts(smart))
        mechanism = mechanisms.get(auth)
        if mechanism is None:
            mechanism = mechanisms[auth] = AuthMechanism(auth)
        connectors.append(
            Connector(
                name=name,
                kind=ConnectorKind(kind),
                servers=parts(servers),
                fqdn=fqdn,
                bindings=bound,
                address_spaces=parts(spaces),
                smart_hosts=smart_hosts,
                auth_mechanism=mechanism,
                require_tls=require_tls,
                tls_auth_level=TlsAuthLevel(level) if level else None,
                tls_domain=domain,
                domain_secure_enabled=secure,
                tls_certificate_name=tls_name,
                ignore_starttls=ignore,
                cloud_services_mail_enabled=cloud,
            )
        )
    return connectors
