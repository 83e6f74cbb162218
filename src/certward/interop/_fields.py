"""Reading typed values out of Format-List records (private helpers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from certward.codes.interop import DUMP_VALUE_INVALID, DUMP_VALUE_MISSING
from certward.errors import ErrorCode, InteropError
from certward.interop.dates import DateOrder, parse_datetime
from certward.interop.formatlist import Collection, FlRecord, parse_bool, split_collection
from certward.model import Thumbprint, TlsCertificateName, parse_thumbprint

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dates:
    order: DateOrder | None
    tz: dt.tzinfo


def require_shown(what: str, values: tuple[tuple[str, object], ...]) -> None:
    """Refuse a record that leaves out a value certward needs (named as the dump names it)."""
    missing = [name for name, value in values if value is None]
    if missing:
        raise DUMP_VALUE_MISSING(f"{what} does not show {', '.join(missing)}", missing=missing)


def problem(
    record: FlRecord, label: str, message: str, *, code: ErrorCode = DUMP_VALUE_INVALID
) -> InteropError:
    """The refusal of one value of a record, placed by its line and label."""
    error = code(f"record at line {record.line}, {label}: {message}", line=record.line, field=label)
    assert isinstance(error, InteropError)
    return error


def within(record: FlRecord, label: str, exc: InteropError) -> InteropError:
    """An error about a value (a date, a boolean), placed in its record; its code is kept."""
    return InteropError(
        f"record at line {record.line}, {label}: {exc.message}",
        code=exc.code,
        **{**exc.facts, "line": record.line, "field": label},
    )


def text(record: FlRecord, label: str) -> str | None:
    """The value, None when the property is absent or printed empty."""
    value = record.get(label)
    return value if value else None


def required(record: FlRecord, label: str) -> str:
    value = text(record, label)
    if value is None:
        raise problem(record, label, "missing", code=DUMP_VALUE_MISSING)
    return value


def boolean(record: FlRecord, label: str) -> bool | None:
    try:
        return parse_bool(record.get(label))
    except InteropError as exc:
        raise within(record, label, exc) from None


def collection(record: FlRecord, label: str) -> Collection:
    value = record.get(label)
    return Collection(()) if value is None else split_collection(value)


def integer(record: FlRecord, label: str) -> int | None:
    value = text(record, label)
    if value is None:
        return None
    digits = value.split()[0].replace(",", "")
    if not digits.isdigit():
        raise problem(record, label, f"expected a number, got {value!r}")
    return int(digits)


def parsed(record: FlRecord, label: str, parser: Callable[[str], T]) -> T | None:
    """The value read by ``parser``; None when absent or empty. A ValueError from the
    parser becomes the record's problem with that label."""
    value = text(record, label)
    if value is None:
        return None
    try:
        return parser(value)
    except ValueError as exc:
        raise problem(record, label, str(exc)) from None


def thumbprint(record: FlRecord, label: str) -> Thumbprint | None:
    return parsed(record, label, parse_thumbprint)


def date(record: FlRecord, label: str, dates: Dates) -> dt.datetime | None:
    value = text(record, label)
    if value is None:
        return None
    if dates.order is None:  # pragma: no cover - the dump's dates were all inferred from
        raise problem(record, label, "no date order")
    try:
        return parse_datetime(value, dates.order, dates.tz)
    except InteropError as exc:
        raise within(record, label, exc) from None


def tls_name(record: FlRecord, label: str = "TlsCertificateName") -> TlsCertificateName | None:
    return parsed(record, label, TlsCertificateName.parse)
