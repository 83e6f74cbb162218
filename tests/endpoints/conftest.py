"""Run ``certward serve`` as a real process and wait for its listeners (no sleeping)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from certward.compose import App, build_app
from certward.model import Binding
from certward.services.connectors import ConnectorSettings
from tests.conftest import OpenSslCa, openssl

READY_TIMEOUT = 60.0


def certward_command() -> list[str]:
    found = shutil.which("certward", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("the certward console script is not installed (pip install -e .)")
    return [found]


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    listening: dict[str, int] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    _pending: bytes = b""

    def mark(self) -> int:
        """A position in the output: ``wait_for(..., after=mark)`` ignores earlier lines."""
        return len(self.output)

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT, *, after: int = 0) -> str:
        """Read the server's output until a line matches; fail with what it printed.

        Reads the pipe's file descriptor directly: a buffered reader could hold a line that
        ``select`` no longer sees.
        """
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        checked = after
        while True:
            for line in self.output[checked:]:
                if regex.search(line):
                    return line
            checked = len(self.output)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._pending += chunk
            *lines, self._pending = self._pending.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                self.output.append(line)
                found = re.search(r"SMTP (.+) listening on [\d.]+:(\d+)", line)
                if found:
                    self.listening[found.group(1)] = int(found.group(2))
        printed = "\n".join(self.output)
        raise AssertionError(f"certward serve never printed {pattern!r}:\n{printed}")


@contextmanager
def serving(server: str, db: Path, *extra: str) -> Iterator[Served]:
    """``certward serve`` in one worker process, unless ``extra`` says ``--workers``."""
    env = {**os.environ, "CERTWARD_DB": str(db), "PYTHONUNBUFFERED": "1"}
    workers = [] if "--workers" in extra else ["--workers", "1"]
    process = subprocess.Popen(
        [*certward_command(), "serve", "--server", server, *workers, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        env=env,
    )
    served = Served(process)
    try:
        served.wait_for(r": ready$")
        yield served
    except BaseException:
        _stop(process)
        _close(process)
        raise
    _stop(process)
    try:
        # SIGINT stops the server cleanly: exit status 0 and its last word.
        assert process.returncode == 0, f"serve exited {process.returncode}: {served.output}"
        served.wait_for(r": stopped$", timeout=5)
    finally:
        _close(process)


def _close(process: subprocess.Popen[bytes]) -> None:
    if process.stdout is not None:
        process.stdout.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_certward(
    db: Path, *args: str, ok: bool = True, check_status: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a certward command in its own process (commands that run the Twisted reactor
    cannot share the test process: a reactor does not restart)."""
    env = {**os.environ, "CERTWARD_DB": str(db)}
    done = subprocess.run(
        [*certward_command(), *args], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    if not check_status:
        return done
    if ok and done.returncode != 0:
        raise AssertionError(f"certward {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    if not ok and done.returncode == 0:
        raise AssertionError(f"certward {' '.join(args)} succeeded:\n{done.stdout}")
    return done


# -- organisations built through the services (no command per step) -------------------------
@contextmanager
def store_app(db: Path) -> Iterator[App]:
    """The services over the store ``db`` (its key file beside it), closed afterwards."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_DB", str(db))
        env.delenv("CERTWARD_MASTER_KEY", raising=False)
        app = build_app(str(db))
        try:
            yield app
        finally:
            app.store.close()


def copy_store(source: Path, db: Path) -> Path:
    """Copy the store of the database file ``source`` (with its WAL and key) to ``db``."""
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        if source.with_name(source.name + suffix).exists():
            shutil.copy2(source.with_name(source.name + suffix), db.with_name(db.name + suffix))
    key = source.with_name("certward.key")
    if key.exists():
        shutil.copy2(key, db.with_name("certward.key"))
    return db


def issue(app: App, ca: OpenSslCa, server: str, subject: str, *domains: str, name: str) -> str:
    """A certificate for ``server`` requested in the store and signed by ``ca``, imported
    (completing the request); its thumbprint."""
    csr: list[bytes] = []
    app.certificates.request_certificate(server, subject=subject, domains=domains, sink=csr.append)
    request = ca.directory / f"{name}.csr"
    request.write_bytes(csr[0])
    reply = ca.p7b(ca.sign(request, name=name), name=name)
    return app.certificates.import_file(server, reply.read_bytes(), source=str(reply)).thumbprint


def bind(app: App, connector: str, port: int, **settings: Any) -> None:
    app.connectors.set(
        connector,
        ConnectorSettings(bindings=(Binding.parse(f"127.0.0.1:{port}"),), **settings),
    )


def make_ca(directory: Path) -> OpenSslCa:
    """A root and an intermediate CA made with the openssl command (as tests/conftest's
    ``openssl_ca``, for fixtures shared by a module)."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, root = directory / "root.key", directory / "root.pem"
    int_key, int_csr = directory / "int.key", directory / "int.csr"
    intermediate, ext = directory / "int.pem", directory / "int.ext"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(root_key),
            "-subj", "/C=US/O=Bar Test/CN=Bar Test Root CA", "-days", "3650", "-sha256",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(root))  # fmt: skip
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(int_key),
            "-subj", "/C=US/O=Bar Test/CN=Bar Test Issuing CA", "-out", str(int_csr))  # fmt: skip
    ext.write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", str(int_csr), "-CA", str(root), "-CAkey", str(root_key),
            "-CAcreateserial", "-days", "1825", "-sha256", "-extfile", str(ext),
            "-out", str(intermediate))  # fmt: skip
    return OpenSslCa(directory, root, intermediate, int_key)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``condition`` until it returns something true (its value), with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so after {timeout} s")
        time.sleep(0.05)  # polling a condition, with a deadline
