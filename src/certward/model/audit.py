"""The audit log (issue 14): who changed what, when, through what, with before and after, as
Exchange's admin audit log records cmdlets and the properties they modified.

Every committed change to the store is logged by the store itself (one entry per
transaction, one :class:`AuditChange` per object), so no service can forget to; actions that
change nothing stored but must be known (a private key exported) are logged explicitly.
Who is acting is the :data:`ACTOR` context variable, set by each interface around the
operation it runs (the command line with the local account and the command, the API with
the token's name and the route); values that are secrets (keys, hashes) never enter an entry.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class Channel(enum.StrEnum):
    """Through what a change reached certward (the audit log's ``via``)."""

    CLI = "cli"
    API = "api"
    WEB = "web"  # the console
    SCHEDULER = "scheduler"
    AGENT = "agent"
    LIBRARY = "library"  # Python code calling the services directly (tests, scripts)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting and what they asked for (``action``: the command or the route)."""

    name: str
    via: Channel
    action: str = ""


NOBODY = Actor("unknown", Channel.LIBRARY)
"""The actor of code that set none (tests, scripts calling the services directly)."""

ACTOR: contextvars.ContextVar[Actor] = contextvars.ContextVar("certward_actor", default=NOBODY)


@contextlib.contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Run the block as ``actor``: what it changes is logged under that name."""
    token = ACTOR.set(actor)
    try:
        yield actor
    finally:
        ACTOR.reset(token)


@dataclass(frozen=True, slots=True)
class AuditChange:
    """One object changed: its kind ("certificate", "server", "connector" …), its identity
    (e.g. ``EXCH01/My/2D7E…``), and its properties before and after (None: created or
    removed). Only the properties that changed are listed for an update."""

    kind: str
    identity: str
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    via: Channel
    action: str  # "cert enable", "POST /api/v1/certificates/{thumbprint}/enable", "key.export"
    changes: tuple[AuditChange, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)  # e.g. the export's file name
    entry_id: int | None = None
