"""A real Prometheus (Debian's package) scrapes ``certward web`` over HTTPS, verifying the
console's certificate against the demo CA, and answers a query with certward's metric; the
alerting rules in docs/ pass ``promtool check rules`` and their unit tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.compose import build_app
from certward.model import StoreName
from tests.ports import free_port
from tests.server.conftest import WebProcess

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "docs" / "prometheus-rules.yml"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin")
    assert found, f"{name} is not installed (apt-get install prometheus)"
    return found


def _roots_pem(db: Path, server: str) -> bytes:
    app = build_app(str(db))
    try:
        with app.store.transaction() as repo:
            ders = [r.der for r in repo.certificates(server, StoreName.ROOT) if r.der]
    finally:
        app.store.close()
    return b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in ders)


def test_prometheus_scrapes_the_service_and_answers_a_query(
    tmp_path: Path, demo_web: WebProcess
) -> None:
    (tmp_path / "roots.pem").write_bytes(_roots_pem(demo_web.db, "EXCH01"))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: certward
    scheme: https
    tls_config:
      ca_file: {tmp_path / "roots.pem"}
      server_name: webmail.p365labs.com
    static_configs:
      - targets: ["127.0.0.1:{demo_web.port}"]
""",
        encoding="utf-8",
    )
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                _tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    iis = demo_web.presented_thumbprint()
    query = f'certward_certificate_not_after_timestamp_seconds{{thumbprint="{iis}"}}'
    result: list[dict[str, object]] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            deadline = time.monotonic() + 45
            while not result:
                assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "prometheus.log").read_text()
                try:
                    response = client.get("/api/v1/query", params={"query": query})
                    # while its storage opens, Prometheus answers 503 in plain text
                    answer = response.json() if response.status_code == 200 else {}
                except httpx.TransportError:
                    answer = {}  # not listening yet
                result = answer.get("data", {}).get("result", [])
                if not result:
                    time.sleep(0.2)  # polling a condition with a deadline
            up = client.get("/api/v1/query", params={"query": 'up{job="certward"}'}).json()
            rules = client.get("/api/v1/rules").json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    servers = sorted(str(r["metric"]["server"]) for r in result)  # type: ignore[index]
    assert servers == ["EXCH01", "EXCH02"]
    value = float(result[0]["value"][1])  # type: ignore[index]
    assert value > time.time()  # the demo's certificate is valid
    assert up["data"]["result"][0]["value"][1] == "1"
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert "CertwardCertificateExpiresWithin30Days" in names


def test_the_alerting_rules_pass_promtool() -> None:
    done = subprocess.run(
        [_tool("promtool"), "check", "rules", str(RULES)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


RULE_TESTS = Path(__file__).with_name("prometheus-rules.test.yml")


def test_the_alerting_rules_fire_as_documented(tmp_path: Path) -> None:
    if not RULES.exists():
        pytest.fail("docs/prometheus-rules.yml is missing")
    tests = tmp_path / "rules-test.yml"
    tests.write_text(
        RULE_TESTS.read_text(encoding="utf-8").replace("RULES", str(RULES)), encoding="utf-8"
    )
    done = subprocess.run(
        [_tool("promtool"), "test", "rules", str(tests)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
