"""IIS: Exchange's client virtual directories over HTTPS with the single IIS certificate.

Plain HTTP to a virtual directory that requires SSL is refused as IIS does (403.4); the OAB
directory answers on both (seed 003, figure 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.web import http, resource, server
from zope.interface import implementer

from certward.endpoints.limits import HTTP_IDLE, SourceLimit
from certward.endpoints.snapshot import EndpointSnapshot


class _VirtualDirectory(resource.Resource):
    isLeaf = True

    def __init__(self, snapshot: Callable[[], EndpointSnapshot], name: str, secure: bool) -> None:
        super().__init__()
        self._snapshot = snapshot
        self._name = name
        self._secure = secure

    def render_GET(self, request: Any) -> bytes:
        snap = self._snapshot()
        vdir = next((v for v in snap.vdirs if v.name == self._name), None)
        if vdir is None:
            request.setResponseCode(404)
            return b"404 Not Found\n"
        if vdir.require_ssl and not self._secure:
            request.setResponseCode(403, b"Forbidden")
            return b"403.4 SSL required: use https\n"
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        body = f"{vdir.name} on {snap.server.name} ({snap.server.fqdn})\n"
        return body.encode()


class _AcmeChallenge(resource.Resource):
    """``/.well-known/acme-challenge/TOKEN``: an ACME HTTP-01 key authorization the store
    holds while a validation is pending (RFC 8555 section 8.3; issue 15)."""

    isLeaf = True

    def __init__(self, snapshot: Callable[[], EndpointSnapshot]) -> None:
        super().__init__()
        self._snapshot = snapshot

    def render_GET(self, request: Any) -> bytes:
        path = [p for p in request.postpath if p]
        token = path[0].decode("ascii", "replace") if len(path) == 1 else ""
        answer = self._snapshot().acme_challenges.get(token)
        if answer is None:
            request.setResponseCode(404)
            return b"404 Not Found\n"
        request.setHeader(b"content-type", b"application/octet-stream")
        return answer.encode("ascii")


class _Channel(http.HTTPChannel):
    """Twisted's channel, answering an over-long request or header line with 431 (Twisted
    only drops the connection, which a TLS client may not notice for a long time)."""

    def lineLengthExceeded(self, line: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n"
        )
        self.loseConnection()


class _Site(server.Site):
    """Twisted's site with a per-source connection limit."""

    protocol = _Channel  # type: ignore[assignment]

    def __init__(self, root: resource.Resource, *, limit: SourceLimit) -> None:
        super().__init__(root, timeout=HTTP_IDLE)
        self._limit = limit

    def buildProtocol(self, addr: Any) -> Any:
        return self._limit.build(addr, lambda: super(_Site, self).buildProtocol(addr), "http")


def site(
    snapshot: Callable[[], EndpointSnapshot], *, secure: bool, limit: SourceLimit | None = None
) -> server.Site:
    root = resource.Resource()
    well_known = resource.Resource()
    well_known.putChild(b"acme-challenge", _AcmeChallenge(snapshot))
    root.putChild(b".well-known", well_known)
    for vdir in snapshot().vdirs:
        root.putChild(vdir.path.strip("/").encode(), _VirtualDirectory(snapshot, vdir.name, secure))
        lower = vdir.path.strip("/").lower().encode()
        if lower != vdir.path.strip("/").encode():
            root.putChild(lower, _VirtualDirectory(snapshot, vdir.name, secure))
    web = _Site(root, limit=limit or SourceLimit())
    web.displayTracebacks = False
    return web


@implementer(IOpenSSLContextFactory)
class CurrentContext:
    """A context factory that always hands out the current IIS context (a binding change
    applies to the next connection, no IISRESET)."""

    def __init__(self, current: Callable[[], SSL.Context]) -> None:
        self._current = current

    def getContext(self) -> SSL.Context:
        return self._current()
