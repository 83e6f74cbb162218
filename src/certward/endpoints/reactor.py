"""Twisted on asyncio: one reactor per process, installed before anything imports one."""

from __future__ import annotations

import sys


def install_asyncio_reactor() -> None:
    """Install Twisted's asyncio reactor unless a reactor is already in place."""
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import asyncioreactor, reactor

        if not isinstance(reactor, asyncioreactor.AsyncioSelectorReactor):
            raise RuntimeError("another Twisted reactor was installed before the asyncio one")
        return
    from twisted.internet import asyncioreactor

    asyncioreactor.install()  # type: ignore[no-untyped-call]
