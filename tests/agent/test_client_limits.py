"""The agent's API client against a real HTTPS server on 127.0.0.1: an answer larger than
the client's limit is refused as it arrives (the connection dropped, nothing held beyond
the limit), one within it is read as JSON. The client runs in its own process: a Twisted
reactor runs once per process."""

from __future__ import annotations

import http.server
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loopback_tls import https_server, loopback_tls_files

LIMIT = 1024 * 1024  # the client's limit in these tests (16 MiB in service)

CLIENT = r"""
import sys
from twisted.internet import defer, task
from certward.endpoints.reactor import install_asyncio_reactor

install_asyncio_reactor()
from certward.errors import CertwardError
from certward.interfaces.agent import client

client.MAX_BODY = int(sys.argv[3])


async def main(reactor):
    api = client.ApiClient(reactor, sys.argv[1], "token", ca_pems=[open(sys.argv[2], "rb").read()])
    try:
        found = await api.deployments("mail1")
        print("deployments", len(found))
    except CertwardError as exc:
        print(exc.code.id, exc.message)
    finally:
        await api.close()


task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor)))
"""


class _Api:
    body = b"[]"
    sent = 0


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert_file, key_file = loopback_tls_files(tmp_path, "api")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(_Api.body)))
            self.end_headers()
            try:
                for start in range(0, len(_Api.body), 65536):
                    self.wfile.write(_Api.body[start : start + 65536])
                    _Api.sent += len(_Api.body[start : start + 65536])
            except OSError:
                pass  # the client closed the connection

        def log_message(self, *_: object) -> None:
            pass

    with https_server(Handler, cert_file, key_file, http.server.ThreadingHTTPServer) as port:
        yield f"https://127.0.0.1:{port}", cert_file


def _ask(url: str, ca: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, url, str(ca), str(LIMIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_answer_within_the_limit_is_read(api: tuple[str, Path]) -> None:
    url, ca = api
    _Api.body = b"[" + b", ".join([b'{"name": "smtp"}'] * 3) + b"]" + b" " * (LIMIT // 2)
    assert _ask(url, ca) == "deployments 3"


def test_an_answer_past_the_limit_is_refused_as_it_arrives(api: tuple[str, Path]) -> None:
    url, ca = api
    _Api.body = b"[" + b" " * (32 * LIMIT) + b"]"
    _Api.sent = 0
    said = _ask(url, ca)
    assert said.startswith("agent.api_unreachable "), said
    assert f"larger than {LIMIT} bytes" in said
    assert _Api.sent < 16 * LIMIT  # the connection was dropped, not read to its end
