"""Names never become code or paths (issue 12).

- :func:`certward.paths.safe_join` keeps every name one component inside its base;
- names are checked where they enter (model/names.py's rules, the services' codes);
- printed certward command lines split back into the intended argv (``shlex``).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.commandline import certward_command
from certward.errors import CertwardError
from certward.model import names
from certward.paths import safe_join
from certward.services import _names
from tests.conftest import Cli, error_line

HOSTILE = [
    "a'b",
    'a"b',
    "$(Start-Process calc.exe)",
    "`whoami`",
    "a;b",
    "a|b",
    "a&b",
    "a && b",
    "a\nb",
    "# not a comment",
    "<# block",
    "\u2018quoted\u2019",
    "\u201cquoted\u201d",
    "-rf",
    "--force",
    "",
    " ",
    "*",
    "~",
    "$HOME",
]


# -- safe_join ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "part",
    ["..", ".", "", "../x", "a/b", "a\\b", "/etc", "C:", "C:x", "x\x00y", "../../../x@contoso.com"],
)
def test_safe_join_refuses_anything_but_one_component(tmp_path: Path, part: str) -> None:
    with pytest.raises(ValueError, match="path"):
        safe_join(tmp_path, part)


def test_safe_join_refuses_a_symlink_out_of_the_base(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "out").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        safe_join(base, "out", "x")


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=3))
def test_safe_join_result_is_inside_the_base_or_refused(parts: list[str]) -> None:
    base = Path("/tmp/certward-safe-join-base")
    try:
        joined = safe_join(base, *parts)
    except ValueError:
        return
    resolved = Path(os.path.normpath(joined))
    assert resolved.parent == base.joinpath(*parts[:-1])
    assert base in resolved.parents
    assert len(resolved.relative_to(base).parts) == len(parts)


# -- the rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["EX01", "EXCH-01", "A", "E" * 15, "1EX"])
def test_server_names_accepted(name: str) -> None:
    assert names.check_server_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["EX01;Start-Process calc.exe;", "", "-EX", "EX-", "E" * 16, "EX 01", "EX_01", "12345", "a.b"],
)
def test_server_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="server name"):
        names.check_server_name(name)


@pytest.mark.parametrize("local", ["user", "first.last", "a+tag", "o'brien", "x{1}"])
def test_local_parts_accepted(local: str) -> None:
    assert names.check_local_part(local) == local


@pytest.mark.parametrize(
    "local", ["../../../x", "a/b", "a\\b", "a\x00", "a\nb", ".a", "a.", "a..b", "a b", "x" * 65]
)
def test_local_parts_refused(local: str) -> None:
    with pytest.raises(ValueError, match="local part"):
        names.check_local_part(local)


@pytest.mark.parametrize(
    "name", ["Hybrid$(Start-Process calc.exe)", 'a\'b "c" ; & | <#', "\u2018x\u201d", "x" * 64]
)
def test_connector_names_hostile_to_shells_but_valid(name: str) -> None:
    assert names.check_connector_name(name) == name


@pytest.mark.parametrize(
    "name", ["", " ", " x", "x ", "a\\b", "a\nb", "a\x00", "a\u2028", "x" * 65]
)
def test_connector_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="connector name"):
        names.check_connector_name(name)


# -- certward command lines -----------------------------------------------------------------
@pytest.mark.parametrize("value", HOSTILE)
def test_certward_command_splits_back_into_its_argv(value: str) -> None:
    argv = ["connector", "set", value, "--require-tls"]
    assert shlex.split(certward_command(*argv)) == ["certward", *argv]


@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))))
def test_certward_command_round_trips_any_argv(argv: list[str]) -> None:
    assert shlex.split(certward_command(*argv)) == ["certward", *argv]


# -- the services' codes --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("check", "value", "code"),
    [
        (_names.server_name, "EX01;Start-Process calc.exe;", "server.name_invalid"),
        (_names.connector_name, "Hybrid\nRemove-Item", "connector.name_syntax"),
        (_names.friendly_name, "line\nbreak", "certificate.friendly_name_invalid"),
        (_names.site_name, "Default-First-Site\r\n", "edge.site_name_invalid"),
    ],
)
def test_each_name_is_refused_with_its_code_on_one_line(
    check: Callable[[str], str], value: str, code: str
) -> None:
    with pytest.raises(CertwardError) as refused:
        check(value)
    assert refused.value.code.id == code
    assert "\n" not in refused.value.message and "\r" not in refused.value.message


def test_a_mail_address_is_refused_with_its_code() -> None:
    with pytest.raises(CertwardError) as refused:
        _names.mail_local_part("../../x", "../../x@contoso.com")
    assert refused.value.code.id == "mail.address_invalid"
    assert refused.value.facts == {"address": "../../x@contoso.com"}


def test_a_state_path_from_a_name_is_refused_with_a_code(tmp_path: Path) -> None:
    with pytest.raises(CertwardError) as refused:
        _names.state_path(tmp_path, "logs", "..", "x")
    assert refused.value.code.id == "input.invalid"


def test_a_vdir_url_with_a_line_break_is_refused(org: Cli) -> None:
    line = error_line(org, "vdir", "set", "owa", "--server", "EXCH01", "--external-url",
                      "https://mail.contoso.com/owa\nRemove-Item C:\\")  # fmt: skip
    assert "control character" in line
    line = error_line(org, "cert", "new", "--server", "EXCH01", "--subject", "CN=x.contoso.com",
                      "--friendly-name", "a\nb")  # fmt: skip
    assert "friendly name" in line
