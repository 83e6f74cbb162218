"""Who calls: the bearer token, the role each route needs, and the actor the store's audit
capture names.

``requires(role)`` is a dependency of every route. It reads ``Authorization: Bearer <token>``,
has the access service verify it (the slow hash once; the service caches a verified secret),
refuses a role below ``role``, and runs the rest of the request as
``Actor(principal.name, Channel.API, "METHOD /api/v1/route/{template}")``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from certward.codes.api import API_TOKEN_MISSING
from certward.model.access import AccessRole, Channel, Principal
from certward.model.audit import Actor, acting

if TYPE_CHECKING:
    from certward.compose import App
    from certward.services.access import AccessService

PREFIX = "/api/v1"
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token (certward token create NAME --role reader|operator|admin).",
)


async def certward_app(request: Request) -> App:
    """The services of the store this web service runs on (set by the application factory
    as ``fastapi_app.state.certward``). Async: reading it needs no worker thread."""
    app: App = request.app.state.certward
    return app


def route_action(request: Request) -> str:
    """``METHOD /api/v1/route/{template}``: what the audit log records as the action."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if not isinstance(path, str):
        return f"{request.method} {request.url.path}"
    # FastAPI keeps the route's own path; the API's routes all live under its prefix.
    return f"{request.method} {path if path.startswith(PREFIX) else PREFIX + path}"


async def authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tuple[AccessService, Principal]:
    """The access service and whoever the request's bearer token names (refused without
    one, or with one that is unknown, revoked or expired)."""
    if credentials is None or not credentials.credentials:
        raise API_TOKEN_MISSING("the request carries no bearer token in its Authorization header")
    access = (await certward_app(request)).access
    principal = await run_in_threadpool(access.authenticate_token, credentials.credentials)
    return access, principal


def requires(role: AccessRole) -> Callable[..., AsyncIterator[Principal]]:
    """The dependency of a route that ``role`` (or a higher one) may call."""

    async def caller(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> AsyncIterator[Principal]:
        access, principal = await authenticated(request, credentials)
        access.require(principal, role)
        request.state.principal = principal
        with acting(Actor(principal.name, Channel.API, route_action(request))):
            yield principal

    caller.__name__ = f"requires_{role.value}"
    return caller


READER: Any = Depends(requires(AccessRole.READER))
OPERATOR: Any = Depends(requires(AccessRole.OPERATOR))
ADMIN: Any = Depends(requires(AccessRole.ADMIN))
