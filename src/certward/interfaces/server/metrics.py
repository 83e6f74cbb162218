"""``/metrics``: the organisation as Prometheus sees it, computed from the store.

One scrape reads every server's personal-store certificates in one transaction (observed
servers' as their dumps showed them); a certificate's subject and NotAfter are read from its
DER once per thumbprint (a thumbprint names one certificate) and remembered. Findings come
from the scheduler's last health run when it keeps one, else from a health check of the
store made at most once per cache period. The whole text is computed at most once per
``metrics_cache_seconds`` and served again in between. Metric names and labels are the
contract documented in ``docs/metrics.md``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from certward.model import StoreName

if TYPE_CHECKING:
    from certward.compose import App

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class CertificateSample:
    server: str
    thumbprint: str
    subject: str
    services: str
    observed: bool
    not_after: dt.datetime


FindingCounts = Mapping[tuple[str, str, str], int]
"""How many findings of each (rule, severity, server); server "" is organisation-wide."""


@dataclass(frozen=True, slots=True)
class TargetSample:
    """A probe target's last run (from the scheduler's run history)."""

    target: str  # the configured URL
    endpoint: str  # the endpoint it reached (a domain target has one per MX host)
    success: bool
    tls_version: str | None = None
    days_to_expiry: float | None = None
    client_ca_list_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything one scrape reports (pure data; rendered by :class:`OrgCollector`)."""

    certificates: tuple[CertificateSample, ...] = ()
    findings: FindingCounts | None = None
    targets: tuple[TargetSample, ...] = ()
    last_success: Mapping[str, dt.datetime] | None = None  # job -> when
    console: tuple[str, str] | None = None  # (server, thumbprint) the console presents
    collect_seconds: float = 0.0


class _Parsed:
    """Subject and NotAfter of a DER certificate, by thumbprint (bounded)."""

    def __init__(self, limit: int = 200_000) -> None:
        self._known: dict[str, tuple[str, dt.datetime]] = {}
        self._limit = limit

    def get(self, thumbprint: str, der: bytes) -> tuple[str, dt.datetime]:
        found = self._known.get(thumbprint)
        if found is None:
            from cryptography import x509

            cert = x509.load_der_x509_certificate(der)
            found = (cert.subject.rfc4514_string(), cert.not_valid_after_utc)
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known[thumbprint] = found
        return found


def read_certificates(app: App, parsed: _Parsed) -> list[CertificateSample]:
    """Every server's personal-store certificates (pending requests have no expiry)."""
    samples: list[CertificateSample] = []
    with app.store.transaction() as repo:
        for server in repo.servers():
            if server.observed:
                for seen in repo.observed_certificates(server.name, StoreName.MY):
                    if seen.archived:
                        continue
                    samples.append(
                        CertificateSample(
                            server.name,
                            str(seen.thumbprint),
                            seen.subject,
                            ",".join(seen.services.names),
                            True,
                            seen.not_after,
                        )
                    )
                continue
            for record in repo.certificates(server.name, StoreName.MY):
                if record.der is None:
                    continue
                subject, not_after = parsed.get(str(record.thumbprint), record.der)
                samples.append(
                    CertificateSample(
                        server.name,
                        str(record.thumbprint),
                        subject,
                        ",".join(record.services.names),
                        False,
                        not_after,
                    )
                )
    return samples


def _ts(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


class OrgCollector(Collector):
    """Renders the latest :class:`Observation` as metric families."""

    def __init__(self, observe: Callable[[], Observation]) -> None:
        self._observe = observe

    def collect(self) -> Iterator[Metric]:
        return iter(render(self._observe()))


def render(obs: Observation) -> list[Metric]:
    expiry = GaugeMetricFamily(
        "certward_certificate_not_after_timestamp_seconds",
        "When a certificate in a server's personal store expires (NotAfter), Unix seconds.",
        labels=["server", "thumbprint", "subject", "services", "observed"],
    )
    for c in obs.certificates:
        expiry.add_metric(
            [c.server, c.thumbprint, c.subject, c.services, "true" if c.observed else "false"],
            _ts(c.not_after),
        )
    out: list[Metric] = [expiry]
    if obs.findings is not None:
        findings = GaugeMetricFamily(
            "certward_findings",
            "Health findings by rule, severity and server (server empty: organisation-wide).",
            labels=["rule", "severity", "server"],
        )
        for (rule, severity, server), count in sorted(obs.findings.items()):
            findings.add_metric([rule, severity, server], count)
        out.append(findings)
    success = GaugeMetricFamily(
        "certward_probe_success",
        "Whether a probe target's endpoint passed its last run (OK or WARNING: 1) or not (0).",
        labels=["target", "endpoint"],
    )  # fmt: skip
    version = GaugeMetricFamily(
        "certward_probe_tls_version_info",
        "The TLS version a probe target negotiated in its last run (value 1).",
        labels=["target", "endpoint", "version"],
    )
    days = GaugeMetricFamily(
        "certward_probe_certificate_days_to_expiry",
        "Days until the certificate a probe target's endpoint presented expires.",
        labels=["target", "endpoint"],
    )
    ca_bytes = GaugeMetricFamily(
        "certward_probe_client_ca_list_bytes",
        "Size of the client-CA list an endpoint sent in its CertificateRequest, bytes.",
        labels=["target", "endpoint"],
    )
    for t in obs.targets:
        where = [t.target, t.endpoint]
        success.add_metric(where, 1.0 if t.success else 0.0)
        if t.tls_version:
            version.add_metric([*where, t.tls_version], 1.0)
        if t.days_to_expiry is not None:
            days.add_metric(where, t.days_to_expiry)
        if t.client_ca_list_bytes is not None:
            ca_bytes.add_metric(where, t.client_ca_list_bytes)
    out += [success, version, days, ca_bytes]
    last = GaugeMetricFamily(
        "certward_job_last_success_timestamp_seconds",
        "When each scheduled job (health, auth, probe:URL) last succeeded, Unix seconds.",
        labels=["watch_job"],
    )
    for job, when in sorted((obs.last_success or {}).items()):
        last.add_metric([job], _ts(when))
    out.append(last)
    if obs.console is not None:
        console = GaugeMetricFamily(
            "certward_web_certificate_info",
            "The certificate the console presents: its server's IIS certificate (value 1).",
            labels=["server", "thumbprint"],
        )
        console.add_metric(list(obs.console), 1.0)
        out.append(console)
    took = GaugeMetricFamily(
        "certward_metrics_collect_seconds",
        "How long the last computation of these metrics from the store took.",
    )
    took.add_metric([], obs.collect_seconds)
    out.append(took)
    return out


def _findings_of(report: Any) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = {}
    for finding in report.findings:
        key = (finding.rule_id, finding.severity.label, finding.server or "")
        counts[key] = counts.get(key, 0) + 1
    return counts


WatchReader = Callable[
    ["App"], tuple[Any | None, Iterable[TargetSample], Mapping[str, dt.datetime]]
]


def no_watch(_app: App) -> tuple[Any | None, Iterable[TargetSample], Mapping[str, dt.datetime]]:
    """What a service without a scheduler knows of its runs: nothing."""
    return None, (), {}


class Metrics:
    """The ``/metrics`` text of one service, cached for ``cache_seconds``."""

    def __init__(
        self,
        app: App,
        *,
        cache_seconds: float,
        watch: WatchReader = no_watch,
        console: Callable[[], tuple[str, str] | None] = lambda: None,
    ) -> None:
        self._app = app
        self._cache_seconds = cache_seconds
        self._watch = watch
        self._console = console
        self._parsed = _Parsed()
        self._lock = threading.Lock()
        self._text: bytes | None = None
        self._made = 0.0
        self._findings: tuple[float, dict[tuple[str, str, str], int]] | None = None
        self._observation = Observation()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(OrgCollector(lambda: self._observation))
        ProcessCollector(registry=self.registry)
        self.computations = 0

    def _health_findings(self, known: FindingCounts | None) -> FindingCounts:
        if known is not None:
            return known
        moment = time.monotonic()
        if self._findings is None or moment - self._findings[0] > max(self._cache_seconds, 60):
            self._findings = (moment, _findings_of(self._app.health.check()))
        return self._findings[1]

    def observe(self) -> Observation:
        started = time.perf_counter()
        known, targets, last = self._watch(self._app)
        certificates = read_certificates(self._app, self._parsed)
        findings = self._health_findings(known)
        return Observation(
            certificates=tuple(certificates),
            findings=findings,
            targets=tuple(targets),
            last_success=dict(last),
            console=self._console(),
            collect_seconds=time.perf_counter() - started,
        )

    def text(self) -> bytes:
        """The exposition text, computed again when the cached one is older than the cache
        period (one computation at a time; concurrent scrapes share it)."""
        with self._lock:
            if self._text is None or time.monotonic() - self._made >= self._cache_seconds:
                self._observation = self.observe()
                self._text = generate_latest(self.registry)
                self._made = time.monotonic()
                self.computations += 1
            return self._text
