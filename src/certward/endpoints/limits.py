"""Limits that keep hostile clients from taking the endpoints down.

* a listen backlog sized for bursts (Twisted's default is 50);
* at most ``per_source`` open connections from one source address across all endpoints,
  the next refused with the protocol's own "too many connections" reply;
* the idle timeout of each protocol (seconds), set on its session classes.

A STARTTLS/STLS switch discards whatever the client pipelined after the command in
plaintext (CVE-2011-0411): :class:`StartTlsBarrier`.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import protocol
from twisted.python import failure

BACKLOG = 1024
PER_SOURCE = 50

# Idle timeouts, seconds.
SMTP_IDLE = 300  # RFC 5321 4.5.3.2.7: a server waits 5 minutes for the next command
IMAP_IDLE = 60  # before login (Twisted's default); 30 minutes after (RFC 3501 autologout)
IMAP_IDLE_AUTHENTICATED = 1800
POP3_IDLE = 600  # RFC 1939: at least 10 minutes
HTTP_IDLE = 120  # IIS's connectionTimeout


@dataclass(frozen=True)
class Limits:
    backlog: int = BACKLOG
    per_source: int = PER_SOURCE

    def __post_init__(self) -> None:
        if self.backlog < 1:
            raise ValueError(f"backlog must be at least 1, not {self.backlog}")
        if self.per_source < 1:
            raise ValueError(f"per_source must be at least 1, not {self.per_source}")


REFUSALS: dict[str, bytes] = {
    "smtp": b"421 4.3.2 Too many connections from your address, try again later\r\n",
    "imap": b"* BYE Too many connections from your address\r\n",
    "pop3": b"-ERR [SYS/TEMP] Too many connections from your address\r\n",
    "http": (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 39\r\nConnection: close\r\n\r\n"
        b"Too many connections from your address\n"
    ),
}


class _Refusal(protocol.Protocol):
    def __init__(self, message: bytes) -> None:
        self._message = message

    def connectionMade(self) -> None:
        self.transport.write(self._message)
        self.transport.loseConnection()


class SharedCounts:
    """Open connections per source address, shared by the worker processes of one server.

    Made before the workers fork: one row of counters per worker in shared memory, a
    source address's slot chosen by a hash of it (two addresses sharing one of the 65,536
    slots share a count). A worker adds to its own row only and reads every row, so no lock
    is held across processes (a worker that dies holds none), and the supervisor clears
    the row of a worker it replaces. Admission adds first and checks the total after, so
    simultaneous admissions in several workers can only refuse early, never let the total
    pass the limit by more than those few racing connections.
    """

    SLOTS = 65_536

    def __init__(self, workers: int, slots: int = SLOTS) -> None:
        import multiprocessing

        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._slots = slots
        self._workers = workers
        self._counts = multiprocessing.get_context("fork").RawArray("i", workers * slots)
        self.worker = 0  # the row this process adds to (set in each worker after the fork)

    def _slot(self, host: str) -> int:
        return zlib.crc32(host.encode()) % self._slots

    def acquire(self, host: str, limit: int) -> bool:
        """Count one more connection from ``host``, unless that would pass ``limit``."""
        slot = self._slot(host)
        counts = self._counts
        mine = self.worker * self._slots + slot
        counts[mine] += 1
        total = sum(counts[w * self._slots + slot] for w in range(self._workers))
        if total > limit:
            counts[mine] -= 1
            return False
        return True

    def release(self, host: str) -> None:
        mine = self.worker * self._slots + self._slot(host)
        if self._counts[mine] > 0:
            self._counts[mine] -= 1

    def clear(self, worker: int) -> None:
        """Forget the connections of a worker that is gone (its row)."""
        start = worker * self._slots
        self._counts[start : start + self._slots] = [0] * self._slots


class SourceLimit:
    """Open connections per source address, shared by every listener of one server (and,
    with :class:`SharedCounts`, by every worker process of it)."""

    def __init__(self, per_source: int = PER_SOURCE, shared: SharedCounts | None = None) -> None:
        self.per_source = per_source
        self.open: Counter[str] = Counter()  # this process's connections
        self.refused = 0
        self._shared = shared

    def build(self, addr: Any, make: Callable[[], Any], kind: str) -> Any:
        """The session ``make()`` builds, or a refusal when ``addr``'s host has too many
        connections open; the count drops when the session's connection is lost."""
        host = str(getattr(addr, "host", addr))
        shared = self._shared
        if shared is None:
            admitted = self.open[host] < self.per_source
        else:
            admitted = shared.acquire(host, self.per_source)
        if not admitted:
            self.refused += 1
            return _Refusal(REFUSALS[kind])
        try:
            session = make()
        except BaseException:
            if shared is not None:
                shared.release(host)
            raise
        self.open[host] += 1
        lost = session.connectionLost

        def connection_lost(reason: failure.Failure = protocol.connectionDone) -> None:
            self.open[host] -= 1
            if self.open[host] <= 0:
                del self.open[host]
            if shared is not None:
                shared.release(host)
            lost(reason)

        session.connectionLost = connection_lost
        return session


class StartTlsBarrier:
    """Mixin for line-based protocols (before the Twisted base in the class list): after
    :meth:`tls_barrier` (called right after ``transport.startTLS``), lines that were
    already received in plaintext are discarded, not executed inside the TLS session."""

    _barrier = False
    discarded = 0  # bytes dropped since the last hook call
    _buffer: bytes  # the line receiver's

    def tls_barrier(self) -> None:
        self._barrier = True

    def dataReceived(self, data: bytes) -> Any:
        try:
            return super().dataReceived(data)
        finally:
            if self._barrier:
                self.discarded += len(self._buffer)
                self._buffer = b""
                self._barrier = False
                if self.discarded:
                    self.pipelined_discarded()
                    self.discarded = 0

    def lineReceived(self, line: bytes) -> Any:
        if self._barrier:
            self.discarded += len(line) + 2
            return None
        return super().lineReceived(line)

    def pipelined_discarded(self) -> None:
        """Hook: called when bytes pipelined after STARTTLS were dropped (``discarded``)."""
