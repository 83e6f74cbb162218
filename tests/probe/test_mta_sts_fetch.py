"""The MTA-STS policy over real HTTPS on 127.0.0.1 (treq on the prober's side): chunked
transfer coding and gzip content coding are read, a redirect is never followed (RFC 8461
§3.3), the policy host's certificate is judged, an unreachable host is a clear error."""

from __future__ import annotations

import gzip
import http.server
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import OpenSslCa, openssl
from tests.endpoints.conftest import run_certward
from tests.loopback_tls import https_server
from tests.probe.conftest import valid
from tests.probe.test_probe_domain import dns_server
from tests.probe.test_probe_live import _rate_limited, hostile

SERVED = ("chunked", "gzip", "redirect", "plain")  # the policy server's certificate names these
DOMAINS = (*SERVED, "wrongname", "unreachable")


def policy(domain: str) -> bytes:
    return f"version: STSv1\nmode: enforce\nmx: mx.{domain}.test\nmax_age: 86400\n".encode()


@contextmanager
def policy_server(cert: Path, key: Path, seen: dict[str, list[str]]) -> Iterator[int]:
    """One HTTPS server for every domain's mta-sts host, answering by the Host header."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked needs 1.1

        def do_GET(self) -> None:
            domain = self.headers["Host"].split(":")[0].removeprefix("mta-sts.")[: -len(".test")]
            seen.setdefault(domain, []).append(self.headers.get("Accept-Encoding", ""))
            body = policy(domain)
            if self.path != "/.well-known/mta-sts.txt":
                self.send_error(404)
            elif domain == "redirect":
                self.send_response(301)
                self.send_header("Location", "https://mta-sts.plain.test/.well-known/mta-sts.txt")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif domain == "chunked":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (body[:17], body[17:], b""):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                data = gzip.compress(body) if domain == "gzip" else body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                if domain == "gzip":
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    with https_server(Handler, cert, key, http.server.ThreadingHTTPServer) as port:
        yield port


def test_policies_chunked_gzip_redirected_and_refused(
    openssl_ca: OpenSslCa, tmp_path: Path, isolated_store: Path
) -> None:
    key, csr = tmp_path / "sts.key", tmp_path / "sts.csr"
    sans = ",".join(f"DNS:mta-sts.{d}.test" for d in SERVED)
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
            "-subj", "/CN=mta-sts.plain.test", "-addext", f"subjectAltName={sans}",
            "-out", str(csr))  # fmt: skip
    chain = tmp_path / "sts-chain.pem"
    chain.write_bytes(
        openssl_ca.sign(csr, name="sts").read_bytes() + openssl_ca.intermediate_pem.read_bytes()
    )
    records: dict[tuple[str, str], list[str]] = {}
    for d in DOMAINS:
        records |= {
            (f"{d}.test", "MX"): [f"10 mx.{d}.test."],
            (f"mx.{d}.test", "A"): ["127.0.0.1"],
            # 127.0.0.2 is loopback too, but nothing listens there: connection refused.
            (f"mta-sts.{d}.test", "A"): ["127.0.0.2" if d == "unreachable" else "127.0.0.1"],
            (f"_mta-sts.{d}.test", "TXT"): ['"v=STSv1; id=20261203"'],
        }
    seen: dict[str, list[str]] = {}
    with (
        dns_server(records, ad=False) as dns_port,
        policy_server(chain, key, seen) as web,
        hostile(_rate_limited) as mx,
    ):
        done = run_certward(
            isolated_store, "probe", *(f"{d}.test" for d in DOMAINS), "--json",
            "--resolver", f"127.0.0.1:{dns_port}", "--mx-port", str(mx),
            "--policy-port", str(web), "--ca-file", str(openssl_ca.root_pem),
            check_status=False,
        )  # fmt: skip
    # Every MX says 421 (UNKNOWN); the policy errors are WARNINGs, which weigh more.
    assert done.returncode == 1, done.stderr
    sts = {d["domain"]: d["mta_sts"] for d in valid(json.loads(done.stdout))["domains"]}
    for name in ("chunked", "gzip", "plain"):
        found = sts[f"{name}.test"]
        assert found["policy_ok"] and found["mode"] == "enforce", (name, found["errors"])
        assert found["mx_covered"] == {f"mx.{name}.test": True}
    assert "gzip" in seen["gzip"][0]  # treq asked for it, and decoded what came
    redirected = sts["redirect.test"]
    assert not redirected["policy_ok"]
    (error,) = redirected["errors"]
    assert "HTTP 301" in error and "RFC 8461 forbids following it" in error
    assert {d: len(asked) for d, asked in seen.items()} == {
        "chunked": 1, "gzip": 1, "redirect": 1, "plain": 1,  # the redirect was not followed
    }  # fmt: skip
    (error,) = sts["wrongname.test"]["errors"]
    assert error.startswith("policy not fetched: the certificate of mta-sts.wrongname.test is")
    assert "does not name mta-sts.wrongname.test" in error
    (error,) = sts["unreachable.test"]["errors"]
    assert "cannot connect to 127.0.0.2:" in error and "connection refused" in error
