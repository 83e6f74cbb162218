"""Fixtures for the ACME tests: a mock DNS server and Pebble, started once per session (per
xdist worker) and shared by the modules that need no settings of their own.

Sharing is safe: every test registers its own account (its own key) and Pebble reuses no
authorisation (``PEBBLE_AUTHZREUSE=0``); a module that needs other settings (external
account binding, a blocklist, nonce rejection, a DNS server of its own) starts its own
Pebble in a module-scoped fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acme.pebble import ChallTestSrv, Pebble, start_challtestsrv, start_pebble


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
