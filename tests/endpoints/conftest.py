"""Run ``certward serve`` as a real process and wait for its listeners (no sleeping)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    env = {**os.environ, "CERTWARD_DB": str(db), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*certward_command(), "serve", "--server", server, *extra],
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
