"""The only reader of the wall clock: everything else takes ``now`` as a parameter."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """Current UTC time, truncated to whole seconds (X.509 times carry no fractions)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


class FixedClock:
    """A clock that always answers the same instant (tests, ``--as-of``)."""

    def __init__(self, instant: dt.datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        self._instant = instant

    def now(self) -> dt.datetime:
        return self._instant
