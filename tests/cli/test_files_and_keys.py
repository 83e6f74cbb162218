"""Issue 12: files are never clobbered; the master key is checked, and can be rotated.

Each test states the fault that was measured before the fix: an output written over the
master key file or the database (exit 0), keys sealed under a wrong key, a copied database
given a second key file. Real files, real processes where processes matter.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import Cli, error_line

# certward's own modules load inside the tests that use them, so that this file also runs
# against a certward from before issue 12 (where each test must fail, not fail to import).
CHEAP = (2**14, 8, 1)  # tests only: the scrypt cost of a record made in a test


def _init(cli: Cli) -> None:
    cli("org", "init", "Contoso", "--domain", "contoso.com")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")


@pytest.fixture(scope="module")
def contoso_exch01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store :func:`_init` makes (its master key in ``certward.key``), made once for the
    module: a new store's migrations and its RSA keys are slow."""
    store = tmp_path_factory.mktemp("contoso-exch01")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("CERTWARD_MASTER_KEY", raising=False)
        env.setenv("CERTWARD_DB", str(store / "certward.db"))
        _init(Cli(CliRunner()))
    return store


def _copy_of(template: Path) -> None:
    """This test's store (``$CERTWARD_DB``) becomes a copy of ``template``: the database,
    its write-ahead log where there is one, and the key file, modes kept."""
    db = Path(os.environ["CERTWARD_DB"])
    db.parent.mkdir(parents=True, exist_ok=True)
    for name in ("certward.db", "certward.db-wal", "certward.key"):
        if (template / name).exists():
            shutil.copy2(template / name, db.parent / name)


def _request(cli: Cli, out: str, *extra: str, ok: bool = True) -> str:
    args = ("cert", "request", "--server", "EXCH01", "--subject", "CN=mail.contoso.com")
    if ok:
        return cli(*args, "--out", out, *extra).stdout
    return error_line(cli, *args, "--out", out, *extra)


def _pending(cli: Cli) -> int:
    listed = cli.json("cert", "list", "--server", "EXCH01")
    return sum(1 for c in listed if c["status"] == "PendingRequest")


def _meta(db: Path) -> dict[str, object]:
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        value = conn.execute(text("SELECT value FROM meta WHERE name = 'master_key'")).scalar()
    engine.dispose()
    assert value is not None
    loaded: dict[str, object] = json.loads(value)
    return loaded


# -- outputs ---------------------------------------------------------------------------------


SPELLINGS = ("certward.key", "./certward.key", "../store/certward.key", "ABS", "SYMLINK",
             "HARDLINK", "certward.db", "./certward.db-wal", "certward.db-shm",
             "certward.db-journal")  # fmt: skip


def test_an_output_never_replaces_the_stores_own_files(
    cli: Cli, isolated_store: Path, monkeypatch: pytest.MonkeyPatch, contoso_exch01: Path
) -> None:
    """Measured: ``cert request --out certward.key`` replaced the master key file (exit 0)."""
    _copy_of(contoso_exch01)
    store = isolated_store.parent
    key_file = store / "certward.key"
    monkeypatch.chdir(store)
    (store / "innocent.req").symlink_to("certward.db")
    os.link(key_file, store / "another-name.req")
    key_before, pending = key_file.read_bytes(), _pending(cli)
    named = {"ABS": str(key_file), "SYMLINK": "innocent.req", "HARDLINK": "another-name.req"}

    for spelling in SPELLINGS:
        line = _request(cli, named.get(spelling, spelling), "--force", ok=False)
        assert "no output replaces it" in line and "write to another file" in line, spelling

    assert key_file.read_bytes() == key_before
    assert _pending(cli) == pending  # refused before the request was made
    cli("key", "check")


def test_export_over_the_database_given_by_db_is_refused(
    cli: Cli, tmp_path: Path, password_file: Path
) -> None:
    """Measured: ``cert export --out x.db`` replaced the database (exit 0)."""
    db = tmp_path / "x.db"
    cli("--db", str(db), "org", "init", "Contoso")
    thumb = cli.json("--db", str(db), "org", "show")["auth_thumbprint"]
    before = db.read_bytes()

    line = error_line(
        cli, "cert", "export", thumb, "--server", "EXCH01", "--db", str(db),
        "--out", str(db), "--password-file", str(password_file), "--force",
    )  # fmt: skip

    assert "is the store's database" in line
    assert db.read_bytes()[:16] == b"SQLite format 3\x00" and len(db.read_bytes()) >= len(before)
    assert cli.json("--db", str(db), "org", "show")["auth_thumbprint"] == thumb


def test_an_existing_output_is_replaced_only_with_force(
    cli: Cli, tmp_path: Path, contoso_exch01: Path
) -> None:
    _copy_of(contoso_exch01)
    out = tmp_path / "request.req"
    out.write_bytes(b"precious\n")

    line = _request(cli, str(out), ok=False)

    assert (
        line == f"error: {out}: the file exists; it was left as it was; pass --force to replace it"
    )
    assert out.read_bytes() == b"precious\n" and _pending(cli) == 0
    _request(cli, str(out), "--force")
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_outputs_have_their_modes_from_the_start(
    cli: Cli, tmp_path: Path, password_file: Path, contoso_exch01: Path
) -> None:
    _copy_of(contoso_exch01)
    old = os.umask(0o022)
    try:
        _request(cli, str(tmp_path / "r.req"))
        auth = cli.json("org", "show")["auth_thumbprint"]
        pfx = tmp_path / "auth.pfx"
        cli("cert", "export", auth, "--server", "EXCH01", "--out", str(pfx),
            "--password-file", str(password_file))  # fmt: skip
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.req").stat().st_mode) == 0o644
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600  # a key: 0600 before any byte


@pytest.mark.parametrize("command", ["health", "pfx convert"])
def test_other_writers_refuse_an_existing_file(
    cli: Cli, tmp_path: Path, password_file: Path, command: str, contoso_exch01: Path
) -> None:
    _copy_of(contoso_exch01)
    out = tmp_path / "existing"
    out.write_bytes(b"keep me")
    if command == "health":
        args = ["health", "--html", str(out)]
    else:
        pfx = tmp_path / "auth.pfx"
        auth = cli.json("org", "show")["auth_thumbprint"]
        cli("cert", "export", auth, "--server", "EXCH01", "--out", str(pfx),
            "--password-file", str(password_file))  # fmt: skip
        args = ["pfx", "convert", str(pfx), "--to", "capi", "--out", str(out),
                "--password-file", str(password_file)]  # fmt: skip
    result = cli(*args, ok=False)
    assert "the file exists" in result.stderr and out.read_bytes() == b"keep me"
    cli(*args, "--force")
    assert out.read_bytes() != b"keep me"


def test_the_database_and_its_wal_are_0600(cli: Cli, isolated_store: Path) -> None:
    old = os.umask(0o022)
    try:
        _init(cli)
    finally:
        os.umask(old)
    made = [p for p in isolated_store.parent.iterdir() if p.name.startswith("certward.")]
    assert {p.name for p in made} >= {"certward.db", "certward.key"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in made} == {p.name: 0o600 for p in made}


# -- the master key is checked ---------------------------------------------------------------


def test_a_wrong_master_key_is_refused_before_anything_is_written(
    cli: Cli, isolated_store: Path, monkeypatch: pytest.MonkeyPatch, contoso_exch01: Path
) -> None:
    """Measured: with a wrong ``$CERTWARD_MASTER_KEY`` new keys were sealed under it."""
    _copy_of(contoso_exch01)  # the key file's key
    before = _writes(isolated_store)
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "0" * 64)

    line = error_line(cli, "cert", "new", "--server", "EXCH01", "--subject", "CN=x")

    assert line.startswith(
        "error: the master key from $CERTWARD_MASTER_KEY does not match the database's check "
        "value; nothing was written"
    )
    assert _writes(isolated_store) == before
    assert "master key" in error_line(cli, "key", "check")
    monkeypatch.delenv("CERTWARD_MASTER_KEY")
    (isolated_store.parent / "certward.key").write_text("not the key\n")
    assert f"the master key from {isolated_store.parent / 'certward.key'}" in error_line(
        cli, "org", "show"
    )


def _writes(db: Path) -> tuple[int, int]:
    """The store's count of changing transactions, and of sealed keys."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        generation = conn.execute(text("SELECT value FROM generation")).scalar_one()
        keys = conn.execute(text("SELECT count(*) FROM private_keys")).scalar_one()
    engine.dispose()
    return generation, keys


def test_a_database_without_its_key_file_gets_no_new_one(
    cli: Cli, isolated_store: Path, tmp_path: Path, contoso_exch01: Path
) -> None:
    """Measured: a database copied without ``certward.key`` silently got a new key file."""
    _copy_of(contoso_exch01)
    copy = tmp_path / "elsewhere" / "certward.db"
    copy.parent.mkdir()
    with create_engine(f"sqlite:///{isolated_store}").connect() as conn:  # a consistent copy
        conn.exec_driver_sql(f"VACUUM INTO '{copy}'")

    line = error_line(cli, "--db", str(copy), "cert", "list", "-s", "EXCH01")

    assert line.startswith(f"error: {copy.parent / 'certward.key'}: no master key file")
    assert not (copy.parent / "certward.key").exists()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")}
    return env | extra


_RACE = """
import sys, time
from pathlib import Path
from certward.config import create_key_file
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
print(create_key_file(Path(sys.argv[1])).text.decode())
"""


def test_sixteen_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    """Before: the key file was opened O_EXCL and then written, so a process starting a
    moment later could read it empty (and fail) while the first was still writing."""
    key_file, go = tmp_path / "fresh" / "certward.key", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(key_file), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(16)
    ]
    go.touch()
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]

    assert [r[0] for r in results] == [0] * 16, results
    keys = {r[1].strip() for r in results}
    assert keys == {key_file.read_text().strip()}
    from certward.services.keys import is_key_format

    assert is_key_format(key_file.read_bytes().strip())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["certward.key"]  # no temp left


# -- passphrases -----------------------------------------------------------------------------


def test_a_passphrase_goes_through_scrypt_with_the_databases_salt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a passphrase was the PKCS#8 password itself (PBKDF2, 2,048 rounds)."""
    from certward.compose import build_app
    from certward.services.keys import RECOMMENDED_COST, ScryptCost
    from certward.storage import KeyVault, SqlStore

    assert (RECOMMENDED_COST.n, RECOMMENDED_COST.r, RECOMMENDED_COST.p) == (2**17, 8, 1)
    db = tmp_path / "certward.db"
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "correct horse battery staple")
    app = build_app(str(db), _test_scrypt_cost=ScryptCost(*CHEAP))
    app.organisation.init_organisation("Contoso")
    app.store.close()

    record = _meta(db)
    assert (record["kdf"], record["seal"], record["n"], record["r"]) == (
        "scrypt",
        "derived",
        CHEAP[0],
        8,
    )
    with SqlStore(f"sqlite:///{db}", KeyVault()).transaction() as repo:
        (sealed,) = repo.sealed_keys()
    assert not KeyVault(b"correct horse battery staple").opens(sealed)
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "correct horse battery stapler")
    with pytest.raises(Exception, match="does not match the database's check value"):
        build_app(str(db))


def test_the_recommended_cost_is_what_a_new_record_gets(
    cli: Cli, isolated_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "a passphrase, not a key")
    cli("key", "check")
    assert _meta(isolated_store)["n"] == 2**17


def test_an_older_databases_passphrase_is_accepted_then_rotated_to_scrypt(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certward.clock import SystemClock
    from certward.services.organisation import OrganisationService
    from certward.storage import KeyVault, SqlStore

    db = tmp_path / "old.db"
    old = SqlStore(f"sqlite:///{db}", KeyVault(b"old passphrase"))  # as certward sealed before
    OrganisationService(old, SystemClock()).init_organisation("Contoso")
    old.close()

    monkeypatch.setenv("CERTWARD_MASTER_KEY", "a wrong passphrase")
    assert "does not open the private keys already stored" in error_line(
        cli, "--db", str(db), "key", "check"
    )
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "old passphrase")
    checked = cli("--db", str(db), "key", "check").stdout
    assert "keys still sealed the old way" in checked and "1 stored private keys open" in checked
    assert _meta(db)["seal"] == "key"

    monkeypatch.setenv("CERTWARD_NEW_MASTER_KEY", "old passphrase")
    rotated = cli("--db", str(db), "key", "rotate").stdout
    assert "Re-sealed 1 private keys" in rotated and "Set $CERTWARD_MASTER_KEY" in rotated
    assert _meta(db)["seal"] == "derived"
    assert not (tmp_path / "certward.key").exists()
    assert "still sealed" not in cli("--db", str(db), "key", "check").stdout


# -- rotation --------------------------------------------------------------------------------


def test_key_rotate_reseals_everything_and_installs_the_new_key_file(
    cli: Cli, isolated_store: Path, tmp_path: Path, password_file: Path, contoso_exch01: Path
) -> None:
    _copy_of(contoso_exch01)
    key_file = isolated_store.parent / "certward.key"
    old_key = key_file.read_bytes()
    new_key = tmp_path / "new.key"
    new_key.write_text("f" * 64 + "\n")

    out = cli("key", "rotate", "--new-key-file", str(new_key)).stdout

    assert "Re-sealed 3 private keys and the check value" in out
    assert f"The key file {key_file} now holds the new key." in out
    assert key_file.read_bytes() == b"f" * 64 + b"\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "3 stored private keys open" in cli("key", "check").stdout
    auth = cli.json("org", "show")["auth_thumbprint"]
    cli("cert", "export", auth, "--server", "EXCH01", "--out", str(tmp_path / "a.pfx"),
        "--password-file", str(password_file))  # fmt: skip
    key_file.write_bytes(old_key)  # the old key opens nothing any more
    assert "does not match" in error_line(cli, "key", "check")
    assert cli("key", "check", ok=False).exit_code == 1


def test_key_rotate_with_an_environment_key_needs_the_new_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, isolated_store: Path
) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "e" * 64)
    cli("key", "check")
    line = error_line(cli, "key", "rotate")
    assert line.endswith("pass --new-key-file FILE or set $CERTWARD_NEW_MASTER_KEY")
    assert cli("key", "rotate", ok=False).exit_code == 2
    assert not (isolated_store.parent / "certward.key").exists()


def test_settings_name_the_stores_own_files(isolated_store: Path) -> None:
    from certward.config import load_settings

    own = load_settings().own_files()
    assert own[isolated_store] == "database"
    assert own[isolated_store.parent / "certward.key"] == "master key file"
    assert own[Path(f"{isolated_store}-wal")] == "database journal"


def test_keys_under_two_master_keys_are_found_and_a_rotation_changes_nothing(
    cli: Cli, isolated_store: Path, contoso_exch01: Path
) -> None:
    """Measured: a copied database ended up with keys under two master keys, unnoticed."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from certward.storage import KeyVault

    _copy_of(contoso_exch01)
    stranger = KeyVault(b"1" * 64).seal(ec.generate_private_key(ec.SECP256R1()))
    engine = create_engine(f"sqlite:///{isolated_store}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE private_keys SET encrypted_pkcs8 = :b "
                "WHERE id = (SELECT min(id) FROM private_keys)"
            ),
            {"b": stranger},
        )
    engine.dispose()
    key_file = isolated_store.parent / "certward.key"
    key = key_file.read_bytes()

    assert "1 of 3 stored private keys do not open under it" in error_line(cli, "key", "check")
    assert "master key" in error_line(cli, "key", "rotate")
    assert key_file.read_bytes() == key
    assert not (isolated_store.parent / "certward.key.new").exists()
