"""IIS over HTTPS: the single IIS certificate, validated by a client; SSL required but OAB."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

from certward.model import ServiceSet
from tests.conftest import Cli, OpenSslCa
from tests.endpoints.conftest import issue, serving, store_app
from tests.ports import free_port


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
    org: Cli, openssl_ca: OpenSslCa, isolated_store: Path
) -> None:
    # Through the services: one opening of the store, not a command per step.
    with store_app(isolated_store) as app:
        webmail = issue(app, openssl_ca, "EXCH01", "CN=webmail.contoso.com",
                        "autodiscover.contoso.com", name="webmail")  # fmt: skip
        app.certificates.enable("EXCH01", webmail, ServiceSet.parse("IIS"))
        vdirs = app.vdirs.list("EXCH01")
        assert {v.name: v.require_ssl for v in vdirs}["oab"] is False
        app.vdirs.set("EXCH01", "owa", external_url="https://webmail.contoso.com/owa")
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
