"""The watcher's worker process: probes and notification deliveries on Twisted.

The scheduler runs in a long-lived process (``certward watch``, or inside ``certward
web``'s asyncio loop under uvicorn). Twisted's reactor cannot be restarted once stopped,
and the prober runs it to completion (:func:`certward.services.probe.run_probes`), so each
probe run and each delivery happens in a short-lived child process: ``python -m
certward.services.watch_worker`` reads one JSON request on stdin (secrets travel there,
never in argv) and writes one JSON answer on stdout. The parent never imports Twisted,
whatever event loop it runs, and a hung probe is killed with its process.

Requests: ``{"op": "probe", "target": {...}}`` and ``{"op": "send", "batches": [{"kind":
"smtp" | "webhook", "settings": {...}, "secret": ..., "messages": [...]}, ...]}`` (one batch
per channel, the channels at once).

``certward web`` also keeps one long-lived worker (``python -m certward.services.watch_worker
serve``, :class:`JobWorker`) for its scheduled health and auth monitor runs: a check of a
large organisation holds the interpreter for seconds, which requests must not wait for. It
speaks the same JSON, one request and one answer a line: ``{"op": "job", "kind": "health",
"db": URL, "every": seconds, "thresholds": [...]}`` (or ``"kind": "auth"``: no report)
runs the job over the store as the scheduler does (its run, findings and notices stored)
and answers ``{"result": ...}``: the recorded run, the store's version when the check
began and the health report, pickled (parent and child are one program) and
base64-encoded. The worker keeps the store open and its parsed certificates warm from one
run to the next; it ends at the end of its input.
``{"op": "check", "db": URL}`` checks the whole organisation without recording a run (the
console's report of a store that changed since the last run) and answers the same way,
with no run.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import pickle
import select
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certward.model.checks import CheckStatus
from certward.model.watch import Backoff, JobRun, retry_delay

if TYPE_CHECKING:
    from certward.compose import App
    from certward.health.engine import HealthReport

SIGNATURE_HEADER = "X-Certward-Signature"
"""The webhook header: ``sha256=`` and the hex HMAC-SHA256 of the body under the secret."""


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        answer = handle(request)
    except Exception as exc:  # the parent turns this into a coded error
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


def serve() -> int:
    """Answer requests, one JSON line each, until stdin ends (the parent closed it or died)."""
    apps: dict[str, App] = {}
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                answer = handle(json.loads(line), apps)
            except Exception as exc:  # the parent turns this into a coded error
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        for app in apps.values():
            app.store.close()
    return 0


def handle(request: dict[str, Any], apps: dict[str, App] | None = None) -> dict[str, Any]:
    op = request.get("op")
    if op == "probe":
        return _probe(request["target"])
    if op == "send":
        return _deliver(request)
    if op == "job" and apps is not None:
        return _job(request, apps)
    if op == "check" and apps is not None:
        return _check(request, apps)
    raise ValueError(f"unknown request {op!r}")


def _probe(target: dict[str, Any]) -> dict[str, Any]:
    from certward.clock import SystemClock
    from certward.errors import CertwardError
    from certward.probe import verdict
    from certward.services.probe import load_roots, split_targets

    try:
        targets, domains = split_targets([target["url"]], None, sni=target.get("sni"))
        ca_file = target.get("ca_file")
        roots = load_roots(Path(ca_file) if ca_file else None)
        from certward.services.probe import run_probes

        reports, domain_reports = run_probes(
            targets,
            clock=SystemClock(),
            roots=roots,
            timeout=float(target.get("timeout", 15)),
            concurrency=4,
            domains=domains,
        )
    except CertwardError as exc:
        return {"status": 3, "error": exc.as_dict()}
    status = verdict.run(reports, domain_reports)
    judged = []
    for r in reports:
        v = verdict.endpoint(r)
        judged.append(_judged(r.to_json(), v.status, v.reasons))
    for d in domain_reports:
        v = verdict.domain(d)
        judged.append(_judged(d.to_json(), v.status, v.reasons))
    return {"status": int(status), "targets": judged}


def _opened(db: str, apps: dict[str, App]) -> App:
    from certward.compose import build_app

    app = apps.get(db)
    if app is None:
        app = apps[db] = build_app(db)
    return app


def _versioned_check(app: App, now: dt.datetime | None) -> tuple[int | None, HealthReport]:
    """The store's version (its newest audit entry) before a check, and the check."""
    newest = app.audit.entries(limit=1)
    version = newest[0].entry_id if newest else None
    return version, app.health.check(as_of=now)


def _pickled(value: object) -> dict[str, Any]:
    result = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return {"result": base64.b64encode(result).decode("ascii")}


def _check(request: dict[str, Any], apps: dict[str, App]) -> dict[str, Any]:
    """A check of the whole organisation, not recorded: (the store's version, its report)."""
    return _pickled(_versioned_check(_opened(str(request["db"]), apps), None))


def _job(request: dict[str, Any], apps: dict[str, App]) -> dict[str, Any]:
    """Run one scheduled job over the store (as the scheduler: recorded, findings tracked,
    notices queued); the run, the store's version before the check and the health report."""
    from certward.model.watch import Job, JobKind
    from certward.services.watch import Schedule

    kind = JobKind(request["kind"])
    if kind not in (JobKind.HEALTH, JobKind.AUTH):
        raise ValueError(f"job {kind.value!r} does not run in the worker")
    app = _opened(str(request["db"]), apps)
    every = dt.timedelta(seconds=float(request["every"]))
    thresholds = tuple(int(t) for t in request.get("thresholds") or ())
    schedule = Schedule(health=every) if kind is JobKind.HEALTH else Schedule(auth=every)
    app.watch.schedule = replace(schedule, thresholds=thresholds) if thresholds else schedule
    made: list[tuple[int | None, HealthReport]] = []

    def check(now: dt.datetime) -> HealthReport:
        made.append(_versioned_check(app, now))
        return made[-1][1]

    app.watch.health_check = check
    run = app.watch.run_job(Job(kind, every))
    version, report = made[-1] if made else (None, None)
    return _pickled((run, version, report))


class JobWorker:
    """The parent's side of the long-lived worker: started on first use (or by
    :meth:`start`), started again when it died, stopped by :meth:`close`. One request at a
    time; a request that gets no answer within its timeout kills the worker."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self._command = list(command or (*worker_command(), "serve"))
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is not None and process.poll() is not None:  # it died: start another
            _discard(process, 0.0)
            process = None
        if process is None:
            process = self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C stops the web service, which stops this
            )
        return process

    def call(self, request: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
        """The worker's answer to one request; ``watch.worker_failed`` if it gives none."""
        from certward.codes.watch import WATCH_WORKER_FAILED

        with self._lock:
            process = self._ensure()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                ready, _, _ = select.select([process.stdout], [], [], timeout)
                line = process.stdout.readline() if ready else None
            except OSError as exc:
                self._kill()
                raise WATCH_WORKER_FAILED(f"the worker is gone ({exc})") from None
            if line is None:
                self._kill()
                raise WATCH_WORKER_FAILED(f"the worker gave no answer within {timeout:.0f} s")
            if not line:
                self._process = None
                code = _discard(process, 10.0)
                raise WATCH_WORKER_FAILED(f"the worker exited {code} without an answer")
        try:
            answer = json.loads(line)
        except ValueError:
            raise WATCH_WORKER_FAILED("the worker's answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WATCH_WORKER_FAILED("the worker's answer is not a JSON object")
        if "error" in answer and isinstance(answer["error"], str):
            raise WATCH_WORKER_FAILED(f"the worker failed: {answer['error']}")
        return answer

    def run_job(
        self, kind: str, db: str, every: dt.timedelta, thresholds: Sequence[int], *, timeout: float
    ) -> tuple[JobRun, int | None, HealthReport | None]:
        """Run a scheduled job in the worker: (its recorded run, the store's version when
        its check began, its health report)."""
        from certward.codes.watch import WATCH_WORKER_FAILED

        answer = self.call(
            {
                "op": "job",
                "kind": kind,
                "db": db,
                "every": every.total_seconds(),
                "thresholds": list(thresholds),
            },
            timeout=timeout,
        )
        try:
            # our own child over a private pipe: the same program, no other writer
            run, version, report = pickle.loads(base64.b64decode(answer["result"]))  # noqa: S301
        except (KeyError, ValueError, TypeError, pickle.UnpicklingError):
            raise WATCH_WORKER_FAILED("the worker's answer has no result") from None
        return run, version, report

    def check(self, db: str, *, timeout: float) -> tuple[int | None, HealthReport]:
        """A check of the whole organisation in the worker, not recorded as a run: (the
        store's version when it began, its report)."""
        from certward.codes.watch import WATCH_WORKER_FAILED

        answer = self.call({"op": "check", "db": db}, timeout=timeout)
        try:
            # our own child over a private pipe: the same program, no other writer
            version, report = pickle.loads(base64.b64decode(answer["result"]))  # noqa: S301
        except (KeyError, ValueError, TypeError, pickle.UnpicklingError):
            raise WATCH_WORKER_FAILED("the worker's answer has no result") from None
        return version, report

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _discard(process, 0.0)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker: its input ends (it finishes the job it is on); killed if it has
        not ended within ``timeout`` seconds."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            _discard(process, timeout)


def _discard(process: subprocess.Popen[bytes], timeout: float) -> int:
    """End the worker: its input closed, killed unless it ended within ``timeout``
    seconds; its pipes closed. Its exit status."""
    with contextlib.suppress(OSError):  # a dead worker's input may not flush
        if process.stdin is not None:
            process.stdin.close()
    try:
        code = process.wait(timeout) if timeout > 0 else None
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        code = process.wait()
    if process.stdout is not None:
        process.stdout.close()
    return code


def _judged(report: dict[str, Any], status: CheckStatus, reasons: Sequence[str]) -> dict[str, Any]:
    """A report with its verdict (the report also names it, for readers of one report)."""
    return {
        "report": {**report, "status": status.name},
        "status": int(status),
        "reasons": list(reasons),
    }


def _deliver(request: dict[str, Any]) -> dict[str, Any]:
    """Each batch (one channel's messages, in order) at the same time as the others."""
    from certward.endpoints.reactor import get_reactor

    reactor = get_reactor()
    from twisted.internet import defer

    batches: list[dict[str, Any]] = request["batches"]
    results: list[list[dict[str, Any]]] = [[] for _ in batches]

    async def run(batch: dict[str, Any], out: list[dict[str, Any]]) -> None:
        send = _send_mail if batch["kind"] == "smtp" else _send_webhook
        for message in batch["messages"]:
            try:
                out.append(await send(reactor, batch, message))
            except Exception as exc:  # a bug must not lose the other messages' results
                out.append({"ok": False, "error": _said(exc)})

    def start() -> None:
        runs = [
            defer.Deferred.fromCoroutine(run(b, out))
            for b, out in zip(batches, results, strict=True)
        ]
        defer.DeferredList(runs, consumeErrors=True).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    return {"results": results}


def mail_bytes(settings: dict[str, Any], message: dict[str, Any]) -> bytes:
    mail = EmailMessage()
    mail["From"] = settings["from"]
    mail["To"] = ", ".join(settings["to"])
    mail["Subject"] = message["subject"]
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=settings["from"].rpartition("@")[2] or None)
    mail["X-Certward-Event"] = message.get("event", "")
    mail.set_content(message["text"])
    return mail.as_bytes()


async def _send_mail(
    reactor: Any, request: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    """One message over SMTP with STARTTLS required (Twisted's ESMTP sender), the server's
    certificate verified against the channel's CA file (or the system's) and name."""
    from twisted.internet import defer, ssl
    from twisted.mail import smtp

    settings = request["settings"]
    host, port = settings["host"], int(settings.get("port", 587))
    name = settings.get("tls_name") or host
    ca_file = settings.get("ca_file")
    if ca_file:
        trust = ssl.Certificate.loadPEM(Path(ca_file).read_bytes())
        options = ssl.optionsForClientTLS(name, trustRoot=trust)
    else:
        options = ssl.optionsForClientTLS(name)
    username = settings.get("username")
    password = request.get("secret")
    done: defer.Deferred[Any] = defer.Deferred()
    factory = smtp.ESMTPSenderFactory(  # type: ignore[no-untyped-call]
        username.encode() if username else None,
        password.encode() if password else None,
        settings["from"],
        list(settings["to"]),
        io.BytesIO(mail_bytes(settings, message)),
        done,
        retries=0,
        timeout=float(settings.get("timeout", 30)),
        contextFactory=options,
        requireAuthentication=bool(username),
        requireTransportSecurity=True,
        hostname=name,
    )
    reactor.connectTCP(host, port, factory, timeout=float(settings.get("timeout", 30)))
    try:
        await done
    except Exception as exc:
        return {"ok": False, "error": f"{host}:{port}: {_said(exc)}"}
    return {"ok": True}


def _said(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


async def _send_webhook(
    reactor: Any, request: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    """POST the notice as JSON, signed; retried with exponential backoff on a connection
    failure, 429 or 5xx, waiting what ``Retry-After`` asks when the receiver says."""
    import treq
    from twisted.internet import task
    from twisted.web.client import HTTPConnectionPool

    # A connection per request: a receiver that closed its side between two notices would
    # otherwise fail the next POST (which the pool does not retry: POST is not idempotent).
    pool = HTTPConnectionPool(reactor, persistent=False)  # type: ignore[no-untyped-call]

    settings = request["settings"]
    secret = (request.get("secret") or "").encode()
    body = json.dumps(message, sort_keys=True).encode()
    headers = {"Content-Type": ["application/json"], "User-Agent": ["certward"]}
    if secret:
        headers[SIGNATURE_HEADER] = [signature(secret, body)]
    backoff = Backoff(
        attempts=int(settings.get("attempts", 5)),
        base=float(settings.get("backoff", 1.0)),
        cap=float(settings.get("backoff_cap", 300.0)),
    )
    attempt = 0
    waits: list[float] = []
    while True:
        attempt += 1
        retry_after: str | None = None
        try:
            response = await treq.post(  # type: ignore[no-untyped-call]
                settings["url"],
                data=body,
                headers=headers,
                timeout=float(settings.get("timeout", 30)),
                reactor=reactor,
                pool=pool,
            )
            await response.content()
            code = response.code
            if 200 <= code < 300:
                return {"ok": True, "attempts": attempt, "waits": waits}
            error = f"HTTP {code}"
            if code not in (408, 425, 429) and code < 500:
                return {"ok": False, "attempts": attempt, "error": error, "waits": waits}
            values = response.headers.getRawHeaders("Retry-After") or []
            retry_after = values[0] if values else None
        except Exception as exc:
            error = _said(exc)
        delay = retry_delay(backoff, attempt, retry_after, dt.datetime.now(dt.UTC))
        if delay is None:
            return {"ok": False, "attempts": attempt, "error": error, "waits": waits}
        waits.append(delay)
        await task.deferLater(reactor, delay, lambda: None)


def worker_command() -> Sequence[str]:
    return (sys.executable, "-m", "certward.services.watch_worker")


if __name__ == "__main__":
    raise SystemExit(serve() if sys.argv[1:] == ["serve"] else main())
