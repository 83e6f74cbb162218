"""Exchange's default-SMTP question, answered at a real terminal (a pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli, thumbprints


def _certward() -> str:
    found = shutil.which("certward", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the certward console script is not installed (pip install -e .)")
    return found


def _run_at_terminal(args: list[str], answer: bytes, timeout: float = 60) -> tuple[int, str]:
    """Run certward with a pseudo-terminal as stdin/stdout; answer the first prompt."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [_certward(), *args], stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True
    )
    os.close(terminal)
    seen = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output from certward within {timeout}s: {seen!r}")
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process has ended
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b'(default is "Y")' in seen:
                os.write(controller, answer + b"\r")
                answered = True
    except BaseException:
        proc.kill()  # not left running into the next test (a ResourceWarning there)
        proc.wait()
        raise
    finally:
        os.close(controller)
    return proc.wait(timeout=timeout), seen.decode(errors="replace")


def _new_certificate(cli: Cli) -> str:
    cli(
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=mail.contoso.com",
        "--services",
        "IIS",
        "--exportable",
    )
    by_subject = {c["subject"]: c for c in thumbprints(cli, "EXCH01").values()}
    return str(by_subject["CN=mail.contoso.com"]["thumbprint"])


@pytest.mark.parametrize(("answer", "replaced"), [(b"Y", True), (b"N", False)])
def test_question_at_a_terminal(org: Cli, answer: bytes, replaced: bool) -> None:
    new = _new_certificate(org)
    old = next(c for c in thumbprints(org, "EXCH01").values() if c["is_default_smtp"])
    code, screen = _run_at_terminal(
        ["cert", "enable", new, "--server", "EXCH01", "--services", "SMTP"], answer
    )
    assert code == 0, screen
    assert "Overwrite the existing default SMTP certificate?" in screen
    assert f"Current certificate: '{old['thumbprint']}' (expires " in screen
    assert f"Replace it with certificate: '{new}' (expires " in screen
    after = thumbprints(org, "EXCH01")
    assert after[new]["is_default_smtp"] is replaced
    assert after[old["thumbprint"]]["is_default_smtp"] is not replaced
    assert "SMTP" in after[new]["services"]  # "No" still enables SMTP, as the seed shows
