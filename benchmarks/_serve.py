"""Shared by the ``certward serve`` benchmarks: a throw-away organisation and its server."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

CERTWARD = [sys.executable, "-m", "certward.interfaces.cli"]


def certward(env: dict[str, str], *args: str) -> None:
    subprocess.run([*CERTWARD, *args], env=env, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def wait_ready(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + timeout
    while b": ready" not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SystemExit(f"certward serve did not start:\n{seen.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(f"certward serve exited:\n{seen.decode()}")
        seen += chunk


def bench_env(tmp: str) -> dict[str, str]:
    return {**os.environ, "CERTWARD_DB": str(Path(tmp) / "bench.db"),
            "CERTWARD_MASTER_KEY": "benchmark-only", "PYTHONUNBUFFERED": "1"}  # fmt: skip


def organisation(env: dict[str, str], tmp: str, port: int) -> None:
    """EXCH01 with only its Default Frontend connector, on 127.0.0.1:port; alice@contoso.com."""
    certward(env, "org", "init", "Bench")
    certward(env, "server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    certward(env, "connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}")
    for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
        certward(env, "connector", "remove", f"{name} EXCH01")
    certward(env, "domain", "add", "contoso.com")
    (Path(tmp) / "pw").write_text("x\n")
    certward(env, "mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
             "--password-file", str(Path(tmp) / "pw"))  # fmt: skip


def serve(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CERTWARD, "serve", "--server", "EXCH01", *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )  # fmt: skip
