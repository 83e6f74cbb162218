"""A CA that refuses nonces (Pebble rejecting a share of good ones, badNonce): each request
is retried with backoff and the certificate is still obtained."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.acme.helpers import listener, register, services
from tests.acme.pebble import ChallTestSrv, Pebble, start_pebble
from tests.conftest import Cli


@pytest.fixture(scope="module")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, challtestsrv: ChallTestSrv
) -> Iterator[Pebble]:
    """This module's Pebble rejects 30 % of valid nonces."""
    server = start_pebble(
        tmp_path_factory.mktemp("pebble-nonces"),
        dns_server=challtestsrv.dns_address,
        env={"PEBBLE_WFE_NONCEREJECT": "30"},
    )
    try:
        yield server
    finally:
        server.stop()


def test_bad_nonces_are_retried(org: Cli, pebble: Pebble) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        for name in ("n1.contoso.test", "n2.contoso.test", "n3.contoso.test"):
            obtained = acme.request("EXCH01", subject=f"CN={name}", solver_options=listener(pebble))
            assert obtained.order.error is None
        assert len(acme.orders()) == 3
        # a refused nonce is not replaced by the error answer: each refusal fetched a new one
        assert pebble.log().count("HEAD /nonce-plz") >= 2
    finally:
        app.store.close()
