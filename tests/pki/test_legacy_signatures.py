"""SHA-1 self-signed certificates (Exchange 2010-2016's own defaults) are self-signed, and a
SHA-1 chain is a chain, although ``verify_directly_issued_by`` refuses their signatures."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography import x509

from certward.pki import certinfo, chain


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_sha1_self_signed_and_sha1_issued(tmp_path: Path) -> None:
    ca, leaf = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-sha1",
        "-days",
        "2",
        "-subj",
        "/CN=EXCH01",
        "-keyout",
        str(tmp_path / "ca.key"),
        "-out",
        str(ca),
    )
    _openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=mail.contoso.com",
        "-keyout",
        str(tmp_path / "leaf.key"),
        "-out",
        str(tmp_path / "leaf.csr"),
    )
    _openssl("x509", "-req", "-sha1", "-days", "1", "-in", str(tmp_path / "leaf.csr"),
             "-CA", str(ca), "-CAkey", str(tmp_path / "ca.key"), "-set_serial", "7",
             "-out", str(leaf))  # fmt: skip
    root = x509.load_pem_x509_certificate(ca.read_bytes())
    issued = x509.load_pem_x509_certificate(leaf.read_bytes())
    assert certinfo.signature_algorithm(root).lower().startswith("sha1")
    assert certinfo.is_self_signed(root)
    assert not certinfo.is_self_signed(issued)
    assert chain.issued_by(issued, root)
    assert not chain.issued_by(root, issued)
    assert chain.build_chain(issued, [root]) == [root]
