"""Damaged and mutated files through the real command line: ``cert import``, ``store add``,
``pfx inspect`` and ``observe`` exit 1 or 2 with one ``error:`` line naming the file, no
traceback, and leave the store as it was."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fuzz.harness import KINDS, READERS, Seeds, attempt, mutate
from tests.fuzz.test_regressions import CORPUS, DAMAGED


def refused_mutant(seeds: Seeds, reader: str, *, seed: int) -> bytes:
    """The first mutation (from a fixed random seed) of the reader's seeds that it refuses."""
    rng = random.Random(seed)
    pool = seeds.of(READERS[reader].seed_kind)
    while True:
        ops = [
            (rng.choice(KINDS), rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(8))
            for _ in range(rng.randint(1, 3))
        ]
        data = mutate(rng.choice(pool), ops, pool)
        if attempt(READERS[reader], data) == "refused":
            return data


def rows(db: Path) -> str:
    """The store's content (its file's header counts each opening, so not its bytes)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return "\n".join(connection.iterdump())


def refused_once(cli: Cli, db: Path, *args: str) -> str:
    before = rows(db)
    result = cli(*args, ok=False)
    assert result.exit_code in (1, 2), result.exit_code
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert rows(db) == before
    return lines[0]


@pytest.fixture
def store(org: Cli, isolated_store: Path) -> Path:
    """The organisation's store, opened once (brought up to date) before any snapshot."""
    org("server", "list")
    return isolated_store


@pytest.fixture
def damaged_files(tmp_path: Path, seeds: Seeds) -> dict[str, Path]:
    files = {name: CORPUS / name for name in [*DAMAGED, "pfx-length-overflow.pfx"]}
    for reader, suffix, seed in (
        ("pem", "pem", 1),
        ("der", "cer", 2),
        ("pkcs7", "p7b", 3),
        ("pfx-import", "pfx", 4),
        ("certutil", "txt", 5),
        ("formatlist", "txt", 6),
    ):
        path = tmp_path / f"mutated-{reader}.{suffix}"
        path.write_bytes(refused_mutant(seeds, reader, seed=seed))
        files[path.name] = path
    return files


def test_cert_import_refuses_damaged_files(
    org: Cli, store: Path, damaged_files: dict[str, Path], password_file: Path
) -> None:
    for name in (
        "extension-duplicate.der",
        "pfx-length-overflow.pfx",
        "mutated-pem.pem",
        "mutated-pfx-import.pfx",
    ):
        path = damaged_files[name]
        line = refused_once(
            org, store, "cert", "import", "--server", "EXCH01", str(path),
            "--password-file", str(password_file),
        )  # fmt: skip
        assert str(path) in line


def test_store_add_refuses_damaged_files(
    org: Cli, store: Path, damaged_files: dict[str, Path]
) -> None:
    for name in (
        "subject-bit-string.der",
        "key-algorithm-unknown.der",
        "mutated-der.cer",
        "mutated-pkcs7.p7b",
    ):
        path = damaged_files[name]
        line = refused_once(
            org, store, "store", "add", "--server", "EXCH01", "--store", "Root", str(path)
        )
        assert str(path) in line


def test_pfx_inspect_refuses_damaged_files(
    org: Cli, store: Path, damaged_files: dict[str, Path], password_file: Path
) -> None:
    for name in ("pfx-length-overflow.pfx", "mutated-pfx-import.pfx"):
        path = damaged_files[name]
        for extra in ((), ("--password-file", str(password_file))):
            line = refused_once(org, store, "pfx", "inspect", str(path), *extra)
            assert str(path) in line


def test_observe_refuses_mutated_dumps(
    org: Cli, store: Path, damaged_files: dict[str, Path]
) -> None:
    for name in ("mutated-certutil.txt", "mutated-formatlist.txt"):
        path = damaged_files[name]
        line = refused_once(org, store, "observe", "EXCH09", str(path), "--store", "My")
        assert str(path) in line
