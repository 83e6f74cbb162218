"""Shared by the ``certward serve`` benchmarks: a throw-away organisation and its server."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

CERTWARD = [sys.executable, "-m", "certward.interfaces.cli"]


def certward(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([*CERTWARD, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"certward {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """CPU of a process tree: each live process's own and its reaped children's."""
    ticks = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(root: int) -> float:
    kib = 0
    for pid in _tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib += int(line.split()[1])
    return kib / 1024


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
    """The environment of the benchmark's certward commands: their own store, and a random
    master key in the key file's format (a passphrase would cost each process a scrypt)."""
    return {**os.environ, "CERTWARD_DB": str(Path(tmp) / "bench.db"),
            "CERTWARD_MASTER_KEY": secrets.token_hex(32), "PYTHONUNBUFFERED": "1"}  # fmt: skip


def organisation(
    env: dict[str, str], tmp: str, port: int, *, pfx: Path | None = None, password: str = ""
) -> str | None:
    """EXCH01 with only its Default Frontend connector, on 127.0.0.1:port; alice@contoso.com.

    Built through the services in this process (not one command per step). With ``pfx``,
    its certificate is imported, enabled for SMTP and named by the connector; its
    thumbprint is returned."""
    from certward.compose import build_app
    from certward.model import Binding, Password, ServiceSet
    from certward.services.connectors import ConnectorSettings

    os.environ["CERTWARD_MASTER_KEY"] = env["CERTWARD_MASTER_KEY"]
    app = build_app(env["CERTWARD_DB"])
    app.organisation.init_organisation("Bench")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
        app.connectors.remove(f"{name} EXCH01")
    app.mail.add_domain("contoso.com")
    app.mail.add_mailbox("alice@contoso.com", server="EXCH01", password=Password(b"x"))
    thumbprint = None
    if pfx is not None:
        thumbprint = app.certificates.import_file(
            "EXCH01", pfx.read_bytes(), source=str(pfx), password=Password(password.encode())
        ).thumbprint
        app.certificates.enable(
            "EXCH01", thumbprint, ServiceSet.parse("SMTP"), replace_default_smtp=False
        )
    app.connectors.set(
        "Default Frontend EXCH01",
        ConnectorSettings(
            bindings=(Binding.parse(f"127.0.0.1:{port}"),), tls_certificate=thumbprint
        ),
    )
    app.store.close()
    return thumbprint


def serve(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CERTWARD, "serve", "--server", "EXCH01", *args], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )  # fmt: skip
