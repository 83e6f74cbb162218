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
from tests.endpoints.conftest import run_certward, serving
from tests.endpoints.test_tls_layer import roots as public_roots
from tests.ports import free_port
from tests.probe.conftest import valid

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3  # the monitoring-plugins exit statuses


def probe_json(db: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``certward probe --json`` in its own process (it runs the reactor)."""
    result = run_certward(db, "probe", *args, "--json", ok=False, check_status=False)
    assert result.returncode in (OK, WARNING, CRITICAL, UNKNOWN), result.stderr
    assert result.stdout, result.stderr
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
            isolated_store, f"smtp://localhost:{port}", "--ca-file", str(openssl_ca.root_pem),
            "--exchange-view",
        )  # fmt: skip
        # Without --exchange-view the store is not read: nobody asked.
        _, unasked = probe_json(
            isolated_store, f"smtp://localhost:{port}", "--ca-file", str(openssl_ca.root_pem)
        )
    assert unasked["targets"][0]["exchange_view"] == []
    assert code == OK and result["schema_version"] == 1 and result["status"] == "OK"
    (report,) = result["targets"]
    assert report["status"] == "OK" and report["failure"] is None
    assert all(s["ok"] for s in report["stages"]), report["stages"]
    names = [s["name"] for s in report["stages"]]
    assert names[:2] == ["DNS answer", "connect"]
    assert {"banner", "EHLO", "STARTTLS offered", "TLS negotiated", "secure"} <= set(names)
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
    # The Exchange view: the certificate is the organisation's own, on EXCH01 for SMTP.
    assert report["exchange_view"] == [{"server": "EXCH01", "services": ["SMTP"]}]


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
            assert select.select([process.stdout], [], [], 60)[0], seen
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
            isolated_store, f"https://localhost:{port}", "--ca-file", str(cert), "--timeout", "60"
        )
    (report,) = result["targets"]
    auth = report["client_auth"]
    assert auth["ca_names_count"] == 355
    assert auth["ca_names_size"] > 16_384 and auth["over_schannel_limit"]
    assert any("16,384" in w for w in report["warnings"])
    assert report["certificate"]["name_match"] == "san"
    assert code == WARNING and report["status"] == "WARNING"  # over 16 KB; 2 days left


Handler = Callable[[socket.socket], None]


@contextmanager
def hostile(handler: Handler, *, family: socket.AddressFamily = socket.AF_INET) -> Iterator[int]:
    listener = socket.socket(family)
    listener.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
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
    ("scheme", "handler", "failed", "why", "reason"),
    [
        ("smtps", _garbage, "TLS negotiated", "tls-failed", "TLS handshake failed"),
        ("smtp", _endless, "banner", "too-large", "continuation lines"),
        ("smtp", _huge_line, "banner", "too-large", "line longer than"),
        ("smtp", _silent, "banner", "timeout", "no answer within"),
        ("smtp", _reset, None, "closed|unreachable", "conn"),  # reset before or after accept
    ],
    ids=["garbage-for-tls", "endless-reply", "10MB-line", "silent", "reset"],
)
def test_hostile_servers_give_a_failed_stage_not_a_hang(
    scheme: str, handler: Handler, failed: str | None, why: str, reason: str, isolated_store: Path
) -> None:
    with hostile(handler) as port:
        code, result = probe_json(isolated_store, f"{scheme}://localhost:{port}", "--timeout", "2")
    (report,) = result["targets"]
    assert code == CRITICAL
    failure = report["failure"]
    assert failure["stage"] == (failed or failure["stage"]) and failure["reason"] in why.split("|")
    bad = stage(report, failure["stage"])
    assert not bad["ok"] and reason.lower() in bad["detail"].lower(), report["stages"]


def _self_signed_files(
    tmp_path: Path, name: str, *, cn: str, sans: list[str], days_ago: int = 0, days: int = 90
) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography.hazmat.primitives import serialization as ser

    from certward.pki import build
    from certward.pki.names import parse_exchange_dn

    key = build.generate_key(2048)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    cert = build.self_signed(
        key, parse_exchange_dn(f"CN={cn}"), sans, not_before=start,
        not_after=start + dt.timedelta(days=days),
    )  # fmt: skip
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(ser.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    )
    return cert_path, key_path


def test_cn_only_names_expired_certificates_and_tls_1_0_are_reported(
    tmp_path: Path, isolated_store: Path
) -> None:
    # CN only: the name is in the subject CN and nowhere in the SANs (seed 000).
    cert, key = _self_signed_files(tmp_path, "cn", cn="localhost", sans=["other.example"])
    with s_server("-cert", str(cert), "-key", str(key)) as port:
        _, result = probe_json(isolated_store, f"https://localhost:{port}", "--ca-file", str(cert))
    (report,) = result["targets"]
    assert report["certificate"]["name_match"] == "cn-only"
    assert any("only in the subject CN" in w for w in report["warnings"])
    assert report["status"] == "WARNING"
    # Expired: trusted anchor or not, it is not secure.
    old, old_key = _self_signed_files(tmp_path, "old", cn="localhost", sans=["localhost"],
                                      days_ago=40, days=30)  # fmt: skip
    with s_server("-cert", str(old), "-key", str(old_key)) as port:
        code, result = probe_json(
            isolated_store, f"https://localhost:{port}", "--ca-file", str(old)
        )
    (report,) = result["targets"]
    assert code == CRITICAL and report["certificate"]["days_left"] < 0 and not report["secure"]
    assert report["certificate"]["trust_error"].startswith("expired on ")
    # TLS 1.0 still enabled.
    new, new_key = _self_signed_files(tmp_path, "tls10", cn="localhost", sans=["localhost"])
    with s_server("-cert", str(new), "-key", str(new_key), "-cipher", "DEFAULT@SECLEVEL=0",
                  "-tls1") as port:  # fmt: skip
        code, result = probe_json(
            isolated_store, f"https://localhost:{port}", "--ca-file", str(new)
        )
    (report,) = result["targets"]
    assert code == WARNING and "TLSv1 still accepted" in report["warnings"]
    assert report["tls"]["negotiated_version"] == "TLSv1"
    assert report["tls"]["versions"]["TLSv1"] is True
    assert report["tls"]["versions"]["TLSv1.3"] is False
    # TLS 1.0 to 1.2: each version below the negotiated one is found (one range a time).
    with s_server("-cert", str(new), "-key", str(new_key), "-cipher", "DEFAULT@SECLEVEL=0",
                  "-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2") as port:  # fmt: skip
        _, result = probe_json(isolated_store, f"https://localhost:{port}", "--ca-file", str(new))
    (report,) = result["targets"]
    assert report["tls"]["negotiated_version"] == "TLSv1.2"
    assert report["tls"]["versions"] == {
        "TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": False,
    }  # fmt: skip


def test_a_server_silent_on_the_version_checks_does_not_hold_the_probe(
    tmp_path: Path, isolated_store: Path
) -> None:
    """The first connection is a good STARTTLS dialogue; later ones never greet. The
    version checks give up after the stage timeout, each step of theirs bounded."""
    import ssl

    cert, key = _self_signed_files(tmp_path, "mx", cn="localhost", sans=["localhost"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    connections: list[int] = []

    def first_good_then_silent(conn: socket.socket) -> None:
        connections.append(1)
        if len(connections) > 1:
            conn.recv(1)  # silent until the prober hangs up
            return
        reader = conn.makefile("rb")
        conn.sendall(b"220 mx ESMTP\r\n")
        reader.readline()
        conn.sendall(b"250-mx\r\n250 STARTTLS\r\n")
        reader.readline()
        conn.sendall(b"220 go ahead\r\n")
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)  # EHLO
            tls.sendall(b"250 mx\r\n")
            tls.recv(4096)  # QUIT

    with hostile(first_good_then_silent) as port:
        code, result = probe_json(isolated_store, f"smtp://localhost:{port}", "--timeout", "1",
                                  "--ca-file", str(cert))  # fmt: skip
    (report,) = result["targets"]
    assert code == OK and report["secure"]
    assert report["tls"]["versions"] == {
        "TLSv1": False, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": True,
    }  # fmt: skip
    assert len(connections) == 2  # the range below TLS 1.3 was offered once, then given up


def _rate_limited(conn: socket.socket) -> None:
    conn.sendall(b"421 4.3.2 Too many connections, try again later\r\n")


def test_a_421_banner_is_rate_limiting_not_a_crash(isolated_store: Path) -> None:
    """The server said "try later": nothing about its TLS could be judged (UNKNOWN)."""
    with hostile(_rate_limited) as port:
        code, result = probe_json(isolated_store, f"smtp://localhost:{port}")
    (report,) = result["targets"]
    assert code == UNKNOWN and report["status"] == "UNKNOWN"
    assert report["failure"]["reason"] == "rate-limited"
    assert "rate limited" in stage(report, "banner")["detail"]


def _markup_banner(conn: socket.socket) -> None:
    conn.sendall(b"554 [/red] no :fire: here [bold]\r\n")


def test_what_a_server_says_is_printed_as_it_is(isolated_store: Path) -> None:
    """A banner is neither rich markup (``[/red]`` would stop the command) nor emoji codes."""
    with hostile(_markup_banner) as port:
        result = run_certward(
            isolated_store, "probe", f"smtp://localhost:{port}", ok=False, check_status=False
        )
    assert result.returncode == CRITICAL, result.stderr
    said = "554 [/red] no :fire: here [bold]"
    assert "banner\tFAIL\t" in result.stdout and said in result.stdout, result.stdout
    assert f"Status: CRITICAL (banner: banner {said})" in result.stdout, result.stdout


def test_mail_from_rcpt_to_and_the_html_report(
    org: Cli, tmp_path: Path, isolated_store: Path
) -> None:
    org("domain", "add", "contoso.com")
    (tmp_path / "pw").write_text("x\n")
    org("mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
        "--password-file", str(tmp_path / "pw"))  # fmt: skip
    port = free_port()
    org("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}")
    for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
        org("connector", "remove", f"{name} EXCH01")
    page = tmp_path / "report.html"
    with serving("EXCH01", isolated_store):
        _, accepted = probe_json(isolated_store, f"smtp://localhost:{port}",
                                 "--mail-from", "probe@fabrikam.com",
                                 "--rcpt-to", "alice@contoso.com", "--html", str(page))  # fmt: skip
        _, refused = probe_json(isolated_store, f"smtp://localhost:{port}",
                                "--mail-from", "probe@fabrikam.com",
                                "--rcpt-to", "nobody@contoso.com")  # fmt: skip
    (ok,) = accepted["targets"]
    assert stage(ok, "MAIL FROM")["ok"] and stage(ok, "RCPT TO")["ok"]
    (bad,) = refused["targets"]
    assert not stage(bad, "RCPT TO accepted")["ok"]
    assert "550" in stage(bad, "RCPT TO accepted")["detail"]
    html = page.read_text()
    assert html.startswith("<!doctype html>") and f"smtp://localhost:{port}" in html
    assert "<script" not in html and "http://" not in html.replace(f"smtp://localhost:{port}", "")


def test_targets_from_a_file_and_an_unresolvable_host(tmp_path: Path, isolated_store: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text("# one target a line\nsmtp://no-such-host.invalid:2525\n\n")
    code, result = probe_json(isolated_store, "--targets-file", str(listing), "--timeout", "10")
    (report,) = result["targets"]
    assert code == CRITICAL and report["target"] == "smtp://no-such-host.invalid:2525"
    assert report["failure"]["reason"] == "no-address"
    dns = stage(report, "DNS answer")
    assert not dns["ok"] and "no address for no-such-host.invalid" in dns["detail"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gopher://x"], "unknown scheme 'gopher'"),
        ([], "no target to probe"),
        (["https://x", "--sni", "192.0.2.1"], "is not a DNS host name"),
        (["https://x", "--connect-to", "x"], "is not a host name and an IP address"),
        (["https://x", "--resolver", "dns.example"], "is not IP[:PORT]"),
        (["https://x", "--ca-file", "/nonexistent/roots.pem"], "cannot read"),
    ],
    ids=["scheme", "no-target", "sni-address", "connect-to", "resolver", "ca-file"],
)
def test_usage_errors_are_unknown_with_a_hint(
    args: list[str], words: str, isolated_store: Path
) -> None:
    """A usage error is UNKNOWN (3), never CRITICAL: the monitoring system must not page
    anyone about the server for a typo in the check's own command line."""
    done = run_certward(isolated_store, "probe", *args, check_status=False)
    assert done.returncode == UNKNOWN, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and words in line
    assert "; " in line  # the command line's hint follows the message


def test_a_bad_option_is_unknown_too(isolated_store: Path) -> None:
    done = run_certward(isolated_store, "probe", "https://x", "--no-such-flag", check_status=False)
    assert done.returncode == UNKNOWN, done.stderr
    assert "--no-such-flag" in done.stderr
