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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import sys
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from certward.model.checks import CheckStatus
from certward.model.watch import Backoff, retry_delay

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


def handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "probe":
        return _probe(request["target"])
    if op == "send":
        return _deliver(request)
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
    raise SystemExit(main())
