"""The REST API over real HTTP: the web service's application (certward.interfaces.server)
on uvicorn on 127.0.0.1, over a copy of the session's Contoso store, with a token per role.

One service per session (keys and token hashes are slow); tests that change the store
make their own objects (their own certificates) so that they do not depend on each other.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from certward.compose import App, build_app
from certward.model.access import AccessRole

DEADLINE = 30.0


@dataclass
class ApiServer:
    app: App
    base_url: str
    tokens: dict[AccessRole, str]
    clients: dict[AccessRole | None, httpx.Client] = field(default_factory=dict)

    def client(self, role: AccessRole | None = AccessRole.ADMIN) -> httpx.Client:
        """An HTTP client with ``role``'s bearer token (None: no token)."""
        if role not in self.clients:
            headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
            self.clients[role] = httpx.Client(base_url=self.base_url, headers=headers, timeout=60)
        return self.clients[role]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def wait_for(condition: object, what: str, deadline: float = DEADLINE) -> None:
    """Poll ``condition`` (a callable) until it is true; fail after ``deadline`` seconds."""
    assert callable(condition)
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # polling a condition with a deadline, not a sleep as synchronisation


def start_api(directory: Path, template: Path) -> Iterator[ApiServer]:
    from certward.interfaces.server import WebSettings, create_app

    directory.mkdir(parents=True, exist_ok=True)
    for name in ("certward.db", "certward.db-wal", "certward.key"):
        if (template / name).exists():
            shutil.copy2(template / name, directory / name)
    app = build_app(str(directory / "certward.db"))
    tokens = {
        role: app.access.create_token(
            f"tests-{role.value}", role, expires_in=None, created_by="tests"
        )[1]
        for role in AccessRole
        if role is not AccessRole.AGENT  # bound to a host: tests/agent make their own
    }
    fastapi_app = create_app(app, WebSettings(run_scheduler=False))
    config = uvicorn.Config(
        fastapi_app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "uvicorn to start")
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    api = ApiServer(app, f"http://127.0.0.1:{port}", tokens)
    try:
        yield api
    finally:
        api.close()
        server.should_exit = True
        thread.join(DEADLINE)
        app.store.close()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, org_template: Path) -> Iterator[ApiServer]:
    """The API of Contoso (EXCH01, EXCH02) on 127.0.0.1, one for the session: opening the
    store and hashing the tokens are slow. Tests that change the store make and change
    their own objects."""
    yield from start_api(tmp_path_factory.mktemp("api"), org_template)
