"""Real Debian daemons on loopback for the deploy tests (and the agent's): nginx, Postfix and
Dovecot, each in its own directory with its own configuration, on a free port.

Each ``start_*`` function writes a minimal configuration that reads the certificate and key
from the files given, starts the daemon in the foreground as a child process (as root: the
daemons drop to their own users), waits until its port accepts connections and returns a
:class:`Daemon`: the URL to probe, the argv that reloads it, and :meth:`Daemon.stop`.
A :class:`Daemon` is also a context manager that stops it.

Their directories are made with :func:`daemon_dir` under the system's temporary directory
and are world-traversable (0755): the daemons' unprivileged processes (``postfix``,
``dovenull``, ``nobody``) must reach them, which pytest's private ``tmp_path`` (0700) does
not allow.

Use::

    from tests.deploy.daemons import daemon_dir, start_nginx

    directory = daemon_dir("nginx")
    (directory / "cert.pem").write_bytes(cert_and_chain_pem)
    (directory / "key.pem").write_bytes(key_pem)
    with start_nginx(directory, directory / "cert.pem", directory / "key.pem") as nginx:
        ...  # nginx.url == "https://127.0.0.1:PORT", nginx.reload == ("nginx", "-c", ...)
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.ports import free_port

__all__ = [
    "Daemon",
    "daemon_dir",
    "served_thumbprint",
    "start_dovecot",
    "start_nginx",
    "start_postfix",
]

START_DEADLINE = 20.0


def served_thumbprint(url: str, *, timeout: float = 10.0) -> str | None:
    """The thumbprint (SHA-1 of the DER, upper-case hex) of the certificate ``url`` serves
    now, read in this process by the standard library's TLS client over one connection
    (``smtp://``: after STARTTLS; ``https://``, ``imaps://``: TLS at once). An independent
    check of what the daemon serves, beside certward's prober (which the deploy itself runs,
    in a child process); None when no handshake completed."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        raise ValueError(f"{url}: no port")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # what is served, trusted or not
    der: bytes | None
    try:
        if parts.scheme == "smtp":
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                smtp.ehlo()
                smtp.starttls(context=context)
                assert isinstance(smtp.sock, ssl.SSLSocket)
                der = smtp.sock.getpeercert(binary_form=True)
        else:
            with (
                socket.create_connection((host, port), timeout=timeout) as raw,
                context.wrap_socket(raw) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
    except (OSError, smtplib.SMTPException):
        return None
    return None if der is None else hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def daemon_dir(kind: str) -> Path:
    """A fresh 0755 directory for one daemon (remove it with :meth:`Daemon.stop` or
    :func:`shutil.rmtree`)."""
    path = Path(tempfile.mkdtemp(prefix=f"certward-{kind}-"))
    path.chmod(0o755)
    return path


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"the daemon did not listen on 127.0.0.1:{port}: {said}")


@dataclass
class Daemon:
    """A running daemon: what to probe, how to reload it, where it lives."""

    kind: str
    url: str
    port: int
    reload: tuple[str, ...]
    directory: Path
    log: Path
    process: subprocess.Popen[bytes]
    stop_argv: tuple[str, ...] = ()
    remove: bool = True
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop the daemon (its own stop command, then its process) and remove its
        directory."""
        if self._stopped:
            return
        self._stopped = True
        stopping = None
        if self.stop_argv:
            # The daemon is this process's child: until it is reaped here its pid stays
            # taken, and a stop command that waits for the pid to go (``doveadm stop`` polls
            # for 3 s) would wait in vain. So the command runs while the daemon is awaited.
            stopping = subprocess.Popen(
                self.stop_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        if stopping is not None:
            try:
                stopping.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stopping.kill()
                stopping.wait()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Daemon:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = log.with_suffix(".out")
    with out.open("wb") as handle:
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)


def start_nginx(directory: Path, cert_file: Path, key_file: Path) -> Daemon:
    """nginx serving HTTPS on a free loopback port with ``ssl_certificate cert_file`` (the
    certificate and its chain) and ``ssl_certificate_key key_file``; reloaded with ``nginx
    -c CONF -p DIR -s reload``."""
    port = free_port()
    conf, log, temp = directory / "nginx.conf", directory / "error.log", directory / "temp"
    temp.mkdir(exist_ok=True)
    conf.write_text(
        f"""daemon off;
pid {directory}/nginx.pid;
error_log {log} notice;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert_file};
    ssl_certificate_key {key_file};
    location / {{ return 200 "certward deploy test\\n"; }}
  }}
}}
"""
    )
    base = ["nginx", "-c", str(conf), "-p", str(directory), "-e", str(log)]
    process = _spawn(base, log)
    _wait_for_port(port, process, log)
    return Daemon(
        "nginx",
        f"https://127.0.0.1:{port}",
        port,
        (*base, "-s", "reload"),
        directory,
        log,
        process,
        stop_argv=(*base, "-s", "stop"),
    )


_POSTFIX_SERVICES = """\
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
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def start_postfix(directory: Path, chain_files: list[Path]) -> Daemon:
    """Postfix's smtpd on a free loopback port offering STARTTLS with
    ``smtpd_tls_chain_files`` = ``chain_files`` (one file: key, certificate, chain; or the
    key file then the certificate file), its queue and data directories inside
    ``directory``; started with ``postfix -c DIR start-fg``, reloaded with ``postfix -c DIR
    reload``."""
    port = free_port()
    conf, queue, data = directory / "conf", directory / "queue", directory / "data"
    for d in (conf, queue, data):
        d.mkdir(exist_ok=True)
    shutil.chown(data, user="postfix")
    log = directory / "maillog"
    (conf / "main.cf").write_text(
        f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.deploy.test
mydestination =
local_recipient_maps =
maillog_file_prefixes = {directory}
maillog_file = {log}
smtpd_tls_security_level = may
smtpd_tls_chain_files = {", ".join(str(p) for p in chain_files)}
"""
    )
    (conf / "master.cf").write_text(f"127.0.0.1:{port} inet n - n - - smtpd\n" + _POSTFIX_SERVICES)
    base = ["postfix", "-c", str(conf)]
    process = _spawn([*base, "start-fg"], log)
    _wait_for_port(port, process, log)
    return Daemon(
        "postfix",
        f"smtp://127.0.0.1:{port}",
        port,
        (*base, "reload"),
        directory,
        log,
        process,
        stop_argv=(*base, "stop"),
    )


def start_dovecot(directory: Path, cert_file: Path, key_file: Path) -> Daemon:
    """Dovecot's IMAPS on a free loopback port with ``ssl_cert = <cert_file`` (certificate
    and chain) and ``ssl_key = <key_file``, its base and state directories inside
    ``directory``; started with ``dovecot -F -c CONF``, reloaded with ``doveadm -c CONF
    reload``."""
    port = free_port()
    conf, log = directory / "dovecot.conf", directory / "dovecot.log"
    base, state = directory / "base", directory / "state"
    for d in (base, state):
        d.mkdir(exist_ok=True)
    conf.write_text(
        f"""base_dir = {base}
state_dir = {state}
log_path = {log}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert_file}
ssl_key = <{key_file}
passdb {{
  driver = static
  args = password=unused-{port}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={directory}/home
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
    )
    process = _spawn(["dovecot", "-F", "-c", str(conf)], log)
    _wait_for_port(port, process, log)
    return Daemon(
        "dovecot",
        f"imaps://127.0.0.1:{port}",
        port,
        ("doveadm", "-c", str(conf), "reload"),
        directory,
        log,
        process,
        stop_argv=("doveadm", "-c", str(conf), "stop"),
    )
