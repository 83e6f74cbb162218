"""The service (``certward web``) on a throwaway PostgreSQL cluster, a test CA, and host
agents run as real processes (``python -m certward agent``), each with its own --root and
its own nginx.

One web service per module: the store is made once (its servers, certificates, deployments
and tokens through the services, as ``certward`` would); each test makes its own hosts
(servers, certificates, deployments, nginx, agents), so the tests do not depend on each
other. The service's HTTPS certificate is issued by the test CA for 127.0.0.1, and the
agents verify it against that CA (``--ca-bundle``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text

from certward.compose import App, build_app
from certward.model import ServiceSet
from certward.model.access import AccessRole
from certward.model.deploy import DeployKind, Deployment, DeployPaths
from tests.deploy.daemons import Daemon, daemon_dir, start_nginx
from tests.ports import free_port
from tests.server.conftest import WebProcess

MASTER_KEY = "ab" * 32
DEADLINE = 60.0
WEB_SERVER = "CW01"
CERTWARD = (sys.executable, "-m", "certward")


def wait_until(
    condition: Callable[[], object],
    what: str,
    deadline: float = DEADLINE,
    *,
    hosts: tuple[Host, ...] = (),
) -> object:
    """Poll ``condition`` until it returns something true; fail after ``deadline`` seconds
    (with the agents' logs of ``hosts``)."""
    end = time.monotonic() + deadline
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > end:
            logs = "\n".join(f"--- agent {h.name}:\n{h.log_text()}" for h in hosts)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)  # polling a condition with a deadline, not a sleep as synchronisation


# -- a test CA ----------------------------------------------------------------------------------
@dataclass
class TestCa:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, names: list[str], *, ips: list[str] = (), days: float = 3650, key_matches: bool = True
    ) -> tuple[bytes, bytes, str]:
        """A leaf for ``names`` (and IP addresses): its PEM, its key's PEM (another key's
        when not ``key_matches``), its thumbprint."""
        import ipaddress

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        if not key_matches:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        return cert.public_bytes(serialization.Encoding.PEM), key_pem, thumb(der)


def thumb(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()  # a thumbprint, not security


def make_ca() -> TestCa:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certward agents test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return TestCa(key, cert)


def served(port: int, sni: str) -> str | None:
    """The thumbprint a fresh TLS handshake on 127.0.0.1:``port`` presents for ``sni``."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return None if der is None else thumb(der)


# -- the service -------------------------------------------------------------------------------
@dataclass
class Service:
    """The store (this process's services on it) and its ``certward web`` process."""

    app: App
    url: str  # the database's
    ca: TestCa
    directory: Path
    web: WebProcess | None = None
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)  # name -> secret

    @property
    def api(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "CERTWARD_DB": self.url, "CERTWARD_MASTER_KEY": MASTER_KEY}
        env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "400"})
        return env

    def start(self) -> None:
        """``certward web`` on ``port`` (a free one the first time; the same one after)."""
        self.port = self.port or free_port()
        process = subprocess.Popen(
            [*CERTWARD, "web", "--port", str(self.port), "--server", WEB_SERVER],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
            env=self.env(),
        )
        self.web = WebProcess(process, self.directory / "unused.db")
        try:
            ready = self.web.wait_for(r"^certward web: (https://127\.0\.0\.1:\d+/) ")
            self.web.url = ready.group(1)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
            self.web.close()
            self.web = None

    def client(self, token: str | None) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(
            base_url=self.api,
            headers=headers,
            verify=ssl.create_default_context(cadata=self.ca.pem.decode()),
            trust_env=False,
            timeout=30,
        )

    def token(self, name: str, role: AccessRole, host: str | None = None) -> str:
        if name not in self.tokens:
            self.tokens[name] = self.app.access.create_token(
                name, role, expires_in=None, created_by="tests", host=host
            )[1]
        return self.tokens[name]

    def certificate(self, server: str, names: list[str], **options: object) -> str:
        """Issue, import (exportable) and enable for IIS a certificate on ``server``."""
        cert, key, thumbprint = self.ca.issue(names, **options)  # type: ignore[arg-type]
        self.app.certificates.import_file(
            server, key + cert, source=f"{names[0]}.pem", exportable=True
        )
        from certward.model import parse_thumbprint

        self.app.certificates.enable(
            server,
            parse_thumbprint(thumbprint),
            ServiceSet.parse("IIS"),
            replace_default_smtp=False,
        )
        return thumbprint


@pytest.fixture(scope="module")
def service(
    postgresql_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    name = f"certward_agents_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgresql_url.rsplit("/", 1)[0] + f"/{name}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CERTWARD_MASTER_KEY", MASTER_KEY)
        app = build_app(url)
        svc = Service(app, url, make_ca(), tmp_path_factory.mktemp("agents-service"))
        try:
            app.organisation.init_organisation("Contoso", domain="contoso.com")
            app.organisation.add_server(WEB_SERVER, fqdn="cw01.contoso.com")
            svc.certificate(WEB_SERVER, ["localhost"], ips=["127.0.0.1"], days=3700)
            (svc.directory / "ca.pem").write_bytes(svc.ca.pem)
            svc.start()
            yield svc
        finally:
            svc.stop()
            app.store.close()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


# -- a way to the service that can be cut ------------------------------------------------------
class Gate:
    """A TCP relay on a port of 127.0.0.1 to the service's. Open, it passes connections
    through (TLS end to end: the service's certificate is for 127.0.0.1, whatever the port);
    shut, its port refuses connections and those it carried are dropped, as they are when
    the service stops."""

    def __init__(self, target: int) -> None:
        self.port = free_port()
        self._target = target
        self._listener: socket.socket | None = None
        self._carried: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def api(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
            listener.close()
        with self._lock:
            carried, self._carried = self._carried, set()
        for sock in carried:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # shut
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._carried |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def gate(service: Service) -> Iterator[Gate]:
    """An open :class:`Gate` to the service, shut afterwards."""
    opened = Gate(service.port)
    opened.open()
    try:
        yield opened
    finally:
        opened.shut()


# -- hosts and their agents -------------------------------------------------------------------
@dataclass
class Host:
    """One simulated host: an Exchange-style server in the store whose IIS certificate is
    deployed, its nginx, its deployment, its agent token and its agent's --root."""

    name: str
    server: str
    sni: str
    nginx: Daemon
    certificate: Path  # the files nginx serves
    key: Path
    root: Path
    token_file: Path
    deployment: str
    thumbprint: str  # the certificate its deployment deploys (enabled for IIS on its server)
    agent: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def served(self) -> str | None:
        return served(self.nginx.port, self.sni)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


def make_host(
    service: Service,
    directory: Path,
    name: str,
    *,
    reload: list[str] | None = None,
    paths: tuple[Path, Path] | None = None,
    wait: float = 10.0,
) -> Host:
    """A host ``name`` with its server (certificate enabled for IIS), nginx serving an old
    self-issued certificate, a deployment for the agent and an agent token."""
    directory.mkdir(parents=True, exist_ok=True)
    server = name.upper()
    sni = f"{name}.contoso.com"
    service.app.organisation.add_server(server, fqdn=sni)
    thumbprint = service.certificate(server, [sni], days=3700)
    old_cert, old_key, _ = service.ca.issue([sni], days=30)
    where = daemon_dir("nginx")  # 0755: nginx's workers need their temporary directory
    certificate, key = where / "fullchain.pem", where / "key.pem"
    certificate.write_bytes(old_cert)
    key.touch(mode=0o600)
    key.write_bytes(old_key)
    nginx = start_nginx(where, certificate, key)
    deployment = f"{name}-nginx"
    service.app.deploy.add(
        Deployment(
            name=deployment,
            kind=DeployKind.NGINX,
            server=server,
            services=ServiceSet.parse("IIS"),
            paths=DeployPaths(*(str(p) for p in paths or (certificate, key))),
            verify=f"https://127.0.0.1:{nginx.port}",
            host=name,
            reload=tuple(reload or nginx.reload),
            sni=sni,
            wait=wait,
        )
    )
    token_file = directory / "agent.token"
    token_file.write_text(service.token(f"{name}-agent", AccessRole.AGENT, host=name) + "\n")
    token_file.chmod(0o600)
    return Host(
        name,
        server,
        sni,
        nginx,
        certificate,
        key,
        directory / "root",
        token_file,
        deployment,
        thumbprint,
    )


def start_agent(
    service: Service, host: Host, *args: str, every: str = "1s", api: str | None = None
) -> None:
    """``certward agent`` for ``host`` as its own process (and process group), talking to
    the service at ``api`` (by default its own address)."""
    host.log = host.root.parent / f"agent-{uuid.uuid4().hex[:6]}.log"
    with host.log.open("wb") as log:
        host.agent = subprocess.Popen(
            [
                *CERTWARD,
                *("agent", "--api", api or service.api, "--host", host.name),
                *("--token-file", str(host.token_file), "--root", str(host.root)),
                *("--ca-bundle", str(service.directory / "ca.pem"), "--every", every, *args),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in service.env().items() if k not in ("CERTWARD_DB",)},
            start_new_session=True,
        )


def stop_agent(host: Host, sig: int = signal.SIGTERM) -> int | None:
    """Stop the agent (SIGKILL: its whole process group, a hanging reload included)."""
    if host.agent is None:
        return None
    process, host.agent = host.agent, None
    if process.poll() is None:
        if sig == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.send_signal(sig)
    try:
        return process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


@pytest.fixture
def hosts(service: Service, tmp_path: Path) -> Iterator[Callable[..., Host]]:
    """Makes hosts for a test; stops their agents and nginx afterwards."""
    made: list[Host] = []

    def make(name: str, **options: object) -> Host:
        host = make_host(service, tmp_path / name, f"{name}-{uuid.uuid4().hex[:4]}", **options)  # type: ignore[arg-type]
        made.append(host)
        return host

    yield make
    for host in made:
        stop_agent(host, signal.SIGKILL)
        host.nginx.stop()
