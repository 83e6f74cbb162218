"""Who may read ``/metrics``: a loopback client as it is (Prometheus beside certward), any
other client only with an API token (reader or above); and what the metrics say of a probe
run, from the run history's JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from certward.compose import App, build_app
from certward.interfaces.server import WebSettings, create_app
from certward.interfaces.server.metrics import (
    CertificateSample,
    Observation,
    TargetSample,
    exposition,
)
from certward.interfaces.server.settings import is_loopback
from certward.interfaces.server.watching import probe_samples
from certward.model import CheckStatus
from certward.model.access import AccessRole
from certward.model.watch import JobKind, JobRun

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def app() -> Iterator[App]:
    application = build_app()
    try:
        yield application
    finally:
        application.store.close()


async def _get(app: App, client: str, headers: dict[str, str] | None = None) -> httpx.Response:
    web = create_app(app, WebSettings(run_scheduler=False))
    transport = httpx.ASGITransport(app=web, client=(client, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://certward") as http:
        return await http.get("/metrics", headers=headers or {})


@pytest.mark.anyio
async def test_a_loopback_client_reads_metrics_without_a_token(app: App) -> None:
    response = await _get(app, "127.0.0.1")
    assert response.status_code == 200
    assert "certward_certificate_not_after_timestamp_seconds" in response.text


@pytest.mark.anyio
async def test_another_client_needs_a_valid_token(app: App) -> None:
    refused = await _get(app, "192.0.2.7")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    wrong = await _get(app, "192.0.2.7", {"authorization": "Bearer cw_not-a-token"})
    assert wrong.status_code == 401
    _, secret = app.access.create_token(
        "prometheus", AccessRole.READER, expires_in=None, created_by="test"
    )
    allowed = await _get(app, "192.0.2.7", {"authorization": f"Bearer {secret}"})
    assert allowed.status_code == 200
    assert "certward_metrics_collect_seconds" in allowed.text


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.1") and is_loopback("::1")
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("")


def test_a_probe_run_gives_one_sample_per_endpoint() -> None:
    report = {
        "target": "mx1.contoso.com:25",
        "status": "WARNING",
        "tls": {"negotiated_version": "TLSv1.2"},
        "certificate": {"days_left": 12},
        "client_auth": {"ca_names_size": 20480},
    }
    run = JobRun(
        JobKind.PROBE,
        "smtp://contoso.com",
        NOW,
        NOW,
        CheckStatus.WARNING,
        {"status": 1, "targets": [{"status": 1, "report": report, "reasons": []}]},
    )
    (sample,) = probe_samples(run)
    assert sample == TargetSample(
        "smtp://contoso.com", "mx1.contoso.com:25", True, "TLSv1.2", 12.0, 20480
    )
    failed = JobRun(JobKind.PROBE, "smtp://x", NOW, NOW, CheckStatus.UNKNOWN, {"error": "refused"})
    assert list(probe_samples(failed)) == [TargetSample("smtp://x", "smtp://x", False)]


def test_rendered_metrics_carry_their_labels() -> None:
    observation = Observation(
        certificates=(
            CertificateSample("EXCH01", "AB" * 20, 'CN=m\\a"il', "IIS,SMTP", False, NOW),
        ),
        findings={("cert.expiring", "warning", "EXCH01"): 2},
        targets=(TargetSample("smtp://x", "x:25", False, "TLSv1.3", 3.5, 100),),
        last_success={"health": NOW},
    )
    text = exposition(observation).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (expiry,) = families["certward_certificate_not_after_timestamp_seconds"].samples
    assert expiry.value == NOW.timestamp()
    assert expiry.labels["services"] == "IIS,SMTP"
    assert expiry.labels["subject"] == 'CN=m\\a"il'  # escaped in the text, read back
    (finding,) = families["certward_findings"].samples
    assert (finding.labels["rule"], finding.value) == ("cert.expiring", 2)
    assert families["certward_probe_success"].samples[0].value == 0
    (version,) = families["certward_probe_tls_version_info"].samples
    assert version.labels == {"target": "smtp://x", "endpoint": "x:25", "version": "TLSv1.3"}
    (last,) = families["certward_job_last_success_timestamp_seconds"].samples
    assert last.labels == {"watch_job": "health"}
