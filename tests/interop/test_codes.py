"""The parsers' refusals carry stable codes and the facts behind them."""

from __future__ import annotations

import datetime as dt

import pytest

from certward.errors import InteropError
from certward.interop import parse, parse_certutil, read_format_list
from certward.interop.dates import DateOrder, infer_order, parse_datetime
from certward.model import StoreName


def test_date_codes() -> None:
    with pytest.raises(InteropError) as mixed:
        infer_order(["31/12/2030 10:00:00", "12/31/2020 10:00:00 PM"])
    assert mixed.value.code.id == "dump.dates_mixed"
    assert mixed.value.facts["values"] == ["31/12/2030 10:00:00", "12/31/2020 10:00:00 PM"]
    with pytest.raises(InteropError) as invalid:
        parse_datetime("13/13/2030", DateOrder.MDY, dt.UTC)
    assert invalid.value.code.id == "dump.date_invalid"
    assert invalid.value.facts == {"value": "13/13/2030", "order": DateOrder.MDY.value}
    with pytest.raises(InteropError) as garbage:
        infer_order(["tomorrow"])
    assert (garbage.value.code.id, garbage.value.facts) == (
        "dump.date_invalid",
        {"value": "tomorrow"},
    )


def test_format_list_and_dump_codes() -> None:
    with pytest.raises(InteropError) as stray:
        read_format_list("  a continuation with nothing before it\n")
    assert (stray.value.code.id, stray.value.facts) == ("dump.unrecognised", {"line": 1})
    with pytest.raises(InteropError) as unknown:
        parse("Name     : EXCH01\nEdition  : Enterprise\n")
    assert (unknown.value.code.id, unknown.value.facts) == ("dump.unrecognised", {"line": 1})
    with pytest.raises(InteropError) as empty:
        parse("\n\n")
    assert empty.value.code.id == "dump.empty"


def test_certutil_codes() -> None:
    with pytest.raises(InteropError) as none:
        parse_certutil('My "Personal"\n')
    assert none.value.code.id == "dump.unrecognised"
    record = "================ Certificate 0 ================\nCert Hash(sha1): ab cd\n"
    with pytest.raises(InteropError) as short:
        parse(record)
    assert short.value.code.id == "dump.value_invalid"
    assert short.value.facts == {"certificate": 0, "field": "Cert Hash(sha1)"}
    shown = parse(record.replace("ab cd", "ab" * 20))
    assert shown.certutil is not None
    with pytest.raises(InteropError) as missing:
        shown.certutil.certificates[0].to_observed("EXCH01", StoreName.MY)
    assert missing.value.code.id == "dump.value_missing"
    assert missing.value.facts == {"missing": ["Subject", "Issuer", "NotBefore", "NotAfter"]}
