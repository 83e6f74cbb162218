"""Start-up cost of the command line, as ratios against a floor measured in the same run.

The floor (issue 16) is ``python -c 'import cryptography.x509'``: an interpreter that loads
the X.509 library every certward command needs. Builds the demo organisation
(``certward quickstart``) in a throw-away store, then times each command several times as a
fresh process, alternating with the floor, and prints the median wall times, their ratio
and the target (``--help``/``--version`` 2x, read commands 3x), the share of the command
spent importing modules (``python -X importtime``, top-level imports) and the load average
before and after. Bytecode is cached and warmed first, as an installed package has it (a
``PYTHONDONTWRITEBYTECODE`` environment would otherwise compile certward on every start).
``health`` judges the demo organisation, which is healthy (a monitor's usual run: one
summary line, printed without rich); ``health 2040`` judges it as of 2040, when every
certificate has expired, and prints the findings as tables (exit status 2). Prints figures;
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

FLOOR = [sys.executable, "-c", "import cryptography.x509"]

COMMANDS: list[tuple[str, list[str], float]] = [  # name, arguments, target ratio
    ("--help", ["--help"], 2.0),
    ("--version", ["--version"], 2.0),
    ("server list", ["server", "list"], 3.0),
    ("cert list", ["cert", "list", "--server", "EXCH01"], 3.0),
    ("health", ["health"], 3.0),
    ("health 2040", ["health", "--as-of", "2040-01-01"], 3.0),
]


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


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


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CERTWARD_DB": str(Path(tmp) / "certward.db"),
            "COLUMNS": "120",
            "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"),
        }
        env.pop("CERTWARD_MASTER_KEY", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        certward = [str(Path(sys.executable).parent / "certward")]
        subprocess.run([*certward, "quickstart"], env=env, capture_output=True, check=True)
        for _name, args, _target in COMMANDS:  # warm the bytecode cache
            once([*certward, *args], env)
        once(FLOOR, env)
        print(
            f"{'command':12} {'ms':>6} {'floor ms':>9} {'ratio':>6} {'target':>6} "
            f"{'imports ms':>11}"
        )
        for name, args, target in COMMANDS:
            ours: list[float] = []
            floor: list[float] = []
            for _ in range(options.runs):  # alternating: both see the same load
                floor.append(once(FLOOR, env))
                ours.append(once([*certward, *args], env))
            seconds, base = statistics.median(ours), statistics.median(floor)
            imports = import_seconds(args, env)
            print(
                f"{name:12} {seconds * 1000:6.0f} {base * 1000:9.0f} {seconds / base:5.1f}x "
                f"{target:5.0f}x {imports * 1000:11.0f}",
                flush=True,
            )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
