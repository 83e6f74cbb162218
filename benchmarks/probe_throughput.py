"""Endpoints per second and peak memory: certward probe beside sslyze and testssl.sh.

Starts N STARTTLS SMTP endpoints on 127.0.0.1 (one ``certward serve`` with N receive
connectors), then probes them all with certward (``--concurrency``), with sslyze
(``--starttls smtp --certinfo``, installed into its own virtual environment by this script)
and with testssl.sh (Debian package; slow, so a sample of endpoints, scaled). Prints the
figures and the ratios; asserts nothing.

    python benchmarks/probe_throughput.py [--endpoints 200] [--testssl-sample 4]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def build_endpoints(db: Path, ports: list[int]) -> None:
    os.environ["CERTWARD_DB"] = str(db)
    from certward.compose import build_app
    from certward.model import Binding, ConnectorKind
    from certward.services.connectors import ConnectorSettings

    app = build_app(None)
    app.lifecycle.init_organisation("Bench")
    app.lifecycle.add_server("EXCH01", fqdn="exch01.contoso.com")
    for connector in app.connectors.list():
        app.connectors.remove(connector.connector.identity)
    for i, port in enumerate(ports):
        app.connectors.add(
            ConnectorKind.RECEIVE, f"Bench {i}", ["EXCH01"],
            ConnectorSettings(bindings=(Binding("127.0.0.1", port),)),
        )  # fmt: skip


def timed(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) of that process (and what it waited for), exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode


def sslyze_command(work: Path) -> list[str]:
    venv = work / "sslyze-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sslyze"], check=True)
    return [str(venv / "bin" / "sslyze")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--testssl-sample", type=int, default=4)
    parser.add_argument("--skip-sslyze", action="store_true")
    options = parser.parse_args()
    certward = [sys.executable, "-m", "certward.interfaces.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["CERTWARD_MASTER_KEY"] = "benchmark-only"
        ports = free_ports(options.endpoints)
        build_endpoints(work / "bench.db", ports)
        server = subprocess.Popen(
            [*certward, "serve", "--server", "EXCH01"], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=0, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert server.stdout is not None
            seen = b""
            while b": ready" not in seen:
                assert select.select([server.stdout], [], [], 120)[0], seen[-500:]
                chunk = os.read(server.stdout.fileno(), 65536)
                assert chunk, seen[-500:]
                seen += chunk
            targets = [f"smtp://127.0.0.1:{p}" for p in ports]
            rows = []
            seconds, peak, _ = timed(
                [*certward, "probe", *targets, "--json", "--timeout", "30",
                 "--concurrency", str(options.concurrency)]
            )  # fmt: skip
            rows.append(("certward probe", options.endpoints, seconds, peak))
            if not options.skip_sslyze:
                sslyze = sslyze_command(work)
                hosts = [f"127.0.0.1:{p}" for p in ports]
                seconds, peak, _ = timed([*sslyze, "--starttls", "smtp", "--certinfo", *hosts])
                rows.append(("sslyze --certinfo", options.endpoints, seconds, peak))
            testssl = shutil.which("testssl.sh") or shutil.which("testssl")
            if testssl and options.testssl_sample:
                sample = ports[: options.testssl_sample]
                start = time.perf_counter()
                peak = 0.0
                for port in sample:
                    _, p, _ = timed([testssl, "--quiet", "--starttls", "smtp", "-S",
                                     f"127.0.0.1:{port}"])  # fmt: skip
                    peak = max(peak, p)
                rows.append(("testssl.sh -S", len(sample), time.perf_counter() - start, peak))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
    print(f"{'tool':20} {'endpoints':>9} {'seconds':>8} {'endpoints/s':>12} {'peak MiB':>9}")
    rates = {}
    for name, count, seconds, peak in rows:
        rates[name] = count / seconds
        print(f"{name:20} {count:>9} {seconds:>8.1f} {rates[name]:>12.2f} {peak:>9.1f}")
    ours = rates["certward probe"]
    for name, rate in rates.items():
        if name != "certward probe":
            print(f"certward / {name}: {ours / rate:.1f}x")


if __name__ == "__main__":
    main()
