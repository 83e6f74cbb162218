"""Mailbox logins for IMAP and POP3 that a password guesser cannot use to stall the server.

* scrypt runs on a small thread pool, never on the event loop, so other sessions go on;
* an unknown address costs the same scrypt as a known one (a dummy hash), so the time of
  a refusal does not tell which mailboxes exist;
* repeated failures are slowed down and then locked out, per mailbox address and per source
  address (:class:`LoginThrottle`, pure, its clock passed in); a lockout is written to the
  server's event log (4740 for a mailbox, 4625 for a source address, as Windows does).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from certward.endpoints.logs import EventLog
from certward.model import Mailbox, Password
from certward.passwords import reject_in_equal_time, verify_password

VERIFY_NICENESS = 10  # password threads yield the CPU to the event loop
_niced = threading.local()

USER_LOCKED_EVENT = 4740  # "A user account was locked out"
SOURCE_LOCKED_EVENT = 4625  # "An account failed to log on" (with the source network address)


@dataclass(frozen=True)
class LoginPolicy:
    """How failures are slowed down and locked out (secure defaults; seconds)."""

    user_threshold: int = 5  # failures for one mailbox address in ``window`` -> locked
    source_threshold: int = 20  # failures from one source address in ``window`` -> locked
    window: float = 900.0
    lockout: float = 900.0
    free_failures: int = 2  # answered at once; each later failure waits ``step`` more
    step: float = 0.25
    max_delay: float = 4.0

    def __post_init__(self) -> None:
        if self.user_threshold < 1 or self.source_threshold < 1:
            raise ValueError("user_threshold and source_threshold must be at least 1")


@dataclass
class _Tally:
    failures: list[float] = field(default_factory=list)  # times, within the window
    in_flight: int = 0
    locked_until: float = 0.0


@dataclass(frozen=True)
class Lockout:
    kind: str  # "user" or "source"
    key: str
    failures: int
    until: float


class LoginThrottle:
    """Failure counts per mailbox address and per source address (no I/O, no clock)."""

    def __init__(self, policy: LoginPolicy | None = None) -> None:
        self.policy = policy or LoginPolicy()
        self._users: dict[str, _Tally] = {}
        self._sources: dict[str, _Tally] = {}

    def _tallies(self, user: str, source: str, now: float) -> tuple[_Tally, _Tally]:
        tallies = []
        for table, key in ((self._users, user), (self._sources, source)):
            tally = table.setdefault(key, _Tally())
            tally.failures = [t for t in tally.failures if now - t < self.policy.window]
            tallies.append(tally)
        return tallies[0], tallies[1]

    def begin(self, user: str, source: str, *, now: float) -> bool:
        """Whether an attempt may be verified now; if so it counts as in flight until
        :meth:`failed` or :meth:`succeeded`. Attempts in flight count towards the thresholds,
        so parallel connections cannot fire a burst of guesses past them."""
        u, s = self._tallies(user, source, now)
        p = self.policy
        for tally, threshold in ((u, p.user_threshold), (s, p.source_threshold)):
            if tally.locked_until > now or len(tally.failures) + tally.in_flight >= threshold:
                return False
        u.in_flight += 1
        s.in_flight += 1
        return True

    def succeeded(self, user: str, source: str, *, now: float) -> None:
        u, s = self._tallies(user, source, now)
        u.in_flight, s.in_flight = max(0, u.in_flight - 1), max(0, s.in_flight - 1)
        u.failures.clear()  # the source keeps its count: one good account must not reset it

    def failed(self, user: str, source: str, *, now: float) -> tuple[float, list[Lockout]]:
        """Record a failure: the delay before answering it, and any lockout it starts."""
        u, s = self._tallies(user, source, now)
        p = self.policy
        locked: list[Lockout] = []
        for kind, key, tally, threshold in (
            ("user", user, u, p.user_threshold),
            ("source", source, s, p.source_threshold),
        ):
            tally.in_flight = max(0, tally.in_flight - 1)
            tally.failures.append(now)
            if len(tally.failures) >= threshold and tally.locked_until <= now:
                tally.locked_until = now + p.lockout
                locked.append(Lockout(kind, key, len(tally.failures), tally.locked_until))
        worst = max(len(u.failures), len(s.failures))
        delay = min(p.max_delay, max(0, worst - p.free_failures) * p.step)
        return delay, locked

    def refused(self, user: str, source: str, *, now: float) -> float:
        """Record an attempt refused without verifying (locked out): its delay."""
        u, s = self._tallies(user, source, now)
        return self.policy.step if max(u.locked_until, s.locked_until) > now else 0.0


def _lower_thread_priority() -> None:
    """On Linux a thread has its own nice value: the password threads take a lower one, so
    a stream of guesses slows the guesses, not the sessions on the event loop."""
    if sys.platform != "linux" or getattr(_niced, "done", False):
        return
    _niced.done = True
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), VERIFY_NICENESS)


def default_threads() -> int:
    """One core is left to the event loop: ``cpu_count - 1`` threads, at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


class PasswordChecker:
    """Checks mailbox passwords off the event loop, throttled (one per running server)."""

    def __init__(
        self,
        mailboxes: Callable[[], Mapping[str, Mailbox]],
        events: EventLog,
        *,
        policy: LoginPolicy | None = None,
        threads: int | None = None,
    ) -> None:
        from twisted.python.threadpool import ThreadPool

        self._mailboxes = mailboxes
        self._events = events
        self.throttle = LoginThrottle(policy)
        self._pool = ThreadPool(
            minthreads=0, maxthreads=threads or default_threads(), name="certward-passwords"
        )
        self._started = False

    def _reactor(self) -> Any:
        from certward.endpoints.reactor import get_reactor

        reactor = get_reactor()
        if not self._started:
            self._pool.start()
            reactor.addSystemEventTrigger("during", "shutdown", self._pool.stop)
            self._started = True
        return reactor

    def check(self, address: str, password: Password, *, source: str, service: str) -> Any:
        """A Deferred that fires with the mailbox if the password is right, else None."""
        from twisted.internet import task, threads

        reactor = self._reactor()
        user = address.lower()
        if not self.throttle.begin(user, source, now=reactor.seconds()):
            delay = self.throttle.refused(user, source, now=reactor.seconds())
            return task.deferLater(reactor, delay, lambda: None)
        mailbox = self._mailboxes().get(user)

        def verify() -> bool:
            _lower_thread_priority()
            if mailbox is None:
                return reject_in_equal_time(password)
            return verify_password(mailbox.password_hash, password)

        def answered(ok: bool) -> Any:
            now = reactor.seconds()
            if ok and mailbox is not None:
                self.throttle.succeeded(user, source, now=now)
                return mailbox
            delay, locked = self.throttle.failed(user, source, now=now)
            for lockout in locked:
                self._log(lockout, service, source)
            return task.deferLater(reactor, delay, lambda: None)

        def broken(reason: Any) -> None:
            self.throttle.failed(user, source, now=reactor.seconds())
            return None

        deferred = threads.deferToThreadPool(reactor, self._pool, verify)
        return deferred.addCallbacks(answered, broken)

    def _log(self, lockout: Lockout, service: str, source: str) -> None:
        minutes = round(self.throttle.policy.lockout / 60)
        if lockout.kind == "user":
            self._events.write(
                USER_LOCKED_EVENT,
                f"A user account was locked out. Account Name: {lockout.key}. "
                f"{lockout.failures} failed {service} logons (the last from {source}); "
                f"locked for {minutes} minutes.",
                source="Microsoft-Windows-Security-Auditing",
            )
        else:
            self._events.write(
                SOURCE_LOCKED_EVENT,
                f"Logons from source network address {lockout.key} are refused for "
                f"{minutes} minutes after {lockout.failures} failed {service} logons.",
                source="Microsoft-Windows-Security-Auditing",
            )
