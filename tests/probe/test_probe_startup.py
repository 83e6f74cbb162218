"""What ``certward probe`` loads (issue 16): a probe of a URL target runs the prober's own
machinery (Twisted's reactor and TCP, pyOpenSSL, cryptography) and nothing it does not use:
no pydantic (typer's conversion of ``--timeout``), no store (SQLAlchemy), no HTTP client
(treq, twisted.web: the MTA-STS fetch of a mail domain), no dnspython (a mail domain or
``--resolver``), none of the model it does not judge with (users and tokens, what a
collection showed besides certificates), no file writer (``--html``). Checked in the
interpreter's own module table at the end of a real probe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.endpoints.conftest import certward_command
from tests.modules_loaded import MAIN_LISTING_MODULES
from tests.probe.conftest import valid
from tests.probe.test_probe_live import _self_signed_files, s_server

UNUSED = ("pydantic", "sqlalchemy", "alembic", "treq", "twisted.web", "dns", "certward.storage",
          "certward.compose", "certward.probe.domain", "certward.probe.policy_fetch",
          "certward.model.access", "certward.model.observed", "certward.atomic",
          "certward.probe.html")  # fmt: skip


def _probe_with_import_log(
    db: Path, listing: Path, *args: str
) -> tuple[dict[str, object], set[str]]:
    """``certward probe ARGS --json`` in a fresh interpreter: the report and every module
    it loaded (listed in the file ``listing``)."""
    env = {**os.environ, "CERTWARD_DB": str(db), "CERTWARD_TEST_MODULES": str(listing)}
    certward_command()  # skips where the package is not installed, as the other probes
    done = subprocess.run(
        [sys.executable, "-c", MAIN_LISTING_MODULES, "probe", *args, "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.stdout, done.stderr[-2000:]
    return valid(json.loads(done.stdout)), set(listing.read_text(encoding="utf-8").split())


def test_a_url_probe_loads_the_prober_and_nothing_it_does_not_use(
    tmp_path: Path, isolated_store: Path
) -> None:
    cert, key = _self_signed_files(tmp_path, "web", cn="localhost", sans=["localhost"])
    with s_server("-cert", str(cert), "-key", str(key)) as port:
        report, modules = _probe_with_import_log(
            isolated_store, tmp_path / "modules.txt", f"https://localhost:{port}",
            "--ca-file", str(cert), "--timeout", "20.5",  # a float: converted without pydantic
        )  # fmt: skip
    (target,) = report["targets"]  # type: ignore[misc]
    assert target["status"] == "OK", target
    assert {"twisted.internet.tcp", "OpenSSL.SSL", "certward.probe.endpoint"} <= modules
    loaded = sorted(m for m in modules if any(m == u or m.startswith(u + ".") for u in UNUSED))
    assert loaded == []
    assert not isolated_store.exists()  # probing never creates a store


def test_a_bad_timeout_is_still_typers_usage_error(isolated_store: Path) -> None:
    """A value the plain conversion does not take goes to typer's own (its message), and a
    usage error of a check is UNKNOWN."""
    env = {**os.environ, "CERTWARD_DB": str(isolated_store)}
    for option, value in (("--timeout", "soon"), ("--workers", "-1")):
        done = subprocess.run(
            [*certward_command(), "probe", "https://localhost:1", option, value],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 3, done.stderr
        assert f"Invalid value for '{option}'" in done.stderr
