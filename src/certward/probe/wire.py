"""A bounded client connection for dialogues: lines and TLS with caps and timeouts.

Every read is capped (line length, total bytes), so a hostile or broken server — endless
continuation lines, a 10 MB line, garbage instead of a handshake, a reset — yields a clear
failure, never a hang (each stage also has a timeout) or unbounded memory.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from dataclasses import dataclass, field
from typing import Any

from OpenSSL import SSL
from twisted.internet import defer, error, protocol
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IStreamClientEndpoint,
)
from twisted.python import failure
from zope.interface import implementer

from certward.endpoints.tls import VERSIONS, requested_ca_names
from certward.probe.report import FailureReason

MAX_LINE = 8192
MAX_TOTAL = 1_000_000
MAX_RECORD = 16384 + 2048  # TLSCiphertext's limit
# The version a ServerHello selects (its supported_versions extension, else legacy_version).
WIRE_VERSIONS = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_SUPPORTED_VERSIONS = 0x002B


class ProbeFailure(Exception):
    """A stage that failed: the reason (an enum) and the detail a person reads. Raised
    inside a dialogue; the report keeps it as a value (``report.Failure``)."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class TlsObservation:
    """What the client saw during one handshake."""

    requested: bool = False
    ca_names: list[bytes] = field(default_factory=list)
    ocsp_stapled: bool = False


# Each probe connection's observation (Twisted keeps the connection's app data for itself).
_OBSERVATIONS: weakref.WeakKeyDictionary[SSL.Connection, TlsObservation] = (
    weakref.WeakKeyDictionary()
)


def _observe_handshake(connection: SSL.Connection, where: int, _ret: int) -> None:
    observation = _OBSERVATIONS.get(connection)
    if observation is None or observation.requested:
        return  # called at every state change of every handshake: nothing more to see
    names = requested_ca_names(connection, where)
    if names is not None:
        observation.requested = True
        observation.ca_names = names


def _observe_ocsp(connection: SSL.Connection, data: bytes, _extra: Any) -> bool:
    observation = _OBSERVATIONS.get(connection)
    if observation is not None:
        observation.ocsp_stapled = bool(data)
    return True


@functools.cache
def _probe_context() -> SSL.Context:
    """One context for every probe connection (its callbacks find each one's observation)."""
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")  # see old protocols and weak keys too
    context.set_verify(SSL.VERIFY_NONE)
    context.set_info_callback(_observe_handshake)
    context.set_ocsp_client_callback(_observe_ocsp)
    return context


@implementer(IOpenSSLClientConnectionCreator)
class ProbeTlsCreator:
    """A client TLS connection that verifies nothing itself (the prober judges afterwards),
    sends SNI, asks for OCSP stapling, and records any client-certificate request."""

    def __init__(self, server_name: str | None, observation: TlsObservation) -> None:
        self._server_name = server_name  # None: no SNI (an address is never sent as SNI)
        self._observation = observation

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(_probe_context(), None)
        _OBSERVATIONS[connection] = self._observation
        if self._server_name is not None:
            connection.set_tlsext_host_name(self._server_name.encode("idna"))
        connection.request_ocsp()
        connection.set_connect_state()
        return connection


def _cipher_names(spec: bytes) -> list[str]:
    """The TLS 1.2-and-earlier cipher suites an OpenSSL cipher string selects, in order."""
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_cipher_list(spec)
    return [n for n in SSL.Connection(context, None).get_cipher_list() if not n.startswith("TLS_")]


@functools.cache
def hello_ciphers() -> bytes:
    """The version checks' cipher list: the suites the main connection offers (OpenSSL's
    DEFAULT at security level 0), those with RSA key transport first. The server settles
    the version before the suite, so the order cannot change the answer; but a server that
    takes the client's order (OpenSSL's default, Postfix's) then answers with no
    ServerKeyExchange, sparing it a signature (and a key share) for a handshake the check
    drops at the ServerHello."""
    offered = _cipher_names(b"DEFAULT:@SECLEVEL=0")
    unsigned = set(_cipher_names(b"kRSA:@SECLEVEL=0"))
    first = [n for n in offered if n in unsigned]
    rest = [n for n in offered if n not in unsigned]
    return ":".join([*first, *rest, "@SECLEVEL=0"]).encode()


@functools.lru_cache(maxsize=16)
def _hello_context(low: str, high: str) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(VERSIONS[low])
    context.set_max_proto_version(VERSIONS[high])
    context.set_cipher_list(hello_ciphers())
    context.set_verify(SSL.VERIFY_NONE)
    return context


@functools.lru_cache(maxsize=256)
def client_hello(server_name: str | None, low: str, high: str) -> bytes:
    """OpenSSL's own ClientHello offering TLS ``low``..``high`` (e.g. "1.0", "1.2") with SNI
    (when there is a name), made in memory: the version checks send it themselves and stop
    at the answer. Made once per name and range for the run: no handshake goes past the
    ServerHello, so nothing rests on its random or key shares being fresh."""
    connection = SSL.Connection(_hello_context(low, high), None)
    if server_name is not None:
        connection.set_tlsext_host_name(server_name.encode("idna"))
    connection.set_connect_state()
    with contextlib.suppress(SSL.WantReadError):  # it waits for the ServerHello
        connection.do_handshake()
    return connection.bio_read(MAX_RECORD)


def server_hello_version(handshake: bytes) -> str | None:
    """The version a ServerHello (or HelloRetryRequest, which is TLS 1.3) selects; None when
    the message is cut short or selects no version certward knows."""
    try:
        if handshake[0] != 2:  # ServerHello
            return None
        selected = int.from_bytes(handshake[4:6], "big")  # legacy_version
        position = 38  # type 1, length 3, legacy_version 2, random 32
        position += 1 + handshake[position]  # session id
        position += 3  # cipher suite, compression method
        end = position + 2 + int.from_bytes(handshake[position : position + 2], "big")
        position += 2
        while position + 4 <= min(end, len(handshake)):
            kind = int.from_bytes(handshake[position : position + 2], "big")
            size = int.from_bytes(handshake[position + 2 : position + 4], "big")
            if kind == _SUPPORTED_VERSIONS and size == 2:
                selected = int.from_bytes(handshake[position + 4 : position + 6], "big")
            position += 4 + size
    except IndexError:
        return None
    return WIRE_VERSIONS.get(selected)


@implementer(IHandshakeListener)
class Wire(protocol.Protocol):
    """Lines in, bytes out; ``await`` points for the dialogue code."""

    def __init__(self, *, max_line: int = MAX_LINE, max_total: int = MAX_TOTAL) -> None:
        self.ready: defer.Deferred[Wire] | None = None  # fired by connectionMade
        self._buffer = b""
        self._total = 0
        self._max_line = max_line
        self._max_total = max_total
        self._waiter: defer.Deferred[None] | None = None
        self._closed: failure.Failure | None = None
        self._handshake: defer.Deferred[None] | None = None

    # -- Twisted side ----------------------------------------------------------------------------
    def connectionMade(self) -> None:
        connected, self.ready = self.ready, None
        if connected is not None and not connected.called:
            connected.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self._total += len(data)
        if self._total > self._max_total:
            self._closed = failure.Failure(
                ProbeFailure(FailureReason.TOO_LARGE, f"more than {self._max_total} bytes")
            )
            self.transport.abortConnection()
        else:
            self._buffer += data
        self._wake()

    def connectionLost(self, reason: failure.Failure = protocol.connectionDone) -> None:
        if self._closed is None:
            self._closed = reason
        if self._handshake is not None and not self._handshake.called:
            self._handshake.errback(closed(reason, during_handshake=True))
        self._wake()

    def handshakeCompleted(self) -> None:
        if self._handshake is not None and not self._handshake.called:
            self._handshake.callback(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.called:
            waiter.callback(None)

    # -- dialogue side -----------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.transport.write(data)

    async def line(self) -> str:
        while True:
            index = self._buffer.find(b"\n")
            if index >= 0:
                raw, self._buffer = self._buffer[: index + 1], self._buffer[index + 1 :]
                if len(raw) > self._max_line:
                    raise ProbeFailure(
                        FailureReason.TOO_LARGE, f"a line longer than {self._max_line} bytes"
                    )
                return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
            if len(self._buffer) > self._max_line:
                self.transport.abortConnection()
                raise ProbeFailure(
                    FailureReason.TOO_LARGE, f"a line longer than {self._max_line} bytes"
                )
            if self._closed is not None:
                raise closed(self._closed)
            self._waiter = defer.Deferred()
            await self._waiter

    async def read_exactly(self, size: int) -> bytes:
        """``size`` bytes (within the connection's total cap)."""
        while len(self._buffer) < size:
            if self._closed is not None:
                raise closed(self._closed, f"after {len(self._buffer)} of {size} bytes")
            self._waiter = defer.Deferred()
            await self._waiter
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def read_to_close(self, limit: int) -> bytes:
        """Everything until the peer closes, failing past ``limit`` bytes."""
        while self._closed is None:
            if len(self._buffer) > limit:
                self.transport.abortConnection()
                raise ProbeFailure(FailureReason.TOO_LARGE, f"more than {limit} bytes")
            self._waiter = defer.Deferred()
            await self._waiter
        if len(self._buffer) > limit:
            raise ProbeFailure(FailureReason.TOO_LARGE, f"more than {limit} bytes")
        data, self._buffer = self._buffer, b""
        return data

    async def server_hello(self) -> str | None:
        """After a ClientHello sent in the clear: the version the server's ServerHello
        selects, or None for an alert. Reads only as far as the ServerHello."""
        handshake = b""
        while len(handshake) < 4 or len(handshake) < 4 + int.from_bytes(handshake[1:4], "big"):
            header = await self.read_exactly(5)
            kind, size = header[0], int.from_bytes(header[3:5], "big")
            if kind == 21:  # alert: the server refuses what was offered
                return None
            if kind != 22 or size > MAX_RECORD:
                raise ProbeFailure(
                    FailureReason.NOT_THE_PROTOCOL, f"not a TLS handshake record: {header.hex()}"
                )
            handshake += await self.read_exactly(size)
            if len(handshake) > MAX_RECORD:
                raise ProbeFailure(FailureReason.TOO_LARGE, "a ServerHello longer than a record")
        version = server_hello_version(handshake)
        if version is None:
            raise ProbeFailure(FailureReason.NOT_THE_PROTOCOL, "not a ServerHello")
        return version

    async def start_tls(self, creator: ProbeTlsCreator) -> SSL.Connection:
        self._handshake = defer.Deferred()
        self.transport.startTLS(creator)
        await self._handshake
        return self.transport.getHandle()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class _Connecting(protocol.ClientFactory):
    # Twisted logs every factory's start and stop: two events per connection (each kept in
    # its log buffer when nothing observes the log), nothing a probe reports.
    noisy = False

    def __init__(self, wire: Wire) -> None:
        self._wire = wire

    def buildProtocol(self, addr: Any) -> Wire:
        return self._wire

    def clientConnectionFailed(self, connector: Any, reason: failure.Failure) -> None:
        connected, self._wire.ready = self._wire.ready, None
        if connected is not None and not connected.called:
            connected.errback(reason)


async def connect(reactor: Any, address: str, port: int, timeout: float) -> Wire:
    """A connected Wire (IPv4 or IPv6 address). Cancelling stops the attempt; a connection
    that cannot be made is a ProbeFailure (UNREACHABLE)."""
    wire = Wire()
    connector: Any = None
    connected: defer.Deferred[Wire] = defer.Deferred(lambda _: connector.disconnect())
    wire.ready = connected
    connector = reactor.connectTCP(address, port, _Connecting(wire), timeout=timeout)
    try:
        return await connected
    except (error.ConnectError, OSError) as exc:
        raise unreachable(address, port, exc) from None


@implementer(IStreamClientEndpoint)
class _TranslatedEndpoint:
    """An endpoint whose connection failures are ProbeFailures, as ``connect``'s are."""

    def __init__(self, inner: Any, address: str, port: int) -> None:
        self._inner = inner
        self._address = address
        self._port = port

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        def translate(reason: failure.Failure) -> failure.Failure:
            if reason.check(error.ConnectError, OSError):
                return failure.Failure(unreachable(self._address, self._port, reason.value))
            return reason

        connecting: defer.Deferred[Any] = self._inner.connect(factory)
        return connecting.addErrback(translate)


def tls_endpoint(
    reactor: Any, address: str, port: int, timeout: float, creator: Any
) -> IStreamClientEndpoint:
    """A TLS client endpoint to an IPv4 or IPv6 address (for twisted.web's Agent), whose
    connection failures are ProbeFailures."""
    from twisted.internet import endpoints  # only the MTA-STS fetch needs it (and its cost)

    kind = endpoints.TCP6ClientEndpoint if ":" in address else endpoints.TCP4ClientEndpoint
    tcp = _TranslatedEndpoint(kind(reactor, address, port, timeout=timeout), address, port)
    endpoint: IStreamClientEndpoint = endpoints.wrapClientTLS(creator, tcp)
    return endpoint


_CONNECT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (error.ConnectionRefusedError, "connection refused"),
    (ConnectionRefusedError, "connection refused"),
    (error.TCPTimedOutError, "no answer to the connection attempt"),
    (error.TimeoutError, "no answer to the connection attempt"),
    (TimeoutError, "no answer to the connection attempt"),
    (error.NoRouteError, "no route to the host"),
    (error.DNSLookupError, "no address for the host"),
)


def unreachable(address: str, port: int, exc: BaseException) -> ProbeFailure:
    """A connection that could not be made, in a person's words."""
    why = next((text for kind, text in _CONNECT_ERRORS if isinstance(exc, kind)), None)
    if why is None:
        why = str(getattr(exc, "osError", "") or "") or exc.__class__.__name__
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return ProbeFailure(FailureReason.UNREACHABLE, f"cannot connect to {where}: {why}")


def closed(
    reason: failure.Failure, where: str = "", *, during_handshake: bool = False
) -> ProbeFailure:
    """What a lost connection means for the dialogue: the server's alert that it requires a
    client certificate, a failed handshake, or a connection closed or reset."""
    value = reason.value
    if isinstance(value, ProbeFailure):
        return value
    text = _reason(reason)
    if isinstance(value, SSL.Error) and "certificate required" in text:
        return ProbeFailure(
            FailureReason.CLIENT_CERTIFICATE_REQUIRED,
            f"the server requires a client certificate ({text})",
        )
    if during_handshake or isinstance(value, SSL.Error):
        return ProbeFailure(FailureReason.TLS_FAILED, f"TLS handshake failed: {text}")
    return ProbeFailure(
        FailureReason.CLOSED, f"connection closed{' ' + where if where else ''}: {text}"
    )


def _reason(reason: failure.Failure) -> str:
    value = reason.value
    if isinstance(value, SSL.Error) and value.args and value.args[0]:
        parts = value.args[0]
        if isinstance(parts, list) and parts and isinstance(parts[0], tuple):
            return ", ".join(str(p[-1]) for p in parts)
    text = str(value) or value.__class__.__name__
    return text.splitlines()[0][:200]
