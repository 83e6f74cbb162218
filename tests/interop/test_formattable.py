"""Format-Table output: seed 004's `Get-TransportService | ft Name,InternalTransport...`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward import interop
from certward.errors import InteropError
from certward.interop.formattable import looks_like_table, read_format_table
from tests.conftest import Cli

SEED_004 = """\
[PS] C:\\Windows\\system32>Get-TransportService | ft Name,InternalTransportCertificateThumbprint

Name   InternalTransportCertificateThumbprint
----   --------------------------------------
EXCH01 531948759D0C85466E975C5239BB8B9EA29A2ED3
EXCH02 73CEC9D7A29F1A8F8D95D487BBE17429874A7877

"""


def test_seed_004_transport_table() -> None:
    dump = interop.parse(SEED_004)
    assert dump.format is interop.Format.TRANSPORT_SERVICE and dump.table
    assert [(t.name, t.internal_transport_certificate_thumbprint)
            for t in dump.transport_services] == [
        ("EXCH01", "531948759D0C85466E975C5239BB8B9EA29A2ED3"),
        ("EXCH02", "73CEC9D7A29F1A8F8D95D487BBE17429874A7877"),
    ]  # fmt: skip


def test_empty_cells_and_a_column_wider_than_its_header() -> None:
    text = "Name   InternalTransportCertificateThumbprint\n----   ---------\nEXCH01\n"
    (record,) = read_format_table(text)
    assert record.get("Name") == "EXCH01"
    assert record.get("InternalTransportCertificateThumbprint") is None  # printed empty


def test_a_bad_thumbprint_in_a_table_is_refused_with_its_line() -> None:
    text = SEED_004.replace("531948759D0C85466E975C5239BB8B9EA29A2ED3", "not-a-thumbprint")
    with pytest.raises(InteropError, match="line 5"):
        interop.parse(text)


def test_observe_takes_the_table(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "transport.txt"
    path.write_text(SEED_004, encoding="utf-8")
    result = cli.json("observe", "EXCH01", str(path))
    assert result["default_smtp_thumbprint"] == "531948759D0C85466E975C5239BB8B9EA29A2ED3"
    assert result["files"][0]["format"] == "Get-TransportService | Format-Table"


@given(st.text(alphabet=st.sampled_from(list("ab -\n:.")), max_size=120))
def test_any_table_like_text_parses_or_fails_cleanly(text: str) -> None:
    if not looks_like_table(text):
        return
    try:
        dump = interop.parse(text)
    except InteropError as exc:  # never another exception
        assert str(exc)
    else:
        assert dump.table
