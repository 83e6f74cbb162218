"""The console served over real HTTPS by uvicorn on 127.0.0.1 (one server per module), and
Debian's Chromium driven by Playwright (one browser per module; nothing is downloaded)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from certward.compose import App, build_app
from certward.model.access import AccessRole
from certward.services.demo import build_demo
from tests.loopback_tls import loopback_tls_files

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {
    "admin": "admin-console-pass-1",
    "operator": "operator-console-pass-1",
    "reader": "reader-console-pass-1",
}
READY_SECONDS = 20.0


@dataclass
class Console:
    """The served console: its URL, the App behind it, the demo's webmail certificate."""

    url: str
    app: App
    webmail: str
    states: dict[str, Path] = field(default_factory=dict)  # role -> signed-in storage state


def _wait(condition: object, what: str, seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {seconds} s")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from certward.interfaces.server import WebSettings, create_app

    directory = tmp_path_factory.mktemp("console")
    app = build_app(str(directory / "certward.db"))
    demo = build_demo(app.organisation, app.certificates, app.connectors, app.vdirs, app.clock)
    assert demo.webmail_thumbprint is not None
    for name, password in PASSWORDS.items():
        app.access.add_user(name, AccessRole.parse(name), password)
    cert_file, key_file = loopback_tls_files(directory, "console")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fastapi_app = create_app(app, WebSettings(port=port, run_scheduler=False))
    config = uvicorn.Config(
        fastapi_app,
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait(lambda: server.started or not thread.is_alive(), "the console's server")
        assert server.started, "the console's server did not start"
        yield Console(f"https://127.0.0.1:{port}", app, demo.webmail_thumbprint)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.store.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_context(browser: Browser, **options: object) -> BrowserContext:
    context = browser.new_context(ignore_https_errors=True, **options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    return context


@pytest.fixture(scope="module")
def signed_in(browser: Browser, console: Console, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A factory of browser contexts signed in as a role (each role signs in once)."""
    contexts: list[BrowserContext] = []
    directory = tmp_path_factory.mktemp("states")

    def make(role: str, **options: object) -> Page:
        if role in console.states:
            context = new_context(browser, storage_state=console.states[role], **options)
        else:  # sign in through the login form's own requests, without drawing it
            context = new_context(browser, **options)
            form = context.request.get(console.url + "/login").text()
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token, "the login form carries no CSRF token"
            answer = context.request.post(
                console.url + "/login",
                form={"name": role, "password": PASSWORDS[role], "csrf": token[1], "next": "/"},
            )
            assert answer.ok, answer.status
            console.states[role] = directory / f"{role}.json"
            context.storage_state(path=console.states[role])
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
