"""The verdict of a check, in the monitoring-plugins convention (Nagios, Icinga, cron wrappers).

``health``, ``auth monitor`` and ``probe`` end with one of these as their exit status: a
monitoring system reads the number, a person the name. UNKNOWN means the check could not
judge (bad arguments, an unreadable store, an error): it is never reported as CRITICAL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class CheckStatus(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def worst(cls, statuses: Iterable[CheckStatus]) -> CheckStatus:
        """The most severe of ``statuses`` (OK when there are none); UNKNOWN ranks below
        CRITICAL, as the plugins' guidelines say: a definite failure wins."""
        order = (cls.OK, cls.UNKNOWN, cls.WARNING, cls.CRITICAL)
        return max(statuses, key=order.index, default=cls.OK)
