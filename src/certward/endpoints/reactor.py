"""Twisted on asyncio: one reactor per process, installed before anything imports one."""

from __future__ import annotations

import sys
from typing import Any


def install_asyncio_reactor() -> None:
    """Install Twisted's asyncio reactor unless a reactor is already in place."""
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import asyncioreactor, reactor

        if not isinstance(reactor, asyncioreactor.AsyncioSelectorReactor):
            raise RuntimeError("another Twisted reactor was installed before the asyncio one")
        return
    from twisted.internet import asyncioreactor

    asyncioreactor.install()  # type: ignore[no-untyped-call]


def get_reactor() -> Any:
    """The installed reactor (Twisted's zope interfaces defeat static typing here)."""
    install_asyncio_reactor()
    from twisted.internet import reactor

    return reactor
