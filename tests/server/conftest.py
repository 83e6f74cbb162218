"""``certward web`` run for real: a process on a free port of 127.0.0.1, HTTPS with the
store's IIS certificate, read over real TLS."""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

READY_TIMEOUT = 60.0


def certward_command() -> list[str]:
    return [sys.executable, "-m", "certward"]


@dataclass
class WebProcess:
    process: subprocess.Popen[bytes]
    db: Path
    output: list[str] = field(default_factory=list)
    url: str = ""
    _pending: bytes = b""

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        """Read the output until a line matches ``pattern``; fail with what was printed."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        checked = 0
        while True:
            for line in self.output[checked:]:
                found = regex.search(line)
                if found:
                    return found
            checked = len(self.output)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._pending += chunk
            *lines, self._pending = self._pending.split(b"\n")
            self.output += [raw.decode(errors="replace") for raw in lines]
        printed = "\n".join(self.output)
        raise AssertionError(f"certward web never printed {pattern!r}:\n{printed}")

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=False, trust_env=False, timeout=30, **options)  # type: ignore[arg-type]

    def presented_thumbprint(self) -> str:
        """The SHA-1 thumbprint of the certificate a fresh TLS handshake presents."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha1(der).hexdigest().upper()

    def close(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_web(db: Path, *args: str) -> WebProcess:
    env = {**os.environ, "CERTWARD_DB": str(db), "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
    env.pop("CERTWARD_MASTER_KEY", None)
    process = subprocess.Popen(
        [*certward_command(), "web", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,
        env=env,
    )
    web = WebProcess(process, db)
    try:
        web.url = web.wait_for(r"^certward web: (https://127\.0\.0\.1:\d+/) ").group(1)
    except BaseException:
        web.stop(signal.SIGKILL)
        web.close()
        raise
    return web


@pytest.fixture(scope="session")
def demo_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """One ``certward web --demo`` for the session's server tests (its store built on first run)."""
    db = tmp_path_factory.mktemp("web") / "certward.db"
    web = start_web(db, "--demo")
    try:
        yield web
    finally:
        web.stop()
        web.close()
