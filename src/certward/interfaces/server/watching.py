"""What ``/metrics`` reads from the scheduler's run history (the watch service).

HOOK (E4, issue 14): until ``certward.compose.App`` has ``watch``, there is no history:
no probe targets, no last successful runs, and findings come from a health check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from certward.interfaces.server.metrics import TargetSample

if TYPE_CHECKING:
    from certward.compose import App


def read_watch(app: App) -> tuple[Any | None, Iterable[TargetSample], Mapping[str, dt.datetime]]:
    """(the last health report or None, each probe target's last run, each job's last
    successful run)."""
    if not hasattr(type(app), "watch"):
        return None, (), {}
    return None, (), {}
