import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.pki import build
from certward.pki.hostnames import NameMatch, match_host, pattern_matches
from certward.pki.names import parse_exchange_dn

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.contoso.com", "MAIL.Contoso.com", True),
        ("mail.contoso.com.", "mail.contoso.com", True),
        ("*.contoso.com", "mail.contoso.com", True),
        ("*.contoso.com", "contoso.com", False),
        ("*.contoso.com", "a.mail.contoso.com", False),
        ("m*.contoso.com", "mail.contoso.com", False),
        ("mail.*.com", "mail.contoso.com", False),
        ("*.com", "contoso.com", False),
        ("", "contoso.com", False),
    ],
)
def test_rfc_6125_patterns(pattern: str, host: str, expected: bool) -> None:
    assert pattern_matches(pattern, host) is expected


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.lists(label, min_size=2, max_size=4), label)
def test_a_wildcard_covers_exactly_one_left_most_label(parent: list[str], extra: str) -> None:
    domain = ".".join(parent)
    assert pattern_matches(f"*.{domain}", f"{extra}.{domain}")
    assert not pattern_matches(f"*.{domain}", domain)
    assert not pattern_matches(f"*.{domain}", f"{extra}.{extra}.{domain}")


def _cert(subject: str, sans: list[str]):
    key = build.generate_key(1024)
    return build.self_signed(
        key,
        parse_exchange_dn(subject),
        sans,
        not_before=NOW,
        not_after=NOW + dt.timedelta(days=1),
    )


def test_seed_000_san_versus_cn() -> None:
    cert = _cert("CN=webmail.inframan.nl", ["autodiscover.webmail.com", "o365mail.inframan.nl"])
    assert match_host(cert, "o365mail.inframan.nl") is NameMatch.SAN
    assert match_host(cert, "webmail.inframan.nl") is NameMatch.CN_ONLY
    assert match_host(cert, "mail.inframan.nl") is NameMatch.NONE
