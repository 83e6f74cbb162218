"""``certward --help`` and ``--version`` load as little as they can (issue 16): the version
from the package, the help without rich's Markdown and Traceback renderers, byte for byte
the help typer renders with them."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

import certward
from certward.interfaces.cli import common
from tests.conftest import Cli

RUN = "import sys, runpy; sys.argv = ['certward', *sys.argv[1:]]; runpy.run_module('certward')"
REPORT = "; print(sorted(m for m in sys.modules if m.startswith(('rich.', 'importlib.metadata'))))"


def _run(code: str, *args: str, columns: int = 100) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    return done.stdout


def test_the_version_is_the_distributions(cli: Cli) -> None:
    assert certward.__version__ == importlib.metadata.version("certward")
    assert cli("--version").stdout == f"certward {certward.__version__}\n"


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_help_is_what_typer_renders_with_rich_whole(columns: int) -> None:
    light = _run(
        f"try:\n    {RUN}\nexcept SystemExit:\n    pass{REPORT}", "--help", columns=columns
    )
    whole = _run(
        f"import rich.markdown, rich.traceback\ntry:\n    {RUN}\nexcept SystemExit:\n    pass",
        "--help",
        columns=columns,
    )
    help_text, loaded = light.rsplit("\n", 2)[0] + "\n", light.rsplit("\n", 2)[1]
    assert help_text == whole and "Commands" in whole
    for heavy in ("rich.markdown", "rich.traceback", "rich.syntax", "importlib.metadata"):
        assert f"'{heavy}'" not in loaded


def test_the_stand_ins_hand_over_to_rich() -> None:
    stand_in = common._LoadedOnUse("Markdown", (), {"_module": "rich.markdown"})
    from rich.markdown import Markdown

    assert isinstance(stand_in("# title"), Markdown)
    assert stand_in.real() is Markdown and stand_in.elements is Markdown.elements
