"""One endpoint, whole process: ``certward probe`` beside ``openssl s_client``.

Serves one STARTTLS SMTP endpoint on 127.0.0.1 (the small asyncio ESMTP server of
``probe_throughput.py``: RSA 2048, TLS 1.2 and 1.3), then runs, as fresh processes and
alternating so that the machine's load falls on both alike,

- ``certward probe smtp://127.0.0.1:PORT`` (STARTTLS: banner, EHLO, STARTTLS, the handshake,
  EHLO again, the certificate judged against Mozilla's roots, and the TLS versions accepted
  by two more connections), its report printed to a pipe, and
- ``openssl s_client -starttls smtp -connect 127.0.0.1:PORT`` (one connection: the
  handshake and the chain printed),

and prints hyperfine-style figures for each (median, mean ± standard deviation, min, max of
``--runs`` runs after one warm-up), ``python -c pass`` as the floor of any Python command,
the ratio of the medians (certward / openssl), the share of certward's time spent importing
(one more run with ``-X importtime``), and the load average before and after.
``--load`` starts a busy loop on one core for the measurement (a loaded machine). The
store is not read (no ``--exchange-view``); ``$CERTWARD_DB`` points into a temporary
directory and the script says whether anything was created there. Bytecode is cached (in a
temporary ``PYTHONPYCACHEPREFIX``) and warmed first, as an installed package has it: a
``PYTHONDONTWRITEBYTECODE`` environment would otherwise compile every certward module changed
since its last cached bytecode on every run. Prints figures; asserts nothing.

    python benchmarks/probe_single.py [--runs 15] [--load]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CERTWARD = [str(Path(sys.executable).parent / "certward")]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return time.perf_counter() - start


def describe(name: str, times: list[float]) -> str:
    mean = statistics.mean(times)
    spread = statistics.stdev(times) if len(times) > 1 else 0.0
    return (
        f"{name:16} median {statistics.median(times) * 1000:7.1f} ms   mean "
        f"{mean * 1000:7.1f} ± {spread * 1000:5.1f} ms   min {min(times) * 1000:7.1f}   max "
        f"{max(times) * 1000:7.1f}"
    )


def import_share(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One more run with ``-X importtime``: the milliseconds its imports took (the sum of the
    top-level imports' cumulative times) and the run's wall milliseconds (imports logged)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "certward", *argv[1:]], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, check=False,
    )  # fmt: skip
    wall = (time.perf_counter() - start) * 1000
    total = sum(
        int(line.split("|")[1]) / 1000
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
        and "cumulative" not in line
        and not line.split("|")[2].startswith("  ")  # a top-level import, not a nested one
    )
    return total, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--load", action="store_true", help="a busy loop on one core meanwhile")
    options = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is not installed")
    sys.path.insert(0, str(HERE))
    import probe_throughput

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "CERTWARD_DB": str(work / "store" / "none.db"),
            "COLUMNS": "120",
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
        }
        env.pop("CERTWARD_MASTER_KEY", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        (port,) = probe_throughput.free_ports(1)
        servers = probe_throughput.start_asyncio_target(work, [port], workers=1)
        busy = None
        try:
            commands = {
                "certward probe": [*CERTWARD, "probe", f"smtp://127.0.0.1:{port}"],
                "openssl s_client": [
                    openssl, "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
                ],
                "python -c pass": [sys.executable, "-c", "pass"],
            }  # fmt: skip
            for argv in commands.values():  # warm-up: page cache, .pyc files
                run_once(argv, env)
            if options.load:
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(0.5)
            before = load_average()
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(options.runs):
                for name, argv in commands.items():
                    times[name].append(run_once(argv, env))
            after = load_average()
            imports, logged = import_share(commands["certward probe"], env)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
        created = (
            sorted(str(p.relative_to(work)) for p in (work / "store").rglob("*"))
            if (work / "store").exists()
            else []
        )
    print(f"one STARTTLS SMTP endpoint on 127.0.0.1, {options.runs} runs each after a warm-up"
          + (", a busy loop on one core" if options.load else ""))  # fmt: skip
    print(f"load average before {before}, after {after} ({os.cpu_count()} cores)")
    for name, values in times.items():
        print(describe(name, values))
    ours = statistics.median(times["certward probe"])
    peer = statistics.median(times["openssl s_client"])
    floor = statistics.median(times["python -c pass"])
    print(f"certward probe / openssl s_client: {ours / peer:.1f}x (medians; target <= 10x)")
    print(f"certward probe / python -c pass:   {ours / floor:.1f}x")
    print(f"certward probe's imports (one more run, -X importtime): {imports:.0f} ms of its "
          f"{logged:.0f} ms ({imports / logged:.0%})")  # fmt: skip
    print(f"store files created by the probe: {', '.join(created) or 'none'}")


if __name__ == "__main__":
    main()
