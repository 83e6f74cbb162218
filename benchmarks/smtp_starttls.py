"""STARTTLS sessions per second and peak memory of ``certward serve``.

Builds a throw-away organisation, serves EXCH01's Default Frontend connector on 127.0.0.1,
and runs a fixed number of SMTP sessions (EHLO, STARTTLS, MAIL, RCPT, DATA, QUIT) from
concurrent clients. Prints figures; asserts nothing about speed.

    python benchmarks/smtp_starttls.py [--sessions 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import re
import select
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def session(port: int, context: ssl.SSLContext, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("bench.example")
        smtp.starttls(context=context)
        smtp.sendmail("bench@example.com", ["alice@contoso.com"], f"Subject: {n}\r\n\r\nx\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CERTWARD_DB": str(Path(tmp) / "bench.db"),
               "CERTWARD_MASTER_KEY": "benchmark-only", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        port = free_port()
        certward(env, "org", "init", "Bench")
        certward(env, "server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
        certward(env, "connector", "set", "Default Frontend EXCH01", "--bind", f"127.0.0.1:{port}")
        for name in ("Client Frontend", "Outbound Proxy Frontend", "Default", "Client Proxy"):
            certward(env, "connector", "remove", f"{name} EXCH01")
        certward(env, "domain", "add", "contoso.com")
        (Path(tmp) / "pw").write_text("x\n")
        certward(env, "mailbox", "add", "alice@contoso.com", "--server", "EXCH01",
                 "--password-file", str(Path(tmp) / "pw"))  # fmt: skip
        server = subprocess.Popen(
            [*CERTWARD, "serve", "--server", "EXCH01"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
        )  # fmt: skip
        try:
            wait_ready(server)
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            session(port, context, -1)  # warm-up
            start = time.perf_counter()
            with ThreadPoolExecutor(options.concurrency) as pool:
                list(pool.map(lambda n: session(port, context, n), range(options.sessions)))
            elapsed = time.perf_counter() - start
            peak = peak_rss_kib(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    print(f"sessions:            {options.sessions} ({options.concurrency} concurrent clients)")
    print(f"elapsed:             {elapsed:.2f} s")
    print(f"STARTTLS sessions/s: {options.sessions / elapsed:.1f}")
    print(f"server peak RSS:     {peak / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
