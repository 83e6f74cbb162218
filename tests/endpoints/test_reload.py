"""Configuration reload (issue 12): the store's change counter is polled; the snapshot is
read only when it moved, decrypted keys and TLS contexts are reused."""

from __future__ import annotations

from certward.compose import build_app
from certward.endpoints.tls import ContextCache
from tests.conftest import Cli


def test_nothing_changed_means_nothing_is_reloaded(org: Cli) -> None:
    reloader = build_app(None).endpoints.reloader("EXCH01")
    admin = build_app(None)  # another opening of the store, as an admin's command
    first = reloader.poll()
    assert first is not None
    assert [reloader.poll() for _ in range(10)] == [None] * 10
    assert (reloader.polls, reloader.loads) == (11, 1)

    admin.mail.add_domain("contoso.com")  # any change
    second = reloader.poll()
    assert second is not None and reloader.loads == 2
    assert reloader.poll() is None
    # The keys were decrypted once, at the first load, and reused.
    assert first.keys and all(second.keys[t] is key for t, key in first.keys.items())


def test_tls_contexts_are_reused_while_their_certificate_is_unchanged(org: Cli) -> None:
    reloader = build_app(None).endpoints.reloader("EXCH01")
    admin = build_app(None)  # another opening of the store, as an admin's command
    cache = ContextCache()
    for _ in range(2):
        admin.mail.add_domain(f"d{reloader.loads}.contoso.com")
        snapshot = reloader.poll()
        assert snapshot is not None
        chosen = next(c for c in snapshot.candidates if c.thumbprint in snapshot.keys)
        context = cache.context(snapshot.server_tls(chosen))
        assert cache.context(snapshot.server_tls(chosen)) is context
    assert cache.built == 1
