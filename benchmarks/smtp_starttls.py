"""STARTTLS sessions per second of ``certward serve`` against Postfix, in one run.

Builds a throw-away organisation (EXCH01, its Default Frontend connector on 127.0.0.1,
alice@contoso.com) and a throw-away Postfix instance (Debian's, its own configuration and
queue directories, loopback only) that present the same RSA 2048 certificate and key and
store the message in a Maildir. The same client load drives each in turn: ``--clients``
client processes with ``--concurrency`` sessions in flight in all (asyncio; EHLO,
STARTTLS, EHLO, MAIL, RCPT, DATA, QUIT), ``--sessions`` sessions each. Prints, for both:
sessions per second, the server's CPU milliseconds per session (its whole process tree,
Postfix's queue manager and delivery agents included, once its queue is empty), the
tree's resident memory after 1k, 5k and 10k sessions, the ratio of certward to Postfix,
and the load average. Asserts nothing about speed.

    python benchmarks/smtp_starttls.py [--sessions 10000] [--concurrency 16] [--clients 2]
        [--workers N]  (certward serve --workers; default one per core)
        [--only certward|postfix]

Run as root (Postfix's master starts as root and drops to the postfix user).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _serve import bench_env, cpu_seconds, free_port, organisation, rss_mib, serve, wait_ready

CHECKPOINTS = (1_000, 5_000, 10_000)
MESSAGE = b"Subject: benchmark\r\nFrom: bench@example.com\r\n\r\nhello\r\n.\r\n"


# -- the client -----------------------------------------------------------------------------
async def _reply(reader: asyncio.StreamReader, code: bytes) -> None:
    while True:
        line = await reader.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code.decode()}, got {line!r}")
        if line[3:4] != b"-":
            return


async def _session(port: int, context: ssl.SSLContext) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _reply(reader, b"220")
        writer.write(b"EHLO bench.example\r\n")
        await _reply(reader, b"250")
        writer.write(b"STARTTLS\r\n")
        await _reply(reader, b"220")
        await writer.start_tls(context, server_hostname="exch01.contoso.com")
        for command, code in (
            (b"EHLO bench.example\r\n", b"250"),
            (b"MAIL FROM:<bench@example.com>\r\n", b"250"),
            (b"RCPT TO:<alice@contoso.com>\r\n", b"250"),
            (b"DATA\r\n", b"354"),
            (MESSAGE, b"250"),
            (b"QUIT\r\n", b"221"),
        ):
            writer.write(command)
            await _reply(reader, code)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _client(port: int, concurrency: int, todo: Any, done: Any, failed: Any) -> None:
    """One client process: ``concurrency`` sessions at a time until ``todo`` runs out."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    def take() -> bool:
        with todo.get_lock():
            if todo.value <= 0:
                return False
            todo.value -= 1
            return True

    async def loop() -> None:
        while take():
            try:
                await asyncio.wait_for(_session(port, context), 60)
            except Exception:
                with failed.get_lock():
                    failed.value += 1
            with done.get_lock():
                done.value += 1

    async def main() -> None:
        await asyncio.gather(*(loop() for _ in range(concurrency)))

    asyncio.run(main())


@dataclass
class Result:
    name: str
    sessions: int = 0
    failed: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    rss: dict[int, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sessions / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.sessions if self.sessions else 0.0


def drive(
    name: str, port: int, root: int, options: argparse.Namespace, drained: Any = None
) -> Result:
    """Run the client load against ``port``; measure the tree under ``root``."""
    fork = multiprocessing.get_context("fork")
    todo, done, failed = fork.Value("l", options.sessions), fork.Value("l", 0), fork.Value("l", 0)
    warm = fork.Value("l", options.concurrency)
    _client(port, options.concurrency, warm, fork.Value("l", 0), failed)  # warm-up
    if failed.value:
        raise SystemExit(f"{name}: the warm-up sessions failed")
    cpu_before = cpu_seconds(root)
    share = [options.concurrency // options.clients] * options.clients
    for i in range(options.concurrency % options.clients):
        share[i] += 1
    clients = [fork.Process(target=_client, args=(port, n, todo, done, failed)) for n in share if n]
    result = Result(name)
    start = time.perf_counter()
    for process in clients:
        process.start()
    marks = [c for c in CHECKPOINTS if c <= options.sessions]
    while any(p.is_alive() for p in clients):
        time.sleep(0.05)  # sampling the tree, not synchronising with it
        while marks and done.value >= marks[0]:
            result.rss[marks.pop(0)] = rss_mib(root)
    result.elapsed = time.perf_counter() - start
    for process in clients:
        process.join()
    for mark in marks:
        result.rss[mark] = rss_mib(root)
    if drained is not None:
        drained()
    result.cpu = cpu_seconds(root) - cpu_before
    result.sessions, result.failed = done.value, failed.value
    return result


# -- the two servers ------------------------------------------------------------------------
def make_certificate(tmp: Path) -> tuple[Path, Path, Path, str]:
    """An RSA 2048 key and self-signed certificate for exch01.contoso.com: PEM and PFX."""
    key, cert, pfx = tmp / "key.pem", tmp / "cert.pem", tmp / "bench.pfx"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-subj", "/CN=exch01.contoso.com", "-addext", "subjectAltName=DNS:exch01.contoso.com",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp / "pfx-pw").write_text("bench\n")
    subprocess.run(
        ["openssl", "pkcs12", "-export", "-inkey", str(key), "-in", str(cert), "-out", str(pfx),
         "-passout", "pass:bench"],
        check=True, capture_output=True,
    )  # fmt: skip
    der = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True, capture_output=True
    ).stdout
    thumbprint = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    return key, cert, pfx, thumbprint


def run_certward(tmp: Path, options: argparse.Namespace, pfx: Path, thumbprint: str) -> Result:
    env = bench_env(str(tmp))
    port = free_port()
    if organisation(env, str(tmp), port, pfx=pfx, password="bench") != thumbprint:
        raise SystemExit("the benchmark's certificate was not imported as expected")
    workers = ["--workers", str(options.workers)] if options.workers else []
    server = serve(env, *workers)
    try:
        wait_ready(server)
        return drive("certward serve", port, server.pid, options)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


MAIN_CF = """\
compatibility_level = 3.6
config_directory = {conf}
queue_directory = {queue}
data_directory = {data}
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = exch01.contoso.com
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
maillog_file = {tmp}/postfix.log
maillog_file_prefixes = {tmp}
smtpd_banner = $myhostname ESMTP
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
virtual_mailbox_domains = contoso.com
virtual_mailbox_maps = inline:{{ alice@contoso.com=alice/Maildir/ }}
virtual_mailbox_base = {tmp}/vmail
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@contextlib.contextmanager
def postfix(tmp: Path, key: Path, cert: Path) -> Iterator[tuple[int, int, Path]]:
    """A Postfix instance on 127.0.0.1: (port, master's pid, the Maildir's new/)."""
    if shutil.which("postfix") is None:
        raise SystemExit("postfix is not installed (Debian: apt-get install postfix)")
    conf, queue, data = tmp / "postfix", tmp / "postfix-queue", tmp / "postfix-data"
    for directory in (conf, queue, data, tmp / "vmail"):
        directory.mkdir()
    uid = int(subprocess.check_output(["id", "-u", "postfix"]))
    gid = int(subprocess.check_output(["id", "-g", "postfix"]))
    shutil.chown(data, "postfix")
    shutil.chown(tmp / "vmail", uid, gid)
    for path in (key, cert):
        path.chmod(0o644)
    port = free_port()
    (conf / "main.cf").write_text(
        MAIN_CF.format(conf=conf, queue=queue, data=data, tmp=tmp, cert=cert, key=key,
                       uid=uid, gid=gid)
    )  # fmt: skip
    (conf / "master.cf").write_text(MASTER_CF.format(port=port))
    (tmp / "postfix.log").touch()
    command = ["postfix", "-c", str(conf)]
    for action in ("check", "start"):
        done = subprocess.run([*command, action], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"postfix {action} failed:\n{done.stdout}{done.stderr}")
    try:
        pid_file = queue / "pid" / "master.pid"
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise SystemExit(f"postfix did not start:\n{(tmp / 'postfix.log').read_text()}")
            time.sleep(0.05)  # polling for the pid file, with a deadline
        yield port, int(pid_file.read_text()), tmp / "vmail" / "alice" / "Maildir" / "new"
    finally:
        subprocess.run([*command, "stop"], check=False, capture_output=True)


def run_postfix(tmp: Path, options: argparse.Namespace, key: Path, cert: Path) -> Result:
    with postfix(tmp, key, cert) as (port, master, maildir):
        expected = options.sessions + options.concurrency  # with the warm-up

        def drained() -> None:
            deadline = time.monotonic() + 300
            while len(os.listdir(maildir)) < expected:
                if time.monotonic() > deadline:
                    raise SystemExit("postfix did not deliver every message in 5 minutes")
                time.sleep(0.1)  # polling the Maildir, with a deadline

        return drive("postfix", port, master, options, drained)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=None, help="certward serve --workers")
    parser.add_argument("--only", choices=("certward", "postfix"), default=None)
    options = parser.parse_args()
    load_before = os.getloadavg()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # Postfix's unprivileged processes read the certificate here
        key, cert, pfx, thumbprint = make_certificate(tmp)
        if options.only != "postfix":
            (tmp / "certward").mkdir()
            results.append(run_certward(tmp / "certward", options, pfx, thumbprint))
        if options.only != "certward":
            results.append(run_postfix(tmp, options, key, cert))
    load_after = os.getloadavg()
    workers = options.workers or len(os.sched_getaffinity(0))
    print(f"client load: {options.sessions} sessions, {options.concurrency} in flight from "
          f"{options.clients} client processes; certward serve --workers {workers}; "
          f"{os.cpu_count()} cores")  # fmt: skip
    header = f"{'server':<16}{'sessions/s':>11}{'CPU ms/session':>16}{'failed':>8}"
    header += "".join(f"{f'RSS@{c // 1000}k MiB':>14}" for c in CHECKPOINTS)
    print(header)
    for r in results:
        row = f"{r.name:<16}{r.rate:>11.1f}{r.cpu_ms:>16.2f}{r.failed:>8}"
        row += "".join(f"{r.rss.get(c, float('nan')):>14.1f}" for c in CHECKPOINTS)
        print(row)
    if len(results) == 2 and results[1].rate:
        ours, theirs = results
        print(f"ratio certward/postfix: sessions/s {ours.rate / theirs.rate:.2f}x, "
              f"CPU per session {ours.cpu_ms / theirs.cpu_ms:.2f}x")  # fmt: skip
    print("load average: before {:.2f} {:.2f} {:.2f}; after {:.2f} {:.2f} {:.2f}".format(
        *load_before, *load_after))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
