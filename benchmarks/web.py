"""``certward web`` at the issue's scale: 1,000 servers with 20 certificates each.

Builds a throw-away store: the demo organisation (its EXCH01 IIS certificate serves the
console), then the servers and their certificates in bulk through the repository (real
X.509 certificates, self-signed under one EC key so that 20,000 take seconds, expiries
spread over two years so health has findings), an admin user and a reader API token. Starts
the service in its own process with the scheduler's health and auth runs every
``--every`` seconds (an hour of hourly runs compressed), waits for its first health run, and
prints the p50/p95 of:

- the console's certificates page of one server (``/servers/NAME``) and its findings page;
- ``/api/v1/certificates`` (when the API has it; else one server's certificates);
- ``/metrics`` with ``metrics_cache_seconds=0`` (no time-based cache; the service's
  default is 5 s): its run history part is computed again whenever the store changed,
  which every scheduled run does (the service does it right after each run), its
  certificates' family when the organisation changed.

The four are requested in turn, ``--requests`` times each, paced over one whole scheduler
interval so that requests meet a scheduled health run as they would in service; the
slowest five are printed with when they were made. Then the
resident memory of the service and of its health worker process over ``--rounds``
scheduled health runs (``--rounds 120 --every 30``: an hour of runs compressed). Prints
the load average with each figure; asserts nothing. Targets (issue 14): pages and API
under 300 ms p95, ``/metrics`` under 500 ms, memory flat.

    python benchmarks/web.py [--servers 1000] [--certs 20] [--requests 30] [--rounds 6]
        [--every 20] [--rss-every N] [--keep DIR | --store DIR/certward.db]

An hour of runs: ``--rounds 120 --every 30 --rss-every 10``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

SERVE = """
import datetime as dt, sys
from certward.compose import build_app
from certward.interfaces.server import WebSettings, serve
from certward.services.watch import Schedule

app = build_app(sys.argv[1])
every = dt.timedelta(seconds=float(sys.argv[2]))
app.watch.schedule = Schedule(health=every, auth=every)
settings = WebSettings(port=0, server="EXCH01", metrics_cache_seconds=0)
sys.exit(serve(app, settings, say=lambda line: print(line, flush=True)))
"""


def build(db: Path, servers: int, per_server: int) -> tuple[str, str]:
    """The store; (a reader token's secret, an admin's one-time login code)."""
    from certward.clock import SystemClock
    from certward.compose import build_app
    from certward.model import CertificateRecord, Role, Server, ServiceSet, StoreName
    from certward.model.access import AccessRole
    from certward.model.certificates import parse_thumbprint
    from certward.services.demo import build_demo

    app = build_app(str(db))
    try:
        build_demo(app.organisation, app.certificates, app.connectors, app.vdirs, SystemClock())
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        iis_smtp = ServiceSet.parse("IIS,SMTP")
        started = time.perf_counter()
        batch = 50
        for first in range(0, servers, batch):
            with app.store.transaction() as repo:
                for n in range(first, min(first + batch, servers)):
                    name = f"SRV{n:04d}"
                    repo.save_server(
                        Server(name, f"{name.lower()}.contoso.com", frozenset({Role.MAILBOX}))
                    )
                    for j in range(per_server):
                        cn = f"{name.lower()}-{j:02d}.contoso.com"
                        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
                        days = 1 + (n * per_server + j) * 7 % 800
                        cert = (
                            x509.CertificateBuilder()
                            .subject_name(subject)
                            .issuer_name(subject)
                            .public_key(key.public_key())
                            .serial_number(x509.random_serial_number())
                            .not_valid_before(now - dt.timedelta(days=30))
                            .not_valid_after(now + dt.timedelta(days=days))
                            .add_extension(
                                x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False
                            )
                            .sign(key, hashes.SHA256())
                        )
                        der = cert.public_bytes(Encoding.DER)
                        repo.add_certificate(
                            CertificateRecord(
                                server=name,
                                store=StoreName.MY,
                                thumbprint=parse_thumbprint(hashlib.sha1(der).hexdigest()),
                                der=der,
                                services=iis_smtp if j == 0 else ServiceSet(),
                                friendly_name=cn,
                                created_at=now,
                            )
                        )
        took = time.perf_counter() - started
        print(f"built {servers} servers x {per_server} certificates in {took:.1f} s")
        app.access.add_user("admin", AccessRole.ADMIN, os.urandom(16).hex())
        _, token = app.access.create_token(
            "benchmark", AccessRole.READER, expires_in=None, created_by="benchmark"
        )
        code = app.access.one_time_login("admin")
    finally:
        app.store.close()
    return token, code


def reuse(store: Path, db: Path) -> tuple[str, str]:
    """A copy of a store this script built before (``--store``, with its key file beside
    it); a new reader token and one-time login for it."""
    import shutil

    from certward.compose import build_app
    from certward.model.access import AccessRole

    for suffix in ("", "-wal"):
        if Path(f"{store}{suffix}").exists():
            shutil.copy2(f"{store}{suffix}", f"{db}{suffix}")
    shutil.copy2(store.parent / "certward.key", db.parent / "certward.key")
    app = build_app(str(db))
    try:
        _, token = app.access.create_token(
            f"benchmark-{os.urandom(4).hex()}",
            AccessRole.READER,
            expires_in=None,
            created_by="benchmark",
        )
        code = app.access.one_time_login("admin")
    finally:
        app.store.close()
    print(f"copied the store {store}")
    return token, code


def start(db: Path, every: float) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CERTWARD_MASTER_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(db), str(every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    assert process.stdout is not None
    fd, seen, deadline = process.stdout.fileno(), b"", time.monotonic() + 120
    while True:
        found = re.search(rb"certward web: (https://\S+) ", seen)
        if found:
            threading.Thread(target=drain, args=(fd,), daemon=True).start()
            return process, found.group(1).decode()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            process.kill()
            raise SystemExit(f"certward web did not start:\n{seen.decode()}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise SystemExit(f"certward web exited:\n{seen.decode()}")
        seen += chunk


def drain(fd: int) -> None:
    """Echo what the service says after it started (a full pipe would stop it)."""
    while chunk := os.read(fd, 65536):
        for line in chunk.decode(errors="replace").splitlines():
            print(f"  [service] {line}", flush=True)


def rss_kib(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) if found else 0


def children_rss_kib(pid: int) -> int:
    """The resident memory of ``pid``'s child processes (the service's health worker)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                total += rss_kib(int(entry.name))
        except (OSError, ValueError):  # gone meanwhile
            continue
    return total


def health_runs(client: httpx.Client) -> float | None:
    """When the last scheduled health run succeeded (from /metrics), or None."""
    text = client.get("/metrics").text
    found = re.search(
        r'certward_job_last_success_timestamp_seconds\{watch_job="health"\} (\S+)', text
    )
    return float(found.group(1)) if found else None


def wait_health_after(client: httpx.Client, after: float | None, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        when = health_runs(client)
        if when is not None and (after is None or when > after):
            return when
        if time.monotonic() > deadline:
            raise SystemExit("no scheduled health run finished in time")
        time.sleep(1)  # polling the service's own report, with a deadline


def timed(client: httpx.Client, path: str, requests: int) -> tuple[list[float], int | str]:
    """Milliseconds per request and the last status ("timeout": a request took longer than
    the client's timeout, and the path was given up)."""
    times: list[float] = []
    status: int | str = 0
    for _ in range(requests):
        began = time.perf_counter()
        try:
            response = client.get(path)
        except httpx.TimeoutException:
            times.append((time.perf_counter() - began) * 1000)
            return times, "timeout"
        times.append((time.perf_counter() - began) * 1000)
        status = response.status_code
    return times, status


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--certs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--every", type=float, default=20.0, help="health/auth interval, s")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, s")
    parser.add_argument(
        "--store",
        type=Path,
        help="a copy of this store (built by --keep of an earlier run) instead of building",
    )
    parser.add_argument("--keep", type=Path, help="copy the built store here (before serving)")
    parser.add_argument(
        "--rss-every", type=int, default=0, help="print RSS every N runs (0: about 12 lines)"
    )
    args = parser.parse_args()
    print(f"load average at start: {load()}  ({os.cpu_count()} CPUs)")

    with tempfile.TemporaryDirectory(prefix="certward-web-bench-") as tmp:
        db = Path(tmp) / "certward.db"
        os.environ["CERTWARD_DB"] = str(db)
        if args.store:
            token, code = reuse(args.store, db)
        else:
            token, code = build(db, args.servers, args.certs)
            if args.keep:
                import shutil

                args.keep.mkdir(parents=True, exist_ok=True)
                for name in ("certward.db", "certward.db-wal", "certward.key"):
                    if (db.parent / name).exists():
                        shutil.copy2(db.parent / name, args.keep / name)
        process, url = start(db, args.every)
        print(f"service: {url} (pid {process.pid}), RSS at start {rss_kib(process.pid)} KiB")
        try:
            with (
                httpx.Client(
                    base_url=url, verify=False, trust_env=False, timeout=args.timeout
                ) as console,
                httpx.Client(
                    base_url=url,
                    verify=False,
                    trust_env=False,
                    timeout=args.timeout,
                    headers={"authorization": f"Bearer {token}"},
                ) as api,
            ):
                began = time.monotonic()
                last = wait_health_after(api, None, timeout=1200)
                print(
                    f"first scheduled health run done {time.monotonic() - began:.1f} s after start"
                )
                login = console.get(f"/login/one-time?code={code}")
                print(f"one-time login: {login.status_code}")
                api_path = "/api/v1/certificates"
                one = f"SRV{args.servers // 2:04d}"
                if api.get(api_path + "?limit=1").status_code == 404:
                    api_path = f"/api/v1/servers/{one}/certificates"
                    print("(no /api/v1/certificates in the API: measuring one server's list)")
                measured = [
                    (f"console /servers/{one}", console, f"/servers/{one}"),
                    ("console /findings", console, "/findings"),
                    (f"API {api_path}", api, api_path),
                    ("/metrics (uncached)", api, "/metrics"),
                ]
                for _label, client, path in measured:
                    timed(client, path, 1)  # warm
                print(f"load average before the requests: {load()}")
                times: dict[str, list[float]] = {label: [] for label, _, _ in measured}
                statuses: dict[str, int | str] = {}
                slowest: list[tuple[float, float, str]] = []  # (ms, s into the requests, what)
                began = time.monotonic()
                pace = args.every / args.requests  # the requests span one scheduler interval
                for n in range(args.requests):
                    for label, client, path in measured:
                        if statuses.get(label) == "timeout":
                            continue
                        at = time.monotonic() - began
                        took, statuses[label] = timed(client, path, 1)
                        times[label] += took
                        slowest.append((max(took), at, label))
                    time.sleep(max(0.0, began + (n + 1) * pace - time.monotonic()))  # pacing
                print(f"\n{'request':44} {'status':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
                for label, _, _ in measured:
                    got = times[label]
                    print(
                        f"{label:44} {statuses[label]:>6} {statistics.median(got):9.1f} "
                        f"{percentile(got, 95):9.1f} {max(got):9.1f}"
                    )
                print(f"({args.requests} each over {time.monotonic() - began:.0f} s; load "
                      f"average after: {load()})")  # fmt: skip
                print("slowest: " + "; ".join(
                    f"{label} {ms:.0f} ms at {at:.1f} s" for ms, at, label in sorted(slowest)[-5:]
                ))  # fmt: skip
                size = len(api.get("/metrics").content)
                print(f"/metrics body: {size / 1024:.0f} KiB")
                print(f"\nRSS over {args.rounds} scheduled health runs (every {args.every:g} s):")
                shown = args.rss_every or max(1, args.rounds // 12)
                rounds_began = time.monotonic()
                rss: list[int] = []
                worker: list[int] = []  # its child processes: the health worker
                for round_ in range(1, args.rounds + 1):
                    last = wait_health_after(api, last, timeout=1200)
                    rss.append(rss_kib(process.pid))
                    worker.append(children_rss_kib(process.pid))
                    if round_ % shown == 0 or round_ == args.rounds:
                        print(
                            f"  after run {round_} ({time.monotonic() - rounds_began:.0f} s): "
                            f"web {rss[-1]} KiB, worker {worker[-1]} KiB  (load {load()})",
                            flush=True,
                        )
                for name, got in (("web", rss), ("worker", worker)):
                    if got:
                        print(
                            f"{name} RSS first {got[0]} KiB, min {min(got)}, max {max(got)}, "
                            f"last {got[-1]} KiB: growth {got[-1] - got[0]:+} KiB over "
                            f"{len(got)} runs"
                        )
        finally:
            process.terminate()
            process.wait(timeout=60)
            print(f"service stopped: exit status {process.returncode}")


if __name__ == "__main__":
    main()
