"""Root and CA stores, error handling, key protection, database selection, the console script.

* `certward store add|list|remove`: PEM bundles (hundreds in one call), DER, PKCS#7.
* Bad input gives one `error: ...` line naming the problem (and the file), a non-zero exit,
  no traceback, and an unchanged store (issue 2, "Errors").
* Private keys never appear in output, and are encrypted at rest under a master key from
  `$CERTWARD_MASTER_KEY` or a 0600 key file beside the database.
* `--db` overrides `$CERTWARD_DB`; `quickstart` works from the installed console script.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from sqlalchemy import event
from sqlalchemy.engine import Engine

from certward.interfaces.cli.app import app
from certward.pki import ca
from tests.conftest import Cli, thumbprints

AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
PASSWORD = b"Pa55word!"


# -- fixtures and helpers ---------------------------------------------------------------------


def ec_ca_certificate(index: int, common_name: str | None = None) -> x509.Certificate:
    """A self-signed CA certificate on a P-256 key (fast to make, unlike RSA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Bundle Test"),
            x509.NameAttribute(
                x509.NameOID.COMMON_NAME, common_name or f"Bundle Test Root {index:03d}"
            ),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
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


@pytest.fixture(scope="module")
def roots() -> list[x509.Certificate]:
    return [ec_ca_certificate(i) for i in range(300)]


def thumb(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def refused(cli: Cli, *args: str) -> str:
    """Run a command that must fail cleanly; return its single ``error: ...`` line."""
    result = cli.runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"certward {' '.join(args)} crashed with a traceback instead of one error line: "
            f"{result.exception!r}"
        ) from result.exception
    assert result.exit_code != 0, f"certward {' '.join(args)} succeeded: {result.stdout}"
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {result.stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def snapshot(cli: Cli, db: Path) -> tuple[str, bytes]:
    """What must not change when a command fails: the inventory and the database file."""
    return cli("inventory", "--json").stdout, db.read_bytes()


def store_list(cli: Cli, store: str, server: str = "EXCH01") -> dict[str, dict[str, Any]]:
    entries = cli.json("store", "list", "--server", server, "--store", store)
    return {c["thumbprint"]: c for c in entries}


def own_thumbprint(cli: Cli, server: str = "EXCH01") -> str:
    return next(t for t, c in thumbprints(cli, server).items() if c["subject"] == f"CN={server}")


def auth_thumbprint(cli: Cli) -> str:
    return cli.json("org", "show")["auth_thumbprint"]


# -- store add / list / remove ----------------------------------------------------------------


def test_store_add_a_bundle_of_hundreds_in_one_call(
    contoso: Cli, tmp_path: Path, roots: list[x509.Certificate]
) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pem(*roots))
    personal = set(thumbprints(contoso, "EXCH01"))

    statements: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    # In bulk, not one certificate at a time: counted in SQL statements, not in seconds (a
    # loaded machine stretches seconds; one certificate per statement would be 300 or more).
    event.listen(Engine, "before_cursor_execute", executed)
    try:
        out = contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(bundle)).stdout
    finally:
        event.remove(Engine, "before_cursor_execute", executed)

    assert "300 added, 0 already present" in out
    assert len(statements) < 30, f"adding 300 certificates took {len(statements)} statements"
    listed = store_list(contoso, "Root")
    assert set(listed) == {thumb(c) for c in roots}
    assert listed[thumb(roots[7])]["subject"] == "CN=Bundle Test Root 007, O=Bundle Test"
    assert {c["status"] for c in listed.values()} == {"Valid"}
    # Per server: EXCH02's Root store and EXCH01's CA store are untouched.
    assert store_list(contoso, "Root", "EXCH02") == {}
    assert store_list(contoso, "CA") == {}
    # The personal store is not where trust anchors go.
    assert set(thumbprints(contoso, "EXCH01")) == personal

    again = contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(bundle)).stdout
    assert "0 added, 300 already present" in again
    assert len(store_list(contoso, "Root")) == 300


def test_store_add_prints_subjects_as_they_are(contoso: Cli, tmp_path: Path) -> None:
    """What looks like markup or an emoji code in a subject is printed as written."""
    odd = ec_ca_certificate(0, "Root :thumbs_up: [bold]x[/bold]")
    bundle = tmp_path / "odd.pem"
    bundle.write_bytes(pem(odd))
    out = contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(bundle)).stdout
    assert out == (
        f"Added {thumb(odd)}  CN=Root :thumbs_up: [bold]x[/bold], O=Bundle Test\n"
        "1 added, 0 already present\n"
    )
    listed = contoso("store", "list", "--server", "EXCH01", "--store", "Root").stdout
    assert "CN=Root :thumbs_up: [bold]x[/bold], O=Bundle Test" in listed


def test_store_add_reports_duplicates_as_already_present(
    contoso: Cli, tmp_path: Path, roots: list[x509.Certificate]
) -> None:
    first = tmp_path / "first.pem"
    first.write_bytes(pem(roots[0]))
    contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(first))
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(pem(roots[0], roots[1], roots[1], roots[2]))

    out = contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(mixed)).stdout

    assert "2 added, 2 already present" in out
    assert thumb(roots[1]) in out and thumb(roots[2]) in out
    assert set(store_list(contoso, "Root")) == {thumb(c) for c in roots[:3]}


def test_store_add_der(contoso: Cli, tmp_path: Path, roots: list[x509.Certificate]) -> None:
    der = tmp_path / "root.cer"
    der.write_bytes(roots[0].public_bytes(serialization.Encoding.DER))

    out = contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(der)).stdout

    assert "1 added, 0 already present" in out
    assert set(store_list(contoso, "Root")) == {thumb(roots[0])}


@pytest.mark.parametrize("encoding", [serialization.Encoding.DER, serialization.Encoding.PEM])
def test_store_add_pkcs7(
    contoso: Cli, tmp_path: Path, authority: ca.Authority, encoding: serialization.Encoding
) -> None:
    chain = [authority.certificate, *authority.chain]
    p7b = tmp_path / "chain.p7b"
    p7b.write_bytes(pkcs7.serialize_certificates(chain, encoding))

    out = contoso("store", "add", "--server", "EXCH01", "--store", "CA", str(p7b)).stdout

    assert "2 added, 0 already present" in out
    assert set(store_list(contoso, "CA")) == {thumb(c) for c in chain}


def test_store_list_json_prints_certificate_objects(
    contoso: Cli, tmp_path: Path, authority: ca.Authority
) -> None:
    intermediate = tmp_path / "issuing.pem"
    intermediate.write_bytes(pem(authority.certificate))
    contoso("store", "add", "--server", "EXCH01", "--store", "CA", str(intermediate))

    (entry,) = contoso.json("store", "list", "--server", "EXCH01", "--store", "CA")

    assert entry["thumbprint"] == thumb(authority.certificate)
    assert entry["subject"].startswith("CN=Fabrikam Test Issuing CA")
    assert entry["issuer"].startswith("CN=Fabrikam Test Root CA")
    assert entry["is_self_signed"] is False
    assert entry["has_private_key"] is False
    assert entry["public_key_size"] == 2048
    assert set(entry) >= {"thumbprint", "subject", "issuer", "not_before", "not_after", "status"}
    text = contoso("store", "list", "--server", "EXCH01", "--store", "CA").stdout
    assert thumb(authority.certificate) in text
    assert contoso.json("store", "list", "--server", "EXCH01", "--store", "Root") == []


def test_store_remove(contoso: Cli, tmp_path: Path, roots: list[x509.Certificate]) -> None:
    bundle = tmp_path / "three.pem"
    bundle.write_bytes(pem(*roots[:3]))
    contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(bundle))

    contoso("store", "remove", thumb(roots[1]), "--server", "EXCH01", "--store", "Root")

    assert set(store_list(contoso, "Root")) == {thumb(roots[0]), thumb(roots[2])}
    # Not in the CA store, and no longer in the Root store.
    assert thumb(roots[0]) in refused(
        contoso, "store", "remove", thumb(roots[0]), "--server", "EXCH01", "--store", "CA"
    )
    assert thumb(roots[1]) in refused(
        contoso, "store", "remove", thumb(roots[1]), "--server", "EXCH01", "--store", "Root"
    )


def test_the_root_store_decides_whether_a_ca_certificate_is_valid(
    contoso: Cli, tmp_path: Path, authority: ca.Authority
) -> None:
    csr_file = tmp_path / "req.csr"
    contoso(
        "cert",
        "request",
        "--server",
        "EXCH01",
        "--subject",
        "CN=webmail.contoso.com",
        "--key-size",
        "1024",
        "--out",
        str(csr_file),
    )
    leaf = ca.issue(
        authority, x509.load_pem_x509_csr(csr_file.read_bytes()), now=dt.datetime.now(dt.UTC)
    )
    reply = tmp_path / "reply.cer"
    reply.write_bytes(pem(leaf))
    contoso("cert", "import", "--server", "EXCH01", str(reply))

    def status() -> str:
        return thumbprints(contoso, "EXCH01")[thumb(leaf)]["status"]

    assert status() == "Untrusted"
    root_file, issuing_file = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root_file.write_bytes(pem(authority.chain[0]))
    issuing_file.write_bytes(pem(authority.certificate))
    contoso("store", "add", "--server", "EXCH01", "--store", "CA", str(issuing_file))
    contoso("store", "add", "--server", "EXCH01", "--store", "Root", str(root_file))
    assert status() == "Valid"

    contoso("store", "remove", thumb(authority.chain[0]), "--server", "EXCH01", "--store", "Root")
    assert status() == "Untrusted"


@pytest.mark.parametrize("command", ["add", "list", "remove"])
@pytest.mark.parametrize("store", ["My", "Personal"])
def test_store_commands_refuse_anything_but_root_and_ca(
    contoso: Cli,
    isolated_store: Path,
    tmp_path: Path,
    roots: list[x509.Certificate],
    command: str,
    store: str,
) -> None:
    certificate = tmp_path / "root.pem"
    certificate.write_bytes(pem(roots[0]))
    operand = {"add": [str(certificate)], "list": [], "remove": [own_thumbprint(contoso)]}
    before = snapshot(contoso, isolated_store)

    line = refused(
        contoso, "store", command, *operand[command], "--server", "EXCH01", "--store", store
    )

    assert store in line or "My" in line
    assert snapshot(contoso, isolated_store) == before


# -- error handling ---------------------------------------------------------------------------

GARBAGE = b"This is not a certificate.\nJust some text an admin saved by mistake.\n"
BINARY_GARBAGE = bytes(range(256)) * 8
DAMAGED_PEM = b"-----BEGIN CERTIFICATE-----\nTUlJQyBpcyBub3QgREVS\n-----END CERTIFICATE-----\n"
UNKNOWN = "0123456789ABCDEF0123456789ABCDEF01234567"


def _key_and_certificate() -> tuple[bytes, bytes]:
    """A CSR, and a certificate with its (EC) key in one PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "webmail.contoso.com")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return csr.public_bytes(serialization.Encoding.PEM), key_pem + pem(cert)


CSR_PEM, KEY_AND_CERT_PEM = _key_and_certificate()

# Files the failing commands read, written into the test's directory first.
INPUT_FILES = {
    "reply.p7b": GARBAGE,
    "reply.cer": BINARY_GARBAGE,
    "damaged.pem": DAMAGED_PEM,
    "roots.pem": GARBAGE,
    "empty.cer": b"",
    "empty.p7b": b"\n",
    "webmail.req": CSR_PEM,
    "with-key.pem": KEY_AND_CERT_PEM,
    "pw.txt": PASSWORD + b"\n",
    "a-file": b"a file, not a directory",
}


@dataclass(frozen=True)
class Case:
    """A failing command line ({tmp}, {own}, {auth}, {unknown} filled in) and the words its
    error line must contain."""

    command: str
    named: tuple[str, ...]


ERROR_CASES = {
    # garbage, empty and missing files: the error names the file
    "garbage text to cert import": Case(
        "cert import --server EXCH01 {tmp}/reply.p7b", ("reply.p7b",)),
    "binary garbage to cert import": Case(
        "cert import --server EXCH01 {tmp}/reply.cer", ("reply.cer",)),
    "damaged PEM to cert import": Case(
        "cert import --server EXCH01 {tmp}/damaged.pem", ("damaged.pem",)),
    "damaged PEM to store add": Case(
        "store add --server EXCH01 --store Root {tmp}/damaged.pem", ("damaged.pem",)),
    "garbage to store add": Case(
        "store add --server EXCH01 --store Root {tmp}/roots.pem", ("roots.pem",)),
    "empty file to cert import": Case(
        "cert import --server EXCH01 {tmp}/empty.cer", ("empty.cer", "empty")),
    "empty file to store add": Case(
        "store add --server EXCH01 --store CA {tmp}/empty.p7b", ("empty.p7b", "empty")),
    "missing file to cert import": Case(
        "cert import --server EXCH01 {tmp}/nowhere.pfx", ("nowhere.pfx",)),
    "missing file to store add": Case(
        "store add --server EXCH01 --store Root {tmp}/nowhere.pem", ("nowhere.pem",)),
    "a certificate request given to cert import": Case(
        "cert import --server EXCH01 {tmp}/webmail.req", ("webmail.req", "request")),
    "a private key given to store add": Case(
        "store add --server EXCH01 --store Root {tmp}/with-key.pem",
        ("with-key.pem", "private key")),
    # unknown thumbprints, servers
    "unknown thumbprint to cert show": Case(
        "cert show {unknown} --server EXCH01", (UNKNOWN,)),
    "unknown thumbprint to cert enable": Case(
        "cert enable {unknown} --server EXCH01 --services IIS", (UNKNOWN,)),
    "unknown thumbprint to cert remove": Case(
        "cert remove {unknown} --server EXCH01 --force", (UNKNOWN,)),
    "unknown thumbprint to cert renew": Case(
        "cert renew {unknown} --server EXCH01", (UNKNOWN,)),
    "unknown thumbprint to cert export": Case(
        "cert export {unknown} --server EXCH01 --out {tmp}/x.pfx --password-file {tmp}/pw.txt",
        (UNKNOWN,)),
    "unknown thumbprint to store remove": Case(
        "store remove {unknown} --server EXCH01 --store Root", (UNKNOWN,)),
    "not a thumbprint": Case(
        "cert show XYZ-not-hex --server EXCH01", ("XYZ-not-hex",)),
    "unknown server": Case(
        "cert enable {own} --server EXCH09 --services IIS", ("EXCH09",)),
    # malformed distinguished names (Exchange's -SubjectName syntax)
    "unknown DN attribute": Case(
        "cert new --server EXCH01 --subject 'CN=a, X=b' --services IIS", ("X",)),
    "unterminated quote in DN": Case(
        """cert request --server EXCH01 --subject 'O="Contoso, CN=webmail' """
        "--out {tmp}/never.csr", ("quote",)),
    "DN without key=value": Case(
        "cert request --server EXCH01 --subject webmail.contoso.com --out {tmp}/never.csr",
        ("webmail.contoso.com",)),
    "DN with a bad country": Case(
        "cert new --server EXCH01 --subject 'C=Netherlands, CN=webmail' --services IIS",
        ("Netherlands",)),
    # invalid service names
    "invalid service to cert enable": Case(
        "cert enable {own} --server EXCH01 --services IIS,Telnet", ("Telnet",)),
    "invalid service to cert new": Case(
        "cert new --server EXCH01 --subject CN=a.contoso.com --services HTTP", ("HTTP",)),
    # outputs that cannot be written, keys that may not leave
    "request to a directory that does not exist": Case(
        "cert request --server EXCH01 --subject CN=webmail.contoso.com --key-size 1024 "
        "--out {tmp}/no-such-dir/webmail.csr", ("webmail.csr",)),
    "export to a directory that does not exist": Case(
        "cert export {auth} --server EXCH01 --out {tmp}/no-such-dir/backup.pfx "
        "--password-file {tmp}/pw.txt", ("backup.pfx",)),
    "export of a key that is not exportable": Case(
        "cert export {own} --server EXCH01 --out {tmp}/own.pfx --password-file {tmp}/pw.txt",
        ("exportable",)),
    # a database that cannot be opened
    "--db names a directory": Case(
        "cert list --server EXCH01 --db {tmp}/databases/inner", ("inner",)),
    "--db under a regular file": Case(
        "cert list --server EXCH01 --db {tmp}/a-file/sub/certward.db", ("a-file",)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_bad_input_gives_one_error_line_and_changes_nothing(
    contoso: Cli, isolated_store: Path, tmp_path: Path, case: str
) -> None:
    for name, data in INPUT_FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "databases" / "inner").mkdir(parents=True)
    own, auth = own_thumbprint(contoso), auth_thumbprint(contoso)
    command = ERROR_CASES[case].command.format(tmp=tmp_path, own=own, auth=auth, unknown=UNKNOWN)
    files_before = sorted(p.name for p in tmp_path.iterdir())
    before = snapshot(contoso, isolated_store)

    line = refused(contoso, *shlex.split(command))

    for word in ERROR_CASES[case].named:
        assert word in line, f"{word!r} not named in {line!r}"
    assert snapshot(contoso, isolated_store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # no output written


def test_wrong_pfx_password(
    contoso: Cli, isolated_store: Path, tmp_path: Path, password_file: Path
) -> None:
    pfx = tmp_path / "auth.pfx"
    contoso(
        "cert",
        "export",
        auth_thumbprint(contoso),
        "--server",
        "EXCH01",
        "--out",
        str(pfx),
        "--password-file",
        str(password_file),
    )
    contoso("cert", "remove", auth_thumbprint(contoso), "--server", "EXCH02", "--force")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-password\n")
    before = snapshot(contoso, isolated_store)

    line = refused(
        contoso, "cert", "import", "--server", "EXCH02", str(pfx), "--password-file", str(wrong)
    )

    assert "auth.pfx" in line
    assert "password" in line
    assert snapshot(contoso, isolated_store) == before


# -- private keys -----------------------------------------------------------------------------


def key_encodings(key: rsa.RSAPrivateKey) -> list[bytes]:
    """Forms in which a leaked key could show up: DER, PEM bodies, base64, hex, d."""
    nopass = serialization.NoEncryption()
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, nopass)
    pkcs1 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, nopass
    )
    d = key.private_numbers().d
    d_bytes = d.to_bytes((d.bit_length() + 7) // 8, "big")
    forms = [pkcs8, pkcs1, d_bytes]
    forms += [base64.b64encode(der)[:64] for der in (pkcs8, pkcs1)]
    forms += [der.hex().encode()[:64] for der in (pkcs8, pkcs1)]
    forms += [d_bytes.hex().encode()[:64], d_bytes.hex().upper().encode()[:64]]
    return forms


def exported_key(cli: Cli, thumbprint: str, out: Path, password_file: Path) -> rsa.RSAPrivateKey:
    cli(
        "cert",
        "export",
        thumbprint,
        "--server",
        "EXCH01",
        "--out",
        str(out),
        "--password-file",
        str(password_file),
    )
    key, _, _ = pkcs12.load_key_and_certificates(out.read_bytes(), PASSWORD)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_private_keys_never_appear_in_output_and_are_encrypted_at_rest(
    cli: Cli, isolated_store: Path, tmp_path: Path, password_file: Path, authority: ca.Authority
) -> None:
    outputs: list[str] = []

    def run(*args: str) -> str:
        result = cli(*args)
        outputs.append(result.stdout + result.stderr)
        return result.stdout

    run("org", "init", "Contoso", "--domain", "contoso.com")
    run("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    run("server", "add", "EDGE01", "--fqdn", "edge01.contoso.com", "--role", "EdgeTransport")
    run(
        "cert",
        "new",
        "--server",
        "EXCH01",
        "--subject",
        "CN=mail.contoso.com",
        "--exportable",
        "--force",
        "--key-size",
        "1024",
    )
    csr = tmp_path / "req.csr"
    run(
        "cert",
        "request",
        "--server",
        "EXCH01",
        "--subject",
        "CN=webmail.contoso.com",
        "--exportable",
        "--key-size",
        "1024",
        "--out",
        str(csr),
    )
    leaf = ca.issue(
        authority, x509.load_pem_x509_csr(csr.read_bytes()), now=dt.datetime.now(dt.UTC)
    )
    reply = tmp_path / "reply.p7b"
    reply.write_bytes(
        pkcs7.serialize_certificates(
            [leaf, authority.certificate, *authority.chain], serialization.Encoding.DER
        )
    )
    run("cert", "import", "--server", "EXCH01", str(reply))
    run(
        "cert",
        "enable",
        thumb(leaf),
        "--server",
        "EXCH01",
        "--services",
        "IIS,SMTP",
        "--keep-default-smtp",
    )
    certs = thumbprints(cli, "EXCH01")
    mail = next(t for t, c in certs.items() if c["subject"] == "CN=mail.contoso.com")
    keys = [
        exported_key(cli, t, tmp_path / f"{i}.pfx", password_file)
        for i, t in enumerate([mail, thumb(leaf), auth_thumbprint(cli)])
    ]
    run(
        "cert",
        "export",
        mail,
        "--server",
        "EXCH01",
        "--out",
        str(tmp_path / "again.pfx"),
        "--password-file",
        str(password_file),
        "--legacy-encryption",
    )
    run("cert", "renew", mail, "--server", "EXCH01")
    for command in (
        ["org", "show"],
        ["server", "list"],
        ["server", "show", "EXCH01"],
        ["cert", "list", "--server", "EXCH01"],
        ["cert", "show", mail, "--server", "EXCH01"],
        ["store", "list", "--server", "EXCH01", "--store", "Root"],
        ["store", "list", "--server", "EXCH01", "--store", "CA"],
        ["inventory"],
    ):
        run(*command)
        run(*command, "--json")

    everything = "\n".join(outputs)
    assert "PRIVATE KEY" not in everything
    database = isolated_store.read_bytes()
    assert b"PRIVATE KEY" not in database
    for key in keys:
        for form in key_encodings(key):
            assert form.decode("latin-1") not in everything
            assert form not in database


def test_key_file_beside_the_database_has_mode_0600(cli: Cli, isolated_store: Path) -> None:
    cli("org", "init", "Contoso")

    key_file = isolated_store.parent / "certward.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The master key itself is not printed or stored in the database.
    master = key_file.read_bytes().strip()
    assert master
    assert master not in isolated_store.read_bytes()


def test_master_key_from_the_environment(
    cli: Cli,
    isolated_store: Path,
    tmp_path: Path,
    password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "correct horse battery staple")
    cli("org", "init", "Contoso")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")

    assert not (isolated_store.parent / "certward.key").exists()
    assert list(isolated_store.parent.glob("*.key")) == []
    # The same key opens the stored keys again.
    key = exported_key(cli, auth_thumbprint(cli), tmp_path / "auth.pfx", password_file)
    assert key.key_size == 2048


def test_wrong_master_key_is_a_clear_error(
    cli: Cli,
    isolated_store: Path,
    tmp_path: Path,
    password_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "correct horse battery staple")
    cli("org", "init", "Contoso")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    auth = auth_thumbprint(cli)
    before = snapshot(cli, isolated_store)
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "wrong horse")
    out = tmp_path / "auth.pfx"

    line = refused(
        cli,
        "cert",
        "export",
        auth,
        "--server",
        "EXCH01",
        "--out",
        str(out),
        "--password-file",
        str(password_file),
    )

    assert "master key" in line
    assert not out.exists()
    # Publishing the auth certificate to a new server needs its key too.
    assert "master key" in refused(cli, "server", "add", "EXCH02", "--fqdn", "e2.contoso.com")
    monkeypatch.setenv("CERTWARD_MASTER_KEY", "correct horse battery staple")
    assert snapshot(cli, isolated_store) == before


def test_wrong_key_file_is_a_clear_error(
    cli: Cli, isolated_store: Path, tmp_path: Path, password_file: Path
) -> None:
    cli("org", "init", "Contoso")
    cli("server", "add", "EXCH01", "--fqdn", "exch01.contoso.com")
    auth = auth_thumbprint(cli)
    key_file = isolated_store.parent / "certward.key"
    key_file.write_bytes(b"0" * 64 + b"\n")

    line = refused(
        cli,
        "cert",
        "export",
        auth,
        "--server",
        "EXCH01",
        "--out",
        str(tmp_path / "auth.pfx"),
        "--password-file",
        str(password_file),
    )

    assert "master key" in line


# -- choosing the database --------------------------------------------------------------------


def test_db_option_overrides_certward_db(
    contoso: Cli, isolated_store: Path, tmp_path: Path
) -> None:
    env_db_before = isolated_store.read_bytes()
    other = tmp_path / "other" / "fabrikam.db"

    contoso("org", "init", "Fabrikam", "--db", str(other))
    contoso("server", "add", "FAB01", "--fqdn", "fab01.fabrikam.com", "--db", str(other))

    assert isolated_store.read_bytes() == env_db_before
    assert [s["name"] for s in contoso.json("server", "list", "--db", str(other))] == ["FAB01"]
    assert contoso.json("org", "show", "--db", str(other))["name"] == "Fabrikam"
    # The top-level form works too.
    top = contoso("--db", str(other), "server", "list", "--json").stdout
    assert "FAB01" in top and "EXCH01" not in top
    # Without --db, $CERTWARD_DB is used.
    assert [s["name"] for s in contoso.json("server", "list")] == ["EXCH01", "EXCH02"]
    # Its own key file, beside it, mode 0600.
    key_file = other.parent / "certward.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes() != (isolated_store.parent / "certward.key").read_bytes()


def test_certward_db_environment_variable_is_used(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere" / "store.db"
    monkeypatch.setenv("CERTWARD_DB", str(elsewhere))

    cli("org", "init", "Contoso")

    assert elsewhere.is_file()
    assert (elsewhere.parent / "certward.key").is_file()


# -- the installed console script -------------------------------------------------------------


def console_script() -> str:
    found = shutil.which("certward", path=str(Path(sys.executable).parent)) or shutil.which(
        "certward"
    )
    if found is None:
        pytest.skip("the certward console script is not installed (pip install -e .)")
    return found


def test_quickstart_from_the_console_script(tmp_path: Path) -> None:
    db = tmp_path / "quick" / "certward.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    done = subprocess.run(
        [console_script(), "quickstart", "--db", str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name in ("EXCH01", "EXCH02", "EDGE01", "webmail.p365labs.com"):
        assert name in done.stdout, name
    assert db.is_file()
    assert stat.S_IMODE((db.parent / "certward.key").stat().st_mode) == 0o600

    again = subprocess.run(
        [console_script(), "--db", str(db), "inventory", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    servers = {s["name"]: s for s in json.loads(again.stdout)}
    assert set(servers) == {"EXCH01", "EXCH02", "EDGE01"}
    webmail = [
        c
        for s in servers.values()
        for c in s["certificates"]
        if c["subject"].startswith("CN=webmail.p365labs.com")
    ]
    assert {c["server"] for c in webmail} == {"EXCH01", "EXCH02"}
    assert len({c["thumbprint"] for c in webmail}) == 1
