"""``/metrics``: the organisation as Prometheus sees it, computed from the store.

One scrape reads every server's personal-store certificates in one transaction (observed
servers' as their dumps showed them); a certificate's subject and NotAfter are read from its
DER once per thumbprint (a thumbprint names one certificate) and remembered. Findings, probe
results and job times come from the scheduler's run history (no findings before its first
health run: a scrape never runs the health rules itself). The whole text is computed at
most once per ``metrics_cache_seconds`` and served again in between; past that, each part
is computed again only when what it shows changed: the certificates' expiry family (20,000
samples, 4 MB at the issue's scale) when the organisation did (its newest audit entry: the
scheduler's runs write none, see :mod:`certward.interfaces.server.versioned`), the rest —
findings, probes, job times, the console's certificate — when the store did (its generation
counter, which every changing transaction, the scheduler's runs included, moves on) or the
console's certificate did. A scrape of an unchanged store reads two rows; one after a
scheduled run reads the run history, not the certificates. :meth:`Metrics.text` may also
be called right after a run (the web service does), so that the next scrape finds it made.
Metric names and labels are the contract documented in ``docs/metrics.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
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
    """Subject and NotAfter of certificates by thumbprint, read from their DER once."""

    def __init__(self, limit: int = 200_000) -> None:
        self.known: dict[str, tuple[str, dt.datetime]] = {}
        self._limit = limit

    def learn(self, ders: Mapping[str, bytes]) -> None:
        from cryptography import x509

        if len(self.known) + len(ders) > self._limit:
            self.known.clear()
        for thumbprint, der in ders.items():
            cert = x509.load_der_x509_certificate(der)
            self.known[thumbprint] = (cert.subject.rfc4514_string(), cert.not_valid_after_utc)


def read_certificates(app: App, parsed: _Parsed) -> list[CertificateSample]:
    """Every server's personal-store certificates (pending requests have no expiry): the
    index in one query, the DER of certificates not seen before in another."""
    with app.store.transaction() as repo:
        index = repo.certificate_index(StoreName.MY)
        unknown = {str(c.thumbprint) for c in index} - parsed.known.keys()
        if unknown:
            parsed.learn({str(t): der for t, der in repo.certificate_ders(unknown).items()})
        observed = repo.observed_certificate_index(StoreName.MY)
    samples = []
    for c in index:
        known = parsed.known.get(str(c.thumbprint))
        if known is not None:
            subject, not_after = known
            services = ",".join(c.services.names)
            samples.append(
                CertificateSample(c.server, str(c.thumbprint), subject, services, False, not_after)
            )
    samples += [
        CertificateSample(
            o.server, str(o.thumbprint), o.subject, ",".join(o.services.names), True, o.not_after
        )
        for o in observed
    ]
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


EXPIRY = "certward_certificate_not_after_timestamp_seconds"
EXPIRY_HELP = "When a certificate in a server's personal store expires (NotAfter), Unix seconds."


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def certificate_text(certificates: Iterable[CertificateSample]) -> bytes:
    """The expiry family in the text format, written directly: at 20,000 certificates the
    client library's generic writer (label validation and escaping per sample) is most of
    a scrape's time."""
    lines = [f"# HELP {EXPIRY} {EXPIRY_HELP}", f"# TYPE {EXPIRY} gauge"]
    for c in certificates:
        lines.append(
            f'{EXPIRY}{{server="{_label(c.server)}",thumbprint="{_label(c.thumbprint)}",'
            f'subject="{_label(c.subject)}",services="{_label(c.services)}",'
            f'observed="{"true" if c.observed else "false"}"}} '
            f"{_ts(c.not_after)!r}"
        )
    return ("\n".join(lines) + "\n").encode()


def certificate_version(app: App) -> int | None:
    """What the expiry family depends on: the organisation's version."""
    from certward.interfaces.server.versioned import organisation_version

    return organisation_version(app)


def exposition(obs: Observation) -> bytes:
    """The whole ``/metrics`` text of ``obs`` (without the process's own metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OrgCollector(lambda: obs))
    return certificate_text(obs.certificates) + generate_latest(registry)


def render(obs: Observation) -> list[Metric]:
    """The metric families other than the certificates' expiry (:func:`certificate_text`)."""
    out: list[Metric] = []
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
        "When each scheduled job (health, auth, probe:URL) last ran to a verdict, Unix seconds.",
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


WatchReader = Callable[
    ["App"], tuple[Any | None, Iterable[TargetSample], Mapping[str, dt.datetime]]
]


def no_watch(_app: App) -> tuple[Any | None, Iterable[TargetSample], Mapping[str, dt.datetime]]:
    """What a service without a scheduler knows of its runs: nothing."""
    return None, (), {}


@contextlib.contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    """Release ``lock`` (acquired by the caller) at the end of the block."""
    try:
        yield
    finally:
        lock.release()


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
        self._observation = Observation()
        self._organisation: bytes | None = None  # the organisation's families, as text
        self._seen: tuple[int, tuple[str, str] | None] | None = None  # (generation, console)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(OrgCollector(lambda: self._observation))
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)
        self._certificates: tuple[tuple[CertificateSample, ...], bytes] | None = None
        self._certificates_version: int | None = None
        self._certificates_seconds = 0.0
        self._computing: threading.Thread | None = None
        self.computations = 0  # of the organisation's part
        self.certificate_computations = 0  # of the certificates' expiry family

    def observe(self) -> Observation:
        """Everything a scrape reports, read from the store now."""
        started = time.perf_counter()
        findings, targets, last = self._watch(self._app)
        certificates = read_certificates(self._app, self._parsed)
        return Observation(
            certificates=tuple(certificates),
            findings=findings,
            targets=tuple(targets),
            last_success=dict(last),
            console=self._console(),
            collect_seconds=time.perf_counter() - started,
        )

    def _observe_watch(self, certificates: tuple[CertificateSample, ...]) -> Observation:
        """The scheduler's part read from the store now, beside the ``certificates`` kept."""
        started = time.perf_counter()
        findings, targets, last = self._watch(self._app)
        return Observation(
            certificates=certificates,
            findings=findings,
            targets=tuple(targets),
            last_success=dict(last),
            console=self._console(),
            collect_seconds=time.perf_counter() - started,
        )

    def text(self, *, wait: bool = False) -> bytes:
        """The exposition text, served again while younger than the cache period; after it,
        the certificates' family is computed again when the organisation's version changed,
        the rest when the store's generation or the console's certificate changed, and the
        process's own metrics always are.

        A scrape never waits for the scheduler's records: when only they changed (a run, a
        lease renewed), it is given the text made before while the new one is made in the
        background (``wait``: made now, as the service does right after each run). A
        person's change is shown at once. One computation at a time: a scrape arriving
        while one is under way is given the text made before it (if any)."""
        if not self._lock.acquire(blocking=wait or self._text is None):
            return self._text or b""
        with _held(self._lock):
            if self._text is not None and time.monotonic() - self._made < self._cache_seconds:
                return self._text
            seen = (self._app.store.generation(), self._console())
            if self._organisation is None or seen != self._seen:
                version = certificate_version(self._app)
                if (
                    not wait
                    and self._organisation is not None
                    and version == self._certificates_version
                ):
                    self._compute_later()
                else:
                    self._compute(seen, version)
            assert self._organisation is not None
            self._text = self._organisation + generate_latest(self._process)
            self._made = time.monotonic()
            return self._text

    def settle(self, timeout: float) -> None:
        """Wait for a computation in the background, if one is under way (tests)."""
        computing = self._computing
        if computing is not None:
            computing.join(timeout)

    def _compute(self, seen: tuple[int, tuple[str, str] | None], version: int | None) -> None:
        if self._certificates is None or version != self._certificates_version:
            started = time.perf_counter()
            samples = tuple(read_certificates(self._app, self._parsed))
            self._certificates = (samples, certificate_text(samples))
            self._certificates_version = version
            self._certificates_seconds = time.perf_counter() - started
            self.certificate_computations += 1
        samples, text = self._certificates
        observation = self._observe_watch(samples)
        self._observation = replace(
            observation,
            collect_seconds=observation.collect_seconds + self._certificates_seconds,
        )
        self._organisation = text + generate_latest(self.registry)
        self._seen = seen
        self.computations += 1

    def _compute_later(self) -> None:
        computing = self._computing
        if computing is not None and computing.is_alive():
            return
        self._computing = threading.Thread(
            target=self._compute_quietly, name="metrics-compute", daemon=True
        )
        self._computing.start()

    def _compute_quietly(self) -> None:
        import logging

        try:
            self.text(wait=True)
        except Exception:  # the text made before stays; the next scrape asks again
            logging.getLogger("certward.web").exception("computing /metrics failed")
