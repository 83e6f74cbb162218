"""Fixtures for the ACME tests: a mock DNS server and Pebble, started once per session (per
xdist worker) and shared by the modules that need no settings of their own.

Sharing is safe: every test registers its own account (its own key) and Pebble reuses no
authorisation (``PEBBLE_AUTHZREUSE=0``); a module that needs other settings (external
account binding, a blocklist, nonce rejection, a DNS server of its own) starts its own
Pebble in a module-scoped fixture.

Pebble answers within milliseconds, so the client's retries and polls are paced at 50 ms
here instead of certward's one second (:data:`certward.acme.client.DEFAULT_RETRY`): the
same attempts, the same order of steps, and a server's ``Retry-After`` still honoured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certward.acme import client as acme_client
from tests.acme.pebble import ChallTestSrv, Pebble, start_challtestsrv, start_pebble

QUICK = acme_client.RetryPolicy(first=0.05, poll=0.05)
"""The tests' pacing: the production policy's attempts and cap, its waits 20 times shorter."""


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acme_client, "DEFAULT_RETRY", QUICK)


@pytest.fixture(scope="session")
def challtestsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    """pebble-challtestsrv answering every test name with 127.0.0.1."""
    server = start_challtestsrv(tmp_path_factory.mktemp("challtestsrv"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Pebble]:
    """Pebble for the session, resolving names through :func:`challtestsrv`."""
    server = start_pebble(tmp_path_factory.mktemp("pebble"), dns_server=challtestsrv.dns_address)
    try:
        yield server
    finally:
        server.stop()
