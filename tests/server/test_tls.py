"""The console's TLS context: the key goes through the disk only encrypted, in a private
temporary file that is gone once loaded."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.interfaces.server.tls import IisCertificate, ssl_context


def _certificate() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "console.contoso.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def test_the_context_presents_the_certificate_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cert, key = _certificate()
    context = ssl_context(IisCertificate("EXCH01", "AB" * 20, cert, key, min_version="1.3"))
    assert list(tmp_path.iterdir()) == []  # the 0600 file and its 0700 directory are gone
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve_one() -> None:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        thread = threading.Thread(target=serve_one)
        thread.start()
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw) as tls,
        ):
            presented = tls.getpeercert(binary_form=True)
            assert tls.version() == "TLSv1.3"
            tls.send(b"x")
        thread.join(timeout=10)
    assert presented is not None
    assert x509.load_der_x509_certificate(presented) == cert
