"""Who is looking at the console: the session cookie, the CSRF token, the acting user."""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import HTTPException, Request, Response

from certward.codes.console import CONSOLE_CSRF_INVALID
from certward.errors import ErrorCode
from certward.model.access import AccessRole, Channel, Principal
from certward.model.audit import Actor, acting

if TYPE_CHECKING:
    from certward.compose import App

SESSION_COOKIE = "certward_session"
LOGIN_COOKIE = "certward_login"  # the login form's CSRF token (double submit, before a session)


class Refused(Exception):
    """A console request refused by the console itself (not by a service): the message shown
    on the page, a code like the services' and the HTTP status."""

    def __init__(self, message: str, *, code: ErrorCode, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code.id
        self.status = status


def certward_app(request: Request) -> App:
    app: App = request.app.state.certward
    return app


def route_action(request: Request) -> str:
    """``METHOD /route/template`` (the audit log's action)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return f"{request.method} {path}"


@dataclass(frozen=True)
class Visit:
    """One request of a signed-in user."""

    app: App
    principal: Principal
    csrf: str
    session_id: str
    action: str

    @contextlib.contextmanager
    def acting(self) -> Iterator[Actor]:
        with acting(Actor(self.principal.name, Channel.WEB, self.action)) as actor:
            yield actor

    def may(self, needed: AccessRole | str) -> bool:
        """Whether the user's role allows what ``needed`` may (the pages' hints)."""
        return self.principal.role.allows(AccessRole(needed))

    def check(self, csrf: str, needed: AccessRole | None = None) -> None:
        """A posted form: its CSRF token must be the session's; then the role (the access
        service's coded refusal)."""
        if not csrf or not hmac.compare_digest(csrf.encode(), self.csrf.encode()):
            raise Refused(
                "the form's security token does not match this session; reload the page "
                "and send the form again",
                code=CONSOLE_CSRF_INVALID,
                status=403,
            )
        if needed is not None:
            self.app.access.require(self.principal, needed)


def visit(request: Request) -> Visit:
    """The signed-in user of this request; anyone else is sent to the login page."""
    app = certward_app(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = app.access.session(session_id) if session_id else None
    if session is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/"
        raise HTTPException(
            status_code=303, headers={"Location": "/login?next=" + quote(target, safe="")}
        )
    return Visit(app, session.principal, session.csrf_token, session_id, route_action(request))


def set_session_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )


def login_token(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def set_login_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, secure=True, samesite="strict", path="/login"
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no ``//host``) is followed after the login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
