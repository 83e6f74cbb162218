"""Dates as Windows prints them in the server's culture.

``certutil`` prints ``7/1/2012 10:34 PM`` (en-US), ``01.01.2026 01:00`` (de-DE, ru-RU) or
``16.04.2009. 11:04`` (lv-LV); ``Get-ExchangeCertificate | Format-List`` prints
``2/2/2028 4:22:23 AM`` (en-US) or ``02.02.2028 4:22:23`` (ru-RU). No dump says which
culture it was printed in, and none prints an offset (the times are the server's local
time), so the order of day and month is inferred from every date in one dump together:
they all share one culture. A day above 12 decides it; so does a 24-hour time with
slashes (en-GB, fr-FR: en-US always says AM/PM), and an AM/PM designator with slashes and
no zero-padded day or month (en-US's ``M/d/yyyy h:mm tt``). AM/PM does not decide on its
own: en-AU prints ``d/MM/yyyy h:mm:ss tt`` (a real en-AU Get-ExchangeCertificate shows
``NotBefore : 12/02/2016 1:43:23 PM``, 12 February, next to an ``18/02/2016 11:23:21 AM``),
and an en-US server set to ``MM/dd/yyyy`` pads too. Dotted and dashed dates put the day
first. A dump none of whose dates decides is refused with ``dump.culture_needed`` rather
than read month-first by guess: the caller names the server's culture, and
:func:`culture_order` turns it into the order. Dumps that mix orders are refused.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from certward.codes.interop import (
    DUMP_CULTURE_NEEDED,
    DUMP_CULTURE_UNKNOWN,
    DUMP_DATE_INVALID,
    DUMP_DATES_MIXED,
)

__all__ = [
    "CULTURE_ORDERS",
    "DateOrder",
    "DateText",
    "culture_order",
    "infer_order",
    "parse_datetime",
]

_DATE = re.compile(
    r"""
    (?P<a>\d{1,4}) (?P<sep>[./-]) (?P<b>\d{1,2}) (?P=sep) (?P<c>\d{1,4}) \.?
    (?: [\sT]+ (?P<hour>\d{1,2}) : (?P<minute>\d{2}) (?: : (?P<second>\d{2}) )?
        \s* (?P<ampm> [AaPp]\.?\s?[Mm]\.? )? )?
    """,
    re.VERBOSE,
)


class DateOrder(enum.StrEnum):
    """Where the day, month and year stand in a culture's short date."""

    MDY = "M/d/yyyy"  # en-US
    DMY = "d.M.yyyy"  # ru-RU, de-DE, en-GB (dd/MM/yyyy), fr-FR, nl-NL (d-M-yyyy)
    YMD = "yyyy-M-d"  # sv-SE, ja-JP (yyyy/MM/dd)


@dataclass(frozen=True, slots=True)
class DateText:
    """One printed date, split into its numbers."""

    a: int
    b: int
    c: int
    separator: str
    year_first: bool
    hour: int | None
    minute: int | None
    second: int | None
    pm: bool | None  # None: no AM/PM designator (24-hour clock or no time at all)
    padded: bool = False  # the day or the month printed with a leading zero ("12/02/2016")

    @classmethod
    def split(cls, text: str) -> DateText:
        match = _DATE.fullmatch(text.strip())
        if match is None:
            raise DUMP_DATE_INVALID(
                f"not a date and time as Windows prints them: {text!r}", value=text
            )
        ampm = match.group("ampm")

        def number(name: str) -> int | None:
            value = match.group(name)
            return None if value is None else int(value)

        return cls(
            a=int(match.group("a")),
            b=int(match.group("b")),
            c=int(match.group("c")),
            separator=match.group("sep"),
            year_first=len(match.group("a")) == 4,
            hour=number("hour"),
            minute=number("minute"),
            second=number("second"),
            pm=None if ampm is None else ampm.strip().lower().startswith("p"),
            padded=any(
                len(part) > 1 and part.startswith("0")
                for part in (match.group("a"), match.group("b"))
            ),
        )

    def orders(self) -> set[DateOrder]:
        """The orders this date can be read in, given its numbers and its culture's marks."""
        if self.year_first:
            return {DateOrder.YMD} if _valid(self.c, self.b) else set()
        candidates = {order for order in (DateOrder.MDY, DateOrder.DMY) if self._fits(order)}
        if self.separator in ".-":  # dotted and dashed short dates put the day first
            candidates.discard(DateOrder.MDY)
        elif self.pm is not None and not self.padded:  # en-US: M/d/yyyy h:mm tt
            candidates.discard(DateOrder.DMY)
        elif self.hour is not None and self.pm is None:  # 24-hour: never en-US (AM/PM)
            candidates.discard(DateOrder.MDY)
        return candidates

    def _fits(self, order: DateOrder) -> bool:
        day, month = (self.b, self.a) if order is DateOrder.MDY else (self.a, self.b)
        return _valid(day, month)


def _valid(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def infer_order(samples: Iterable[str]) -> DateOrder:
    """The one order that reads every date of a dump.

    Refused (``dump.culture_needed``) when the dates read both day-first and month-first,
    (``dump.dates_mixed``) when no one order reads them all.
    """
    possible = {DateOrder.MDY, DateOrder.DMY, DateOrder.YMD}
    seen: list[str] = []
    for text in samples:
        seen.append(text)
        orders = DateText.split(text).orders()
        if not orders:
            raise DUMP_DATE_INVALID(f"{text!r} is no date in any culture", value=text)
        possible &= orders
        if not possible:
            shown = ", ".join(repr(s) for s in seen[-3:])
            raise DUMP_DATES_MIXED(
                f"the dates of one dump are printed in different cultures ({shown}); "
                "give each server's output as its own file",
                values=seen[-3:],
            )
    if len(possible) == 1:
        return possible.pop()
    shown = ", ".join(repr(s) for s in dict.fromkeys(seen[:3]))
    more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
    # AM/PM with a padded month is how en-AU prints; no time at all, en-GB's date
    suspect = "en-AU" if any(DateText.split(s).pm is not None for s in seen) else "en-GB"
    raise DUMP_CULTURE_NEEDED(
        f"the dates {shown}{more} read both as day-first and month-first (no day above 12, "
        f"no 24-hour time, no en-US AM/PM); give the server's culture (e.g. {suspect} or "
        "en-US)",
        values=seen[:3],
        orders=sorted(order.value for order in possible),
    )


# The short-date order of the cultures Exchange servers commonly run in (Windows' own
# short date patterns: en-US M/d/yyyy, en-GB dd/MM/yyyy, de-DE dd.MM.yyyy, nl-NL d-M-yyyy,
# sv-SE yyyy-MM-dd, ja-JP yyyy/MM/dd …).
CULTURE_ORDERS: dict[str, DateOrder] = {
    **dict.fromkeys(("en-US", "en-PH", "es-US"), DateOrder.MDY),
    **dict.fromkeys(
        (
            "en-GB", "en-AU", "en-NZ", "en-IE", "en-IN", "en-SG", "de-DE", "de-AT",
            "de-CH", "fr-FR", "fr-BE", "fr-CH", "ru-RU", "nl-NL", "nl-BE", "it-IT",
            "es-ES", "es-MX", "pt-BR", "pt-PT", "pl-PL", "cs-CZ", "da-DK", "nb-NO",
            "fi-FI", "tr-TR", "uk-UA", "lv-LV", "el-GR", "ro-RO", "he-IL",
        ),
        DateOrder.DMY,
    ),
    **dict.fromkeys(
        ("sv-SE", "ja-JP", "zh-CN", "zh-TW", "ko-KR", "lt-LT", "en-ZA", "fr-CA"),
        DateOrder.YMD,
    ),
}  # fmt: skip
_CULTURES = {name.lower(): order for name, order in CULTURE_ORDERS.items()}


def culture_order(culture: str) -> DateOrder:
    """The short-date order of a Windows culture name (``en-GB``, ``de_DE``, case ignored)."""
    name = culture.strip().replace("_", "-")
    order = _CULTURES.get(name.lower())
    if order is None:
        raise DUMP_CULTURE_UNKNOWN(
            f"unknown culture {culture!r}: certward knows the date order of "
            + ", ".join(sorted(CULTURE_ORDERS)),
            culture=culture,
        )
    return order


def parse_datetime(text: str, order: DateOrder, tz: dt.tzinfo) -> dt.datetime:
    """Read ``text`` in ``order``; the result carries ``tz`` (the server's zone)."""
    parts = DateText.split(text)
    if order is DateOrder.YMD or parts.year_first:
        year, month, day = parts.a, parts.b, parts.c
    elif order is DateOrder.MDY:
        month, day, year = parts.a, parts.b, parts.c
    else:
        day, month, year = parts.a, parts.b, parts.c
    if year < 100:
        year += 2000
    hour = parts.hour or 0
    if parts.pm is not None:
        if not 1 <= hour <= 12:
            raise DUMP_DATE_INVALID(f"{text!r}: hour {hour} with AM/PM", value=text)
        hour = hour % 12 + (12 if parts.pm else 0)
    try:
        return dt.datetime(year, month, day, hour, parts.minute or 0, parts.second or 0, tzinfo=tz)
    except ValueError as exc:
        raise DUMP_DATE_INVALID(
            f"{text!r} read as {order.value}: {exc}", value=text, order=order.value
        ) from None
