"""Dates in the server's culture: inferred from the whole dump, refused when the dump cannot
tell, read in the culture the caller names (issue 13)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from certward.errors import CertwardError, InteropError
from certward.interop import parse
from certward.interop.dates import (
    CULTURE_ORDERS,
    DateOrder,
    culture_order,
    infer_order,
    parse_datetime,
)

WINDOWS = Path(__file__).parent / "fixtures" / "windows"
UTC = dt.UTC


@pytest.mark.parametrize(
    ("culture", "order"),
    [
        ("en-US", DateOrder.MDY),
        ("en-GB", DateOrder.DMY),
        ("en-AU", DateOrder.DMY),
        ("de-DE", DateOrder.DMY),
        ("fr-FR", DateOrder.DMY),
        ("ru-RU", DateOrder.DMY),
        ("nl-NL", DateOrder.DMY),
        ("sv-SE", DateOrder.YMD),
        ("ja-JP", DateOrder.YMD),
        ("EN_gb", DateOrder.DMY),  # as typed: case and underscore do not matter
    ],
)
def test_culture_order(culture: str, order: DateOrder) -> None:
    assert culture_order(culture) is order


def test_an_unknown_culture_is_refused_by_name() -> None:
    with pytest.raises(CertwardError) as refused:
        culture_order("xx-YY")
    assert refused.value.code.id == "dump.culture_unknown"
    assert refused.value.message.startswith("unknown culture 'xx-YY': certward knows")
    assert "en-GB" in refused.value.message and len(CULTURE_ORDERS) > 30


def test_a_named_culture_reads_an_ambiguous_date() -> None:
    when = parse_datetime("12/02/2016", culture_order("en-GB"), UTC)
    assert when == dt.datetime(2016, 2, 12, tzinfo=UTC)
    assert parse_datetime("12/02/2016", culture_order("en-US"), UTC).month == 12


@pytest.mark.parametrize(
    "samples",
    [
        ["12/02/2016"],  # date only
        ["12/02/2016 1:43:23 PM", "12/02/2018 1:53:00 PM"],  # en-AU pads the month, says PM
        ["2/3/2028", "4/5/2029"],
    ],
)
def test_dates_that_do_not_decide_ask_for_the_culture(samples: list[str]) -> None:
    with pytest.raises(InteropError) as refused:
        infer_order(samples)
    assert refused.value.code.id == "dump.culture_needed"
    assert "read both as day-first and month-first" in refused.value.message
    assert re.search(
        r"give the server's culture \(e\.g\. en-(GB|AU) or en-US\)$", str(refused.value)
    )
    assert "--" not in refused.value.message


@pytest.mark.parametrize(
    ("samples", "order"),
    [
        (["2/3/2028 4:05:06 PM"], DateOrder.MDY),  # en-US M/d/yyyy h:mm:ss tt
        (["12/02/2016 13:43:23"], DateOrder.DMY),  # a 24-hour clock: en-GB
        (["12/02/2016 1:43:23 PM", "18/02/2016 11:23:21 AM"], DateOrder.DMY),  # day 18
        (["12.02.2016 13:43"], DateOrder.DMY),
    ],
)
def test_dates_that_decide(samples: list[str], order: DateOrder) -> None:
    assert infer_order(samples) is order


def test_real_en_au_paste_asks_for_the_culture_then_reads_with_it() -> None:
    text = (WINDOWS / "get-exchangecertificate-fl-en-AU-no-thumbprint.txt").read_text("utf-8")
    with pytest.raises(InteropError) as refused:
        parse(text)
    assert refused.value.code.id == "dump.culture_needed"
    assert "'12/02/2016 1:43:23 PM', '12/02/2018 1:53:00 PM'" in refused.value.message
    assert "(e.g. en-AU or en-US)" in refused.value.message
    # With the culture the dates read; the paste lost its Thumbprint, which is refused
    # naming the record and its line.
    with pytest.raises(InteropError) as missing:
        parse(text, date_order=culture_order("en-AU"))
    assert missing.value.code.id == "dump.value_missing"
    assert missing.value.message.startswith(
        "Get-ExchangeCertificate record 1 at line 4 shows no Thumbprint"
    )
    assert missing.value.facts["record"] == 1
