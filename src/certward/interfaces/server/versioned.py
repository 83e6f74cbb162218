"""Values the web service reads from the store, kept until the organisation changes.

The organisation's version is its newest audit entry: every transaction that changes what
people manage (servers, certificates, connectors, users...) writes one, while the
scheduler's own records (its runs, the findings' history, the notices it queues) and
sessions' use times write none (:data:`certward.storage.audit_capture.SKIPPED_TABLES`).
So a value kept by :class:`ByVersion` survives the scheduled runs — which change the store
every few seconds at the web service's scale — and is read again after a person's change.
A value that follows the scheduler's records too is kept by the store's generation
(:func:`store_generation`: every changing transaction moves it on).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from certward.compose import App
    from certward.services.views import CertificateView

T = TypeVar("T")


def organisation_version(app: App) -> int | None:
    """The store's newest audit entry (None: nothing audited yet)."""
    newest = app.audit.entries(limit=1)
    return newest[0].entry_id if newest else None


def store_generation(app: App) -> int:
    """How many changing transactions the store has committed (the scheduler's included)."""
    return app.store.generation()


class ByVersion(Generic[T]):
    """``make(app)``, made again only when ``version(app)`` (by default the organisation's
    version) moved on; one making at a time, callers arriving meanwhile wait for it — or,
    with ``wait=False``, are given the value made before, if any."""

    def __init__(
        self,
        make: Callable[[App], T],
        version: Callable[[App], int | None] = organisation_version,
        *,
        wait: bool = True,
    ) -> None:
        self._make = make
        self._version = version
        self._wait = wait
        self._kept: weakref.WeakKeyDictionary[App, tuple[int | None, T]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self.makings = 0

    def get(self, app: App) -> T:
        version = self._version(app)  # before the reading: a change meanwhile shows
        kept = self._kept.get(app)
        if kept is not None and kept[0] == version:
            return kept[1]
        if not self._lock.acquire(blocking=self._wait or kept is None):
            assert kept is not None  # not waited for only with a value made before
            return kept[1]
        try:
            kept = self._kept.get(app)
            if kept is not None and kept[0] == version:
                return kept[1]
            value = self._make(app)
            self._kept[app] = (version, value)
            self.makings += 1
            return value
        finally:
            self._lock.release()


def next_change(views: Iterable[CertificateView], now: dt.datetime) -> dt.datetime | None:
    """The first moment after ``now`` one of ``views``' status may change (a NotBefore or
    NotAfter still ahead): until then, views kept since ``now`` still hold."""
    ahead = [
        moment
        for view in views
        for moment in (view.not_before, view.not_after)
        if moment is not None and moment > now
    ]
    return min(ahead, default=None)
