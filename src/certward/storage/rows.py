"""Stored rows as model objects, for every reader of the store (no SQLAlchemy here).

The repository (:mod:`certward.storage.repository`, ORM rows) and the SQLite reader of the
read commands (:mod:`certward.storage.sqlite_reads`, plain rows with the same attribute
names) make their model objects here, so a row means the same whichever way it was read.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from certward.model import (
    AuthConfig,
    AuthMechanism,
    Binding,
    CertificateRecord,
    Connector,
    ConnectorKind,
    EdgeSubscription,
    ExchangeVersion,
    ObservedCertificate,
    Organisation,
    PublishedHubCertificate,
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
from certward.model.acme import AcmeError, AcmeOrder
from certward.model.certfacts import FACTS_FORMAT, CertFacts


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


class HeldRow(NamedTuple):
    """A completed certificate in a store of a server certward runs (without its DER)."""

    store: StoreName
    thumbprint: Thumbprint
    services: ServiceSet
    has_private_key: bool
    key_provider: str | None


def held_rows(found: Iterable[Sequence[Any]], names: dict[int, str]) -> dict[str, list[HeldRow]]:
    """Personal-store rows (server id, thumbprint, services, key provider, key id or None)
    by server name; a server not in ``names`` (added since they were read) left out. Equal
    service flags share one :class:`ServiceSet`."""
    held: dict[str, list[HeldRow]] = {}
    service_sets: dict[int, ServiceSet] = {}
    for server_id, thumb, services, provider, key_id in found:
        name = names.get(server_id)
        if name is None:
            continue
        service_set = service_sets.get(services)
        if service_set is None:
            service_set = service_sets[services] = ServiceSet(Service(services))
        held.setdefault(name, []).append(
            HeldRow(StoreName.MY, Thumbprint(thumb), service_set, key_id is not None, provider)
        )
    return held


def trusted_stores(
    found: Iterable[Sequence[Any]], names: dict[int, str]
) -> dict[tuple[str, StoreName], tuple[Thumbprint, ...]]:
    """Root/CA store rows (server id, store, thumbprints and ids comma-separated in the
    same order) as each store's thumbprints in id order, by (server name, store); stores
    holding the same thumbprints in the same order share one tuple."""
    stores: dict[tuple[str, StoreName], tuple[Thumbprint, ...]] = {}
    first: dict[str, tuple[list[int], tuple[Thumbprint, ...]]] = {}
    for server_id, store, thumbprints, ids in found:
        name = names.get(server_id)
        if name is not None:
            stores[(name, StoreName(store))] = _in_id_order(thumbprints, ids, first)
    return stores


def _in_id_order(
    thumbprints: str, ids: str, first: dict[str, tuple[list[int], tuple[Thumbprint, ...]]]
) -> tuple[Thumbprint, ...]:
    """A store's thumbprints (comma-separated, listed as ``ids`` are) in id order; ``first``
    remembers the first store seen with each list. A store whose ids are those of the first
    store with the same list, shifted by one number (rows added in the same order), shares
    its tuple; any other is sorted."""
    values = list(map(int, ids.split(",")))
    known = first.get(thumbprints)
    if known is not None:
        shift = list(map(operator.sub, values, known[0]))
        if shift.count(shift[0]) == len(shift):
            return known[1]
    listed = thumbprints.split(",")
    ordered = sorted(range(len(values)), key=values.__getitem__)
    result: tuple[Thumbprint, ...] = tuple(map(listed.__getitem__, ordered))  # type: ignore[arg-type]
    first.setdefault(thumbprints, (values, result))
    return result


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


FACTS_COLUMNS = (
    "subject", "issuer", "subject_text", "issuer_text", "common_name", "dns_names",
    "not_before", "not_after", "self_signed", "is_ca", "version", "key_type", "key_size",
    "signature_algorithm", "serial_number",
)  # fmt: skip
"""The ``certificate_facts`` columns :func:`certificate_facts_of` reads, in CertFacts'
order after the thumbprint."""


def certificate_facts_of(thumbprint: str, row: Sequence[Any], at: int) -> CertFacts:
    """The facts in ``row``'s columns from ``at`` on (in :data:`FACTS_COLUMNS`' order)."""
    (subject, issuer, subject_text, issuer_text, common_name, dns_names, not_before,
     not_after, self_signed, is_ca, version, key_type, key_size, signature_algorithm,
     serial_number) = row[at : at + len(FACTS_COLUMNS)]  # fmt: skip
    return CertFacts(
        thumbprint=Thumbprint(thumbprint),
        subject=bytes(subject),
        issuer=bytes(issuer),
        subject_text=subject_text,
        issuer_text=issuer_text,
        common_name=common_name,
        dns_names=_dns_names(dns_names),
        not_before=stored_utc(not_before),
        not_after=stored_utc(not_after),
        self_signed=bool(self_signed),
        is_ca=bool(is_ca),
        version=version,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=signature_algorithm,
        serial_number=serial_number,
    )


# SQLite, through the driver (SQLAlchemy's per-value processing is most of the cost of
# thousands of rows; the SQLite reader has no SQLAlchemy): the repository's statement,
# values stored as SQLAlchemy stores them. Stored facts of an older format are replaced.
SQLITE_FACTS_UPSERT = (  # the table's own column names: no input goes into the text
    f"INSERT INTO certificate_facts (thumbprint, format, {', '.join(FACTS_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * (len(FACTS_COLUMNS) + 2))}) "
    "ON CONFLICT (thumbprint) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in ("format", *FACTS_COLUMNS))
    + " WHERE certificate_facts.format != excluded.format"
)


def sqlite_facts_values(facts: CertFacts) -> tuple[Any, ...]:
    """``facts`` as :data:`SQLITE_FACTS_UPSERT`'s values."""
    return (
        facts.thumbprint,
        FACTS_FORMAT,
        facts.subject,
        facts.issuer,
        facts.subject_text,
        facts.issuer_text,
        facts.common_name,
        json.dumps(list(facts.dns_names)),
        _sqlite_time(facts.not_before),
        _sqlite_time(facts.not_after),
        int(facts.self_signed),
        int(facts.is_ca),
        facts.version,
        facts.key_type,
        facts.key_size,
        facts.signature_algorithm,
        facts.serial_number,
    )


def _sqlite_time(value: dt.datetime) -> str:
    """As SQLAlchemy's SQLite DATETIME stores it (in UTC, without the zone)."""
    value = value.astimezone(dt.UTC)
    return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"


def _dns_names(stored: str) -> tuple[str, ...]:
    """The JSON list of names as stored (``json.dumps``' separators): split directly when
    nothing in it is escaped (a backslash: a quote or a non-ASCII character), which is a
    health run's 20,000 rows at a sixth of ``json.loads``' cost."""
    if stored == "[]":
        return ()
    if "\\" not in stored:
        return tuple(stored[2:-2].split('", "'))
    return tuple(json.loads(stored))


def stored_utc(value: dt.datetime | str) -> dt.datetime:
    """A stored time in UTC: SQLite gives datetimes back naive (they were stored in UTC),
    or as text through the driver; PostgreSQL in the session's zone."""
    if isinstance(value, str):
        if len(value) == 19 or (len(value) <= 26 and value[19:20] == "."):  # SQLite: no zone
            return dt.datetime.fromisoformat(value + "+00:00")
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def acme_order_of(row: Any) -> AcmeOrder:
    """An ``acme_orders`` row."""
    error = (
        AcmeError(row.error_code, row.error_detail or "", row.error_problem)
        if row.error_code
        else None
    )
    return AcmeOrder(
        account_id=row.account_id,
        server=row.server,
        names=tuple(filter(None, row.names.splitlines())),
        challenge=row.challenge,
        solver_options=json.loads(row.solver_options or "{}"),
        thumbprint=row.thumbprint,
        order_url=row.order_url,
        key_size=row.key_size,
        exportable=row.exportable,
        attempts=row.attempts,
        last_attempt=utc(row.last_attempt),
        next_attempt=utc(row.next_attempt),
        retry_after=utc(row.retry_after),
        error=error,
        order_id=row.id,
    )


def edge_subscription_of(row: Any, edge: str) -> EdgeSubscription:
    """An ``edge_subscriptions`` row of the Edge server named ``edge``."""
    hubs = []
    for line in filter(None, row.hub_certificates.splitlines()):
        server, _, thumbprint = line.partition("=")
        hubs.append(PublishedHubCertificate(server, Thumbprint(thumbprint)))
    created = utc(row.created_at)
    assert created is not None
    return EdgeSubscription(
        edge=edge,
        site=row.site,
        created=created,
        edge_thumbprint=Thumbprint(row.edge_thumbprint),
        edge_der=row.edge_der,
        hub_certificates=tuple(hubs),
        last_sync=utc(row.last_sync_at),
        last_sync_ok=row.last_sync_ok,
    )
