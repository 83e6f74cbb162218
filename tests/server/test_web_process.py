"""``certward web --demo`` as a user starts it: HTTPS with the store's IIS certificate,
security headers everywhere, a one-time login that works once, /metrics, a clean stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from certward.compose import build_app
from certward.interfaces.server import SECURITY_HEADERS
from certward.model import Service, ServiceSet, parse_thumbprint
from tests.server.conftest import WebProcess, certward_command, start_web


def _iis_thumbprint(db: Path, server: str = "EXCH01") -> str:
    app = build_app(str(db))
    try:
        views = app.certificates.list_certificates(server)
    finally:
        app.store.close()
    (iis,) = [v for v in views if Service.IIS in v.services.value]
    return iis.thumbprint


REPO = Path(__file__).resolve().parents[2]


def _copy_store(db: Path, into: Path) -> None:
    """The store's files (database, its WAL, the key file) copied into ``into``."""
    for path in db.parent.iterdir():
        if path.name.startswith(("certward.db", "certward.key")):
            shutil.copy(path, into / path.name)


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name.decode()) == value.decode(), (name, response.url)
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_console_is_served_with_the_servers_iis_certificate(demo_web: WebProcess) -> None:
    expected = _iis_thumbprint(demo_web.db)
    assert demo_web.presented_thumbprint() == expected
    assert f"EXCH01's IIS certificate {expected}" in demo_web.output[0]


def test_every_response_carries_the_security_headers(demo_web: WebProcess) -> None:
    with demo_web.client() as client:
        for path in ("/", "/metrics", "/no/such/page", "/api/v1/servers"):
            _assert_security_headers(client.get(path))


def test_demo_prints_a_one_time_login_that_works_once(demo_web: WebProcess) -> None:
    found = demo_web.wait_for(r"One-time admin login \(works once\): (https://\S+)")
    once = found.group(1)
    assert once.startswith(demo_web.url.rstrip("/") + "/login/one-time?code=")
    with demo_web.client() as client:
        first = client.get(once)
        assert first.status_code == 303, first.text
        assert first.headers["location"] == "/"
        cookie = first.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite" in cookie
        console = client.get("/")
        assert console.status_code == 200
        assert "EXCH01" in console.text
    with demo_web.client() as other:
        assert other.get(once).status_code == 401  # used up


def test_metrics_give_each_certificates_expiry(demo_web: WebProcess) -> None:
    with demo_web.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    expiry = families["certward_certificate_not_after_timestamp_seconds"]
    iis = _iis_thumbprint(demo_web.db)
    samples = [s for s in expiry.samples if s.labels["thumbprint"] == iis]
    assert [s.labels["server"] for s in samples] == ["EXCH01", "EXCH02"][: len(samples)]
    assert samples[0].labels["services"] == "IIS,SMTP"
    assert "CN=webmail.p365labs.com" in samples[0].labels["subject"]
    app = build_app(str(demo_web.db))
    try:
        view = app.certificates.show_certificate("EXCH01", parse_thumbprint(iis))
    finally:
        app.store.close()
    assert view.not_after is not None
    assert samples[0].value == view.not_after.timestamp()
    assert {s.labels["server"] for s in expiry.samples} == {"EDGE01", "EXCH01", "EXCH02"}
    console = families["certward_web_certificate_info"]
    assert console.samples[0].labels == {"server": "EXCH01", "thumbprint": iis}
    assert "process_resident_memory_bytes" in families


def test_a_later_demo_run_follows_a_new_iis_certificate_and_stops_on_sigterm(
    tmp_path: Path, demo_web: WebProcess
) -> None:
    """A second ``--demo`` run on the (copied) demo store: how to log in, and a one-time
    login; a certificate enabled for IIS meanwhile is presented without a restart;
    SIGTERM stops it with status 0, and its health worker process with it."""
    _copy_store(demo_web.db, tmp_path)
    web = start_web(tmp_path / "certward.db", "--demo", "--server", "EXCH01")
    try:
        web.wait_for(r"already holds an organisation: log in with your user name")
        once = web.wait_for(r"^\s+(https://\S+/login/one-time\?code=\S+)").group(1)
        with web.client() as client:
            assert client.get(once).status_code == 303
        (worker,) = _health_workers(web.process.pid)  # started with the service
        before = web.presented_thumbprint()
        app = build_app(str(web.db))
        try:
            result = app.certificates.new_self_signed(
                "EXCH01",
                subject="CN=console.contoso.com",
                domains=["console.contoso.com"],
                services=ServiceSet.parse("IIS"),
                replace_default_smtp=False,
            )
        finally:
            app.store.close()
        after = result.view.thumbprint
        assert after != before
        deadline = time.monotonic() + 20
        while web.presented_thumbprint() != after:
            assert time.monotonic() < deadline, "the new IIS certificate was never presented"
            time.sleep(0.1)  # polling a condition with a deadline
    finally:
        status = web.stop(signal.SIGTERM)
        stopped = web.wait_for(r"^certward web: stopped$", timeout=5)
        web.close()
    assert status == 0
    assert stopped
    assert not Path(f"/proc/{worker}").exists()  # and stopped with it


def _health_workers(parent: int) -> list[int]:
    """The long-lived health workers ``parent`` runs (its children running
    ``certward.services.watch_worker serve``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if int(stat.rpartition(")")[2].split()[1]) != parent:
            continue
        if b"certward.services.watch_worker" in command and b"serve" in command:
            found.append(int(entry.name))
    return found


def test_the_scheduler_runs_inside_the_service(demo_web: WebProcess) -> None:
    """The lifespan runs the watch service: its first health run shows in /metrics (the
    time of its last success, the open findings by rule, severity and server)."""
    deadline = time.monotonic() + 40
    with demo_web.client() as client:
        while True:
            text = client.get("/metrics").text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            last = families["certward_job_last_success_timestamp_seconds"].samples
            if any(s.labels["watch_job"] == "health" for s in last):
                break
            assert time.monotonic() < deadline, "no scheduled health run in /metrics"
            time.sleep(0.5)  # polling a condition with a deadline (metrics cached 5 s)
    (health,) = [s for s in last if s.labels["watch_job"] == "health"]
    assert abs(health.value - time.time()) < 300
    findings = families["certward_findings"].samples
    assert all(set(s.labels) == {"rule", "severity", "server"} for s in findings)
    assert {s.labels["server"] for s in findings} <= {"", "EDGE01", "EXCH01", "EXCH02"}


def test_openapi_prints_the_api_document() -> None:
    done = subprocess.run(
        [*certward_command(), "web", "--openapi"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REPO / "docs" / "openapi.json").read_text(encoding="utf-8")
    document = json.loads(done.stdout)
    assert document["openapi"].startswith("3.")
    assert any(path.startswith("/api/v1/") for path in document["paths"])
    assert "/metrics" not in document["paths"]
