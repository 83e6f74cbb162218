"""The read commands' store: an SQLite database read with the standard library's ``sqlite3``.

Importing SQLAlchemy costs about three times what starting Python and loading
``cryptography.x509`` cost together (issue 16), more than a read command may take in all.
``server list``, ``cert list`` and ``health`` therefore read an existing, current SQLite
store through :class:`SqliteReads`, which has the repository's read methods they call,
each a plain query whose rows become model objects in :mod:`certward.storage.rows`, as the
repository's do. A read runs in a deferred transaction (no write lock), rolled back at the
end. The one thing written here is what the repository writes without counting it a
change: certificates' facts (:mod:`certward.storage.facts_repo`), derived data that
``health`` works out for certificates stored before their facts were, recorded in a
:meth:`SqliteReadStore.transaction` with the repository's own statement.

Whatever this reader cannot do raises :class:`NotReadHere`: a store that does not exist yet,
is not at :data:`~certward.storage.migrations.HEAD`, has no master-key record, a method it
does not have (a write, or a read added to the repository later) or any SQLite error. The
caller then runs the same read through :class:`~certward.storage.SqlStore`, which answers
(or reports the error) as it always did: this reader only ever makes a read faster.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import namedtuple
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certward.codes.general import SERVER_NOT_FOUND
from certward.model import CertificateRecord, Organisation, Server, StoreName, Thumbprint
from certward.storage import rows
from certward.storage.migrations import HEAD

if TYPE_CHECKING:  # health's reads import what they make when they run (cert list never)
    from certward.model import (
        Connector,
        EdgeSubscription,
        ObservedCertificate,
        ObservedFacts,
        ObservedOrganisationFacts,
        VirtualDirectory,
    )
    from certward.model.acme import AcmeOrder
    from certward.model.certfacts import CertFacts
    from certward.model.deploy import Deployment, DeployOutcome
    from certward.storage.snapshot_rows import HeldRow

_BUSY_TIMEOUT_S = 60.0
_CHUNK = 500  # bound parameters per IN (...)

# Columns SQLAlchemy stores as 0/1 and as text on SQLite (every table's, by name).
_BOOLEANS = frozenset(
    {
        "self_signed",
        "is_ca",
        "observed",
        "send_trusted_issuer_list",
        "exportable",
        "require_tls",
        "domain_secure_enabled",
        "ignore_starttls",
        "cloud_services_mail_enabled",
        "require_ssl",
        "last_sync_ok",
        "has_private_key",
        "archived",
        "ok",
        "rolled_back",
    }
)
_TIMES = frozenset(
    {
        "at",
        "created_at",
        "next_auth_effective",
        "last_sync_at",
        "not_before",
        "not_after",
        "last_attempt",
        "next_attempt",
        "retry_after",
    }
)


STORE_ORDER = (
    "SELECT server_id, store, group_concat(thumbprint, ',') FROM certificates "
    "INDEXED BY ix_certificates_store_order WHERE store IN (?, ?) GROUP BY server_id, store"
)
"""The Root and CA stores' thumbprints, each store's comma-separated in id order (the order
they were stored). SQLite feeds an aggregate the rows in the order its loop visits them;
over ``ix_certificates_store_order`` (server id, store, id, thumbprint: revision 0010) that
is each store's rows in id order, one store after another, so the groups need no sort and
the ids need not be read (300,000 rows at 1,000 servers: 0.12 s to 0.05 s). ``INDEXED BY``
holds the plan to that index (without it, the query is an error, and the full store reads);
the SQLite of 3.44 on could say ``ORDER BY id`` in the aggregate instead. The tests check
the plan and compare the stores with the repository's, which sorts by the ids it reads."""


class NotReadHere(Exception):
    """This reader cannot answer; read through the full store instead. Deliberately not an
    ``AttributeError``: ``hasattr`` (and a runtime protocol check) lets it through, so a
    method this reader lacks is never mistaken for an optional one."""


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


_SHAPES: dict[tuple[str, ...], tuple[type, tuple[tuple[int, Any], ...]]] = {}


def _shape(names: tuple[str, ...]) -> tuple[type, tuple[tuple[int, Any], ...]]:
    """A row class with these attribute names, and the columns to convert: (index,
    conversion) of each."""
    found = _SHAPES.get(names)
    if found is None:
        converters = tuple(
            (at, _boolean if name in _BOOLEANS else _time)
            for at, name in enumerate(names)
            if name in _BOOLEANS or name in _TIMES
        )
        found = _SHAPES[names] = (namedtuple("Row", names), converters)
    return found


class SqliteReads:
    """The read methods of :class:`certward.storage.Repository` that the read commands use,
    over one open ``sqlite3`` connection inside a read transaction."""

    def __init__(self, connection: sqlite3.Connection, *, writes: bool = False) -> None:
        self._connection = connection
        self._writes = writes  # facts may be recorded (a transaction, not a read)

    def __getattr__(self, name: str) -> Any:
        raise NotReadHere(f"the SQLite reader has no {name}")

    def _rows(self, sql: str, *params: Any) -> list[Any]:
        try:
            cursor = self._connection.execute(sql, params)
            names = tuple(column[0] for column in cursor.description)
            found = cursor.fetchall()
        except sqlite3.Error as exc:
            raise NotReadHere(f"SQLite: {exc}") from exc
        row_class, converters = _shape(names)  # (SQLite names an unnamed column by its text)
        make = row_class._make  # type: ignore[attr-defined]
        if not converters:
            return list(map(make, found))
        converted = []
        for row in found:
            values = list(row)  # converted in place
            for at, convert in converters:
                values[at] = convert(values[at])
            converted.append(make(values))
        return converted

    # -- the store itself -------------------------------------------------------------------
    def meta(self, name: str) -> str | None:
        found = self._rows("SELECT value FROM meta WHERE name = ?", name)
        return found[0].value if found else None

    # -- organisation and servers -------------------------------------------------------------
    def organisation(self) -> Organisation | None:
        found = self._rows("SELECT * FROM organisations ORDER BY id LIMIT 1")
        return rows.organisation_of(found[0]) if found else None

    def servers(self) -> list[Server]:
        return [
            rows.server_of(row) for row in self._rows("SELECT * FROM servers ORDER BY name_key")
        ]

    def _server_row(self, name: str) -> Any:
        found = self._rows("SELECT * FROM servers WHERE name_key = ? LIMIT 1", name.lower())
        if not found:
            raise SERVER_NOT_FOUND(f"server {name!r} not found", server=name)
        return found[0]

    def server(self, name: str) -> Server:
        return rows.server_of(self._server_row(name))

    def has_server(self, name: str) -> bool:
        return bool(self._rows("SELECT id FROM servers WHERE name_key = ? LIMIT 1", name.lower()))

    def certificate_counts(self, store: StoreName) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table in ("certificates", "observed_certificates"):
            for row in self._rows(
                f"SELECT servers.name_key AS name_key, count({table}.id) AS n FROM servers "  # noqa: S608 - a table name of ours
                f"JOIN {table} ON {table}.server_id = servers.id WHERE {table}.store = ? "
                "GROUP BY servers.name_key",
                store.value,
            ):
                counts[row.name_key] = counts.get(row.name_key, 0) + int(row.n)
        return counts

    # -- certificates ----------------------------------------------------------------------
    def certificates(self, server: str, store: StoreName | None = None) -> list[CertificateRecord]:
        server_row = self._server_row(server)
        sql = (
            "SELECT certificates.*, EXISTS (SELECT 1 FROM private_keys "
            "WHERE private_keys.certificate_id = certificates.id) AS has_private_key "
            "FROM certificates WHERE server_id = ?"
        )
        params: list[Any] = [server_row.id]
        if store is not None:
            sql += " AND store = ?"
            params.append(store.value)
        return [
            rows.certificate_record_of(row, server_row.name, has_private_key=row.has_private_key)
            for row in self._rows(sql + " ORDER BY id", *params)
        ]

    # -- what an observed server's certificates need (cert list, observed) ---------------------
    def virtual_directories(self, server: str) -> list[VirtualDirectory]:
        from certward.model import VirtualDirectory  # observed servers' reads only

        server_row = self._server_row(server)
        return [
            VirtualDirectory(
                server_row.name, v.name, v.path, v.internal_url, v.external_url, v.require_ssl
            )
            for v in self._rows(
                "SELECT * FROM virtual_directories WHERE server_id = ? ORDER BY id", server_row.id
            )
        ]

    def observed_facts(self, server: str) -> ObservedFacts | None:
        from certward.storage import facts  # observed servers' reads only

        server_row = self._server_row(server)
        found = self._rows(
            "SELECT document FROM observed_facts WHERE server_id = ? LIMIT 1", server_row.id
        )
        return facts.read_facts(server_row.name, found[0].document) if found else None

    def observed_certificates(
        self, server: str, store: StoreName | None = None
    ) -> list[ObservedCertificate]:
        server_row = self._server_row(server)
        sql = "SELECT * FROM observed_certificates WHERE server_id = ?"
        params: list[Any] = [server_row.id]
        if store is not None:
            sql += " AND store = ?"
            params.append(store.value)
        return [
            rows.observed_certificate_of(row, server_row.name)
            for row in self._rows(sql + " ORDER BY id", *params)
        ]

    # -- the whole organisation at once (health: storage/snapshot_repo.py's reads) ----------
    def _run_servers(self) -> dict[int, str]:
        return {r.id: r.name for r in self._rows("SELECT id, name FROM servers WHERE observed = 0")}

    def personal_certificates(self) -> dict[str, list[HeldRow]]:
        from certward.storage import snapshot_rows  # health's reads only

        names = self._run_servers()
        found = self._plain(
            "SELECT c.server_id, c.thumbprint, c.services, c.key_provider, k.id AS key_id "
            "FROM certificates AS c LEFT OUTER JOIN private_keys AS k ON k.certificate_id = c.id "
            "WHERE c.server_id IN (SELECT id FROM servers WHERE observed = 0) "
            "AND c.store = ? AND c.der IS NOT NULL ORDER BY c.id",
            StoreName.MY.value,
        )
        return snapshot_rows.held_rows(found, names)

    def trusted_thumbprints(self) -> dict[tuple[str, StoreName], tuple[Thumbprint, ...]]:
        """As the repository reads them, from the store-order index alone: see
        :data:`STORE_ORDER`."""
        from certward.storage import snapshot_rows  # health's reads only

        names = self._run_servers()
        found = self._plain(STORE_ORDER, StoreName.ROOT.value, StoreName.CA.value)
        return snapshot_rows.trusted_stores_in_order(found, names)

    def distinct_ders(self, thumbprints: Collection[str]) -> dict[Thumbprint, bytes]:
        wanted = sorted(set(thumbprints))
        found: dict[Thumbprint, bytes] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = (
                "SELECT thumbprint, der FROM certificates WHERE id IN (SELECT min(id) "  # noqa: S608 - placeholders only
                f"FROM certificates WHERE der IS NOT NULL AND thumbprint IN ({marks}) "
                "GROUP BY thumbprint)"
            )
            for row in self._rows(sql, *chunk):
                if row.der is not None:
                    found[Thumbprint(row.thumbprint)] = row.der
        return found

    def all_virtual_directories(self) -> dict[str, list[VirtualDirectory]]:
        from certward.model import VirtualDirectory  # health's reads only

        found: dict[str, list[VirtualDirectory]] = {}
        for v in self._rows(
            "SELECT servers.name AS server_name, v.name, v.path, v.internal_url, "
            "v.external_url, v.require_ssl FROM virtual_directories AS v "
            "JOIN servers ON v.server_id = servers.id ORDER BY v.id"
        ):
            found.setdefault(v.server_name, []).append(
                VirtualDirectory(
                    v.server_name, v.name, v.path, v.internal_url, v.external_url, v.require_ssl
                )
            )
        return found

    def all_connectors(self) -> list[Connector]:
        return rows.connectors_of(
            self._rows(
                f"SELECT {', '.join(rows.CONNECTOR_COLUMNS)} FROM connectors "  # noqa: S608 - our columns
                "ORDER BY identity_key"
            )
        )

    def all_observed_certificates(self) -> dict[str, list[ObservedCertificate]]:
        found: dict[str, list[ObservedCertificate]] = {}
        for row in self._rows(
            "SELECT observed_certificates.*, servers.name AS server_name "
            "FROM observed_certificates JOIN servers "
            "ON observed_certificates.server_id = servers.id ORDER BY observed_certificates.id"
        ):
            found.setdefault(row.server_name, []).append(
                rows.observed_certificate_of(row, row.server_name)
            )
        return found

    def all_observed_facts(self) -> dict[str, ObservedFacts]:
        from certward.storage import facts  # health's reads only

        return {
            row.server_name: facts.read_facts(row.server_name, row.document)
            for row in self._rows(
                "SELECT servers.name AS server_name, observed_facts.document FROM observed_facts "
                "JOIN servers ON observed_facts.server_id = servers.id"
            )
        }

    def certificate_facts(self, thumbprints: Collection[str]) -> dict[Thumbprint, CertFacts]:
        """As :meth:`FactsRepository.certificate_facts` reads them (the driver's rows,
        converted by :func:`snapshot_rows.sqlite_certificate_facts`: SQLite's text times
        too)."""
        from certward.storage import snapshot_rows  # health's reads only

        return snapshot_rows.sqlite_certificate_facts(
            lambda sql, params: self._plain(sql, *params), set(thumbprints)
        )

    def record_certificate_facts(self, worked_out: Iterable[CertFacts]) -> None:
        """As :meth:`FactsRepository.record_certificate_facts` records them; within a read
        (:meth:`SqliteReadStore.reading`) nothing is written, as there."""
        from certward.storage import snapshot_rows  # health's reads only

        if not self._writes:
            return
        values = [snapshot_rows.sqlite_facts_values(f) for f in worked_out]
        try:
            self._connection.executemany(snapshot_rows.SQLITE_FACTS_UPSERT, values)
        except sqlite3.Error as exc:
            raise NotReadHere(f"SQLite: {exc}") from exc

    def _plain(self, sql: str, *params: Any) -> list[Any]:
        """The driver's own rows (tuples, values as SQLite holds them)."""
        try:
            return self._connection.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise NotReadHere(f"SQLite: {exc}") from exc

    # -- the rest of what health reads ---------------------------------------------------------
    def published_der(self, thumbprint: Thumbprint) -> bytes | None:
        found = self._rows(
            "SELECT der FROM published_certificates WHERE thumbprint = ? LIMIT 1", thumbprint
        )
        return found[0].der if found else None

    def accepted_domains(self) -> list[str]:
        return [r.domain for r in self._rows("SELECT domain FROM accepted_domains ORDER BY domain")]

    def edge_subscriptions(self) -> list[EdgeSubscription]:
        from certward.storage import snapshot_rows  # health's reads only

        return [
            snapshot_rows.edge_subscription_of(row, row.server_name)
            for row in self._rows(
                "SELECT edge_subscriptions.*, servers.name AS server_name FROM edge_subscriptions "
                "JOIN servers ON edge_subscriptions.server_id = servers.id "
                "ORDER BY edge_subscriptions.id"
            )
        ]

    def observed_organisation(self) -> ObservedOrganisationFacts | None:
        from certward.storage import facts  # health's reads only

        document = self.meta(facts.OBSERVED_ORGANISATION)
        return None if document is None else facts.read_organisation(document)

    def acme_orders(self) -> list[AcmeOrder]:
        from certward.storage import snapshot_rows  # health's reads only

        return [
            snapshot_rows.acme_order_of(row)
            for row in self._rows("SELECT * FROM acme_orders ORDER BY id")
        ]

    def deployments(self) -> list[Deployment]:
        from certward.storage import snapshot_rows  # health's reads only

        return [
            snapshot_rows.deployment_of(row)
            for row in self._rows("SELECT * FROM deployments ORDER BY name")
        ]

    def last_deploy_results(self) -> dict[str, DeployOutcome]:
        """Each deployment's newest outcome (the last received), by name."""
        from certward.storage import snapshot_rows  # health's reads only

        return {
            row.deployment: snapshot_rows.deploy_outcome_of(row)
            for row in self._rows(
                "SELECT r.* FROM deploy_results AS r JOIN (SELECT max(id) AS id "
                "FROM deploy_results GROUP BY deployment) AS newest ON r.id = newest.id"
            )
        }


class SqliteReadStore:
    """An existing SQLite store at :data:`HEAD`, opened for reading only: the unit of work
    of the read commands (:func:`certward.compose.build_read_app`)."""

    def __init__(self, path: Path) -> None:
        """Open ``path``; :class:`NotReadHere` when it is not a current certward store."""
        self.url = f"sqlite:///{path}"
        if not path.is_file() or path.stat().st_size == 0:
            raise NotReadHere(f"{path}: no store yet")
        try:
            self._connection = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise NotReadHere(f"{path}: {exc}") from exc
        try:
            with self.reading() as reads:
                version = reads._rows("SELECT version_num FROM alembic_version")
        except BaseException:
            self.close()
            raise
        if [row.version_num for row in version] != [HEAD]:
            self.close()
            raise NotReadHere(f"{path}: schema {version} is not {HEAD}")

    @contextmanager
    def reading(self) -> Iterator[SqliteReads]:
        """A read transaction (deferred: no write lock); nothing in it is kept."""
        with self._begun() as reads:
            yield reads
        self._connection.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[SqliteReads]:
        """A transaction in which the reads run and certificates' facts may be recorded
        (the write lock is taken only if they are); kept when it ends without error."""
        with self._begun(writes=True) as reads:
            yield reads
        try:
            self._connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self._connection.execute("ROLLBACK")
            raise NotReadHere(f"SQLite: {exc}") from exc

    @contextmanager
    def _begun(self, *, writes: bool = False) -> Iterator[SqliteReads]:
        try:
            self._connection.execute("BEGIN")
        except sqlite3.Error as exc:
            raise NotReadHere(f"SQLite: {exc}") from exc
        try:
            yield SqliteReads(self._connection, writes=writes)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._connection.close()
