"""A TLS reverse proxy in front of Pebble that answers chosen requests with an ACME problem
document and a ``Retry-After`` header, as a CA under load does (Pebble never sends one).

Pebble builds its URLs from the request's ``Host``, which the proxy passes on unchanged, so
the client sees only the proxy; the JWS ``url`` it signs is the proxy's, which is also what
Pebble checks against."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.acme.pebble import Pebble

_HOP = {"connection", "transfer-encoding", "content-length", "keep-alive"}


@dataclass
class Refusal:
    """Answer the next ``times`` POSTs to ``path`` with this problem."""

    path: str
    problem: str  # e.g. "rateLimited"
    retry_after: int
    times: int = 1


@dataclass
class Proxy:
    directory_url: str
    refusals: list[Refusal] = field(default_factory=list)
    seen: list[tuple[float, str, str, int]] = field(
        default_factory=list
    )  # when, method, path, status
    _server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def posts(self, path: str) -> list[tuple[float, int]]:
        return [
            (when, status)
            for when, method, p, status in self.seen
            if method == "POST" and p == path
        ]


def start_proxy(pebble: Pebble) -> Proxy:
    upstream = urlsplit(pebble.directory_url)
    context = pebble.ssl_context()
    proxy = Proxy(directory_url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            refusal = next((r for r in proxy.refusals if r.path == self.path and r.times > 0), None)
            if refusal is not None and self.command == "POST":
                refusal.times -= 1
                problem = json.dumps(
                    {
                        "type": f"urn:ietf:params:acme:error:{refusal.problem}",
                        "detail": "the proxy in front of pebble refuses this for now",
                        "status": 429,
                    }
                ).encode()
                proxy.seen.append((time.monotonic(), self.command, self.path, 429))
                self.send_response(429)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Retry-After", str(refusal.retry_after))
                self.send_header("Content-Length", str(len(problem)))
                self.end_headers()
                self.wfile.write(problem)
                return
            connection = http.client.HTTPSConnection(
                upstream.hostname or "127.0.0.1", upstream.port, context=context, timeout=30
            )
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                proxy.seen.append((time.monotonic(), self.command, self.path, answer.status))
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                connection.close()

        do_GET = do_POST = do_HEAD = _relay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    material = pebble.config.parent
    tls.load_cert_chain(material / "pebble-cert.pem", material / "pebble-key.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, args=(0.05,), name="pebble-proxy", daemon=True
    ).start()  # shutdown() waits up to one poll
    proxy._server = server
    proxy.directory_url = f"https://127.0.0.1:{server.server_address[1]}/dir"
    return proxy
