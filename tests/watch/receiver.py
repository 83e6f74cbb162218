"""A small local HTTP server that receives webhooks, checks their HMAC and answers as told."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    at: float  # time.monotonic()
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: bytes
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # then 204s
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def signed_correctly(self, r: Received) -> bool:
        expected = "sha256=" + hmac.new(self.secret, r.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(r.headers.get("x-certward-signature", ""), expected)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)  # polling a condition with a deadline
        raise AssertionError(f"{len(self.received)} webhooks received, {count} expected")


@contextmanager
def receiving(secret: bytes) -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(time.monotonic(), body, headers))
                status, answer = receiver.answers.pop(0) if receiver.answers else (204, {})
            self.send_response(status)
            for name, value in answer.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", secret))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
