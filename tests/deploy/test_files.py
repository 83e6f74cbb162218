"""The deploy's file writer: all files or none, owner and mode before any byte, the previous
files kept and put back; a crash between writing and renaming leaves the old files intact."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from certward.deploy import files
from certward.deploy.executor import apply
from certward.errors import CertwardError
from certward.model import ServiceSet
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from tests.deploy.conftest import Pem


def _specs(directory: Path, cert: bytes, key: bytes) -> list[files.FileSpec]:
    return [
        files.FileSpec(directory / "cert.pem", cert, 0o644),
        files.FileSpec(directory / "key.pem", key, 0o600),
    ]


def test_staged_files_are_in_place_only_after_commit_and_the_previous_are_kept(
    tmp_path: Path,
) -> None:
    (tmp_path / "cert.pem").write_bytes(b"old cert")
    (tmp_path / "key.pem").write_bytes(b"old key")

    staged = files.stage(_specs(tmp_path, b"new cert", b"new key"))
    assert (tmp_path / "cert.pem").read_bytes() == b"old cert"  # nothing in place yet
    assert all(t.parent == tmp_path and t.name.startswith(".") for t in staged.temporaries)
    staged.commit()

    assert (tmp_path / "cert.pem").read_bytes() == b"new cert"
    assert (tmp_path / "key.pem").read_bytes() == b"new key"
    assert (tmp_path / "cert.pem.previous").read_bytes() == b"old cert"
    assert (tmp_path / "key.pem.previous").read_bytes() == b"old key"
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cert.pem").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cert.pem", "cert.pem.previous", "key.pem", "key.pem.previous",
    ]  # fmt: skip

    assert files.restore([s.path for s in staged.specs], staged.existed) == []
    assert (tmp_path / "cert.pem").read_bytes() == b"old cert"
    assert (tmp_path / "key.pem").read_bytes() == b"old key"


def test_a_crash_between_writing_and_renaming_leaves_the_old_files(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(b"old cert")
    (tmp_path / "key.pem").write_bytes(b"old key")
    crash = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from certward.deploy import files\n"
        "d = Path(sys.argv[1])\n"
        "files.stage([files.FileSpec(d / 'cert.pem', b'new cert', 0o644),\n"
        "             files.FileSpec(d / 'key.pem', b'new key', 0o600)])\n"
        "os._exit(9)  # the process dies: no rename, no clean-up\n"
    )
    done = subprocess.run([sys.executable, "-c", crash, str(tmp_path)], check=False)
    assert done.returncode == 9

    assert (tmp_path / "cert.pem").read_bytes() == b"old cert"
    assert (tmp_path / "key.pem").read_bytes() == b"old key"
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 2  # the staged files, never renamed
    key_tmp = next(p for p in leftovers if p.name.startswith(".key.pem"))
    assert stat.S_IMODE(key_tmp.stat().st_mode) == 0o600  # even half-done, the key is private

    assert sorted(files.sweep_stale([tmp_path / "cert.pem", tmp_path / "key.pem"])) == sorted(
        leftovers
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]


def test_a_failed_rename_puts_back_the_files_already_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(b"old a")
    blocked = tmp_path / "b.pem"
    blocked.mkdir()  # a directory where a file must go: os.replace fails
    (blocked / "inside").write_bytes(b"x")
    staged = files.stage(
        [files.FileSpec(tmp_path / "a.pem", b"new a", 0o644),
         files.FileSpec(blocked, b"new b", 0o644)]
    )  # fmt: skip
    with pytest.raises(OSError):
        staged.commit()
    assert (tmp_path / "a.pem").read_bytes() == b"old a"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives files to another user")
def test_owner_and_group_are_set_before_the_bytes(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    uid, gid = files.ids_of("nobody", str(nobody.pw_gid))
    files.stage([files.FileSpec(tmp_path / "key.pem", b"k", 0o640, uid, gid)]).commit()
    info = (tmp_path / "key.pem").stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, gid, 0o640)


def _deployment(directory: Path, kind: DeployKind = DeployKind.FILES) -> Deployment:
    return Deployment(
        name="files",
        kind=kind,
        server="EXCH01",
        services=ServiceSet.parse("SMTP"),
        paths=DeployPaths.in_directory(kind, str(directory)),
        verify="https://127.0.0.1:9",
        wait=0.5,
    )


def test_a_key_that_is_not_the_certificate_s_is_refused_before_any_write(
    tmp_path: Path, old_pem: Pem, other_pem: Pem
) -> None:
    probed: list[str | None] = []

    def verify(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
        probed.append(expect)
        return None

    broken = type(old_pem.material)(old_pem.cert, (), other_pem.key)
    outcome = apply(_deployment(tmp_path), broken, verify=verify)

    assert not outcome.ok and not outcome.rolled_back
    assert outcome.code == "deploy.material_invalid"
    assert f"the private key is not the key of certificate {old_pem.thumbprint}" in outcome.detail
    assert list(tmp_path.iterdir()) == [] and probed == []
    assert "PRIVATE" not in repr(broken) and "PRIVATE" not in str(outcome.to_json())


def test_files_not_served_are_rolled_back_and_a_first_deploy_removed(
    tmp_path: Path, old_pem: Pem, other_pem: Pem
) -> None:
    """Without a daemon (a verifier that never sees the new certificate): the previous
    files come back, and where there were none the new ones are removed."""
    served = {"now": old_pem.thumbprint}

    def verify(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
        return served["now"]

    d = _deployment(tmp_path)
    first = apply(d, old_pem.material, verify=verify)
    assert first.ok and first.previous is None
    assert (tmp_path / "cert.pem").read_bytes() == old_pem.cert
    assert (tmp_path / "privkey.pem").read_bytes() == old_pem.key

    second = apply(d, other_pem.material, verify=verify)
    assert not second.ok and second.rolled_back and second.code == "deploy.not_served"
    assert second.previous == second.served == old_pem.thumbprint
    assert (tmp_path / "cert.pem").read_bytes() == old_pem.cert
    assert (tmp_path / "privkey.pem").read_bytes() == old_pem.key

    empty = tmp_path / "empty"
    empty.mkdir()
    served["now"] = "0" * 40
    third = apply(_deployment(empty), other_pem.material, verify=verify)
    assert not third.ok and third.rolled_back and "files removed" in third.detail
    assert list(empty.iterdir()) == []


def _never_probed(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
    raise AssertionError("nothing was written: nothing to probe")


def test_a_missing_directory_is_named_not_created_and_nothing_probed(
    tmp_path: Path, old_pem: Pem
) -> None:
    missing = tmp_path / "missing"
    outcome = apply(_deployment(missing), old_pem.material, verify=_never_probed)

    assert not outcome.ok and outcome.code == "deploy.no_directory"
    assert outcome.detail.startswith(f"directory {missing} does not exist: create it")
    assert not missing.exists()


def test_a_directory_that_cannot_be_written_is_reported_and_nothing_probed(
    tmp_path: Path, old_pem: Pem
) -> None:
    (tmp_path / "cert.pem").mkdir()  # a directory where the certificate must go
    outcome = apply(_deployment(tmp_path), old_pem.material, verify=_never_probed)

    assert not outcome.ok and outcome.code == "deploy.write_failed"
    assert "cannot write" in outcome.detail and "the previous files are in place" in outcome.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem"]


def test_a_second_run_into_the_same_directory_is_refused_while_the_first_runs(
    tmp_path: Path, old_pem: Pem, other_pem: Pem
) -> None:
    """The lock is the directory's: a run in another process holds it from its writes to its
    last probe (here: while its verifier runs), and a run that meets it changes nothing."""
    held = tmp_path / "held"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from certward.deploy import files\n"
        "with files.locked([Path(sys.argv[1]) / 'cert.pem']):\n"
        "    Path(sys.argv[2]).touch()\n"
        "    sys.stdin.read()\n"
    )
    d = _deployment(tmp_path)
    assert apply(d, old_pem.material, verify=lambda *_, **__: old_pem.thumbprint).ok
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), str(held)], stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while not held.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(CertwardError) as refused:
            apply(d, other_pem.material, verify=_never_probed)
        assert refused.value.code.id == "deploy.busy"
        assert str(tmp_path) in refused.value.message
        assert (tmp_path / "cert.pem").read_bytes() == old_pem.cert  # nothing written
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=20)
    held.unlink()

    again = apply(d, other_pem.material, verify=lambda *_, **__: other_pem.thumbprint)
    assert again.ok and (tmp_path / "cert.pem").read_bytes() == other_pem.cert


def test_a_verifier_that_fails_counts_as_not_served(tmp_path: Path, old_pem: Pem) -> None:
    def verify(url: str, *, sni: str | None, expect: str | None, wait: float) -> str | None:
        raise RuntimeError("prober broke")

    outcome = apply(_deployment(tmp_path), old_pem.material, verify=verify)

    assert not outcome.ok and outcome.rolled_back and outcome.code == "deploy.not_served"
    assert "probe failed: RuntimeError: prober broke" in outcome.steps
    assert list(tmp_path.iterdir()) == []  # a first deploy: its files removed again


def test_the_lock_is_reentrant_on_a_thread_and_refused_to_another(tmp_path: Path) -> None:
    """The deploy service locks before it releases the key, then the executor locks the
    same directories: on one thread that is one lock; another thread is another run."""
    refused: list[str] = []

    def other_run() -> None:
        try:
            with files.locked([tmp_path / "cert.pem"]):
                refused.append("not refused")
        except CertwardError as exc:
            refused.append(exc.code.id)

    with files.locked([tmp_path / "cert.pem"]):
        with files.locked([tmp_path / "key.pem"]):  # the same directory, this thread
            thread = threading.Thread(target=other_run)
            thread.start()
            thread.join(30)
        assert refused == ["deploy.busy"]
        thread = threading.Thread(target=other_run)  # the inner block let nothing go
        thread.start()
        thread.join(30)
    assert refused == ["deploy.busy", "deploy.busy"]
    other_run()
    assert refused[-1] == "not refused"
