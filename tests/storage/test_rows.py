"""Stored values read back as they were written (storage/rows.py's fast paths included)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from certward.storage import snapshot_rows

_TIMES = st.datetimes(
    min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(9998, 12, 31),
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5))]),
)  # fmt: skip


@given(st.lists(st.text(max_size=12), max_size=4))
def test_dns_names_read_back_as_json_wrote_them(names: list[str]) -> None:
    """Quotes, backslashes, commas and non-ASCII in a name (a hostile certificate's SAN)
    take the JSON path; plain names the direct split."""
    assert snapshot_rows._dns_names(json.dumps(names)) == tuple(names)


@given(_TIMES)
def test_times_read_back_as_sqlite_stored_them(when: dt.datetime) -> None:
    stored = snapshot_rows._sqlite_time(when)
    assert (
        snapshot_rows.stored_utc(stored) == when
        and snapshot_rows.stored_utc(stored).tzinfo is dt.UTC
    )
    assert snapshot_rows.stored_utc(when.replace(tzinfo=None)) == when.replace(tzinfo=dt.UTC)
    assert snapshot_rows.stored_utc(when.isoformat()) == when  # text with a zone
    # the facts' direct reading of SQLite's text: the same time, whatever the form
    for text in (stored, stored[:19], when.isoformat(), when.isoformat(" ")):
        assert snapshot_rows._sqlite_utc(text) == snapshot_rows.stored_utc(text)
        assert snapshot_rows._sqlite_utc(text).tzinfo is dt.UTC
