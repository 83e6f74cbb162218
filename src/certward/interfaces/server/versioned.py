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
    version) moved on; one making at a time, callers arriving meanwhile wait for it. With
    ``wait=False`` a caller never waits once a value was made: it is given that value while
    the new one is made in the background (the first value is still waited for)."""

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
        self._making: threading.Thread | None = None
        self._starting = threading.Lock()
        self.makings = 0

    def get(self, app: App, *, wait: bool | None = None) -> T:
        """The value (``wait``: whether to wait for a new one, if not as constructed)."""
        version = self._version(app)  # before the reading: a change meanwhile shows
        kept = self._kept.get(app)
        if kept is not None and kept[0] == version:
            return kept[1]
        if kept is not None and not (self._wait if wait is None else wait):
            self._make_later(app, version)
            return kept[1]
        return self._made(app, version)

    def settle(self, timeout: float) -> None:
        """Wait for a background making under way, if any (tests)."""
        making = self._making
        if making is not None:
            making.join(timeout)

    def _made(self, app: App, version: int | None) -> T:
        with self._lock:
            kept = self._kept.get(app)
            if kept is not None and kept[0] == version:
                return kept[1]
            value = self._make(app)
            self._kept[app] = (version, value)
            self.makings += 1
            return value

    def _make_later(self, app: App, version: int | None) -> None:
        with self._starting:  # not the making's lock: that one is held while making
            if self._making is not None and self._making.is_alive():
                return
            self._making = threading.Thread(
                target=self._made_quietly, args=(app, version), name="web-kept", daemon=True
            )
            self._making.start()

    def _made_quietly(self, app: App, version: int | None) -> None:
        import logging

        try:
            self._made(app, version)
        except Exception:  # the kept value stays; the next caller asks again
            logging.getLogger("certward.web").exception("reading a kept value failed")


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
