"""A clock the test moves (the services take any object with ``now()``)."""

from __future__ import annotations

import datetime as dt


class MovingClock:
    def __init__(self, instant: dt.datetime) -> None:
        self.instant = instant

    def now(self) -> dt.datetime:
        return self.instant

    def advance(self, by: dt.timedelta) -> None:
        self.instant += by
