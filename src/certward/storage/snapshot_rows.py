"""Rows of the organisation-wide reads (health's snapshot, issue 16) as model objects, for
both readers of the store (no SQLAlchemy here): each server's held certificates and trusted
stores, certificates' recorded facts (read and written), ACME orders and Edge subscriptions.

Apart from :mod:`certward.storage.rows` so that a read command which needs none of this
(``cert list``) does not build these model classes at start-up.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from certward.model import (
    EdgeSubscription,
    PublishedHubCertificate,
    Service,
    ServiceSet,
    StoreName,
    Thumbprint,
)
from certward.model.acme import AcmeError, AcmeOrder
from certward.model.certfacts import FACTS_FORMAT, CertFacts
from certward.model.deploy import DeployKind, Deployment, DeployOutcome, DeployPaths
from certward.storage.rows import utc


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
    held: dict[int, list[HeldRow]] = {}
    service_sets: dict[int, ServiceSet] = {}
    make, my = tuple.__new__, StoreName.MY  # (a health run's 20,000 rows: no keywords)
    for server_id, thumb, services, provider, key_id in found:
        service_set = service_sets.get(services)
        if service_set is None:
            service_set = service_sets[services] = ServiceSet(Service(services))
        entries = held.get(server_id)
        if entries is None:
            entries = held[server_id] = []
        entries.append(make(HeldRow, (my, thumb, service_set, key_id is not None, provider)))
    return {names[server]: entries for server, entries in held.items() if server in names}


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


def trusted_stores_in_order(
    found: Iterable[Sequence[Any]], names: dict[int, str]
) -> dict[tuple[str, StoreName], tuple[Thumbprint, ...]]:
    """Root/CA store rows (server id, store, thumbprints comma-separated in id order) as
    :func:`trusted_stores` gives them; stores listing the same thumbprints in the same
    order share one tuple."""
    stores: dict[tuple[str, StoreName], tuple[Thumbprint, ...]] = {}
    same: dict[str, tuple[Thumbprint, ...]] = {}
    for server_id, store, thumbprints in found:
        name = names.get(server_id)
        if name is None:
            continue
        listed = same.get(thumbprints)
        if listed is None:
            listed = same[thumbprints] = tuple(thumbprints.split(","))
        stores[(name, StoreName(store))] = listed
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
_FACTS_CHUNK = 500  # SQLite's bound parameters per IN (...)
_FACTS_SCAN = 5000  # asked for more than this many: read the whole table rather than IN lists


def sqlite_certificate_facts(
    fetch: Callable[[str, tuple[Any, ...]], Iterable[Sequence[Any]]], wanted: set[str]
) -> dict[Thumbprint, CertFacts]:
    """The recorded facts (in this format) of each of ``wanted``, read from SQLite through
    ``fetch`` (a driver's execute: the SQL and its parameters, rows as SQLite holds them):
    for both readers of an SQLite store."""
    found: dict[Thumbprint, CertFacts] = {}
    if not wanted:
        return found
    base = (
        f"SELECT thumbprint, {', '.join(FACTS_COLUMNS)} FROM certificate_facts "  # noqa: S608 - our columns
        "WHERE format = ?"
    )
    if len(wanted) > _FACTS_SCAN:  # one pass over the table beats a hundred IN lists
        batches = [fetch(base, (FACTS_FORMAT,))]
    else:
        ordered = sorted(wanted)
        batches = [
            fetch(f"{base} AND thumbprint IN ({', '.join('?' * len(chunk))})",
                  (FACTS_FORMAT, *chunk))
            for start in range(0, len(ordered), _FACTS_CHUNK)
            if (chunk := ordered[start : start + _FACTS_CHUNK])
        ]  # fmt: skip
    # certificate_facts_of, unrolled for SQLite's own values (a health run's 20,000 rows at
    # half its cost): times as text, booleans as 0/1; the tuple made without keywords.
    make, utc, names = tuple.__new__, _sqlite_utc, _dns_names
    for batch in batches:
        for (thumbprint, subject, issuer, subject_text, issuer_text, common_name, dns_names,
             not_before, not_after, self_signed, is_ca, version, key_type, key_size,
             signature_algorithm, serial_number) in batch:  # fmt: skip
            if thumbprint in wanted:
                found[thumbprint] = make(
                    CertFacts,
                    (thumbprint, subject, issuer, subject_text, issuer_text, common_name,
                     names(dns_names), utc(not_before), utc(not_after), bool(self_signed),
                     bool(is_ca), version, key_type, key_size, signature_algorithm,
                     serial_number),
                )  # fmt: skip
    return found


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
    return value.astimezone(dt.UTC).isoformat(" ", "microseconds")[:26]  # the zone cut off


def _dns_names(stored: str) -> tuple[str, ...]:
    """The JSON list of names as stored (``json.dumps``' separators): split directly when
    nothing in it is escaped (a backslash: a quote or a non-ASCII character), which is a
    health run's 20,000 rows at a sixth of ``json.loads``' cost."""
    if stored == "[]":
        return ()
    if "\\" not in stored:
        return tuple(stored[2:-2].split('", "'))
    return tuple(json.loads(stored))


def _sqlite_utc(value: str) -> dt.datetime:
    """:func:`stored_utc` of a time as SQLite holds it, the usual form (microseconds, no
    zone: as SQLAlchemy and :func:`_sqlite_time` store it) read directly."""
    if len(value) == 26 and value[19] == ".":
        return _FROM_ISO(value + "+00:00")
    return stored_utc(value)


_FROM_ISO = dt.datetime.fromisoformat


def stored_utc(value: dt.datetime | str) -> dt.datetime:
    """A stored time in UTC: SQLite gives datetimes back naive (they were stored in UTC),
    or as text through the driver; PostgreSQL in the session's zone."""
    if isinstance(value, str):
        if len(value) == 19 or (len(value) <= 26 and value[19:20] == "."):  # SQLite: no zone
            return dt.datetime.fromisoformat(value + "+00:00")
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def deployment_of(row: Any) -> Deployment:
    """A ``deployments`` row."""
    return Deployment(
        name=row.name,
        kind=DeployKind(row.kind),
        server=row.server,
        services=ServiceSet(Service(row.services)),
        paths=DeployPaths(row.cert_path, row.key_path, row.chain_path),
        verify=row.verify,
        host=row.host,
        reload=tuple(json.loads(row.reload or "[]")),
        sni=row.sni,
        owner=row.owner,
        group=row.group_name,
        key_mode=row.key_mode,
        cert_mode=row.cert_mode,
        wait=row.wait,
    )


def deploy_outcome_of(row: Any) -> DeployOutcome:
    """A ``deploy_results`` row."""
    return DeployOutcome(
        ok=bool(row.ok),
        when=stored_utc(row.at),
        deployed=row.deployed,
        served=row.served,
        previous=row.previous,
        rolled_back=bool(row.rolled_back),
        code=row.code,
        detail=row.detail,
        steps=tuple(json.loads(row.steps or "[]")),
    )


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
