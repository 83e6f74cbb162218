"""What the route modules share: parsing path and query values into the model's types."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from certward.codes.general import INPUT_INVALID
from certward.model import ServiceSet, StoreName, Thumbprint, parse_thumbprint

T = TypeVar("T")

EARLIEST = dt.datetime(1971, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def parse(parser: Callable[[str], T], value: str) -> T:
    """A model parser on a request value; its ValueError becomes ``input.invalid``."""
    try:
        return parser(value)
    except ValueError as exc:
        raise INPUT_INVALID(str(exc)) from None


def thumbprint(text: str) -> Thumbprint:
    return parse(parse_thumbprint, text)


def services(text: str) -> ServiceSet:
    return parse(ServiceSet.parse, text)


def store_name(text: str) -> StoreName:
    return parse(StoreName.parse, text)


def moment(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """A date-time from a query: without a zone it is UTC; it must lie in a sane range."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not EARLIEST <= value <= LATEST:
        raise INPUT_INVALID(
            f"{name} must lie between 1971 and 9000, not {value.isoformat()}", parameter=name
        )
    return value


def answer_flag(answer: str | None) -> bool | None:
    """The default SMTP question's answer as the services take it."""
    return None if answer is None else answer == "replace"


def enable_json(result: Any) -> dict[str, Any]:
    return {
        "certificate": result.view.to_json(),
        "default_smtp_changed": result.default_smtp_changed,
        "iis_moved_from": result.iis_moved_from,
    }
