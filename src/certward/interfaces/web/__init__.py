"""The console: server-rendered pages for a mail administrator (issue 14).

``router`` holds the pages (mounted at ``/``); ``install(app)`` mounts what they need beside
it (the stylesheet under ``/static``). The pages read the services of the
:class:`certward.compose.App` at ``request.app.state.certward``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from certward.interfaces.web.routes import HERE, router

__all__ = ["install", "router"]


def install(app: FastAPI) -> None:
    """Mount the console's static files (the stylesheet) at ``/static`` on ``app``; the
    caller includes :data:`router` itself."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
