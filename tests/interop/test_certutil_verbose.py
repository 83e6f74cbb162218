"""One rule decides whether a dump is ``certutil -v`` output: ``detect()`` and ``parse()``
(and ``looks_verbose`` and ``parse_certutil`` under them) always agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.interop import Format, detect, parse, parse_certutil
from certward.interop.certutil import looks_verbose

WINDOWS = Path(__file__).parent / "fixtures" / "windows"
# certutil -store output: no line only -v prints.
PLAIN = (WINDOWS / "certutil-store-user-my-capi-and-ksp.txt").read_text(encoding="utf-8")
VERBOSE = (WINDOWS / "certutil-v-store-my-excerpt.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("command", "verbose"),
    [
        ("C:\\>certutil -verbose -store my", True),  # the case the two used to disagree on
        ("C:\\>certutil -v -store my", True),
        ("PS C:\\> certutil.exe /v -store My", True),
        ("certutil -store -user -Verbose My", True),
        ("C:\\>certutil -store my", False),
        ("C:\\>certutil -user -store v", False),  # a store named v is no -v
        (None, False),
    ],
)
def test_detect_and_parse_agree_on_the_pasted_command(command: str | None, verbose: bool) -> None:
    text = PLAIN if command is None else f"{command}\n{PLAIN}"
    expected = Format.CERTUTIL_VERBOSE if verbose else Format.CERTUTIL_STORE
    assert detect(text) is expected
    dump = parse(text)
    assert dump.format is expected and dump.formats == frozenset({expected})
    assert dump.certutil is not None and dump.certutil.verbose is verbose
    assert looks_verbose(text) is verbose is parse_certutil(text).verbose


@pytest.mark.parametrize("command", [None, "C:\\>certutil -store my"])
def test_lines_only_verbose_output_prints_decide_without_a_command(command: str | None) -> None:
    text = VERBOSE if command is None else f"{command}\n{VERBOSE}"
    assert detect(text) is Format.CERTUTIL_VERBOSE
    assert parse(text).format is Format.CERTUTIL_VERBOSE
    assert looks_verbose(text) and parse_certutil(text).verbose


def test_a_verbose_mark_before_the_first_record_counts_for_both() -> None:
    text = "X509 Certificate:\n" + PLAIN
    assert detect(text) is parse(text).format is Format.CERTUTIL_VERBOSE


_ARGS = st.lists(
    st.sampled_from(["-v", "-verbose", "/v", "-V", "-user", "-f", "-silent", "v", "my", "root"]),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(before=_ARGS, after=_ARGS, prompt=st.sampled_from(["", "C:\\>", "PS C:\\> "]))
def test_any_pasted_command_gets_one_answer(
    before: list[str], after: list[str], prompt: str
) -> None:
    text = f"{prompt}certutil {' '.join([*before, '-store', *after])}\n{PLAIN}"
    assert detect(text) is parse(text).format
    assert looks_verbose(text) is parse_certutil(text).verbose
