"""The TLS layer sends a client-CA list of any size: 355 roots (about 56 KB) in one flight.

Twisted hands at most 32 KB of a handshake flight to the transport per call
(twisted/twisted#5095); certward's fix drains the send BIO. Without it a TLS 1.2 client
waits for the rest of the CertificateRequest for ever.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certward.pki import build, clientca
from certward.pki.names import parse_exchange_dn
from tests.conftest import find_openssl

HERE = Path(__file__).parent
NOW = dt.datetime.now(dt.UTC)


def roots(count: int) -> list[x509.Certificate]:
    """Root certificates with subjects as long as real ones (about 155 bytes each: 355 of
    them make the 56 KB list of seed 001)."""
    key = ec.generate_private_key(ec.SECP256R1())
    made = []
    for i in range(count):
        name = x509.Name.from_rfc4514_string(
            f"CN=Example Trust Services Root Certification Authority {i:03},"
            "OU=Example Root Program 2013,O=Example Trust Services Inc,C=US"
        )
        made.append(
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(i + 1)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
    return made


@pytest.fixture(scope="module")
def server_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())  # the key type is not under test
    cert = build.self_signed(
        key,  # type: ignore[arg-type]
        parse_exchange_dn("CN=hub01.contoso.com"), ["hub01.contoso.com"],
        not_before=NOW, not_after=NOW + dt.timedelta(days=30),
    )  # fmt: skip
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    many = roots(355)
    (d / "roots.pem").write_bytes(
        b"".join(r.public_bytes(serialization.Encoding.PEM) for r in many)
    )
    assert clientca.encoded_size([r.subject for r in many]) > 2**15  # more than one flush
    return d / "cert.pem", d / "key.pem", d / "roots.pem"


def _handshake(files: tuple[Path, Path, Path], *flags: str, timeout: float) -> str:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "tls_server.py"), *map(str, files), *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening "), line
        port = line.split()[1]
        done = subprocess.run(
            [find_openssl(), "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"],
            input=b"ping\n",
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        return done.stdout.decode(errors="replace")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_355_roots_complete_a_tls_1_2_handshake(server_files: tuple[Path, Path, Path]) -> None:
    output = _handshake(server_files, timeout=60)
    assert "Acceptable client certificate CA names" in output
    names = output.split("Acceptable client certificate CA names")[1].split("Requested")[0]
    assert names.count("Example Trust Services Root Certification Authority") == 355
    assert "New, TLSv1.2, Cipher is " in output  # the handshake completed


def test_without_the_fix_the_handshake_stalls(server_files: tuple[Path, Path, Path]) -> None:
    """The server answers the ClientHello with 32 KB of its flight and keeps the rest until
    the client speaks again; the client waits for the rest of the CertificateRequest."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "tls_server.py"), *map(str, server_files), "--no-fix"],
        stdout=subprocess.PIPE,
        text=True,
    )
    client = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening "), line
        client = subprocess.Popen(
            [find_openssl(), "s_client", "-connect", f"127.0.0.1:{line.split()[1]}", "-tls1_2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        sent = 0
        while sent == 0:  # the ClientHello read (in one piece or more) and answered
            line = server.stdout.readline()
            assert line.startswith("sent "), line
            sent = int(line.split()[1])
        # All the server writes until the client sends again: one flush of Twisted's TLS
        # layer, short of the flight (the 355 names alone are about 56 KB).
        assert sent == 2**15
        # And the client, which has nothing to send before the flight ends, waits for it.
        with pytest.raises(subprocess.TimeoutExpired):
            client.communicate(b"ping\n", timeout=1)
    finally:
        if client is not None:
            client.kill()
            client.communicate()
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
