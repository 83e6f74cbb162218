"""The audit log's capture: what each flush changed, as :class:`AuditChange` values.

:class:`certward.storage.SqlStore` listens to its sessions' ``after_flush`` (when the
session still shows what the flush wrote: new, changed and deleted objects with their
attribute history) and to bulk statements, collects one change per object, and writes one
audit row when the transaction commits. Secrets never enter a change: sealed keys,
password, token, session and one-time code hashes, CSRF tokens and DER/CSR bytes are shown
as ``"(set)"``/``"(changed)"`` or, for certificates' DER, their SHA-1 thumbprint.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from certward.model.audit import AuditChange

_CHANGES = "certward_audit_changes"

SKIPPED_TABLES = {
    *("generation", "meta", "audit_log", "alembic_version"),
    # the scheduler's own records (issue 14's watching): its runs, what they found, the
    # notices it queued; the targets and channels people configure are audited
    *("job_runs", "finding_history", "notify_outbox"),
}
"""Bookkeeping: never audited."""

SECRET_COLUMNS = {
    "encrypted_pkcs8",
    "password_hash",
    "secret_hash",
    "session_hash",
    "code_hash",
    "csrf_token",
    "secret",  # a notification channel's: where its secret is
}
"""Shown only as set/changed, never their value."""

IGNORED_COLUMNS = {"id", "name_key", "identity_key", "last_seen_at", "last_used_at"}
"""Not shown: surrogate keys, lower-case lookup copies, use timestamps. A change of only
these is not a change the audit log records."""


@dataclass(frozen=True)
class AuditKind:
    """How rows of one table appear in the audit log: a word and a natural identity."""

    word: str
    identity: Callable[[Session, Any], str]
    hidden: frozenset[str] = field(default_factory=frozenset)  # columns not shown at all


KINDS: dict[str, AuditKind] = {}


def register_kind(
    table: str,
    word: str,
    identity: Callable[[Session, Any], str],
    *,
    hidden: frozenset[str] = frozenset(),
) -> None:
    """How rows of ``table`` are named in the audit log (other areas register theirs)."""
    KINDS[table] = AuditKind(word, identity, hidden)


def _server_name(session: Session, server_id: int | None) -> str:
    from certward.storage.schema import ServerRow

    if server_id is None:
        return "?"
    row = session.identity_map.get(identity_key(ServerRow, server_id))
    if row is None:
        row = session.get(ServerRow, server_id)  # a plain read, outside the flush's writes
    return str(row.name) if row is not None else f"server#{server_id}"


def _certificate_identity(session: Session, row: Any) -> str:
    return f"{_server_name(session, row.server_id)}/{row.store}/{row.thumbprint}"


def _private_key_identity(session: Session, row: Any) -> str:
    from certward.storage.schema import CertificateRow

    cert = session.identity_map.get(identity_key(CertificateRow, row.certificate_id))
    if cert is None:
        cert = session.get(CertificateRow, row.certificate_id)
    return "?" if cert is None else _certificate_identity(session, cert)


def _connector_identity(_session: Session, row: Any) -> str:
    if row.kind == "Receive" and row.servers:
        return f"{str(row.servers).split(',')[0]}\\{row.name}"
    return str(row.name)


def _on_server(attribute: str) -> Callable[[Session, Any], str]:
    def identity(session: Session, row: Any) -> str:
        return f"{_server_name(session, row.server_id)}/{getattr(row, attribute)}"

    return identity


def _plain(attribute: str) -> Callable[[Session, Any], str]:
    return lambda _session, row: str(getattr(row, attribute))


def _server_only(session: Session, row: Any) -> str:
    return _server_name(session, row.server_id)


register_kind("organisations", "organisation", _plain("name"), hidden=frozenset({"singleton"}))
register_kind("servers", "server", _plain("name"))
register_kind("certificates", "certificate", _certificate_identity)
register_kind("private_keys", "private key", _private_key_identity)
register_kind("published_certificates", "published certificate", _plain("thumbprint"))
register_kind("connectors", "connector", _connector_identity)
register_kind("accepted_domains", "accepted domain", _plain("domain"))
register_kind("mailboxes", "mailbox", _plain("address"))
register_kind("virtual_directories", "virtual directory", _on_server("name"))
register_kind("edge_subscriptions", "edge subscription", _server_only)
register_kind("observed_certificates", "observed certificate", _certificate_identity)
register_kind("observed_facts", "observed facts", _server_only)
register_kind("users", "user", _plain("name"))
register_kind("api_tokens", "token", lambda _s, row: f"{row.token_id} ({row.name})")
register_kind("web_sessions", "console session", _plain("user_name"))
register_kind("one_time_logins", "one-time login", _plain("user_name"))
register_kind("watch_targets", "target", _plain("url"))
register_kind(
    "notify_channels", "notification channel", _plain("name"), hidden=frozenset({"last_digest"})
)


def skip_table(table: str) -> None:
    """Never audit ``table`` (bookkeeping another area adds)."""
    SKIPPED_TABLES.add(table)


def _kind(table: str) -> AuditKind:
    found = KINDS.get(table)
    if found is not None:
        return found
    word = table[:-1] if table.endswith("s") else table
    return AuditKind(word.replace("_", " "), _generic_identity)


def _generic_identity(_session: Session, row: Any) -> str:
    for attribute in ("name", "identity", "url", "target", "key"):
        value = getattr(row, attribute, None)
        if value is not None:
            return str(value)
    return f"#{getattr(row, 'id', '?')}"


def _normal(value: Any) -> Any:
    """Datetimes in UTC (SQLite gives them back naive)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def shown(column: str, value: Any) -> Any:
    """A column's value as an audit entry may show it."""
    value = _normal(value)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if column == "services" and isinstance(value, int):
        return _services_text(value)
    if column in SECRET_COLUMNS:
        return "(set)"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if column == "der":
            return f"(DER, SHA-1 {hashlib.sha1(data, usedforsecurity=False).hexdigest().upper()})"
        return f"({len(data)} bytes)"
    if column == "document":
        return "(document)"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


@functools.lru_cache(maxsize=256)  # a set of flags: one text each, of few
def _services_text(value: int) -> str:
    from certward.model import Service, ServiceSet

    return str(ServiceSet(Service(value))) or "None"


def _changed(column: str, old: Any, new: Any) -> tuple[Any, Any]:
    if column in SECRET_COLUMNS or column == "document":
        return "(old)", "(changed)"
    return shown(column, old), shown(column, new)


def _columns(row: Any) -> list[str]:
    return [attr.key for attr in inspect(row).mapper.column_attrs]


def _identity(kind: AuditKind, session: Session, row: Any) -> str:
    try:
        with session.no_autoflush:
            return kind.identity(session, row)
    except Exception:
        return f"#{inspect(row).dict.get('id', '?')}"


def collect(session: Session, _context: object = None) -> None:
    """``after_flush``: add what this flush wrote to the session's pending changes. Only
    loaded values are read (``state.dict``): nothing is loaded from the database here."""
    pending: list[AuditChange | _NewRow] = session.info.setdefault(_CHANGES, [])
    for row, how in (
        *((r, "new") for r in session.new),
        *((r, "dirty") for r in session.dirty),
        *((r, "deleted") for r in session.deleted),
    ):
        table = getattr(row, "__tablename__", None)
        if table is None or table in SKIPPED_TABLES:
            continue
        kind = _kind(table)
        state = inspect(row)
        columns = [
            c
            for c in _columns(row)
            if c not in IGNORED_COLUMNS and c not in kind.hidden and not c.endswith("_id")
        ]
        if how == "new":
            after = {c: shown(c, state.dict[c]) for c in columns if c in state.dict}
            pending.append(AuditChange(kind.word, _identity(kind, session, row), None, after))
        elif how == "deleted":
            before = {c: shown(c, _committed(state, c)) for c in columns if c in state.dict}
            pending.append(AuditChange(kind.word, _identity(kind, session, row), before, None))
        else:
            before_d: dict[str, Any] = {}
            after_d: dict[str, Any] = {}
            for c in columns:
                history = state.attrs[c].history
                if not history.has_changes():
                    continue
                old = _normal(history.deleted[0] if history.deleted else None)
                new = _normal(history.added[0] if history.added else None)
                if old == new:
                    continue
                before_d[c], after_d[c] = _changed(c, old, new)
            if before_d:
                identity = _identity(kind, session, row)
                pending.append(AuditChange(kind.word, identity, before_d, after_d))


def _committed(state: Any, column: str) -> Any:
    history = state.attrs[column].history
    if history.deleted:
        return history.deleted[0]
    return state.dict.get(column)


def note_bulk(session: Session, table: str) -> None:
    """A bulk INSERT/UPDATE/DELETE statement: its table, as a "bulk change"."""
    if table in SKIPPED_TABLES:
        return
    pending: list[AuditChange | _NewRow] = session.info.setdefault(_CHANGES, [])
    pending.append(AuditChange(_kind(table).word, "(bulk change)", None, {"table": table}))


class _NewRow(NamedTuple):
    """A creation noted by :func:`note_new`, its values not shown yet (a named tuple: a
    bulk write notes thousands, and a frozen dataclass takes twice as long to make)."""

    kind: str
    identity: str
    values: dict[str, Any]
    hidden: frozenset[str]

    def change(self) -> AuditChange:
        after = {
            c: shown(c, v)
            for c, v in self.values.items()
            if c not in IGNORED_COLUMNS and c not in self.hidden and not c.endswith("_id")
        }
        return AuditChange(self.kind, self.identity, None, after)


def _change(change: AuditChange | _NewRow) -> AuditChange:
    return change.change() if isinstance(change, _NewRow) else change


def note_new(session: Session, table: str, identity: str, values: dict[str, Any]) -> None:
    """A row a Core statement inserted (a bulk write, outside the flush): its creation,
    shown as :func:`collect` shows a new object. Its values are shown only if the entry
    lists it (:data:`MAX_CHANGES`): of a bulk write of thousands, the rest are only counted,
    and showing them all cost more than the write. ``values`` must not change afterwards."""
    note_new_rows(session, table, [(identity, values)])


def note_new_rows(session: Session, table: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """:func:`note_new` for each (identity, values) of ``rows``, in order."""
    if table in SKIPPED_TABLES:
        return
    kind = _kind(table)
    word, hidden = kind.word, kind.hidden
    pending: list[AuditChange | _NewRow] = session.info.setdefault(_CHANGES, [])
    pending.extend([_NewRow(word, identity, values, hidden) for identity, values in rows])


def take(session: Session) -> list[AuditChange]:
    """The transaction's changes, merged per object (created then changed: one creation)."""
    pending: list[AuditChange | _NewRow] = session.info.pop(_CHANGES, [])
    merged: dict[tuple[str, str], AuditChange | _NewRow] = {}
    order: list[tuple[str, str]] = []
    for noted in pending:
        key = (noted.kind, noted.identity)
        found = merged.get(key)
        if found is None or noted.identity == "(bulk change)":
            if found is None:
                order.append(key)
            merged[key] = noted
            continue
        earlier, change = _change(found), _change(noted)
        before = earlier.before
        if earlier.before is not None and change.before is not None and earlier.after is not None:
            before = {**change.before, **earlier.before}
        after = None if change.after is None else {**(earlier.after or {}), **change.after}
        if earlier.before is None and after is None:  # created and removed within it
            del merged[key]
            order.remove(key)
            continue
        merged[key] = AuditChange(change.kind, change.identity, before, after)
    changes: list[AuditChange | _NewRow] = []
    for key in order:
        kept = merged[key]
        if isinstance(kept, _NewRow):  # a creation: nothing to compare
            changes.append(kept)
            continue
        change = kept
        if change.before is not None and change.after is not None:  # e.g. removed, re-added
            differ = {
                k
                for k in {*change.before, *change.after}
                if change.before.get(k) != change.after.get(k)
            }
            if not differ:
                continue
            change = AuditChange(
                change.kind,
                change.identity,
                {k: v for k, v in change.before.items() if k in differ},
                {k: v for k, v in change.after.items() if k in differ},
            )
        changes.append(change)
    return _capped(changes)


MAX_CHANGES = 1000
"""At most this many objects are listed in one entry; the rest are counted by kind."""


def _capped(changes: list[AuditChange | _NewRow]) -> list[AuditChange]:
    """The first :data:`MAX_CHANGES` changes, shown, and the rest counted by kind."""
    kept = [_change(change) for change in changes[:MAX_CHANGES]]
    if len(changes) <= MAX_CHANGES:
        return kept
    rest: dict[str, int] = {}
    for change in changes[MAX_CHANGES:]:
        rest[change.kind] = rest.get(change.kind, 0) + 1
    more = AuditChange(
        "(more)", f"{len(changes) - MAX_CHANGES} more objects", None, dict(sorted(rest.items()))
    )
    return [*kept, more]


def discard(session: Session) -> None:
    session.info.pop(_CHANGES, None)
