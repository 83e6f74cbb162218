"""Running the web service on uvicorn: HTTPS only, with the IIS certificate of a server in
certward's own store; a clean stop on SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import uvicorn

from certward.codes.web import WEB_LISTEN_FAILED
from certward.interfaces.server.app import create_app
from certward.interfaces.server.settings import WebSettings
from certward.interfaces.server.tls import LiveTls, choose_server

if TYPE_CHECKING:
    from certward.compose import App


class _Server(uvicorn.Server):
    """uvicorn's server that says when it is ready and, stopped by a signal, returns
    instead of raising the signal again."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_ready()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise WEB_LISTEN_FAILED(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})", host=host, port=port
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}/"


def serve(app: App, settings: WebSettings, *, say: Callable[[str], None]) -> int:
    """Serve until SIGINT/SIGTERM; the exit status. ``say`` gets the URL once listening."""
    tls = LiveTls(
        app.endpoints.reloader(choose_server(app, settings.server, app.clock.now()).server),
        app.clock.now,
    )
    fastapi_app = create_app(app, settings, tls=tls)
    sock = listen(settings.host, settings.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fastapi_app,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    config.load()
    config.ssl = tls.listening  # the live context (uvicorn's own would load files)

    def ready() -> None:
        say(
            f"certward web: {url_of(settings.host, port)} "
            f"(serving {tls.server}'s IIS certificate {tls.current.thumbprint})"
        )

    server = _Server(config, ready)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    say("certward web: stopped")
    return 0 if server.started else 1
