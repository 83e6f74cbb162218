"""The Pebble starter itself: its directory is reachable with the CA bundle it gives."""

from __future__ import annotations

import json
import urllib.request

from cryptography import x509

from tests.acme.pebble import Pebble


def test_directory_and_issuing_root(pebble: Pebble) -> None:
    with urllib.request.urlopen(pebble.directory_url, context=pebble.ssl_context()) as answer:
        directory = json.load(answer)
    assert directory["newOrder"].startswith("https://127.0.0.1:")
    root = x509.load_pem_x509_certificate(pebble.issuing_root())
    assert root.issuer == root.subject
