"""The master key's records (services.keys): values that round-trip and hide the secret."""

from __future__ import annotations

import pytest

from certward.config import MasterKey
from certward.services.keys import RECOMMENDED_COST, KeyRecord, ScryptCost, Unlocked


def test_unlocked_repr_shows_no_secret() -> None:
    record = KeyRecord("none", "key", "ab" * 32)
    unlocked = Unlocked(MasterKey(b"k" * 64, "key file"), record, b"the-sealing-secret")
    shown = repr(unlocked)
    assert "the-sealing-secret" not in shown
    assert "k" * 64 not in shown
    assert shown.startswith("Unlocked(key=MasterKey(<redacted>, source='key file'), record=")
    assert shown.endswith("created=None)")


def test_key_record_round_trips_through_json() -> None:
    record = KeyRecord("scrypt", "derived", "cd" * 32, "c2FsdHNhbHRzYWx0c2FsdA==", RECOMMENDED_COST)
    assert KeyRecord.from_json(record.to_json()) == record
    assert record.cost == ScryptCost(n=2**17, r=8, p=1)
    assert not record.legacy
    assert record.describe() == "a passphrase through scrypt (n=2**17, r=8, p=1)"


def test_records_are_immutable() -> None:
    with pytest.raises(AttributeError):
        RECOMMENDED_COST.n = 2  # type: ignore[misc]
