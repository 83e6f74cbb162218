"""``certward store add`` of a bundle large enough for the helper process, run as the command
line runs it: a process of its own (one thread, so the helper is forked), the bundle read
and its facts started on before the store is opened (issue 16).

What it stores is what it says; a certificate that cannot be read, wherever it is in the
bundle (where this process starts or where the helper does), is one error line naming the
file, and nothing is stored."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.pki import certfacts, certinfo
from tests.conftest import Cli

KEY = ec.generate_private_key(ec.SECP256R1())
DAMAGED = Path(__file__).parents[1] / "fuzz" / "corpus" / "extension-duplicate.der"


def _root(n: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Forked Bundle Root {n:03d}")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(KEY, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def roots() -> list[x509.Certificate]:
    return [_root(n) for n in range(certfacts.PARALLEL_FROM + 44)]


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _store_add(path: Path) -> subprocess.CompletedProcess[str]:
    """``certward store add`` in a process of its own, on the test's store ($CERTWARD_DB)."""
    return subprocess.run(
        [sys.executable, "-m", "certward", "store", "add", "--server", "EXCH01",
         "--store", "Root", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _root_store(cli: Cli) -> list[str]:
    listed = cli("store", "list", "-s", "EXCH01", "--store", "Root", "--json").stdout
    return [view["thumbprint"] for view in json.loads(listed)]


def test_a_large_bundle_is_added_and_listed(
    contoso: Cli, tmp_path: Path, roots: list[x509.Certificate]
) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(_pem(*roots))
    done = _store_add(bundle)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    thumbs = [certinfo.thumbprint(certinfo.to_der(r)) for r in roots]
    assert lines[:-1] == [f"Added {t}  CN=Forked Bundle Root {n:03d}" for n, t in enumerate(thumbs)]
    assert lines[-1] == f"{len(roots)} added, 0 already present"
    assert sorted(_root_store(contoso)) == sorted(thumbs)
    again = _store_add(bundle)
    assert again.stdout.splitlines() == [f"0 added, {len(roots)} already present"]


@pytest.mark.parametrize("at", ["start", "end"])
def test_a_damaged_certificate_is_one_error_line_and_nothing_is_stored(
    contoso: Cli, tmp_path: Path, roots: list[x509.Certificate], at: str
) -> None:
    damaged = x509.load_der_x509_certificate(DAMAGED.read_bytes())
    certs = [damaged, *roots] if at == "start" else [*roots, damaged]
    bundle = tmp_path / "damaged.pem"
    bundle.write_bytes(_pem(*certs))
    done = _store_add(bundle)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {bundle}: the certificate's"), line
    assert done.stdout == ""
    assert _root_store(contoso) == []
