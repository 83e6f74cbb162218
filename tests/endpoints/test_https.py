"""IIS over HTTPS: the single IIS certificate, validated by a client; SSL required but OAB."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

from tests.conftest import Cli, OpenSslCa, thumbprints
from tests.endpoints.conftest import free_port, serving


def get(port: int, path: str, *, tls: ssl.SSLContext | None, host: str) -> str:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with tls.wrap_socket(raw, server_hostname=host) if tls else raw as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.decode(errors="replace")


def test_owa_over_https_validates_and_plain_http_is_refused(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    csr = tmp_path / "webmail.csr"
    org("cert", "request", "--server", "EXCH01", "--subject", "CN=webmail.contoso.com",
        "--domain", "autodiscover.contoso.com", "--out", str(csr))  # fmt: skip
    org("cert", "import", "--server", "EXCH01", str(openssl_ca.p7b(openssl_ca.sign(csr))))
    webmail = next(t for t, c in thumbprints(org, "EXCH01").items() if "webmail" in c["subject"])
    org("cert", "enable", webmail, "--server", "EXCH01", "--services", "IIS")
    vdirs = json.loads(org("vdir", "list", "--server", "EXCH01", "--json").stdout)
    assert {v["name"]: v["require_ssl"] for v in vdirs}["oab"] is False
    org("vdir", "set", "owa", "--server", "EXCH01",
        "--external-url", "https://webmail.contoso.com/owa")  # fmt: skip
    https_port, http_port = free_port(), free_port()
    trusted = ssl.create_default_context(cafile=str(openssl_ca.root_pem))

    with serving("EXCH01", isolated_store, "--https-port", str(https_port),
                 "--http-port", str(http_port)):  # fmt: skip
        page = get(https_port, "/owa", tls=trusted, host="webmail.contoso.com")
        plain_owa = get(http_port, "/owa", tls=None, host="webmail.contoso.com")
        plain_oab = get(http_port, "/OAB", tls=None, host="webmail.contoso.com")

    assert page.startswith("HTTP/1.1 200") and "owa on EXCH01" in page
    assert plain_owa.startswith("HTTP/1.1 403") and "403.4 SSL required" in plain_owa
    assert plain_oab.startswith("HTTP/1.1 200")
