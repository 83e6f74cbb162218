"""The REST API (``/api/v1``): the command line's operations over HTTP, bearer tokens with
roles, RFC 9457 problem documents carrying certward's error codes.

``router`` is mounted by the web service's application factory, which also calls
:func:`install` (the error handlers) and sets ``fastapi_app.state.certward`` to the
:class:`certward.compose.App` the routes use. :func:`openapi_document` is the document
committed as ``docs/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from certward.interfaces.api import agents, automation, organisation, servers, watching
from certward.interfaces.api.problems import install
from certward.interfaces.api.security import PREFIX

__all__ = ["PREFIX", "install", "openapi_document", "router"]

TITLE = "certward"

router = APIRouter(prefix=PREFIX)
router.include_router(servers.router)
router.include_router(organisation.router)
router.include_router(watching.router)
router.include_router(agents.router)
router.include_router(automation.router)


def allowed_methods(path: str) -> list[str]:
    """The methods the API's routes take at ``path`` (a 405's ``Allow``): every route whose
    pattern matches, not only the first (GET and POST of one path are two routes)."""
    from fastapi.routing import APIRoute

    if not path.startswith(PREFIX):
        return []
    inner = path[len(PREFIX) :]
    methods: set[str] = set()
    for sub in (
        servers.router,
        organisation.router,
        watching.router,
        agents.router,
        automation.router,
    ):
        for route in sub.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(inner):
                methods |= route.methods or set()
    return sorted(methods)


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (what ``docs/openapi.json`` holds): the routes of
    :data:`router` alone, independent of what else the web service mounts."""
    from importlib.metadata import version

    from fastapi import FastAPI

    app = FastAPI(
        title=TITLE,
        version=version("certward"),
        summary="The certificates and TLS of an Exchange-style organisation.",
    )
    app.include_router(router)
    return app.openapi()
