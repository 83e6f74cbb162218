"""Fixtures for the ACME tests: a mock DNS server and Pebble per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acme.pebble import ChallTestSrv, Pebble, start_challtestsrv, start_pebble


@pytest.fixture(scope="module")
def challtestsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    """pebble-challtestsrv answering every test name with 127.0.0.1."""
    server = start_challtestsrv(tmp_path_factory.mktemp("challtestsrv"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Pebble]:
    """Pebble for this module, resolving names through :func:`challtestsrv`."""
    server = start_pebble(tmp_path_factory.mktemp("pebble"), dns_server=challtestsrv.dns_address)
    try:
        yield server
    finally:
        server.stop()
