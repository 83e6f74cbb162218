"""The health reports behind the glance, findings and renewal pages, computed once per change
to the store rather than once per request: a check of an organisation of 20,000
certificates takes seconds, a page must not.

The store's version is its newest audit entry (every changing transaction writes one). A
report made at the current version is served as it is; once it is older than ``max_age``
(the days left move with the clock) it is still served while a fresh one is made in the
background. After a change the next page waits for a new report: what it shows must include
the change. One computation per key at a time: concurrent requests wait for it instead of
repeating it.

The report of the whole organisation at every severity is the one the scheduler's health
runs make in this process (:meth:`HealthReports.keep`); a page for one server or a higher
severity is narrowed from it (:func:`certward.health.engine.narrowed`) rather than checked
again.

In the web service the scheduler's health runs happen in its worker process
(:meth:`HealthReports.adopt`, with ``remote``: how to ask that worker for a check now). Then
no request ever checks the organisation in this process: a page is narrowed from the
worker's latest report; once the store changed or the report aged, that report is still
shown (its "as of" says when it was made) while the worker is asked, in the background, for
a fresh one. Only before the worker's first report does a page wait for one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certward.health.findings import Severity

if TYPE_CHECKING:
    from certward.compose import App
    from certward.health.engine import HealthReport

MAX_AGE = 60.0  # seconds before a report of an unchanged store is made again

Key = tuple[str | None, Severity]
_WHOLE: Key = (None, Severity.INFO)
Remote = Callable[[], "tuple[int | None, HealthReport]"]
"""A check of the whole organisation made elsewhere: (the store's version when it began,
its report)."""


@dataclass(frozen=True, slots=True)
class _Cached:
    version: int | None
    made: float
    report: HealthReport


class HealthReports:
    def __init__(
        self, *, max_age: float = MAX_AGE, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.remote: Remote | None = None  # set while a worker process makes the reports
        self._max_age = max_age
        self._monotonic = monotonic
        self._cached: dict[Key, _Cached] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._refreshing: dict[Key, threading.Thread] = {}
        self._guard = threading.Lock()

    def report(
        self, app: App, *, server: str | None = None, min_severity: Severity = Severity.INFO
    ) -> HealthReport:
        key = (server.casefold() if server else None, min_severity)
        version = _version(app)
        remote = self.remote
        if remote is not None:
            return self._from_worker(app, remote, key, server, min_severity, version)
        cached = self._cached.get(key)
        if cached is not None and cached.version == version:
            if self._monotonic() - cached.made >= self._max_age:
                self._refresh_later(app, key, server, min_severity, version)
            return cached.report
        narrow = self._narrowed(key, server, min_severity, version)
        if narrow is not None:
            return narrow
        return self._make(app, key, server, min_severity, version)

    def _narrowed(
        self, key: Key, server: str | None, min_severity: Severity, version: int | None
    ) -> HealthReport | None:
        """The page's report narrowed from a fresh one of the whole organisation, if any."""
        whole = self._cached.get(_WHOLE)
        if (
            key == _WHOLE
            or whole is None
            or whole.version != version
            or self._monotonic() - whole.made >= self._max_age
        ):
            return None
        if server is not None and server.casefold() not in {
            name.casefold() for name in whole.report.servers
        }:
            return None  # a server the report does not know: the check says so
        from certward.health.engine import narrowed

        report = narrowed(whole.report, server=server, min_severity=min_severity)
        self._cached[key] = _Cached(version, whole.made, report)
        return report

    def _from_worker(
        self,
        app: App,
        remote: Remote,
        key: Key,
        server: str | None,
        min_severity: Severity,
        version: int | None,
    ) -> HealthReport:
        """The page's report narrowed from the worker's latest (asked for a fresh one in the
        background when the store changed or it aged; waited for only when there is none)."""
        whole = self._cached.get(_WHOLE)
        if whole is None:
            self._fetch(remote, unless_kept=True)
            whole = self._cached[_WHOLE]
        elif whole.version != version or self._monotonic() - whole.made >= self._max_age:
            self._fetch_later(remote)
        if key == _WHOLE:
            return whole.report
        cached = self._cached.get(key)
        if cached is not None and cached.made == whole.made:
            return cached.report
        if server is not None and server.casefold() not in {
            name.casefold() for name in whole.report.servers
        }:
            app.organisation.server(server)  # server.not_found if there is no such server
        from certward.health.engine import narrowed

        report = narrowed(whole.report, server=server, min_severity=min_severity)
        self._cached[key] = _Cached(whole.version, whole.made, report)
        return report

    def _fetch(self, remote: Remote, *, unless_kept: bool = False) -> None:
        """The worker's check, kept; one at a time (``unless_kept``: none if a report
        arrived while this one waited its turn)."""
        with self._guard:
            lock = self._locks.setdefault(_WHOLE, threading.Lock())
        with lock:
            if unless_kept and _WHOLE in self._cached:
                return
            version, report = remote()
            self.adopt(version, report)

    def _fetch_later(self, remote: Remote) -> None:
        with self._guard:
            running = self._refreshing.get(_WHOLE)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._fetch_quietly, args=(remote,), name="console-health-fetch",
                daemon=True,
            )  # fmt: skip
            self._refreshing[_WHOLE] = thread
            thread.start()

    def _fetch_quietly(self, remote: Remote) -> None:
        import logging

        from certward.errors import CertwardError

        try:
            self._fetch(remote)
        except CertwardError as exc:  # the page keeps its report; the next one asks again
            logging.getLogger("certward.web").warning(
                "the worker's health check failed: %s", exc.message
            )

    def keep(self, app: App, as_of: dt.datetime) -> HealthReport:
        """A check of the whole organisation as of ``as_of`` (a scheduled health run's),
        kept as the console's report of the store as it was when the check began."""
        version = _version(app)
        report = app.health.check(as_of=as_of)
        self._cached[_WHOLE] = _Cached(version, self._monotonic(), report)
        return report

    def adopt(self, version: int | None, report: HealthReport) -> None:
        """Keep ``report`` (of the whole organisation, made elsewhere when the store was at
        ``version``) as :meth:`keep` would have."""
        self._cached[_WHOLE] = _Cached(version, self._monotonic(), report)

    def settle(self, timeout: float) -> None:
        """Wait for the background refreshes started so far (tests; shutting down)."""
        with self._guard:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join(timeout)

    def _make(
        self,
        app: App,
        key: Key,
        server: str | None,
        min_severity: Severity,
        version: int | None,
    ) -> HealthReport:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._cached.get(key)  # made by another request meanwhile?
            if (
                cached is not None
                and cached.version == version
                and self._monotonic() - cached.made < self._max_age
            ):
                return cached.report
            report = app.health.check(server=server, min_severity=min_severity)
            self._cached[key] = _Cached(version, self._monotonic(), report)
            return report

    def _refresh_later(
        self,
        app: App,
        key: Key,
        server: str | None,
        min_severity: Severity,
        version: int | None,
    ) -> None:
        with self._guard:
            running = self._refreshing.get(key)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(
                target=self._make,
                args=(app, key, server, min_severity, version),
                name="console-health-refresh",
                daemon=True,
            )
            self._refreshing[key] = thread
            thread.start()


def _version(app: App) -> int | None:
    newest = app.audit.entries(limit=1)
    return newest[0].entry_id if newest else None
