"""``certward agent``: (being built for issue 15)."""

from __future__ import annotations


def agent() -> None:
    """(being built)"""
