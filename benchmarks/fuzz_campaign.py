"""A long fuzz campaign against certward's readers (issue 12, "bad input never crashes").

The readers, seeds and mutations are the test suite's (``tests/fuzz/harness.py``); the tests
run a bounded, derandomized sample of them, this runs them for as long as asked. Each input is
read in a worker process with a per-input timeout: a worker that does not answer in time is a
hang, killed and replaced. Per reader it prints the inputs tried, clean refusals (a coded
one-line error naming the file), successful parses, tracebacks (crashes and broken messages,
by distinct place) and hangs; the first input of each distinct crash or hang is saved, with
its traceback, to the crash directory. Exits 1 when anything crashed or hung.

    python benchmarks/fuzz_campaign.py --seconds 120 [--reader pfx] [--timeout 10]
        [--crash-dir fuzz-crashes] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz import harness


def _worker(conn: Connection) -> None:
    import warnings

    warnings.simplefilter("error")  # as the test suite runs: a printed warning is a defect
    while True:
        job = conn.recv()
        if job is None:
            return
        name, data = job
        try:
            outcome = harness.attempt(harness.READERS[name], data)
            conn.send((outcome, "", ""))
        except Exception as exc:  # a crash: where it happened, and the whole traceback
            where = traceback.extract_tb(exc.__traceback__)[-1]
            place = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
            if isinstance(exc, harness.ContractBroken):
                place = f"{type(exc).__name__}: {str(exc)[:60]}"
            conn.send(("traceback", place, "".join(traceback.format_exception(exc))))


class Runner:
    """One worker process, replaced when an input hangs it."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("fork")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.ctx.Pipe()
        self.process = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def run(self, name: str, data: bytes, timeout: float) -> tuple[str, str, str]:
        self.conn.send((name, data))
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()  # type: ignore[no-any-return]
            except EOFError:
                self._restart()
                return ("traceback", "worker died", "the worker process exited")
        self._restart()
        return ("hang", f"no answer in {timeout:g} s", "")

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=5)


@dataclass
class Tally:
    tried: int = 0
    refused: int = 0
    parsed: int = 0
    tracebacks: Counter[str] = field(default_factory=Counter)
    hangs: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0


def campaign(
    name: str,
    seeds: harness.Seeds,
    runner: Runner,
    *,
    seconds: float,
    timeout: float,
    rng: random.Random,
    crash_dir: Path,
) -> Tally:
    reader = harness.READERS[name]
    pool = seeds.of(reader.seed_kind)
    tally = Tally()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ops = [
            (
                rng.choice(harness.KINDS),
                rng.getrandbits(32),
                rng.getrandbits(32),
                rng.getrandbits(8),
            )
            for _ in range(rng.randint(1, 4))
        ]
        data = harness.mutate(rng.choice(pool), ops, pool)
        start = time.monotonic()
        outcome, place, text = runner.run(name, data, timeout)
        tally.slowest = max(tally.slowest, time.monotonic() - start)
        tally.tried += 1
        if outcome == "parsed":
            tally.parsed += 1
        elif outcome == "refused":
            tally.refused += 1
        else:
            counter = tally.hangs if outcome == "hang" else tally.tracebacks
            if not counter[place]:
                _save(crash_dir, name, place, data, ops, text)
            counter[place] += 1
    return tally


def _save(crash_dir: Path, name: str, place: str, data: bytes, ops: object, text: str) -> None:
    crash_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{hashlib.sha1(place.encode(), usedforsecurity=False).hexdigest()[:10]}"
    (crash_dir / f"{stem}.bin").write_bytes(data)
    (crash_dir / f"{stem}.txt").write_text(f"{place}\nops: {ops}\n\n{text}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="per reader")
    parser.add_argument("--reader", action="append", choices=sorted(harness.READERS))
    parser.add_argument("--timeout", type=float, default=10, help="per input (a hang)")
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    names = args.reader or list(harness.READERS)
    seeds = harness.make_seeds()
    rng = random.Random(args.seed)
    runner = Runner()
    failed = False
    print(
        f"{'reader':<12}{'tried':>9}{'refused':>9}{'parsed':>9}{'tracebacks':>12}{'hangs':>7}"
        f"{'slowest s':>11}"
    )
    try:
        for name in names:
            tally = campaign(
                name,
                seeds,
                runner,
                seconds=args.seconds,
                timeout=args.timeout,
                rng=rng,
                crash_dir=args.crash_dir,
            )
            crashes, hangs = sum(tally.tracebacks.values()), sum(tally.hangs.values())
            print(
                f"{name:<12}{tally.tried:>9}{tally.refused:>9}{tally.parsed:>9}{crashes:>12}"
                f"{hangs:>7}{tally.slowest:>11.2f}",
                flush=True,
            )
            for place, count in [*tally.tracebacks.most_common(), *tally.hangs.most_common()]:
                print(f"    {count:>6}  {place}")
            failed |= bool(crashes or hangs)
    finally:
        runner.close()
    if failed:
        print(f"first inputs of each crash and hang saved in {args.crash_dir}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
