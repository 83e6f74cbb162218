"""``certward serve`` under hostile clients: figures as ratios against the same run's baseline.

Builds a throw-away organisation, serves EXCH01's Default Frontend connector and IMAPS on
127.0.0.1, and measures:

* SMTP greeting and STARTTLS-session latency (p50/p90), idle and while 8 clients guess
  IMAP passwords as fast as they are answered (each attempt from a new loopback source
  address and for a new user, so that neither lockout applies: the worst case for the
  event loop);
* a burst of sessions from many concurrent clients (EHLO, STARTTLS, QUIT; each client its
  own source address): completed / timed out;
* the server's CPU while idle (the configuration poll).

Prints figures; asserts nothing about speed.

    python benchmarks/endpoint_hostile.py [--burst 1000] [--concurrency 200] [--idle 10]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import signal
import smtplib
import socket
import ssl
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from _serve import bench_env, cpu_seconds, free_port, organisation, serve, wait_ready

_sources = (
    f"127.{a}.{b}.{c}" for a, b, c in itertools.product(range(2, 250), range(250), range(1, 250))
)
_lock = threading.Lock()


def source() -> str:
    with _lock:
        return next(_sources)


@functools.cache
def tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def greeting(port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), 30, source_address=(source(), 0)) as s:
        s.recv(1024)
    return time.perf_counter() - start


def starttls_session(port: int, timeout: float = 30) -> float:
    start = time.perf_counter()
    with smtplib.SMTP(
        "127.0.0.1", port, timeout=timeout, local_hostname="bench.example",
        source_address=(source(), 0),
    ) as smtp:  # fmt: skip
        smtp.starttls(context=tls())
        smtp.ehlo("bench.example")
    return time.perf_counter() - start


def guess(port: int, n: int) -> None:
    raw = socket.create_connection(("127.0.0.1", port), 30, source_address=(source(), 0))
    with tls().wrap_socket(raw) as sock:
        sock.recv(1024)
        sock.sendall(f"a LOGIN guess{n}@contoso.com password{n}\r\n".encode())
        while b"a " not in sock.recv(1024):
            pass


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=10)
    return statistics.median(samples), cuts[8]


def latency(port: int, samples: int) -> dict[str, tuple[float, float]]:
    return {
        "greeting": percentiles([greeting(port) for _ in range(samples)]),
        "STARTTLS session": percentiles([starttls_session(port) for _ in range(samples)]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=1000, help="sessions in the burst")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = bench_env(tmp)
        port, imaps = free_port(), free_port()
        organisation(env, tmp, port)
        server = serve(env, "--imaps-port", str(imaps))
        try:
            wait_ready(server)
            starttls_session(port)  # warm-up
            cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
            time.sleep(options.idle)  # measuring idle CPU, not synchronising
            idle_cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - wall0)

            idle = latency(port, options.samples)
            stop, counter, answered = threading.Event(), itertools.count(), itertools.count()

            def guesser() -> None:
                while not stop.is_set():
                    guess(imaps, next(counter))
                    next(answered)

            threads = [threading.Thread(target=guesser) for _ in range(8)]
            for thread in threads:
                thread.start()
            try:
                deadline = time.monotonic() + 60
                while next(answered) < 24 and time.monotonic() < deadline:
                    greeting(port)  # until the guessers are in full swing
                guesses0, attack0 = next(answered), time.monotonic()
                attacked = latency(port, options.samples)
                guess_rate = (next(answered) - guesses0) / (time.monotonic() - attack0)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()

            def burst_one(_: int) -> bool:
                try:
                    starttls_session(port, timeout=10)
                except (OSError, smtplib.SMTPException):
                    return False
                return True

            start = time.perf_counter()
            with ThreadPoolExecutor(options.concurrency) as pool:
                outcomes = list(pool.map(burst_one, range(options.burst)))
            burst_seconds = time.perf_counter() - start
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    for what in idle:
        (i50, i90), (a50, a90) = idle[what], attacked[what]
        print(f"{what:17} p50/p90 idle:                 {i50 * 1000:7.1f} / {i90 * 1000:7.1f} ms")
        print(f"{what:17} p50/p90 under 8 IMAP guessers: {a50 * 1000:7.1f} / {a90 * 1000:7.1f} ms"
              f"  (x{a50 / i50:.1f} / x{a90 / i90:.1f})")  # fmt: skip
    print(f"IMAP guesses answered meanwhile:  {guess_rate:.1f}/s")
    done = sum(outcomes)
    print(f"burst of {options.burst} STARTTLS sessions, {options.concurrency} concurrent: "
          f"{done} completed, {options.burst - done} failed or timed out (10 s), "
          f"{burst_seconds:.1f} s")  # fmt: skip
    print(f"idle CPU of certward serve:       {idle_cpu * 100:.1f} % of a core (all workers)")


if __name__ == "__main__":
    main()
