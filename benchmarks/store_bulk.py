"""Bulk trust stores: ``certward store add`` and ``store list --json`` against a floor script.

Makes N self-signed CA certificates (one PEM bundle), then times, each as a fresh process:

- ``certward store add --store Root BUNDLE`` against the floor for adding: a script that reads
  the bundle, parses every certificate with cryptography and inserts one row each (DER,
  thumbprint, subject) into SQLite with one SQLAlchemy Core ``executemany``;
- ``certward store list --store Root --json`` against the floor for listing: a script that
  reads those rows, parses each certificate and prints a JSON document of its fields.

Prints wall seconds, CPU seconds (user + system: the work, whatever else the machine runs),
certificates per second, the ratios certward/floor and each process's peak RSS, at each size
(default 1,000, 5,000 and 10,000: memory should stay flat in the count), plus the machine's
load average. Bytecode is cached (as an installed package has it) and warmed before timing.
Prints figures; asserts nothing.

    python benchmarks/store_bulk.py [--sizes 1000,5000,10000] [--runs 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

FLOOR_ADD = r"""
import hashlib, sys
from cryptography import x509
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, create_engine, insert
meta = MetaData()
table = Table("certificate", meta, Column("id", Integer, primary_key=True),
              Column("store", String(8)), Column("thumbprint", String(40)),
              Column("subject", String), Column("der", LargeBinary))
engine = create_engine("sqlite:///" + sys.argv[2])
meta.create_all(engine)
from cryptography.hazmat.primitives.serialization import Encoding
rows = []
for cert in x509.load_pem_x509_certificates(open(sys.argv[1], "rb").read()):
    der = cert.public_bytes(Encoding.DER)
    rows.append({"store": "Root", "thumbprint": hashlib.sha1(der).hexdigest().upper(),
                 "subject": cert.subject.rfc4514_string(), "der": der})
with engine.begin() as conn:
    conn.execute(insert(table), rows)
print(len(rows))
"""

FLOOR_LIST = r"""
import hashlib, json, sys
from cryptography import x509
from sqlalchemy import create_engine, text
engine = create_engine("sqlite:///" + sys.argv[1])
out = []
with engine.connect() as conn:
    for (der,) in conn.execute(text("SELECT der FROM certificate ORDER BY id")):
        cert = x509.load_der_x509_certificate(der)
        out.append({"thumbprint": hashlib.sha1(der).hexdigest().upper(),
                    "subject": cert.subject.rfc4514_string(),
                    "issuer": cert.issuer.rfc4514_string(),
                    "not_before": cert.not_valid_before_utc.isoformat(),
                    "not_after": cert.not_valid_after_utc.isoformat(),
                    "serial_number": format(cert.serial_number, "X"),
                    "signature_algorithm": cert.signature_algorithm_oid.dotted_string})
sys.stdout.write(json.dumps(out, indent=2) + "\n")
"""


def make_bundle(path: Path, count: int) -> None:
    """``count`` self-signed CA certificates (one P-256 key: signing, not key generation)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    with path.open("wb") as out:
        for n in range(count):
            name = x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bulk Test"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"Bulk Root {n:05d}"),
                ]
            )
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            out.write(cert.public_bytes(serialization.Encoding.PEM))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, bytes, float]:
    """Wall seconds, peak RSS (KiB), stdout and CPU seconds (user + system) of one fresh
    process; it must succeed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read() if proc.stderr else b""
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])}... failed: {err.decode()[-2000:]}")
        out.seek(0)
        return seconds, usage.ru_maxrss, out.read(), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--runs", type=int, default=1, help="runs per figure (median)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    python = sys.executable
    certward = str(Path(python).parent / "certward")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'count':>6} {'work':10} {'certward s':>10} {'floor s':>8} {'ratio':>6} "
        f"{'cpu s':>8} {'floor':>8} {'ratio':>6} "
        f"{'certward/s':>10} {'floor/s':>8} {'RSS MiB':>8} {'floor RSS':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(root / "pycache"), "COLUMNS": "120"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("CERTWARD_MASTER_KEY", None)
        (root / "floor_add.py").write_text(FLOOR_ADD)
        (root / "floor_list.py").write_text(FLOOR_LIST)
        warm = root / "warm"
        warm.mkdir()
        make_bundle(warm / "b.pem", 3)
        for size in sizes:
            bundle = root / f"bundle-{size}.pem"
            make_bundle(bundle, size)
            adds: list[tuple[float, int, float]] = []
            floor_adds: list[tuple[float, int, float]] = []
            lists: list[tuple[float, int, float]] = []
            floor_lists: list[tuple[float, int, float]] = []
            for run in range(options.runs):
                db = root / f"certward-{size}-{run}.db"
                floor_db = root / f"floor-{size}-{run}.db"
                run_env = {**env, "CERTWARD_DB": str(db)}
                subprocess.run([certward, "org", "init", "Bulk"], env=run_env, check=True,
                               capture_output=True)  # fmt: skip
                subprocess.run([certward, "server", "add", "EXCH01", "--fqdn", "exch01.bulk"],
                               env=run_env, check=True, capture_output=True)  # fmt: skip
                if run == 0 and size == sizes[0]:  # warm the bytecode caches
                    warm_env = {**env, "CERTWARD_DB": str(warm / "w.db")}
                    pem, fdb = str(warm / "b.pem"), str(warm / "f.db")
                    for argv in (
                        [certward, "org", "init", "W"],
                        [certward, "server", "add", "W1", "--fqdn", "w1.bulk"],
                        [certward, "store", "add", "-s", "W1", "--store", "Root", pem],
                        [certward, "store", "list", "-s", "W1", "--store", "Root", "--json"],
                        [python, str(root / "floor_add.py"), pem, fdb],
                        [python, str(root / "floor_list.py"), fdb],
                    ):  # fmt: skip
                        timed(argv, warm_env)
                seconds, rss, _, cpu = timed(
                    [certward, "store", "add", "-s", "EXCH01", "--store", "Root", str(bundle)],
                    run_env,
                )
                adds.append((seconds, rss, cpu))
                seconds, rss, _, cpu = timed(
                    [python, str(root / "floor_add.py"), str(bundle), str(floor_db)], env
                )
                floor_adds.append((seconds, rss, cpu))
                seconds, rss, out, cpu = timed(
                    [certward, "store", "list", "-s", "EXCH01", "--store", "Root", "--json"],
                    run_env,
                )
                assert out.count(b'"thumbprint"') == size, "store list did not list them all"
                lists.append((seconds, rss, cpu))
                seconds, rss, _, cpu = timed(
                    [python, str(root / "floor_list.py"), str(floor_db)], env
                )
                floor_lists.append((seconds, rss, cpu))
            for work, ours, floor in (("store add", adds, floor_adds),
                                      ("store list", lists, floor_lists)):  # fmt: skip
                s = statistics.median(t for t, _, _ in ours)
                f = statistics.median(t for t, _, _ in floor)
                c = statistics.median(t for _, _, t in ours)
                fc = statistics.median(t for _, _, t in floor)
                rss = max(r for _, r, _ in ours) / 1024
                frss = max(r for _, r, _ in floor) / 1024
                print(
                    f"{size:>6} {work:10} {s:10.2f} {f:8.2f} {s / f:5.1f}x "
                    f"{c:8.2f} {fc:8.2f} {c / fc:5.1f}x "
                    f"{size / s:10.0f} {size / f:8.0f} {rss:8.0f} {frss:9.0f}",
                    flush=True,
                )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
