"""Shared fixtures: an isolated store per test, the CLI, a real OpenSSL CA, and the throwaway
PostgreSQL cluster of the storage tests (``postgresql_url``), made available here so that the
directories that use it share one cluster per worker (a module or conftest that imports the
fixture itself defines another, and starts another cluster)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from certward.interfaces.cli.app import app
from tests.postgres import postgresql_url  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own database and key file; nothing touches the user's data."""
    db = tmp_path / "store" / "certward.db"
    monkeypatch.setenv("CERTWARD_DB", str(db))
    monkeypatch.delenv("CERTWARD_MASTER_KEY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    # Off a terminal the CLI prints unwrapped lines unless $COLUMNS says otherwise; a test
    # runner that sets it (pytest-xdist's workers do) must not wrap what the tests read.
    monkeypatch.delenv("COLUMNS", raising=False)
    return db


# -- the order test files are handed to the workers -----------------------------------------
# pytest-xdist (``--dist loadfile``) gives a worker one whole file at a time and by default
# hands out the files with the most tests first, so a slow file of few tests (a daemon's
# set-up, one end-to-end scenario) could start last and keep one worker busy alone at the
# end. The slowest files (measured on two cores, 2026-12-04) go first instead, longest first;
# the others follow in collection order (pyproject's addopts carry ``--no-loadscope-reorder``).
# A file missing from this list is only handed out later, never skipped.
SLOW_FILES = (
    "tests/agent/test_agents.py",
    "tests/storage/test_transactions.py",
    "tests/cli/test_store_and_errors.py",
    "tests/probe/test_probe_live.py",
    "tests/web/test_console.py",
    "tests/storage/test_concurrency.py",
    "tests/endpoints/test_smtp_send.py",
    "tests/fuzz/test_readers.py",
    "tests/interop/test_openssl_lifecycle.py",
    "tests/endpoints/test_seed001_trusted_issuers.py",
    "tests/cli/test_startup_reads.py",
    "tests/services/test_renewal.py",
    "tests/endpoints/test_hostile.py",
    "tests/storage/test_facts.py",
    "tests/cli/test_conventions.py",
    "tests/deploy/test_postfix.py",
    "tests/endpoints/test_smtp_receive.py",
    "tests/cli/test_certificate_operations.py",
    "tests/api/test_flows.py",
    "tests/endpoints/test_seed000_mutual_tls.py",
    "tests/watch/test_live.py",
    "tests/access/test_access.py",
    "tests/cli/test_org_server.py",
    "tests/deploy/test_dovecot.py",
    "tests/acme/test_dns01.py",
    "tests/cli/test_files_and_keys.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first (a stable sort: each file's tests keep their order)."""
    rank = {path: index for index, path in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@dataclass
class Cli:
    runner: CliRunner

    def __call__(self, *args: str, ok: bool = True, input: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if ok and result.exit_code != 0:
            raise AssertionError(
                f"certward {' '.join(args)} exited {result.exit_code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        if not ok and result.exit_code == 0:
            raise AssertionError(
                f"certward {' '.join(args)} succeeded unexpectedly:\n{result.stdout}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli(CliRunner())


@pytest.fixture(scope="session")
def org_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Organisation Contoso (EXCH01, EXCH02) built once per session: RSA keys are slow."""
    directory = tmp_path_factory.mktemp("contoso")
    db = str(directory / "certward.db")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("CERTWARD_MASTER_KEY", raising=False)
        cli = Cli(CliRunner())
        cli("org", "init", "Contoso", "--domain", "contoso.com", "--db", db)
        cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com", "--db", db)
        cli("server", "add", "EXCH02", "--fqdn", "exch02.contoso.com", "--db", db)
    return directory


@pytest.fixture
def org(cli: Cli, isolated_store: Path, org_template: Path) -> Cli:
    """An organisation with two Exchange 2019 Mailbox servers, EXCH01 and EXCH02 (a fresh
    copy of the session's template in this test's own store)."""
    isolated_store.parent.mkdir(parents=True, exist_ok=True)
    # The store runs SQLite in WAL mode: copy the write-ahead log too, where there is one.
    for name in ("certward.db", "certward.db-wal", "certward.key"):
        if (org_template / name).exists():
            shutil.copy2(org_template / name, isolated_store.parent / name)
    return cli


def error_line(cli: Cli, *args: str) -> str:
    """Run a command that must be refused; return its single ``error: ...`` line."""
    result = cli(*args, ok=False)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {result.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def find_openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.skip("the openssl command is not installed (.ci/run installs it)")
    return path


def openssl(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    """Run the openssl command; fail the test with its stderr when it fails."""
    done = subprocess.run(
        [find_openssl(), *args], cwd=cwd, input=input, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout.decode(errors="replace")


@dataclass
class OpenSslCa:
    """A root and an intermediate CA made with the openssl command (not with certward)."""

    directory: Path
    root_pem: Path
    intermediate_pem: Path
    intermediate_key: Path

    def sign(self, csr: Path, *, days: int = 365, name: str = "reply") -> Path:
        """Issue a certificate for ``csr`` (its subject and SANs), as a public CA would."""
        out = self.directory / f"{name}.pem"
        ext = self.directory / f"{name}.ext"
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            "authorityKeyIdentifier=keyid\n"
        )
        openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(self.intermediate_pem),
            "-CAkey",
            str(self.intermediate_key),
            "-CAcreateserial",
            "-days",
            str(days),
            "-sha256",
            "-copy_extensions",
            "copy",
            "-extfile",
            str(ext),
            "-out",
            str(out),
        )
        return out

    def p7b(self, leaf: Path, *, name: str = "reply", der: bool = True) -> Path:
        """The reply as a CA delivers it: leaf + intermediate + root in a .p7b."""
        out = self.directory / f"{name}.p7b"
        openssl(
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            str(leaf),
            "-certfile",
            str(self.intermediate_pem),
            "-certfile",
            str(self.root_pem),
            "-outform",
            "DER" if der else "PEM",
            "-out",
            str(out),
        )
        return out


@pytest.fixture(scope="session")
def openssl_ca_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root and intermediate made once per session (two RSA keys by the openssl command
    are slow); each test gets a copy in its own directory (:func:`openssl_ca`)."""
    d = tmp_path_factory.mktemp("openssl-ca") / "ca"
    d.mkdir()
    root_key, root = d / "root.key", d / "root.pem"
    int_key, int_csr, intermediate = d / "int.key", d / "int.csr", d / "int.pem"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(root_key),
        "-subj",
        "/C=US/O=Bar Test/CN=Bar Test Root CA",
        "-days",
        "3650",
        "-sha256",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        str(root),
    )
    openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(int_key),
        "-subj",
        "/C=US/O=Bar Test/CN=Bar Test Issuing CA",
        "-out",
        str(int_csr),
    )
    ext = d / "int.ext"
    ext.write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(int_csr),
        "-CA",
        str(root),
        "-CAkey",
        str(root_key),
        "-CAcreateserial",
        "-days",
        "1825",
        "-sha256",
        "-extfile",
        str(ext),
        "-out",
        str(intermediate),
    )
    return d


@pytest.fixture
def openssl_ca(tmp_path: Path, openssl_ca_template: Path) -> OpenSslCa:
    """A root and an intermediate CA made by the openssl command, in this test's own
    ``tmp_path / "ca"`` (a copy of the session's: what a test signs there is its own)."""
    d = tmp_path / "ca"
    shutil.copytree(openssl_ca_template, d)
    return OpenSslCa(d, d / "root.pem", d / "int.pem", d / "int.key")


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pfx-password.txt"
    path.write_text("Pa55word!\n")
    return path


def thumbprints(cli: Cli, server: str) -> dict[str, dict[str, Any]]:
    """The server's certificates from ``cert list --json``, by thumbprint."""
    return {c["thumbprint"]: c for c in cli.json("cert", "list", "--server", server)}


def database_bytes(db: Path) -> bytes:
    return db.read_bytes()


Run = Callable[..., Result]
__all__ = [
    "Cli",
    "OpenSslCa",
    "Run",
    "database_bytes",
    "error_line",
    "openssl",
    "thumbprints",
]


@pytest.fixture
def db_path(isolated_store: Path) -> Iterator[Path]:
    yield isolated_store
