"""``certward probe`` against real servers on 127.0.0.1: certward serve, openssl s_server,
and hostile peers (garbage, endless replies, a 10 MB line, a silent server)."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, OpenSslCa, find_openssl, thumbprints
from tests.endpoints.conftest import free_port, run_certward, serving
from tests.endpoints.test_tls_layer import roots as public_roots
from tests.probe.conftest import valid


def probe_json(db: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``certward probe --json`` in its own process (it runs the reactor)."""
    result = run_certward(db, "probe", *args, "--json", ok=False, check_status=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, valid(json.loads(result.stdout))


def stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["name"] == name)


def test_probe_a_certward_smtp_server(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    csr = tmp_path / "localhost.csr"
    org("cert", "request", "--server", "EXCH01", "--subject", "CN=localhost", "--out", str(csr))
    org("cert", "import", "--server", "EXCH01", str(openssl_ca.p7b(openssl_ca.sign(csr))))
    local = next(t for t, c in thumbprints(org, "EXCH01").items() if c["subject"] == "CN=localhost")
    org("cert", "enable", local, "--server", "EXCH01", "--services", "SMTP", "--keep-default-smtp")
    port = free_port()
    org("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}",
        "--tls-certificate", local)  # fmt: skip
    for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
        org("connector", "remove", f"{name} EXCH01")
    with serving("EXCH01", isolated_store):
        code, result = probe_json(
            isolated_store, f"smtp://localhost:{port}", "--ca-file", str(openssl_ca.root_pem)
        )
    assert code == 0 and result["schema_version"] == 1
    (report,) = result["targets"]
    assert all(s["ok"] for s in report["stages"]), report["stages"]
    assert {"connect", "banner", "EHLO", "STARTTLS offered", "TLS negotiated", "secure"} <= {
        s["name"] for s in report["stages"]
    }
    assert "Microsoft ESMTP MAIL Service ready" in report["banner"]
    assert report["tls"]["versions"] == {
        "TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True,
    }  # fmt: skip
    certificate = report["certificate"]
    assert certificate["trusted"] and certificate["name_match"] == "san"
    assert certificate["chain"][0]["thumbprint_sha1"] == local
    assert len(certificate["chain"]) == 2 and not certificate["includes_root"]
    assert report["client_auth"] == {
        "requested": "optional", "ca_names_count": 0, "ca_names_size": 2,
        "over_schannel_limit": False,
    }  # fmt: skip


@contextmanager
def s_server(*args: str) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [find_openssl(), "s_server", "-accept", f"127.0.0.1:{port}", "-www", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        seen = b""
        while b"ACCEPT" not in seen:
            assert select.select([process.stdout], [], [], 30)[0], seen
            chunk = os.read(process.stdout.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_355_roots_in_the_client_ca_list_are_measured_and_warned(
    openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    from cryptography.hazmat.primitives import serialization

    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(
        b"".join(r.public_bytes(serialization.Encoding.PEM) for r in public_roots(355))
    )
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        [find_openssl(), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-subj", "/CN=hub01.contoso.com", "-addext", "subjectAltName=DNS:localhost",
         "-days", "2", "-out", str(cert)], check=True, capture_output=True,
    )  # fmt: skip
    with s_server("-cert", str(cert), "-key", str(key), "-verify", "1",
                  "-CAfile", str(bundle), "-tls1_2") as port:  # fmt: skip
        code, result = probe_json(
            isolated_store, f"https://localhost:{port}", "--ca-file", str(cert)
        )
    (report,) = result["targets"]
    auth = report["client_auth"]
    assert auth["ca_names_count"] == 355
    assert auth["ca_names_size"] > 16_384 and auth["over_schannel_limit"]
    assert any("16,384" in w for w in report["warnings"])
    assert report["certificate"]["name_match"] == "san"
    assert code == 0


Handler = Callable[[socket.socket], None]


@contextmanager
def hostile(handler: Handler) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, suppress(OSError):
                handler(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def _garbage(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"this is not TLS\r\n" * 50)


def _endless(conn: socket.socket) -> None:
    conn.sendall(b"".join(b"220-hello %d\r\n" % i for i in range(500)))
    conn.recv(1)


def _huge_line(conn: socket.socket) -> None:
    chunk = b"2" * 65536
    for _ in range(160):  # 10 MB without a newline
        conn.sendall(chunk)


def _silent(conn: socket.socket) -> None:
    conn.recv(1)  # never greets


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


@pytest.mark.parametrize(
    ("scheme", "handler", "failed", "reason"),
    [
        ("smtps", _garbage, "TLS negotiated", "TLS handshake failed"),
        ("smtp", _endless, "banner", "continuation lines"),
        ("smtp", _huge_line, "banner", "line longer than"),
        ("smtp", _silent, "banner", "no answer within"),
        ("smtp", _reset, None, "connection"),
    ],
    ids=["garbage-for-tls", "endless-reply", "10MB-line", "silent", "reset"],
)
def test_hostile_servers_give_a_failed_stage_not_a_hang(
    scheme: str, handler: Handler, failed: str | None, reason: str, isolated_store: Path
) -> None:
    with hostile(handler) as port:
        code, result = probe_json(isolated_store, f"{scheme}://localhost:{port}", "--timeout", "2")
    (report,) = result["targets"]
    assert code == 1
    bad = stage(report, failed) if failed else next(s for s in report["stages"] if not s["ok"])
    assert not bad["ok"] and reason.lower() in bad["detail"].lower(), report["stages"]
