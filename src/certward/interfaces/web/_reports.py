"""The health reports behind the glance and findings pages, computed once per change to the
store rather than once per request: a check of an organisation of 20,000 certificates takes
seconds, a page must not.

The store's version is its newest audit entry (every changing transaction writes one); a
report is reused while that is unchanged and the report is younger than ``max_age`` (the
days left move with the clock). One computation per key at a time: concurrent requests for
the same report wait for it instead of repeating it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certward.health.findings import Severity

if TYPE_CHECKING:
    from certward.compose import App
    from certward.health.engine import HealthReport

MAX_AGE = 60.0  # seconds a report is shown while the store is unchanged

Key = tuple[str | None, Severity]


@dataclass(frozen=True, slots=True)
class _Cached:
    version: int | None
    made: float
    report: HealthReport


class HealthReports:
    def __init__(
        self, *, max_age: float = MAX_AGE, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age = max_age
        self._monotonic = monotonic
        self._cached: dict[Key, _Cached] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._guard = threading.Lock()

    def report(
        self, app: App, *, server: str | None = None, min_severity: Severity = Severity.INFO
    ) -> HealthReport:
        key = (server.casefold() if server else None, min_severity)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            version = _version(app)
            cached = self._cached.get(key)
            now = self._monotonic()
            if (
                cached is not None
                and cached.version == version
                and now - cached.made < self._max_age
            ):
                return cached.report
            report = app.health.check(server=server, min_severity=min_severity)
            self._cached[key] = _Cached(version, self._monotonic(), report)
            return report


def _version(app: App) -> int | None:
    newest = app.audit.entries(limit=1)
    return newest[0].entry_id if newest else None
