"""Endpoints per second and peak memory: certward probe beside sslyze and testssl.sh.

Starts N STARTTLS SMTP endpoints on 127.0.0.1, then probes them all with certward
(``--concurrency``), with sslyze (``--starttls smtp --certinfo``, installed into its own
virtual environment by this script) and with testssl.sh (Debian package; slow, so a sample
of endpoints, scaled). Prints the figures, the CPU seconds the server spent on each tool, and
the ratios; asserts nothing.

The endpoints (``--target``):

- ``asyncio`` (default): a small SMTP server on the standard library (asyncio streams, the
  ``ssl`` module; RSA 2048 certificate; TLS 1.2 and 1.3, as certward's own endpoints),
  one process per core bound to every port with SO_REUSEPORT. It speaks real ESMTP —
  banner, EHLO with STARTTLS, STARTTLS, EHLO again, MAIL, RCPT, RSET, NOOP, QUIT — and
  costs little, so the figures measure the probers rather than the server they share the
  cores with.
- ``certward``: one ``certward serve`` with N receive connectors (Twisted and pyOpenSSL in
  one process); it costs more per connection than the probers, so it bounds them all.

certward and sslyze run ``--runs`` times each, alternating (the median run is printed, and
each run's rate); the load average is printed before and after each run, and ``--load``
keeps a busy loop on one core for the whole measurement (a loaded machine). certward runs
as ``certward probe`` does by default: no store is read (no ``--exchange-view``).

    python benchmarks/probe_throughput.py [--endpoints 200] [--testssl-sample 4] [--runs 3]
        [--target asyncio|certward] [--load] [--sslyze-venv DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import select
import shutil
import signal
import socket
import ssl
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
    app.organisation.init_organisation("Bench")
    app.organisation.add_server("EXCH01", fqdn="exch01.contoso.com")
    for connector in app.connectors.list():
        app.connectors.remove(connector.connector.identity)
    for i, port in enumerate(ports):
        app.connectors.add(
            ConnectorKind.RECEIVE, f"Bench {i}", ["EXCH01"],
            ConnectorSettings(bindings=(Binding("127.0.0.1", port),)),
        )  # fmt: skip


def timed(command: list[str], output: Path | None = None) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MiB) of that process (and what it waited for), exit status,
    and the CPU seconds (user and system) it used."""
    start = time.perf_counter()
    with open(output or os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode, cpu


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def certward_summary(output: Path) -> str:
    """What certward found: the run only counts when every endpoint was fully probed."""
    import json

    targets = json.loads(output.read_bytes())["targets"]
    negotiated = sum(1 for t in targets if t["tls"]["negotiated_version"])
    served = {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    versions = sum(1 for t in targets if t["tls"]["versions"] == served)
    judged = ("certificate OK", "secure")  # the endpoints' certificates are self-signed
    failed = sum(
        1 for t in targets if not all(s["ok"] for s in t["stages"] if s["name"] not in judged)
    )
    return (
        f"certward: {len(targets)} endpoints, {negotiated} negotiated TLS, {versions} with "
        f"TLS 1.2 and 1.3 found accepted and 1.0 and 1.1 refused (as served), {failed} with a "
        "failed dialogue stage"
    )


def sslyze_command(venv: Path) -> list[str]:
    if not (venv / "bin" / "sslyze").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sslyze"], check=True)
    return [str(venv / "bin" / "sslyze")]


# -- the asyncio target ------------------------------------------------------------------------
HOST_NAME = "exch01.contoso.com"
EHLO_PLAIN = (
    f"250-{HOST_NAME} Hello\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
    "250-STARTTLS\r\n250 SMTPUTF8\r\n"
).encode()
EHLO_TLS = EHLO_PLAIN.replace(b"250-STARTTLS\r\n", b"")


def write_certificate(work: Path) -> tuple[Path, Path]:
    """A self-signed RSA 2048 certificate for the endpoints, as Exchange makes one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST_NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = work / "endpoint.pem", work / "endpoint.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    return cert_path, key_path


async def smtp_session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, context: ssl.SSLContext
) -> None:
    secure = False
    writer.write(f"220 {HOST_NAME} Microsoft ESMTP MAIL Service ready\r\n".encode())
    try:
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), 30)
            verb = line[:8].strip().upper()
            if verb.startswith((b"EHLO", b"HELO")):
                writer.write(EHLO_TLS if secure else EHLO_PLAIN)
            elif verb == b"STARTTLS" and not secure:
                writer.write(b"220 2.0.0 SMTP server ready\r\n")
                await writer.drain()
                await writer.start_tls(context, ssl_handshake_timeout=30)
                secure = True
            elif verb.startswith((b"MAIL", b"RCPT", b"RSET", b"NOOP")):
                writer.write(b"250 2.1.0 OK\r\n")
            elif verb.startswith(b"QUIT"):
                writer.write(b"221 2.0.0 Service closing transmission channel\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"500 5.3.3 Unrecognized command\r\n")
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            TimeoutError):  # fmt: skip
        pass  # probers hang up mid-handshake on purpose
    finally:
        writer.transport.abort()


async def serve_worker(ports: list[int], cert: Path, key: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, _context: None)  # aborted handshakes are normal
    logging.getLogger("asyncio").setLevel(logging.ERROR)  # and so is EOF right after STARTTLS

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await smtp_session(reader, writer, context)

    for port in ports:
        await asyncio.start_server(handle, "127.0.0.1", port, reuse_port=True, backlog=1024)
    print("ready", flush=True)
    await asyncio.Event().wait()


def start_asyncio_target(
    work: Path, ports: list[int], workers: int
) -> list[subprocess.Popen[bytes]]:
    cert, key = write_certificate(work)
    ports_file = work / "ports.txt"
    ports_file.write_text(" ".join(map(str, ports)))
    command = [sys.executable, __file__, "--serve-worker", str(ports_file), str(cert), str(key)]
    servers = [subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0) for _ in range(workers)]
    for server in servers:
        wait_for_line(server, b"ready")
    return servers


def start_certward_target(work: Path, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    # In a process of its own: the store's imports would otherwise count in every tool's
    # peak RSS (a child starts with its parent's).
    ports_file = work / "ports.txt"
    ports_file.write_text(" ".join(map(str, ports)))
    subprocess.run([sys.executable, __file__, "--build-endpoints", str(work / "bench.db"),
                    str(ports_file)], check=True)  # fmt: skip
    os.environ["CERTWARD_DB"] = str(work / "bench.db")
    # One prober holds up to --concurrency connections from 127.0.0.1 at once, and a closed
    # one is counted until the server has seen it go: the per-source limit is lifted.
    server = subprocess.Popen(
        [*CERTWARD, "serve", "--server", "EXCH01", "--max-connections-per-source", "10000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    wait_for_line(server, b": ready")
    return [server]


def wait_for_line(server: subprocess.Popen[bytes], marker: bytes) -> None:
    assert server.stdout is not None
    seen = b""
    while marker not in seen:
        assert select.select([server.stdout], [], [], 120)[0], seen[-500:]
        chunk = os.read(server.stdout.fileno(), 65536)
        assert chunk, seen[-500:]
        seen += chunk


def cpu_seconds(servers: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds of the servers and every process below them (certward serve's workers)."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, CPU seconds)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            stats[int(entry.name)] = (int(fields[1]), cpu)
    tree = {server.pid for server in servers}
    grown = True
    while grown:
        below = {pid for pid, (parent, _) in stats.items() if parent in tree}
        grown = not below <= tree
        tree |= below
    return sum(stats[pid][1] for pid in tree if pid in stats)


CERTWARD = [sys.executable, "-m", "certward.interfaces.cli"]


def main() -> None:
    if sys.argv[1:2] == ["--build-endpoints"]:
        db, ports_file = sys.argv[2:4]
        build_endpoints(Path(db), [int(p) for p in Path(ports_file).read_text().split()])
        return
    if sys.argv[1:2] == ["--serve-worker"]:
        ports_file, cert, key = sys.argv[2:5]
        ports = [int(p) for p in Path(ports_file).read_text().split()]
        asyncio.run(serve_worker(ports, Path(cert), Path(key)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--testssl-sample", type=int, default=4)
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--target", choices=("asyncio", "certward"), default="asyncio")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1,
        help="asyncio target: server processes (default: one per core)",
    )  # fmt: skip
    parser.add_argument("--sslyze-venv", type=Path, help="reuse (or make) sslyze's venv here")
    parser.add_argument("--runs", type=int, default=1, help="runs of each prober (median)")
    parser.add_argument("--load", action="store_true", help="a busy loop on one core meanwhile")
    options = parser.parse_args()
    # name -> runs of (endpoints, wall s, peak MiB, server CPU s, client CPU s, load before/after)
    runs: dict[str, list[tuple[int, float, float, float, float, str]]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["CERTWARD_MASTER_KEY"] = "benchmark-only"
        os.environ["CERTWARD_DB"] = str(work / "none.db")  # no store is read or made
        # (the certward target's store, but the prober does not read it: no --exchange-view)
        ports = free_ports(options.endpoints)
        if options.target == "asyncio":
            servers = start_asyncio_target(work, ports, options.workers)
        else:
            servers = start_certward_target(work, ports)
        busy = None

        def measure(name: str, count: int, command: list[str], output: Path | None = None) -> None:
            before, load = cpu_seconds(servers), load_average()
            seconds, peak, _, cpu = timed(command, output)
            row = (count, seconds, peak, cpu_seconds(servers) - before, cpu,
                   f"{load} / {load_average()}")  # fmt: skip
            runs.setdefault(name, []).append(row)

        try:
            targets = [f"smtp://127.0.0.1:{p}" for p in ports]
            certward = [*CERTWARD, "probe", *targets, "--json", "--timeout", "30",
                        "--concurrency", str(options.concurrency)]  # fmt: skip
            sslyze = None
            if not options.skip_sslyze:
                sslyze = sslyze_command(options.sslyze_venv or work / "sslyze-venv")
                sslyze += ["--starttls", "smtp", "--certinfo"]
                sslyze += [f"127.0.0.1:{p}" for p in ports]
            if options.load:
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(1)
            for _ in range(options.runs):
                measure("certward probe", options.endpoints, certward, work / "certward.json")
                if sslyze is not None:
                    measure("sslyze --certinfo", options.endpoints, sslyze, work / "sslyze.txt")
            notes.append(certward_summary(work / "certward.json"))
            if sslyze is not None:
                scanned = (work / "sslyze.txt").read_text().count("SCAN RESULTS FOR")
                notes.append(f"sslyze: {scanned} endpoints scanned")
            testssl = shutil.which("testssl.sh") or shutil.which("testssl")
            if testssl and options.testssl_sample:
                sample = ports[: options.testssl_sample]
                before, load = cpu_seconds(servers), load_average()
                start = time.perf_counter()
                peak = cpu = 0.0
                for port in sample:
                    _, p, _, c = timed([testssl, "--quiet", "--starttls", "smtp", "-S",
                                        f"127.0.0.1:{port}"])  # fmt: skip
                    peak, cpu = max(peak, p), cpu + c
                runs["testssl.sh -S"] = [(len(sample), time.perf_counter() - start, peak,
                                          cpu_seconds(servers) - before, cpu,
                                          f"{load} / {load_average()}")]  # fmt: skip
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
            for server in servers:
                server.send_signal(
                    signal.SIGINT if options.target == "certward" else signal.SIGTERM
                )
            for server in servers:
                server.wait(timeout=60)
    print(f"target: {options.target}" + (f", {options.workers} server processes"
          if options.target == "asyncio" else "") + f"; {os.cpu_count()} cores"
          + ("; a busy loop on one core" if options.load else "; no extra load"))  # fmt: skip
    print(f"{'tool':18} {'endpoints':>9} {'seconds':>8} {'endpoints/s':>12} {'peak MiB':>9} "
          f"{'server CPU s':>13} {'tool CPU s':>11}  load average before / after")  # fmt: skip
    rates = {}
    for name, done in runs.items():
        ranked = sorted(done, key=lambda r: r[0] / r[1])
        count, seconds, peak, server_cpu, cpu, loads = ranked[len(ranked) // 2]  # the median
        rates[name] = count / seconds
        print(f"{name:18} {count:>9} {seconds:>8.2f} {rates[name]:>12.1f} {peak:>9.1f} "
              f"{server_cpu:>13.2f} {cpu:>11.2f}  {loads}")  # fmt: skip
        if len(done) > 1:
            each = ", ".join(f"{r[0] / r[1]:.1f}" for r in done)
            print(f"{'':18} runs: {each} endpoints/s")
    for note in notes:
        print(note)
    ours = rates["certward probe"]
    for name, rate in rates.items():
        if name != "certward probe":
            print(f"certward / {name}: {ours / rate:.1f}x"
                  + (" (target >= 3x)" if name.startswith("sslyze") else ""))  # fmt: skip


if __name__ == "__main__":
    main()
