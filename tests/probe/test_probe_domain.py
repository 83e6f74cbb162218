"""Probing a mail domain against a DNS server made here (dnspython, on 127.0.0.1), a
certward SMTP server as its MX, and an HTTPS server for its MTA-STS policy."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import Cli, OpenSslCa, openssl, thumbprints
from tests.endpoints.conftest import run_certward, serving
from tests.loopback_tls import https_server
from tests.ports import free_port
from tests.probe.conftest import valid

DOMAIN = "example.test"
POLICY = b"version: STSv1\nmode: enforce\nmx: *.example.test\nmax_age: 86400\n"


@contextmanager
def dns_server(records: dict[tuple[str, str], list[str]], *, ad: bool) -> Iterator[int]:
    """A tiny authoritative-looking resolver: answers from ``records``, AD as told."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            for question in query.question:
                name = question.name.to_text().rstrip(".").lower()
                kind = dns.rdatatype.to_text(question.rdtype)
                texts = records.get((name, kind))
                if texts:
                    response.answer.append(dns.rrset.from_text(name + ".", 300, "IN", kind, *texts))
            if ad:
                response.flags |= dns.flags.AD
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


@contextmanager
def policy_server(cert: Path, key: Path, body: bytes) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/mta-sts.txt":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with https_server(Handler, cert, key) as port:
        yield port


def spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@pytest.fixture
def mail_domain(org: Cli, openssl_ca: OpenSslCa, tmp_path: Path) -> dict[str, Any]:
    csr = tmp_path / "mx1.csr"
    org("cert", "request", "--server", "EXCH01", "--subject", "CN=mx1.example.test",
        "--out", str(csr))  # fmt: skip
    leaf_pem = openssl_ca.sign(csr, name="mx1")
    org("cert", "import", "--server", "EXCH01", str(openssl_ca.p7b(leaf_pem, name="mx1")))
    mx = next(t for t, c in thumbprints(org, "EXCH01").items() if "mx1" in c["subject"])
    org("cert", "enable", mx, "--server", "EXCH01", "--services", "SMTP", "--keep-default-smtp")
    port = free_port()
    org("connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}",
        "--tls-certificate", mx)  # fmt: skip
    for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
        org("connector", "remove", f"{name} EXCH01")
    # The MTA-STS web server's certificate, from the same CA.
    sts_key, sts_csr = tmp_path / "sts.key", tmp_path / "sts.csr"
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(sts_key),
            "-subj", "/CN=mta-sts.example.test",
            "-addext", "subjectAltName=DNS:mta-sts.example.test", "-out", str(sts_csr))  # fmt: skip
    sts_cert = openssl_ca.sign(sts_csr, name="sts")
    chain = tmp_path / "sts-chain.pem"
    chain.write_bytes(sts_cert.read_bytes() + openssl_ca.intermediate_pem.read_bytes())
    leaf = x509.load_pem_x509_certificate(leaf_pem.read_bytes())
    issuer = x509.load_pem_x509_certificate(openssl_ca.intermediate_pem.read_bytes())
    issuer_digest = hashlib.sha256(issuer.public_bytes(serialization.Encoding.DER)).hexdigest()
    records = {
        (DOMAIN, "MX"): ["10 mx1.example.test."],
        ("mx1.example.test", "A"): ["127.0.0.1"],
        ("mta-sts.example.test", "A"): ["127.0.0.1"],
        ("_mta-sts.example.test", "TXT"): ['"v=STSv1; id=20261125"'],
        ("_smtp._tls.example.test", "TXT"): ['"v=TLSRPTv1; rua=mailto:tlsrpt@example.test"'],
        ("_25._tcp.mx1.example.test", "TLSA"): [
            f"3 1 1 {spki_sha256(leaf)}", f"2 0 1 {issuer_digest}",
        ],
    }  # fmt: skip
    return {"port": port, "records": records, "sts": (chain, sts_key)}


def run_domain_probe(
    db: Path, root: Path, info: dict[str, Any], *, ad: bool, policy: bytes = POLICY
) -> tuple[int, dict[str, Any]]:
    chain, key = info["sts"]
    with dns_server(info["records"], ad=ad) as dns_port, policy_server(chain, key, policy) as web:
        done = run_certward(
            db, "probe", DOMAIN, "--json", "--resolver", f"127.0.0.1:{dns_port}",
            "--mx-port", str(info["port"]), "--policy-port", str(web), "--ca-file", str(root),
            check_status=False,
        )  # fmt: skip
    assert done.returncode in (0, 1, 2), done.stderr
    return done.returncode, valid(json.loads(done.stdout))


def test_a_well_configured_mail_domain(
    mail_domain: dict[str, Any], openssl_ca: OpenSslCa, isolated_store: Path
) -> None:
    with serving("EXCH01", isolated_store):
        code, result = run_domain_probe(isolated_store, openssl_ca.root_pem, mail_domain, ad=True)
    assert code == 0 and result["status"] == "OK"
    (domain,) = result["domains"]
    assert [m["host"] for m in domain["mx"]] == ["mx1.example.test"]
    sts = domain["mta_sts"]
    assert sts["record_ok"] and sts["policy_ok"] and sts["mode"] == "enforce", sts
    assert sts["mx_covered"] == {"mx1.example.test": True}
    assert domain["tls_rpt"]["rua"] == ["mailto:tlsrpt@example.test"]
    (dane,) = domain["dane"]
    assert dane["authenticated"] and dane["matched"] and dane["rollover_ready"], dane
    (mx,) = result["targets"]
    assert mx["host"] == "mx1.example.test" and mx["secure"]
    assert domain["score"] >= 90


def test_unvalidated_tlsa_and_an_uncovered_mx_are_reported(
    mail_domain: dict[str, Any], openssl_ca: OpenSslCa, isolated_store: Path
) -> None:
    other = POLICY.replace(b"*.example.test", b"mail.example.org")
    with serving("EXCH01", isolated_store):
        code, result = run_domain_probe(
            isolated_store, openssl_ca.root_pem, mail_domain, ad=False, policy=other
        )
    (domain,) = result["domains"]
    # An enforced policy that leaves out the MX: senders refuse to deliver, so CRITICAL.
    assert code == 2 and domain["status"] == "CRITICAL", domain["status_reasons"]
    (dane,) = domain["dane"]
    assert not dane["authenticated"]
    assert any("AD flag" in e for e in dane["errors"])
    sts = domain["mta_sts"]
    assert sts["mx_covered"] == {"mx1.example.test": False}
    assert any("not covered" in e for e in sts["errors"])
