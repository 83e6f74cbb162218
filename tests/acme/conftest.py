"""Fixtures for the ACME tests: a mock DNS server and Pebble, started once per session (per
xdist worker) and shared by the modules that need no settings of their own.

Sharing is safe: every test registers its own account (its own key) and Pebble reuses no
authorisation (``PEBBLE_AUTHZREUSE=0``); a module that needs other settings (external
account binding, a blocklist, nonce rejection, a DNS server of its own) starts its own
Pebble in a module-scoped fixture.

Pebble answers within milliseconds, so waits are 20 times shorter here: certward's retries
start at 50 ms instead of one second (:data:`certward.acme.client.DEFAULT_RETRY`), and the
acme library's one-second pause between polls of a pending authorization or order is
50 ms (its module's ``time.sleep``, used for nothing else). The same attempts, the same
order of steps, and a server's ``Retry-After`` still honoured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import acme.client
import pytest

from certward.acme import client as acme_client
from tests.acme.pebble import ChallTestSrv, Pebble, start_challtestsrv, start_pebble

QUICK = acme_client.RetryPolicy(first=0.05)
"""The tests' pacing: the production policy's attempts and cap, its waits 20 times shorter."""


def _paced_sleep(seconds: float) -> None:
    time.sleep(seconds / 20)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acme_client, "DEFAULT_RETRY", QUICK)
    monkeypatch.setattr(acme.client, "time", SimpleNamespace(sleep=_paced_sleep))


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
