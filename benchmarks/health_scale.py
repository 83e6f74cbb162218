"""Organisation-wide health at scale: 100, 500 and 1,000 servers × 20 certificates × 300 roots.

For each size, builds a throw-away store: an organisation (its auth certificate on every
server), servers with Exchange's default receive connectors and virtual directories (external
URLs set), 20 certificates in each Personal store issued by one of 300 roots (the default
SMTP certificate enabled for IIS and SMTP; a second named by the Default Frontend connector's
TlsCertificateName; expiries spread over two years so the rules have findings) and the same
300 roots in each Root store. Real X.509 certificates, signed under one EC key so that the
store builds in seconds; rows inserted in bulk.

Then times, with a store of the organisation alone (no servers) as the floor:

- ``certward health --json`` as a fresh process, minus the same command on the floor store
  (the work beyond start-up, the issue's measure), median of ``--runs``;
- in one process, the health service's check: reading the snapshot and running the rules
  (the garbage collector paused, as the service pauses it).

Prints each size's seconds (wall clock and CPU) and seconds per server (linear growth keeps
it flat), the load average before and after, and the issue's target (16): 1,000 servers
judged in under 1 s of work beyond start-up. Asserts nothing.

    python benchmarks/health_scale.py [--sizes 100,500,1000] [--certs 20] [--roots 300]
        [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

CERTWARD = [sys.executable, "-m", "certward"]


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


class Issuer:
    """300 roots under one key; leaves issued by them, each with its own names."""

    def __init__(self, roots: int, now: dt.datetime) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.now = now
        self.roots: list[tuple[x509.Name, bytes]] = []
        for n in range(roots):
            subject = _name(f"Contoso Root CA {n:03d}")
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=3650))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256())
            )
            self.roots.append((subject, cert.public_bytes(Encoding.DER)))

    def leaf(self, issuer: x509.Name, cn: str, domains: list[str], days: int) -> bytes:
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=30))
            .not_valid_after(self.now + dt.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(Encoding.DER)


def thumb(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def build(db: Path, servers: int, per_server: int, issuer: Issuer) -> float:
    """The store at ``db``; seconds taken."""
    from sqlalchemy import insert, select

    from certward.compose import build_app
    from certward.model import Role, Server, ServiceSet
    from certward.model.vdirs import default_vdirs
    from certward.pki.names import dotnet_x500
    from certward.services.connectors import default_receive_connectors
    from certward.storage.schema import (
        CertificateRow,
        PrivateKeyRow,
        PublishedCertificateRow,
        ServerRow,
    )

    began = time.perf_counter()
    app = build_app(str(db))
    try:
        org = app.organisation.init_organisation("Scale", domain="contoso.com")
        with app.store.engine.begin() as connection:
            auth_der, sealed = connection.execute(
                select(PublishedCertificateRow.der, PublishedCertificateRow.encrypted_pkcs8)
            ).one()
        auth_tp = org.auth.current_thumbprint
        iis_smtp = ServiceSet.parse("IIS,SMTP").value.value
        batch = 50
        for first in range(0, servers, batch):
            rows: list[dict[str, object]] = []
            with app.store.transaction() as repo:
                for n in range(first, min(first + batch, servers)):
                    name = f"SRV{n:04d}"
                    fqdn = f"{name.lower()}.contoso.com"
                    root_subject = issuer.roots[n % len(issuer.roots)][0]
                    mine = []
                    for j in range(per_server):
                        domains = [f"{name.lower()}-{j:02d}.contoso.com"]
                        if j == 0:
                            domains = [fqdn, name.lower(), "mail.contoso.com"]
                        days = 1 + (n * per_server + j) * 7 % 800
                        mine.append(issuer.leaf(root_subject, domains[0], domains, days))
                    server = Server(
                        name,
                        fqdn,
                        frozenset({Role.MAILBOX}),
                        default_smtp_thumbprint=thumb(mine[0]),
                    )
                    repo.save_server(server)
                    named = x509.load_der_x509_certificate(mine[1])
                    for connector in default_receive_connectors(server):
                        if connector.name.startswith("Default Frontend"):
                            tls_name = (
                                f"<I>{dotnet_x500(named.issuer)}<S>{dotnet_x500(named.subject)}"
                            )
                            connector = replace(connector, tls_certificate_name=tls_name)
                        repo.save_connector(connector)
                    for vdir in default_vdirs(name, fqdn):
                        repo.save_virtual_directory(
                            replace(vdir, external_url="https://mail.contoso.com/x")
                        )
                    for j, der in enumerate(mine):
                        rows.append(
                            {"server": name, "store": "My", "der": der, "key": True,
                             "services": iis_smtp if j == 0 else 0}
                        )  # fmt: skip
                    rows.append({"server": name, "store": "My", "der": auth_der, "key": True,
                                 "services": 0})  # fmt: skip
                    rows += [
                        {"server": name, "store": "Root", "der": der, "key": False, "services": 0}
                        for _, der in issuer.roots
                    ]
            _insert(app.store.engine, rows, sealed, insert, select, CertificateRow,
                    PrivateKeyRow, ServerRow)  # fmt: skip
        assert auth_tp is not None
    finally:
        app.store.close()
    return time.perf_counter() - began


def _insert(engine, rows, sealed, insert, select, cert_table, key_table, server_table):  # type: ignore[no-untyped-def]
    """Certificate rows (and a sealed key for those with one) in bulk."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        ids = dict(connection.execute(select(server_table.name, server_table.id)).all())
        connection.execute(
            insert(cert_table),
            [
                {
                    "server_id": ids[r["server"]],
                    "store": r["store"],
                    "thumbprint": thumb(r["der"]),
                    "der": r["der"],
                    "services": r["services"],
                    "friendly_name": "",
                    "exportable": False,
                    "created_at": now,
                }
                for r in rows
            ],
        )
        keyed = {(ids[r["server"]], thumb(r["der"])) for r in rows if r["key"]}
        found = connection.execute(
            select(cert_table.id, cert_table.server_id, cert_table.thumbprint).where(
                cert_table.store == "My", cert_table.server_id.in_({s for s, _ in keyed})
            )
        ).all()
        have = set(connection.execute(select(key_table.certificate_id)).scalars())
        connection.execute(
            insert(key_table),
            [
                {"certificate_id": cid, "encrypted_pkcs8": sealed}
                for cid, sid, tp in found
                if (sid, tp) in keyed and cid not in have
            ],
        )


def cli_seconds(db: Path, runs: int) -> tuple[float, float]:
    """The command's wall-clock seconds and CPU seconds (user + system), medians of ``runs``:
    on a loaded machine the CPU seconds are the work, the wall clock also the waiting."""
    env = {**os.environ, "CERTWARD_DB": str(db)}
    times, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(
            [*CERTWARD, "health", "--json"], env=env, capture_output=True, check=False
        )
        times.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if done.returncode == 3:
            raise SystemExit(f"certward health failed:\n{done.stderr.decode()}")
    return statistics.median(times), statistics.median(cpus)


def in_process(db: Path, runs: int) -> tuple[float, float, float, float, float, float, int]:
    """Seconds reading the snapshot and running the rules in one process, and the CPU
    seconds of both: the first check (nothing remembered, as a fresh process) and the median
    of the next ``runs`` (profiles remembered, as the web service's scheduled runs find
    them); the findings."""
    from certward.compose import build_app
    from certward.health.engine import evaluate
    from certward.health.profiles import PROFILES
    from certward.services.health import collection_paused, read_snapshot

    PROFILES.clear()
    app = build_app(str(db))
    reads, rules, cpus, findings = [], [], [], 0
    try:
        for _ in range(runs + 1):
            with collection_paused():  # as the health service runs
                cpu = time.process_time()
                began = time.perf_counter()
                with app.store.reading() as repo:
                    snapshot = read_snapshot(repo)
                read = time.perf_counter()
                report = evaluate(snapshot, app.clock.now())
                reads.append(read - began)
                rules.append(time.perf_counter() - read)
                cpus.append(time.process_time() - cpu)
                findings = len(report.findings)
                del snapshot, report
    finally:
        app.store.close()
    return (
        reads[0], rules[0], cpus[0],
        statistics.median(reads[1:]), statistics.median(rules[1:]), statistics.median(cpus[1:]),
        findings,
    )  # fmt: skip


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,500,1000", help="server counts")
    parser.add_argument("--certs", type=int, default=20, help="Personal certificates a server")
    parser.add_argument("--roots", type=int, default=300, help="Root store certificates")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"load average at start: {load()}  ({os.cpu_count()} CPUs)")
    issuer = Issuer(args.roots, dt.datetime.now(dt.UTC).replace(microsecond=0))
    with tempfile.TemporaryDirectory(prefix="certward-health-scale-") as tmp:
        floor_db = Path(tmp) / "floor.db"
        build(floor_db, 0, args.certs, issuer)
        floor, floor_cpu = cli_seconds(floor_db, args.runs)
        print(
            f"floor: certward health --json on the organisation alone: {floor:.2f} s "
            f"({floor_cpu:.2f} s CPU)\n"
        )
        print(
            f"{'':>7} {'':>7} {'':>8} {'command':^31} {'in one process: first':^23} "
            f"{'in one process: again':^23}"
        )
        print(
            f"{'servers':>7} {'certs':>7} {'build s':>8} {'s':>7} {'beyond':>7} {'ms/srv':>7} "
            f"{'cpu bey':>7} {'read s':>7} {'rules s':>7} {'cpu s':>7}   {'read s':>7} "
            f"{'rules s':>7} {'cpu s':>7} {'findings':>8}  load"
        )
        for size in sizes:
            db = Path(tmp) / f"org{size}.db"
            built = build(db, size, args.certs, issuer)
            cli, cli_cpu = cli_seconds(db, args.runs)
            read, rules, cpu, read_again, rules_again, cpu_again, findings = in_process(
                db, args.runs
            )
            beyond = cli - floor
            print(
                f"{size:>7} {size * (args.certs + 1 + args.roots):>7} {built:8.1f} {cli:7.2f} "
                f"{beyond:7.2f} {beyond / size * 1000:7.2f} {cli_cpu - floor_cpu:7.2f} "
                f"{read:7.2f} {rules:7.2f} {cpu:7.2f}   {read_again:7.2f} {rules_again:7.2f} "
                f"{cpu_again:7.2f} {findings:>8}  {load()}",
                flush=True,
            )
            db.unlink()
    print(
        "\nbeyond: the command's seconds minus the floor's (the work beyond start-up); cpu bey: "
        "the same in CPU seconds (the work, whatever else the machine runs); ms/srv flat means "
        "linear. first: the same check in a process that remembers nothing yet (as a fresh "
        "process); again: the next checks, profiles remembered (the web service's scheduled "
        "runs).\ntarget (issue 16): 1,000 servers x 20 certificates x 300 roots judged in under "
        "1 s beyond start-up."
    )
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
