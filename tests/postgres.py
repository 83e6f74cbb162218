"""A throwaway PostgreSQL cluster for the tests (initdb + pg_ctl on a local socket): the
session fixture ``postgresql_url``, offered to every directory by ``tests/conftest.py`` (one
cluster per worker; a conftest or module that imports it defines another fixture, and
starts another cluster)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs postgresql)")
    # Not under pytest's 0700 temporary root: the server's account must reach it.
    base = Path(tempfile.mkdtemp(prefix="certward-pg-"))
    data = base / "data"
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: use the postgres account
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, user="postgres")

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.decode(errors='replace')}")

    # A throwaway cluster: nothing is synced to disk (initdb -N, fsync off). On this disk,
    # with syncing, initdb took 11-13 s and each DROP DATABASE 2-3 s at load 10 (4-6 s and
    # 0.1 s without); no test here asks what survives a crash of the machine.
    run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-N")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-w",
        "-l",
        str(base / "log"),
        "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
        "start",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
