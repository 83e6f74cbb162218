"""Helpers for the ACME tests: the store's services over a Pebble."""

from __future__ import annotations

import datetime as dt

from certward.clock import Clock, FixedClock, SystemClock
from certward.compose import App, build_app
from certward.services.acme import AcmeService, acme_service
from tests.acme.pebble import Pebble


def services(clock: Clock | None = None) -> tuple[App, AcmeService]:
    """The test's store (``$CERTWARD_DB``) and its ACME service on ``clock``."""
    app = build_app(clock=clock or SystemClock())
    return app, acme_service(app.store, app.clock)


def at(when: dt.datetime) -> FixedClock:
    return FixedClock(when.astimezone(dt.UTC).replace(microsecond=0))


def register(acme: AcmeService, pebble: Pebble, email: str = "admin@contoso.test") -> int:
    account = acme.add_account(pebble.directory_url, email, ca_bundle=str(pebble.ca_bundle))
    assert account.account_id is not None
    return account.account_id


def listener(pebble: Pebble) -> dict[str, str]:
    """HTTP-01 by a short-lived listener on the port Pebble validates."""
    return {"port": str(pebble.http_port), "address": "127.0.0.1", "mode": "listener"}
