"""Debian's ``pebble`` (a real RFC 8555 server) and ``pebble-challtestsrv`` (its mock DNS
server) started on free loopback ports for a test module.

Pebble's own HTTPS needs a certificate: the Debian package ships none, so each start makes a
throwaway CA and a ``localhost``/``127.0.0.1`` certificate in the test's directory;
:attr:`Pebble.ca_bundle` is that CA's PEM, the bundle a client must trust to reach the
directory. The issued chains' root is another matter: Pebble makes it afresh on every start
and serves it on the management interface (:meth:`Pebble.issuing_root`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.ports import free_port, free_udp_tcp_port

# Pebble's example external account binding keys (Debian's
# pebble-config-external-account-bindings.json): test data, not secrets.
EAB_KEYS: Mapping[str, str] = {
    "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
    "kid-2": "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH",
}

START_DEADLINE = 20.0


def _need(command: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise RuntimeError(f"{command} is not installed (.ci/run installs the pebble package)")
    return path


@dataclass
class _Process:
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def check_alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{what} exited: {self.log.read_text(errors='replace')[-2000:]}")


@dataclass
class ChallTestSrv:
    """pebble-challtestsrv answering every A query with 127.0.0.1 (its ``-defaultIPv4``)."""

    dns_address: str
    management_url: str
    _process: _Process

    def stop(self) -> None:
        self._process.stop()


def start_challtestsrv(directory: Path) -> ChallTestSrv:
    directory.mkdir(parents=True, exist_ok=True)
    dns_port = free_udp_tcp_port()
    management_port = free_port()
    log = directory / "challtestsrv.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                _need("pebble-challtestsrv"),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                f"127.0.0.1:{dns_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"127.0.0.1:{management_port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    handle = _Process(process, log)
    deadline = time.monotonic() + START_DEADLINE
    while True:
        handle.check_alive("pebble-challtestsrv")
        try:
            with socket.create_connection(("127.0.0.1", dns_port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                handle.stop()
                raise RuntimeError("pebble-challtestsrv did not start listening") from None
            time.sleep(0.05)
    return ChallTestSrv(f"127.0.0.1:{dns_port}", f"http://127.0.0.1:{management_port}", handle)


@dataclass
class Pebble:
    """A running Pebble: its directory URL, the CA bundle that verifies its HTTPS, and the
    ports its validation authority connects to for HTTP-01 and TLS-ALPN-01."""

    directory_url: str
    ca_bundle: Path
    http_port: int
    tls_port: int
    management_url: str
    config: Path
    _process: _Process
    eab_keys: Mapping[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self._process.stop()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def issuing_root(self) -> bytes:
        """The root (PEM) of the chains this Pebble issues (management ``/roots/0``)."""
        with urllib.request.urlopen(
            f"{self.management_url}/roots/0", context=self.ssl_context(), timeout=10
        ) as answer:
            data: bytes = answer.read()
        return data

    def log(self) -> str:
        return self._process.log.read_text(errors="replace")


def _tls_material(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for localhost and 127.0.0.1 it issued (PEM files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certward tests pebble CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = directory / "pebble-ca.pem"
    cert_pem = directory / "pebble-cert.pem"
    key_pem = directory / "pebble-key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_pem.chmod(0o600)
    return ca_pem, cert_pem, key_pem


def start_pebble(
    tmp_path: Path,
    *,
    dns_server: str,
    eab_keys: Mapping[str, str] | None = None,
    validity_seconds: int | None = None,
    domain_blocklist: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Pebble:
    """Start Pebble on free 127.0.0.1 ports, resolving names through ``dns_server``
    (``host:port``); return once its directory answers over HTTPS.

    ``eab_keys`` makes external account binding required with those keys (kid → base64url
    HMAC key); ``validity_seconds`` sets the issued certificates' lifetime;
    ``domain_blocklist`` names Pebble refuses (``rejectedIdentifier``)."""
    directory = tmp_path / "pebble"
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem, cert_pem, key_pem = _tls_material(directory)
    listen, management = free_port(), free_port()
    http_port, tls_port = free_port(), free_port()
    settings: dict[str, object] = {
        "listenAddress": f"127.0.0.1:{listen}",
        "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(cert_pem),
        "privateKey": str(key_pem),
        "httpPort": http_port,
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": bool(eab_keys),
    }
    if eab_keys:
        settings["externalAccountMACKeys"] = dict(eab_keys)
    if validity_seconds is not None:
        settings["certificateValidityPeriod"] = validity_seconds
    if domain_blocklist:
        settings["domainBlocklist"] = list(domain_blocklist)
    config = directory / "pebble-config.json"
    config.write_text(json.dumps({"pebble": settings}, indent=2))
    process_env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": "0",
        **(env or {}),
    }
    log = directory / "pebble.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_need("pebble"), "-config", str(config), "-dnsserver", dns_server],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=process_env,
        )
    handle = _Process(process, log)
    pebble = Pebble(
        directory_url=f"https://127.0.0.1:{listen}/dir",
        ca_bundle=ca_pem,
        http_port=http_port,
        tls_port=tls_port,
        management_url=f"https://127.0.0.1:{management}",
        config=config,
        _process=handle,
        eab_keys=dict(eab_keys or {}),
    )
    context = pebble.ssl_context()
    deadline = time.monotonic() + START_DEADLINE
    while True:
        handle.check_alive("pebble")
        try:
            with urllib.request.urlopen(pebble.directory_url, context=context, timeout=2) as r:
                if r.status == 200:
                    return pebble
        except OSError:
            pass
        if time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"pebble did not answer its directory: {pebble.log()[-2000:]}")
        time.sleep(0.05)
