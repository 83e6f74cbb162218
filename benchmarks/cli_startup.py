"""Start-up cost of the command line, as ratios against ``python -c pass`` in the same run.

Builds the demo organisation (``certward quickstart``) in a throw-away store, then times each
command several times as a fresh process and prints the median wall time, the median of
``python -c pass`` (the floor: an interpreter that does nothing) and their ratio, plus the
share of the command spent importing modules (``python -X importtime``). Prints figures;
asserts nothing.

    python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    ("--version", ["--version"]),
    ("server list", ["server", "list"]),
    ("cert list", ["cert", "list", "--server", "EXCH01"]),
    ("health", ["health"]),
]


def wall(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall seconds of ``argv`` as a fresh process (any exit status)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def import_seconds(args: list[str], env: dict[str, str]) -> float:
    """Seconds spent importing modules in one run of ``certward ARGS``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "certward", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    total = 0
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match and not match.group(2).startswith(" "):  # top-level imports only
            total += int(match.group(1))
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CERTWARD_DB": str(Path(tmp) / "certward.db"), "COLUMNS": "120"}
        env.pop("CERTWARD_MASTER_KEY", None)
        certward = [str(Path(sys.executable).parent / "certward")]
        subprocess.run([*certward, "quickstart"], env=env, capture_output=True, check=True)
        floor = wall([sys.executable, "-c", "pass"], env, options.runs)
        print(f"floor: python -c pass  {floor * 1000:7.0f} ms (median of {options.runs})")
        print(f"{'command':14} {'ms':>7} {'ratio':>7} {'imports ms':>11}")
        for name, args in COMMANDS:
            seconds = wall([*certward, *args], env, options.runs)
            imports = import_seconds(args, env)
            print(f"{name:14} {seconds * 1000:7.0f} {seconds / floor:6.1f}x {imports * 1000:11.0f}")


if __name__ == "__main__":
    main()
