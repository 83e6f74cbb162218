"""The audit log (issue 14): reading it, and recording actions that store nothing.

Changes to the store are recorded by the store itself when their transaction commits
(:mod:`certward.storage.audit_capture`), under the actor of
:data:`certward.model.audit.ACTOR`. What changes nothing stored but must be known — a
private key leaving certward in a PFX or PEM file — is recorded here with
:meth:`AuditService.record`; the detail names the server, thumbprint and file, never a
password.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from certward.clock import Clock
from certward.model.audit import ACTOR, AuditEntry

SECRET_WORDS = ("password", "passphrase", "secret", "private_key", "pkcs8", "pem")


class AuditWriter(Protocol):
    def add_audit_entry(self, entry: AuditEntry) -> None: ...


class AuditRepository(AuditWriter, Protocol):
    def audit_entries(
        self,
        *,
        since: dt.datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]: ...


class AuditStore(Protocol):
    def transaction(self) -> AbstractContextManager[AuditRepository]: ...
    def reading(self) -> AbstractContextManager[AuditRepository]: ...


def entry_for(action: str, detail: Mapping[str, Any], now: dt.datetime) -> AuditEntry:
    """An entry for ``action`` by the current actor; values under secret-sounding keys are
    dropped from the detail (defence in depth: callers pass none)."""
    actor = ACTOR.get()
    safe = {
        key: value if isinstance(value, bool | int | float | str | None) else str(value)
        for key, value in detail.items()
        if not any(word in key.lower() for word in SECRET_WORDS)
    }
    return AuditEntry(at=now, actor=actor.name, via=actor.via, action=action, detail=safe)


def record_in(repo: AuditWriter, action: str, detail: Mapping[str, Any], now: dt.datetime) -> None:
    """Record ``action`` within a transaction the caller already holds."""
    repo.add_audit_entry(entry_for(action, detail, now))


class AuditService:
    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def entries(
        self,
        *,
        since: dt.datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest entries first, at most ``limit``; ``action`` matches a prefix."""
        with self._store.reading() as repo:
            return repo.audit_entries(since=since, actor=actor, action=action, limit=limit)

    def record(self, action: str, detail: Mapping[str, Any]) -> AuditEntry:
        """Record an action that stores nothing (e.g. ``key.export``) by the current actor."""
        entry = entry_for(action, detail, self._clock.now())
        with self._store.transaction() as repo:
            repo.add_audit_entry(entry)
        return entry
