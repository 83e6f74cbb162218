"""The FastAPI application of ``certward web``: the REST API (``/api/v1``), the console,
``/metrics``; security headers on every response; a lifespan that runs the scheduler and
follows the IIS certificate."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certward.interfaces.server.metrics import CONTENT_TYPE, Metrics
from certward.interfaces.server.settings import WebSettings, is_loopback
from certward.interfaces.web._reports import HealthReports

if TYPE_CHECKING:
    from certward.compose import App
    from certward.interfaces.server.tls import LiveTls
    from certward.services.watch_worker import JobWorker

log = logging.getLogger("certward.web")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response (those a
    handler set itself are kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _optional(module_name: str) -> Any | None:
    """The module, or None while it does not exist yet (another part of issue 14)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def _mount(fastapi_app: FastAPI, module_name: str) -> bool:
    module = _optional(module_name)
    if module is None:
        log.warning("%s is not available; its routes are not served", module_name)
        return False
    router = getattr(module, "router", None)
    if router is not None:
        fastapi_app.include_router(router)
    install = getattr(module, "install", None)
    if install is not None:
        install(fastapi_app)
    return True


Stopper = Callable[[], Awaitable[None]]


async def start_scheduler(
    app: App,
    reports: HealthReports | None = None,
    *,
    after_health: Callable[[], None] | None = None,
) -> Stopper:
    """Start the watch service's scheduler (health, the auth monitor, probes of the
    configured targets, notifications) as a task of this loop; the coroutine that stops it
    (after the job running, if any, ends).

    With ``reports``, the scheduled health (and auth monitor) runs happen in a long-lived
    worker process (:class:`certward.services.watch_worker.JobWorker`, started here and
    stopped with the
    scheduler, started again if it died), which keeps its parsed certificates warm from one
    run to the next; each run's report becomes the console's, and the console asks the
    worker (never this process) for a fresh one when the store changed. ``after_health``
    is called after each of its runs (in the scheduler's thread: what pages and scrapes
    read is made before they ask)."""
    worker = _health_worker(app, reports, after_health) if reports is not None else None
    if worker is not None:
        await asyncio.to_thread(worker.start)
    stop = asyncio.Event()
    task = asyncio.create_task(app.watch.run_forever(stop), name="certward-scheduler")

    async def stopping() -> None:
        stop.set()
        try:
            await task
        except Exception:  # the scheduler's failure must not hide the shutdown
            log.exception("the scheduler failed")
        finally:
            if worker is not None:
                from certward.model.watch import JobKind

                app.watch.elsewhere.pop(JobKind.HEALTH, None)
                app.watch.elsewhere.pop(JobKind.AUTH, None)
                if reports is not None:
                    reports.remote = None
                await asyncio.to_thread(worker.close)

    return stopping


WORKER_JOB_TIMEOUT = 1800.0  # seconds a scheduled health run may take in the worker


def _health_worker(
    app: App, reports: HealthReports, after_health: Callable[[], None] | None = None
) -> JobWorker | None:
    """The worker that runs ``app``'s scheduled health and auth monitor runs, registered
    with its watch service and as the console's maker of reports; None for a store another
    process cannot open (SQLite in memory)."""
    from certward.model.watch import Job, JobKind, JobRun
    from certward.services.watch_worker import JobWorker

    url = app.settings.database_url
    if url.startswith("sqlite") and app.settings.sqlite_path is None:
        return None
    worker = JobWorker()

    def health(job: Job) -> JobRun:
        schedule = app.watch.schedule
        run, version, report = worker.run_job(
            job.kind.value, url, job.every, schedule.thresholds, timeout=WORKER_JOB_TIMEOUT
        )
        if report is not None:
            reports.adopt(version, report)
        if after_health is not None:
            try:
                after_health()
            except Exception:  # a page or scrape makes it again; the run stands
                log.exception("preparing pages and metrics after a health run failed")
        return run

    def auth(job: Job) -> JobRun:
        schedule = app.watch.schedule
        run, _, _ = worker.run_job(
            job.kind.value, url, job.every, schedule.thresholds, timeout=WORKER_JOB_TIMEOUT
        )
        return run

    app.watch.elsewhere[JobKind.HEALTH] = health
    app.watch.elsewhere[JobKind.AUTH] = auth
    reports.remote = lambda: worker.check(url, timeout=WORKER_JOB_TIMEOUT)
    return worker


async def _follow_tls(tls: LiveTls, every: float) -> None:
    """Poll the store for a new IIS certificate until cancelled."""
    while True:
        await asyncio.sleep(every)  # a timer, not a synchronisation
        try:
            if await asyncio.to_thread(tls.refresh):
                log.warning(
                    "now presenting %s's IIS certificate %s", tls.server, tls.current.thumbprint
                )
        except Exception:  # a failed poll is retried at the next one
            log.exception("reading the IIS certificate failed")


def _routes(lifespan: Any = None) -> FastAPI:
    """The application with the API's and the console's routes (no store behind them)."""
    from importlib.metadata import version

    fastapi_app = FastAPI(
        title="certward",
        summary="The certificates and TLS of an Exchange-style organisation.",
        version=version("certward"),
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    fastapi_app.add_middleware(SecurityHeaders)
    fastapi_app.state.mounted = {
        name: _mount(fastapi_app, f"certward.interfaces.{name}") for name in ("api", "web")
    }
    return fastapi_app


def create_app(
    app: App, settings: WebSettings | None = None, *, tls: LiveTls | None = None
) -> FastAPI:
    """The web service over ``app``'s store: ``/api/v1`` (certward.interfaces.api),
    the console (certward.interfaces.web), ``/metrics``. ``tls``: the live HTTPS context,
    whose certificate the lifespan keeps current."""
    settings = settings or WebSettings()

    @contextlib.asynccontextmanager
    async def lifespan(_fastapi_app: FastAPI) -> AsyncIterator[None]:
        stop = (
            await start_scheduler(
                app, reports if settings.health_in_worker else None, after_health=prepare
            )
            if settings.run_scheduler
            else None
        )
        follow = (
            asyncio.create_task(_follow_tls(tls, settings.tls_poll_seconds))
            if tls is not None
            else None
        )
        try:
            yield
        finally:
            if follow is not None:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
            if stop is not None:
                await stop()

    fastapi_app = _routes(lifespan)
    fastapi_app.state.certward = app
    # The scheduler's health runs are the console's reports (one check, not two).
    reports = HealthReports()
    fastapi_app.state.console_health_reports = reports
    app.watch.health_check = lambda now: reports.keep(app, now)
    fastapi_app.state.settings = settings
    fastapi_app.state.tls = tls

    metrics = Metrics(
        app,
        cache_seconds=settings.metrics_cache_seconds,
        watch=_watch_reader(),
        console=(lambda: (tls.server, tls.current.thumbprint)) if tls is not None else lambda: None,
    )
    fastapi_app.state.metrics = metrics

    def prepare() -> None:
        """After a scheduled health run: the scrape's text and the console's findings data
        made now, in the scheduler's thread, rather than by the next request."""
        metrics.text(wait=True)
        if fastapi_app.state.mounted.get("web"):
            from certward.interfaces.web.routes import prepare_findings

            prepare_findings(app)

    @fastapi_app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        # in a thread: a token's check reads the store (and may wait for its write lock)
        refused = await asyncio.to_thread(_metrics_refusal, app, settings, request)
        if refused is not None:
            return refused
        body = await asyncio.to_thread(metrics.text)
        return Response(body, media_type=CONTENT_TYPE)

    return fastapi_app


def _watch_reader() -> Any:
    from certward.interfaces.server import watching

    return watching.read_watch


def _metrics_refusal(app: App, settings: WebSettings, request: Request) -> Response | None:
    """None when the client may read ``/metrics``: a loopback client (unless switched off),
    or a bearer token of any role (reader or above)."""
    client = request.client.host if request.client else None
    if settings.metrics_open_on_loopback and is_loopback(client):
        return None
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        from certward.errors import CertwardError

        try:
            app.access.authenticate_token(secret.strip())
        except CertwardError:
            pass
        else:
            return None
    problem = {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "/metrics needs a bearer token (reader or above) from a non-loopback client",
    }
    return Response(
        json.dumps(problem),
        status_code=401,
        media_type="application/problem+json",
        headers={"www-authenticate": 'Bearer realm="certward"'},
    )
