"""Rate limits: a short ``Retry-After`` is waited for and the request retried; a long one is
not slept through but stored, and no attempt is made before it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from certward.errors import CertwardError
from certward.services.acme import AcmeService
from tests.acme.helpers import at, listener, services
from tests.acme.pebble import Pebble
from tests.acme.proxy import Proxy, Refusal, start_proxy
from tests.conftest import Cli

NEW_ORDER = "/order-plz"  # pebble's newOrder path


@pytest.fixture
def proxy(pebble: Pebble) -> Iterator[Proxy]:
    running = start_proxy(pebble)
    try:
        yield running
    finally:
        running.stop()


def _register(acme: AcmeService, proxy: Proxy, pebble: Pebble) -> None:
    acme.add_account(proxy.directory_url, "admin@contoso.test", ca_bundle=str(pebble.ca_bundle))


def test_a_short_retry_after_is_waited_for(org: Cli, pebble: Pebble, proxy: Proxy) -> None:
    app, acme = services()
    try:
        _register(acme, proxy, pebble)
        # a second, 20 times the tests' first backoff (tests/acme/conftest.py): what is
        # waited for is the server's Retry-After
        proxy.refusals.append(Refusal(NEW_ORDER, "rateLimited", retry_after=1))
        obtained = acme.request(
            "EXCH01", subject="CN=wait.contoso.test", solver_options=listener(pebble)
        )
        assert obtained.order.error is None
        (refused, status_refused), (granted, status_granted) = proxy.posts(NEW_ORDER)
        assert (status_refused, status_granted) == (429, 201)
        assert granted - refused >= 1.0  # not before the server's Retry-After
    finally:
        app.store.close()


def test_a_long_retry_after_is_stored_and_respected(org: Cli, pebble: Pebble, proxy: Proxy) -> None:
    app, acme = services()
    try:
        _register(acme, proxy, pebble)
        proxy.refusals.append(Refusal(NEW_ORDER, "rateLimited", retry_after=3600, times=5))
        with pytest.raises(CertwardError) as refused:
            acme.request("EXCH01", subject="CN=later.contoso.test", solver_options=listener(pebble))
        assert refused.value.code.id == "acme.rate_limited"
        assert refused.value.facts["retry_after_seconds"] == 3600
        assert len(proxy.posts(NEW_ORDER)) == 1  # an hour is not slept through
        (order,) = acme.orders()
        assert order.last_attempt is not None and order.retry_after is not None
        assert order.retry_after - order.last_attempt == dt.timedelta(hours=1)
        assert order.next_attempt == order.retry_after  # later than the 5-minute backoff
        first = order.last_attempt
    finally:
        app.store.close()

    app, acme = services(at(first + dt.timedelta(minutes=30)))
    try:
        (waiting,) = acme.renew().outcomes
        assert waiting.action == "waiting"
        assert len(proxy.posts(NEW_ORDER)) == 1  # nothing sent before Retry-After
    finally:
        app.store.close()
    proxy.refusals.clear()
    app, acme = services(at(first + dt.timedelta(minutes=61)))
    try:
        (retried,) = acme.renew().outcomes
        assert retried.action == "renewed", retried.reason
        (order,) = acme.orders()
        assert order.error is None and order.retry_after is None and order.thumbprint
    finally:
        app.store.close()
