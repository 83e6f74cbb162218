"""The console's pages: server-rendered, one form per action, every form with the session's
CSRF token, every request run as the signed-in user (the audit log's actor)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import threading
from pathlib import Path, PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from certward.codes.console import (
    CONSOLE_CSRF_INVALID,
    CONSOLE_REPLY_INVALID,
    CONSOLE_REPLY_TOO_LARGE,
)
from certward.errors import CertwardError, ConfirmationRequired, NotFoundError
from certward.health.findings import Finding, Severity
from certward.interfaces.server.versioned import ByVersion, next_change, store_generation
from certward.interfaces.server.watching import open_findings
from certward.interfaces.web import _visit
from certward.interfaces.web._reports import HealthReports
from certward.interfaces.web._visit import Refused, Visit, visit
from certward.interfaces.web.timeline import SOON_DAYS, bars, timeline_svg
from certward.model import ServiceSet, StoreName, Thumbprint
from certward.model.access import AccessRole, Channel
from certward.model.audit import Actor, acting

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

Signed = Annotated[Visit, Depends(visit)]
Csrf = Annotated[str, Form()]
SERVICES = ("IIS", "SMTP", "IMAP", "POP", "UM", "UMCallRouter", "Federation")
TIMELINE_LIMIT = 400  # rows drawn on the glance page; the servers' pages list every one
SOON_LIMIT = 50  # certificates listed as expiring soon on the glance page
FINDINGS_PAGE = 100  # findings per page
REPLY_LIMIT = 1024 * 1024  # bytes of a CA's reply the wizard reads


# -- rendering ------------------------------------------------------------------------------
def _page(
    request: Request,
    template: str,
    visit: Visit | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    context.update(request=request, visit=visit, now=_now(visit))
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["cache-control"] = "no-store"  # pages carry the session's CSRF token
    return response


def _reports(request: Request) -> HealthReports:
    """The application's cache of health reports (made on first use)."""
    with _REPORTS_LOCK:
        reports = getattr(request.app.state, "console_health_reports", None)
        if reports is None:
            reports = HealthReports()
            request.app.state.console_health_reports = reports
    return reports


_REPORTS_LOCK = threading.Lock()


def _now(visit: Visit | None) -> dt.datetime:
    return visit.app.clock.now() if visit is not None else dt.datetime.now(dt.UTC)


def _status_of(exc: CertwardError) -> int:
    if exc.code.id == "access.denied":
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConfirmationRequired):
        return 409
    return 400


def _refusal(
    request: Request, visit: Visit, exc: CertwardError | Refused, *, back: str, title: str
) -> HTMLResponse:
    """A refused or failed action as a page: what went wrong, its code, the way back."""
    if isinstance(exc, Refused):
        message, code, status = exc.message, exc.code, exc.status
    else:
        message, code, status = exc.message, exc.code.id, _status_of(exc)
    return _page(
        request,
        "message.html",
        visit,
        status,
        title=title,
        error={"message": message, "code": code},
        back=back,
    )


# -- signing in and out ---------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    token = _visit.login_token(request)
    response = _page(request, "login.html", None, next=_visit.safe_next(next), token=token)
    _visit.set_login_cookie(response, token)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Csrf = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    app = _visit.certward_app(request)
    token = request.cookies.get(_visit.LOGIN_COOKIE, "")
    target = _visit.safe_next(next)
    if not token or not hmac.compare_digest(token.encode(), csrf.encode()):
        fresh = _visit.login_token(request)
        response = _page(
            request,
            "login.html",
            None,
            403,
            next=target,
            token=fresh,
            error={
                "message": "the login form's security token does not match; send it again",
                "code": CONSOLE_CSRF_INVALID.id,
            },
        )
        _visit.set_login_cookie(response, fresh)
        return response
    source = request.client.host if request.client else "unknown"
    try:
        with acting(Actor(name, Channel.WEB, _visit.route_action(request))):
            principal = app.access.login(name, password, source=source)
            session_id, _ = app.access.open_session(principal)
    except CertwardError as exc:
        return _page(
            request,
            "login.html",
            None,
            401,
            next=target,
            token=token,
            name=name,
            error={"message": exc.message, "code": exc.code.id},
        )
    redirect = RedirectResponse(target, status_code=303)
    _visit.set_session_cookie(redirect, session_id)
    redirect.delete_cookie(_visit.LOGIN_COOKIE, path="/login")
    return redirect


@router.get("/login/one-time", response_class=HTMLResponse)
def login_one_time(request: Request, code: str = "") -> Response:
    """The one-time login ``certward web --demo`` prints."""
    app = _visit.certward_app(request)
    try:
        with acting(Actor("one-time login", Channel.WEB, _visit.route_action(request))):
            principal = app.access.redeem_one_time(code)
            session_id, _ = app.access.open_session(principal)
    except CertwardError as exc:
        token = _visit.login_token(request)
        response = _page(
            request,
            "login.html",
            None,
            401,
            next="/",
            token=token,
            error={"message": exc.message, "code": exc.code.id},
        )
        _visit.set_login_cookie(response, token)
        return response
    redirect = RedirectResponse("/", status_code=303)
    _visit.set_session_cookie(redirect, session_id)
    return redirect


@router.post("/logout")
def logout(request: Request, visit: Signed, csrf: Csrf = "") -> Response:
    try:
        visit.check(csrf)
    except Refused as exc:
        return _refusal(request, visit, exc, back="/", title="Sign out")
    with visit.acting():
        visit.app.access.close_session(visit.session_id)
    redirect = RedirectResponse("/login", status_code=303)
    redirect.delete_cookie(_visit.SESSION_COOKIE, path="/")
    return redirect


# -- the organisation at a glance -----------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def glance(request: Request, visit: Signed) -> Response:
    with visit.acting():
        try:
            organisation = visit.app.organisation.organisation().name
        except NotFoundError:
            return _page(request, "empty.html", visit)
        report = _reports(request).report(visit.app)
    rows = bars(report.timeline, report.as_of)
    soon = [r for r in rows if r.state in ("expired", "soon")]
    soon.sort(key=lambda r: r.not_after)
    counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for finding in report.findings:
        counts[finding.severity.label] += 1
    timeline = sorted(report.timeline, key=lambda e: e.not_after)[:TIMELINE_LIMIT]
    return _page(
        request,
        "glance.html",
        visit,
        organisation=organisation,
        report=report,
        soon=soon[:SOON_LIMIT],
        soon_total=len(soon),
        soon_days=SOON_DAYS,
        counts=counts,
        timeline=timeline_svg(timeline, report.as_of),
        drawn=len(timeline),
        total=len(report.timeline),
    )


# -- servers and their certificates ---------------------------------------------------------
@router.get("/servers", response_class=HTMLResponse)
def servers(request: Request, visit: Signed) -> Response:
    with visit.acting():
        summaries = visit.app.organisation.servers()
    return _page(request, "servers.html", visit, servers=summaries)


def _server_page(
    request: Request,
    visit: Visit,
    server: str,
    thumbprint: str | None,
    status: int = 200,
    **extra: Any,
) -> Response:
    app = visit.app
    try:
        with visit.acting():
            srv, certificates = _server_and_certificates(app, server)
            details = _details(visit, srv.name, thumbprint) if thumbprint else None
    except CertwardError as exc:
        return _refusal(request, visit, exc, back="/servers", title="Certificates")
    return _page(
        request,
        "server.html",
        visit,
        status,
        server=srv,
        certificates=certificates,
        details=details,
        services=SERVICES,
        **extra,
    )


SERVER_PAGES_KEPT = 256  # servers whose certificates are kept per version of the organisation
_servers_kept: ByVersion[dict[str, tuple[Any, list[Any], dt.datetime | None]]] = ByVersion(
    lambda _app: {}
)
"""Each server and its certificates as its page lists them, kept until the organisation
changes (scheduled runs do not) or one of them becomes or stops being valid."""


def _server_and_certificates(app: Any, server: str) -> tuple[Any, list[Any]]:
    kept = _servers_kept.get(app)
    now = app.clock.now()
    found = kept.get(server.casefold())
    if found is None or (found[2] is not None and now >= found[2]):
        srv = app.organisation.server(server)
        certificates = app.certificates.list_certificates(srv.name)
        found = (srv, certificates, next_change(certificates, now))
        if len(kept) >= SERVER_PAGES_KEPT:
            kept.clear()
        kept[server.casefold()] = found
    return found[0], found[1]


def _details(visit: Visit, server: str, thumbprint: str) -> dict[str, Any]:
    """The details pane: the certificate, its chain and where it is used."""
    app = visit.app
    view = app.certificates.show_certificate(server, Thumbprint(thumbprint.upper()))
    pool = [
        *app.stores.store_list(server, StoreName.CA),
        *app.stores.store_list(server, StoreName.ROOT),
    ]
    chain = []
    issuer, seen = view.issuer, {view.thumbprint}
    while not view.is_self_signed and issuer:
        parent = next((c for c in pool if c.subject == issuer and c.thumbprint not in seen), None)
        if parent is None:
            chain.append({"subject": issuer, "thumbprint": None, "store": None})
            break
        chain.append({"subject": parent.subject, "thumbprint": parent.thumbprint,
                      "store": parent.store.value})  # fmt: skip
        seen.add(parent.thumbprint)
        if parent.is_self_signed:
            break
        issuer = parent.issuer
    connectors = [
        c.connector.identity
        for c in app.connectors.list()
        if any(r.server == server and view.thumbprint in r.thumbprints for r in c.resolution)
    ]
    auth = []
    try:
        config = app.auth.show().config
    except CertwardError:
        config = None
    if config is not None:
        for label, value in (
            ("current", config.current_thumbprint),
            ("next", config.next_thumbprint),
            ("previous", config.previous_thumbprint),
        ):
            if value == view.thumbprint:
                auth.append(label)
    return {"view": view, "chain": chain, "connectors": connectors, "auth": auth}


@router.get("/servers/{server}", response_class=HTMLResponse)
def server_certificates(request: Request, visit: Signed, server: str) -> Response:
    return _server_page(request, visit, server, None)


@router.get("/servers/{server}/certificates/{thumbprint}", response_class=HTMLResponse)
def certificate_details(request: Request, visit: Signed, server: str, thumbprint: str) -> Response:
    return _server_page(request, visit, server, thumbprint)


@router.post("/servers/{server}/certificates/{thumbprint}/enable", response_class=HTMLResponse)
def enable(
    request: Request,
    visit: Signed,
    server: str,
    thumbprint: str,
    csrf: Csrf = "",
    services: Annotated[list[str] | None, Form()] = None,
    answer: Annotated[str, Form()] = "",
) -> Response:
    back = f"/servers/{server}/certificates/{thumbprint}"
    chosen = ServiceSet.parse(",".join(s for s in services or [] if s in SERVICES) or "None")
    try:
        visit.check(csrf, AccessRole.OPERATOR)
        with visit.acting():
            replace = {"replace": True, "keep": False}.get(answer)
            result = visit.app.certificates.enable(
                server, Thumbprint(thumbprint.upper()), chosen, replace_default_smtp=replace
            )
    except ConfirmationRequired as exc:
        return _server_page(
            request,
            visit,
            server,
            thumbprint,
            409,
            question={"text": exc.question, "answers": exc.answers, "code": exc.code.id},
            chosen=chosen.names,
        )
    except (CertwardError, Refused) as exc:
        return _refusal(request, visit, exc, back=back, title="Enable a certificate")
    done = f"Enabled {', '.join(result.view.services.names) or 'no services'} on {server}."
    if result.default_smtp_changed:
        done += " The default SMTP certificate changed."
    return _server_page(request, visit, server, thumbprint, notice=done)


# -- health findings ------------------------------------------------------------------------
@router.get("/findings", response_class=HTMLResponse)
def findings(
    request: Request, visit: Signed, severity: str = "info", server: str = "", start: int = 0
) -> Response:
    try:
        minimum = Severity.parse(severity)
    except ValueError:
        minimum = Severity.INFO
    try:
        with visit.acting():
            report = _reports(request).report(
                visit.app, server=server or None, min_severity=minimum
            )
            names = _server_names.get(visit.app)
            first_seen = _first_seen.get(visit.app)
    except CertwardError as exc:
        return _refusal(request, visit, exc, back="/findings", title="Findings")
    return _page(
        request,
        "findings.html",
        visit,
        report=report,
        severities=[s.label for s in Severity],
        severity=minimum.label,
        server=server,
        servers=names,
        first_seen=first_seen,
        shown=report.findings[max(start, 0) : max(start, 0) + FINDINGS_PAGE],
        start=max(start, 0),
        page_size=FINDINGS_PAGE,
    )


_server_names = ByVersion(lambda app: [s.server.name for s in app.organisation.servers()])
"""The servers' names (the findings page's filter), read again when the organisation changed."""
_first_seen = ByVersion(
    lambda app: {
        h.key: h.first_seen for h in open_findings.get(app, wait=True) if h.source == "health"
    },
    store_generation,
    wait=False,
)
"""When each open finding was first seen by a scheduled run, read again after each run (by
the service right after it; a page never waits for it once read: it shows the dates read
before while they are read again)."""


def prepare_findings(app: Any) -> None:
    """Read what the findings page shows beside the report (after a scheduled run)."""
    _server_names.get(app)
    _first_seen.get(app, wait=True)


def finding_key(finding: Finding) -> str:
    """The key under which the scheduled health runs keep a finding's history (as
    :mod:`certward.services.watch` builds it)."""
    return "|".join(
        (finding.rule_id, finding.server or "", finding.thumbprint or "", finding.connector or "")
    )


def duration(value: dt.timedelta) -> str:
    """``1h``, ``30m``, ``1d 6h``: an interval as ``certward target add --every`` takes it."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


templates.env.filters["finding_key"] = finding_key
templates.env.filters["duration"] = duration


# -- the renewal wizard ---------------------------------------------------------------------
RENEWAL_CHOICES = 300  # certificates offered by the wizard (those in use, soonest first)


def _renewable(request: Request, visit: Visit, selected: str) -> list[dict[str, Any]]:
    """The certificates in use, soonest expiry first, from the health report's timeline (no
    second pass over the store); the one asked for is always offered."""
    report = _reports(request).report(visit.app)
    seen: dict[str, dict[str, Any]] = {}
    for entry in sorted(report.timeline, key=lambda e: e.not_after):
        if entry.in_use or entry.thumbprint == selected:
            found = seen.setdefault(entry.thumbprint, {"entry": entry, "servers": []})
            found["servers"].append(entry.server)
    choices = list(seen.values())
    return [
        c for i, c in enumerate(choices) if i < RENEWAL_CHOICES or c["entry"].thumbprint == selected
    ]


@router.get("/renewal", response_class=HTMLResponse)
def renewal(request: Request, visit: Signed, thumbprint: str = "") -> Response:
    with visit.acting():
        renewable = _renewable(request, visit, thumbprint.upper())
    return _page(request, "renewal.html", visit, step="start", renewable=renewable,
                 selected=thumbprint.upper())  # fmt: skip


@router.post("/renewal/start", response_class=HTMLResponse)
def renewal_start(
    request: Request, visit: Signed, thumbprint: Annotated[str, Form()] = "", csrf: Csrf = ""
) -> Response:
    requests: list[bytes] = []
    try:
        visit.check(csrf, AccessRole.OPERATOR)
        with visit.acting():
            started = visit.app.renewal.start(
                Thumbprint(thumbprint.upper()), server=None, sink=requests.append
            )
    except (CertwardError, Refused) as exc:
        return _refusal(request, visit, exc, back="/renewal", title="Renewal")
    from certward.services.renewal import RenewalPlan

    if isinstance(started, RenewalPlan):
        return _plan_page(request, visit, started, reply=None)
    csr = requests[0].decode("ascii")
    return _page(
        request,
        "renewal.html",
        visit,
        step="reply",
        old=started.old,
        request_thumbprint=started.new,
        csr=csr,
        csr_href="data:application/pkcs10;base64," + base64.b64encode(requests[0]).decode(),
    )


def _plan_page(
    request: Request, visit: Visit, plan: Any, *, reply: tuple[bytes, str] | None
) -> Response:
    return _page(
        request,
        "renewal.html",
        visit,
        step="plan",
        plan=plan,
        reply_data=base64.b64encode(reply[0]).decode() if reply else "",
        reply_name=reply[1] if reply else "",
    )


@router.post("/renewal/plan", response_class=HTMLResponse)
def renewal_plan(
    request: Request,
    visit: Signed,
    reply: Annotated[UploadFile, File()],
    thumbprint: Annotated[str, Form()] = "",
    csrf: Csrf = "",
) -> Response:
    """The plan for the CA's reply (a sync handler: the service runs in the thread pool,
    not on the event loop; the upload is already spooled, so ``file.read`` does not wait
    on the network)."""
    data = reply.file.read(REPLY_LIMIT + 1)
    name = PureWindowsPath(reply.filename or "reply.p7b").name
    try:
        visit.check(csrf, AccessRole.OPERATOR)
        if len(data) > REPLY_LIMIT:
            raise Refused(
                f"{name} is larger than {REPLY_LIMIT // 1024} KiB: not a CA's reply",
                code=CONSOLE_REPLY_TOO_LARGE,
                status=413,
            )
        with visit.acting():
            plan = visit.app.renewal.plan(Thumbprint(thumbprint.upper()), reply=(data, name))
    except (CertwardError, Refused) as exc:
        return _refusal(request, visit, exc, back="/renewal", title="Renewal")
    return _plan_page(request, visit, plan, reply=(data, name))


@router.post("/renewal/apply", response_class=HTMLResponse)
def renewal_apply(
    request: Request,
    visit: Signed,
    thumbprint: Annotated[str, Form()] = "",
    csrf: Csrf = "",
    reply_data: Annotated[str, Form()] = "",
    reply_name: Annotated[str, Form()] = "",
    remove_old: Annotated[bool, Form()] = False,
) -> Response:
    try:
        visit.check(csrf, AccessRole.OPERATOR)
        try:
            reply = (
                (base64.b64decode(reply_data, validate=True), reply_name) if reply_data else None
            )
        except binascii.Error:
            raise Refused(
                "the plan's reply did not come back intact; upload the CA's reply again",
                code=CONSOLE_REPLY_INVALID,
                status=400,
            ) from None
        with visit.acting():
            plan = visit.app.renewal.apply(
                Thumbprint(thumbprint.upper()), reply=reply, remove_old=remove_old
            )
    except (CertwardError, Refused) as exc:
        return _refusal(request, visit, exc, back="/renewal", title="Renewal")
    return _page(request, "renewal.html", visit, step="done", plan=plan)


# -- probe targets --------------------------------------------------------------------------
HISTORY = 20  # runs listed per target


@router.get("/targets", response_class=HTMLResponse)
def targets(request: Request, visit: Signed) -> Response:
    rows: list[dict[str, Any]] = []
    with visit.acting():
        for target in visit.app.watch.targets():
            runs = visit.app.watch.runs("probe", target=target.url, limit=HISTORY)
            rows.append({"target": target, "runs": runs, "matrix": _matrix(runs)})
    return _page(request, "targets.html", visit, rows=rows)


def _matrix(runs: list[Any]) -> dict[str, Any] | None:
    """The latest run's stages: one row per endpoint the prober judged, one column per
    stage (in the order first seen), each cell ok, failed or not reached."""
    if not runs:
        return None
    judged = runs[0].summary.get("targets")
    if not isinstance(judged, list):
        return {"run": runs[0], "stages": [], "endpoints": []}
    stages: list[str] = []
    endpoints = []
    for item in judged:
        report = item.get("report", {}) if isinstance(item, dict) else {}
        cells: dict[str, dict[str, Any]] = {}
        for stage in report.get("stages", []):
            name = str(stage.get("name", "?"))
            if name not in stages:
                stages.append(name)
            cells[name] = {"ok": bool(stage.get("ok")), "detail": stage.get("detail") or ""}
        endpoints.append(
            {
                "name": report.get("target") or report.get("domain") or "?",
                "cells": cells,
                "reasons": item.get("reasons", []) if isinstance(item, dict) else [],
            }
        )
    return {"run": runs[0], "stages": stages, "endpoints": endpoints}


# -- ACME and deployments -------------------------------------------------------------------
@router.get("/automation", response_class=HTMLResponse)
def automation(request: Request, visit: Signed) -> Response:
    """What keeps certificates alive without a person: ACME orders with their last error and
    next attempt, deployments to Linux daemons with their newest outcome."""
    with visit.acting():
        orders = visit.app.acme.orders()
        deployments = visit.app.deploy.deployments()
    return _page(request, "automation.html", visit, orders=orders, deployments=deployments)


# -- the audit log --------------------------------------------------------------------------
@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, visit: Signed, actor: str = "", action: str = "") -> Response:
    with visit.acting():
        entries = visit.app.audit.entries(actor=actor or None, action=action or None, limit=200)
    return _page(request, "audit.html", visit, entries=entries, actor=actor, action=action)
