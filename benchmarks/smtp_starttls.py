"""STARTTLS sessions per second and peak memory of ``certward serve``.

Builds a throw-away organisation, serves EXCH01's Default Frontend connector on 127.0.0.1,
and runs a fixed number of SMTP sessions (EHLO, STARTTLS, MAIL, RCPT, DATA, QUIT) from
concurrent clients. Prints figures; asserts nothing about speed.

    python benchmarks/smtp_starttls.py [--sessions 400] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import signal
import smtplib
import ssl
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from _serve import bench_env, free_port, organisation, peak_rss_kib, serve, wait_ready


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
        env = bench_env(tmp)
        port = free_port()
        organisation(env, tmp, port)
        server = serve(env)
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
