import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.model import Password, Service, ServiceSet, parse_thumbprint

ALL = [s for s in Service if s is not Service.NONE]


def test_flags_string_is_exchanges_seven_columns() -> None:
    assert ServiceSet.parse("IMAP,POP,IIS,SMTP").flags == "IP.WS.."
    assert ServiceSet.parse("SMTP").flags == "....S.."
    assert ServiceSet().flags == "......."
    assert ServiceSet.parse("um, federation, UMCallRouter").flags == "..U..FC"


def test_parse_is_case_insensitive_and_none_adds_nothing() -> None:
    assert ServiceSet.parse(" iis , Smtp ") == ServiceSet.of(Service.IIS, Service.SMTP)
    assert ServiceSet.parse("None") == ServiceSet()
    assert ServiceSet.parse(["pop", "imap"]).names == ["IMAP", "POP"]


def test_unknown_service_names_the_value_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown service 'HTTP'.*IIS"):
        ServiceSet.parse("IIS,HTTP")


@given(st.sets(st.sampled_from(ALL)))
def test_names_round_trip_and_flags_length(services: set[Service]) -> None:
    value = ServiceSet.of(*services)
    assert ServiceSet.parse(value.names) == value
    assert len(value.flags) == 7
    assert sum(ch != "." for ch in value.flags) == len(services)


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["", " ", ":"]))
def test_thumbprint_accepts_any_case_and_separators(raw: bytes, sep: str) -> None:
    typed = sep.join(f"{b:02x}" for b in raw)
    assert parse_thumbprint(typed) == raw.hex().upper()


@pytest.mark.parametrize("bad", ["", "XYZ", "A" * 39, "A" * 41, "G" * 40])
def test_bad_thumbprints_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="thumbprint"):
        parse_thumbprint(bad)


def test_password_never_prints() -> None:
    secret = Password(b"hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == b"hunter2"
