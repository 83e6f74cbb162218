"""Python's cyclic garbage collector over a command's life (issue 16).

While a command loads — its modules' functions, classes and constants, the store's schema,
the settings — every object it makes lives as long as the process, and a collection in the
middle of it walks them all to free nothing (a tenth of a read command's start-up went to
one). So the command line runs with the collector off (:func:`certward.interfaces.cli.app.
main`), which is right for a command that does its work and exits; a command that runs on
(``serve``, ``web``, ``watch``, ``agent``, a probe of many endpoints) calls
:func:`long_running` once it is loaded.
"""

from __future__ import annotations

import gc


def long_running() -> None:
    """From here the process runs on: what it has made so far is frozen out of every
    collection, and the collector runs for what comes after (reference cycles of
    connections, requests and runs)."""
    gc.freeze()
    gc.enable()
