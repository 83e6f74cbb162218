"""The probe's JSON is checked against the committed schema in every live test."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs" / "probe-schema.json").read_text(encoding="utf-8")
)


def valid(result: dict[str, Any]) -> dict[str, Any]:
    """The probe output, after checking it against docs/probe-schema.json."""
    jsonschema.validate(result, SCHEMA)
    return result


@contextmanager
def https_server(
    handler: type[http.server.BaseHTTPRequestHandler],
    cert: Path,
    key: Path,
    server_class: type[http.server.HTTPServer] = http.server.HTTPServer,
) -> Iterator[int]:
    """``handler`` served over HTTPS (``cert``, ``key``) on 127.0.0.1; yields the port."""
    server = server_class(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
