"""Limits that keep hostile clients from taking the endpoints down.

* a listen backlog sized for bursts (Twisted's default is 50);
* at most ``per_source`` open connections from one source address across all endpoints,
  the next refused with the protocol's own "too many connections" reply;
* the idle timeout of each protocol (seconds), set on its session classes.

A STARTTLS/STLS switch discards whatever the client pipelined after the command in
plaintext (CVE-2011-0411): :class:`StartTlsBarrier`.
"""

from __future__ import annotations

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


class SourceLimit:
    """Open connections per source address, shared by every listener of one server."""

    def __init__(self, per_source: int = PER_SOURCE) -> None:
        self.per_source = per_source
        self.open: Counter[str] = Counter()
        self.refused = 0

    def build(self, addr: Any, make: Callable[[], Any], kind: str) -> Any:
        """The session ``make()`` builds, or a refusal when ``addr``'s host has too many
        connections open; the count drops when the session's connection is lost."""
        host = str(getattr(addr, "host", addr))
        if self.open[host] >= self.per_source:
            self.refused += 1
            return _Refusal(REFUSALS[kind])
        session = make()
        self.open[host] += 1
        lost = session.connectionLost

        def connection_lost(reason: failure.Failure = protocol.connectionDone) -> None:
            self.open[host] -= 1
            if self.open[host] <= 0:
                del self.open[host]
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
