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

from certward.interfaces.api import organisation, servers
from certward.interfaces.api.problems import install
from certward.interfaces.api.security import PREFIX

__all__ = ["PREFIX", "install", "openapi_document", "router"]

TITLE = "certward"

router = APIRouter(prefix=PREFIX)
router.include_router(servers.router)
router.include_router(organisation.router)


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
    document = app.openapi()
    document["components"]["securitySchemes"]["HTTPBearer"]["description"] = (
        "An API token (certward token create NAME --role reader|operator|admin)."
    )
    return document
