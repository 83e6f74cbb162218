"""A renewal run reads each ACME directory once, however many certificates of that CA it
looks at or renews; orders whose certificate was removed by hand are forgotten by prune."""

from __future__ import annotations

from typing import Any

import pytest

from acme import client as acme_client
from certward.pki import certinfo
from tests.acme.helpers import at, listener, register, services
from tests.acme.pebble import Pebble
from tests.conftest import Cli


def _count_directory_reads(monkeypatch: pytest.MonkeyPatch, url: str) -> list[str]:
    """The directory reads of ``url`` from now on (the library's call, passed through)."""
    reads: list[str] = []
    real = acme_client.ClientV2.get_directory

    def counted(cls: Any, directory_url: str, net: Any) -> Any:
        if directory_url == url:
            reads.append(directory_url)
        return real(directory_url, net)

    monkeypatch.setattr(acme_client.ClientV2, "get_directory", classmethod(counted))
    return reads


def test_a_run_reads_each_directory_once(
    org: Cli, pebble: Pebble, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        thumbs = [
            acme.request(
                "EXCH01",
                subject=f"CN={name}",
                domains=[name],
                solver_options=listener(pebble),
                exportable=True,
            ).thumbprint
            for name in ("one.contoso.test", "two.contoso.test")
        ]
        with app.store.transaction() as repo:
            der = repo.certificate("EXCH01", thumbs[0]).der
        assert der is not None
        cert = certinfo.load_der(der)
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    finally:
        app.store.close()

    reads = _count_directory_reads(monkeypatch, pebble.directory_url)
    app, acme = services(at(start + (end - start) * 0.3))
    try:
        outcomes = acme.renew().outcomes
        assert [o.action for o in outcomes] == ["not-due", "not-due"]
        assert len(reads) == 1
    finally:
        app.store.close()

    reads.clear()
    app, acme = services(at(start + (end - start) * 0.7))
    try:
        outcomes = acme.renew().outcomes
        assert [o.action for o in outcomes] == ["renewed", "renewed"], [o.reason for o in outcomes]
        assert len(reads) == 1  # the renewal information and both orders: one read
    finally:
        app.store.close()


def test_prune_forgets_orders_whose_certificate_is_gone(org: Cli, pebble: Pebble) -> None:
    app, acme = services()
    try:
        register(acme, pebble)
        kept = acme.request(
            "EXCH01", subject="CN=kept.contoso.test", solver_options=listener(pebble)
        )
        gone = acme.request(
            "EXCH01", subject="CN=gone.contoso.test", solver_options=listener(pebble)
        )
    finally:
        app.store.close()
    org("cert", "remove", gone.thumbprint, "--server", "EXCH01")

    said = org("acme", "orders", "--prune").stdout
    assert f"forgot order {gone.order.order_id}: gone.contoso.test on EXCH01" in said
    assert "kept.contoso.test" in said and said.count("gone.contoso.test") == 1
    app, acme = services()
    try:
        assert [o.thumbprint for o in acme.orders()] == [kept.thumbprint]
        assert acme.prune() == []  # nothing more to forget
    finally:
        app.store.close()
