"""certward's artefacts cross-checked with the real ``openssl`` command.

Requests (CSR) that certward writes are read and verified by ``openssl req``; replies come
from a root + intermediate CA made by ``openssl`` and are delivered as a .p7b; PFX files
written by ``cert export`` are opened by ``openssl pkcs12``, and a PFX made by
``openssl pkcs12 -export`` is imported by certward.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.conftest import Cli, OpenSslCa, find_openssl, openssl, thumbprints

SEED_SUBJECT = "c=NL, S=Noord-Holland, L=Amsterdam, O=Contoso, OU=RND, CN=webmail.p365labs.com"
SEED_DOMAINS = ("webmail.p365labs.com", "Autodiscover.p365labs.com")
SEED_SUBJECT_ORDER = [
    ("C", "NL"),
    ("ST", "Noord-Holland"),
    ("L", "Amsterdam"),
    ("O", "Contoso"),
    ("OU", "RND"),
    ("CN", "webmail.p365labs.com"),
]


# -- helpers ---------------------------------------------------------------------------------
def openssl_all(*args: str) -> str:
    """Run openssl and return stdout + stderr (some answers, e.g. ``verify OK``, go to
    stderr, and ``openssl req -verify`` exits 0 even when the signature is bad)."""
    done = subprocess.run([find_openssl(), *args], capture_output=True, check=False)
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"openssl {' '.join(args)} failed: {output}"
    return output


def sha1_thumbprint(pem: Path) -> str:
    """The certificate's thumbprint as openssl computes it (SHA-1 of the DER)."""
    out = openssl("x509", "-in", str(pem), "-noout", "-fingerprint", "-sha1")
    return out.strip().split("=", 1)[1].replace(":", "").upper()


def request(
    cli: Cli,
    out: Path,
    *,
    server: str = "EXCH01",
    subject: str = SEED_SUBJECT,
    domains: tuple[str, ...] = SEED_DOMAINS,
    extra: tuple[str, ...] = ("--exportable",),
) -> str:
    """``cert request``; returns the pending request's identifier."""
    args = ["cert", "request", "--server", server, "--subject", subject, "--out", str(out)]
    for domain in domains:
        args += ["--domain", domain]
    result = cli(*args, *extra)
    assert "PendingRequest" in result.stdout
    return result.stdout.split()[0]


def imported(result: Result) -> str:
    """The thumbprint ``cert import`` prints on its last line."""
    return result.stdout.strip().splitlines()[-1].strip()


def csr_subject(csr: Path, *, der: bool = False) -> list[tuple[str, str]]:
    """The CSR's subject RDNs in encoding order, as openssl prints them one per line."""
    out = openssl(
        "req", "-in", str(csr), "-inform", "DER" if der else "PEM",
        "-noout", "-subject", "-nameopt", "sep_multiline,sname,utf8",
    )  # fmt: skip
    lines = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    return [tuple(line.split("=", 1)) for line in lines]  # type: ignore[misc]


def csr_text(csr: Path, *, der: bool = False) -> str:
    return openssl("req", "-in", str(csr), "-inform", "DER" if der else "PEM", "-noout", "-text")


def dns_sans(text: str) -> list[str]:
    """The DNS names of the Subject Alternative Name in openssl's ``-text`` output."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "X509v3 Subject Alternative Name" in line:
            return [n.strip().removeprefix("DNS:") for n in lines[index + 1].split(",")]
    raise AssertionError(f"no subjectAltName in:\n{text}")


def public_key_bits(text: str) -> int:
    found = re.search(r"Public-Key: \((\d+) bit\)", text)
    assert found, text
    return int(found.group(1))


def p7b_without_root(ca: OpenSslCa, leaf: Path, out: Path) -> Path:
    """A reply as some CAs deliver it: leaf + intermediate only."""
    openssl(
        "crl2pkcs7", "-nocrl", "-certfile", str(leaf), "-certfile", str(ca.intermediate_pem),
        "-outform", "DER", "-out", str(out),
    )  # fmt: skip
    return out


def show(cli: Cli, thumbprint: str, server: str = "EXCH01") -> dict[str, Any]:
    return cli.json("cert", "show", thumbprint, "--server", server)


def store(cli: Cli, server: str, name: str) -> set[str]:
    return {c["thumbprint"] for c in cli.json("store", "list", "--server", server, "--store", name)}


def server_state(cli: Cli, server: str) -> tuple[Any, ...]:
    """Everything a failed operation must leave unchanged on ``server``."""
    return (
        cli.json("cert", "list", "--server", server),
        cli.json("store", "list", "--server", server, "--store", "Root"),
        cli.json("store", "list", "--server", server, "--store", "CA"),
        cli.json("server", "show", server),
    )


def assert_one_error_line(result: Result, *needles: str) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, line
    return line


def export(
    cli: Cli,
    thumbprint: str,
    out: Path,
    password_file: Path,
    *,
    legacy: bool = False,
    server: str = "EXCH01",
) -> Path:
    args = ["cert", "export", thumbprint, "--server", server, "--out", str(out)]
    args += ["--password-file", str(password_file)]
    cli(*args, *(["--legacy-encryption"] if legacy else []))
    return out


@dataclass
class PfxParts:
    leaf: Path
    key: Path
    chain: list[Path]


def open_pfx(pfx: Path, password_file: Path, into: Path) -> PfxParts:
    """Take a PFX apart with ``openssl pkcs12``: leaf certificate, key, CA certificates."""
    into.mkdir()
    base = ["pkcs12", "-in", str(pfx), "-passin", f"file:{password_file}"]
    leaf, key, cas = into / "leaf.pem", into / "key.pem", into / "cas.pem"
    openssl(*base, "-clcerts", "-nokeys", "-out", str(leaf))
    openssl(*base, "-nocerts", "-nodes", "-out", str(key))
    openssl(*base, "-cacerts", "-nokeys", "-out", str(cas))
    chain = []
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", cas.read_text(), re.DOTALL
    )
    for index, block in enumerate(blocks):
        path = into / f"ca{index}.pem"
        path.write_text(block + "\n")
        chain.append(path)
    return PfxParts(leaf, key, chain)


def pubkey_of_cert(pem: Path) -> str:
    return openssl("x509", "-in", str(pem), "-noout", "-pubkey")


def pubkey_of_key(pem: Path) -> str:
    return openssl("pkey", "-in", str(pem), "-pubout")


@dataclass
class Issued:
    thumbprint: str
    leaf: Path


@pytest.fixture
def webmail(org: Cli, openssl_ca: OpenSslCa, tmp_path: Path) -> Issued:
    """Seed 002 on EXCH01: exportable request, openssl CA reply as DER .p7b, imported."""
    request(org, tmp_path / "webmail.req")
    leaf = openssl_ca.sign(tmp_path / "webmail.req", name="webmail")
    thumbprint = imported(
        org("cert", "import", "--server", "EXCH01", str(openssl_ca.p7b(leaf, name="webmail")))
    )
    assert thumbprint == sha1_thumbprint(leaf)
    return Issued(thumbprint, leaf)


# -- the request (CSR) ---------------------------------------------------------------------------
def test_pem_request_verifies_and_keeps_subject_order_sans_and_key_size(
    org: Cli, tmp_path: Path
) -> None:
    csr = tmp_path / "SSL-Request.req"
    request_id = request(org, csr, extra=("--exportable", "--key-size", "3072"))

    assert csr.read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    verified = openssl_all("req", "-in", str(csr), "-verify", "-noout")
    assert "verify OK" in verified and "failure" not in verified
    assert csr_subject(csr) == SEED_SUBJECT_ORDER
    text = csr_text(csr)
    assert dns_sans(text) == list(SEED_DOMAINS)
    assert public_key_bits(text) == 3072
    assert "sha256WithRSAEncryption" in text

    pending = thumbprints(org, "EXCH01")[request_id]
    assert pending["status"] == "PendingRequest"
    assert pending["subject"] == (
        "CN=webmail.p365labs.com, OU=RND, O=Contoso, L=Amsterdam, S=Noord-Holland, C=NL"
    )
    assert pending["certificate_domains"] == list(SEED_DOMAINS)
    assert pending["public_key_size"] == 3072
    assert pending["services_flags"] == "......."
    assert pending["is_default_smtp"] is False
    assert request_id not in thumbprints(org, "EXCH02")


def test_binary_request_is_der_and_the_cn_is_added_to_the_sans(org: Cli, tmp_path: Path) -> None:
    csr = tmp_path / "request.der"
    request(
        org,
        csr,
        subject='CN=mail.contoso.com, O="Contoso, Ltd", C=NL',
        domains=("autodiscover.contoso.com",),
        extra=("--binary",),
    )

    assert not csr.read_bytes().startswith(b"-----")
    assert csr.read_bytes()[0] == 0x30  # a DER SEQUENCE
    verified = openssl_all("req", "-in", str(csr), "-inform", "DER", "-verify", "-noout")
    assert "verify OK" in verified and "failure" not in verified
    # The order given on the command line, and the quoted value keeps its comma.
    assert csr_subject(csr, der=True) == [
        ("CN", "mail.contoso.com"),
        ("O", "Contoso, Ltd"),
        ("C", "NL"),
    ]
    text = csr_text(csr, der=True)
    assert dns_sans(text) == ["mail.contoso.com", "autodiscover.contoso.com"]
    assert public_key_bits(text) == 2048  # New-ExchangeCertificate's default


# -- the CA reply ----------------------------------------------------------------------------------
@pytest.mark.parametrize("der", [True, False], ids=["der-p7b", "pem-p7b"])
def test_p7b_reply_completes_the_request(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path, der: bool
) -> None:
    request_id = request(org, tmp_path / "r.req")
    leaf = openssl_ca.sign(tmp_path / "r.req")
    p7b = openssl_ca.p7b(leaf, der=der)
    assert p7b.read_bytes().startswith(b"-----BEGIN PKCS7-----") is not der

    result = org("cert", "import", "--server", "EXCH01", str(p7b))

    thumbprint = imported(result)
    assert thumbprint == sha1_thumbprint(leaf)
    assert "Completed the pending request." in result.stdout
    certs = thumbprints(org, "EXCH01")
    assert request_id not in certs
    assert not [c for c in certs.values() if c["status"] == "PendingRequest"]
    cert = show(org, thumbprint)
    assert cert["has_private_key"] is True
    assert cert["private_key_exportable"] is True
    assert cert["is_self_signed"] is False
    assert cert["issuer"] == "CN=Bar Test Issuing CA, O=Bar Test, C=US"
    assert cert["certificate_domains"] == list(SEED_DOMAINS)
    # The .p7b carried the intermediate and the root: the intermediate goes to the CA store,
    # the self-signed root to the Root store (``_add_to_trust_stores``: "roots to Root, the
    # rest to CA"), so the new certificate chains to a trusted root at once.
    assert store(org, "EXCH01", "CA") == {sha1_thumbprint(openssl_ca.intermediate_pem)}
    assert sha1_thumbprint(openssl_ca.root_pem) in store(org, "EXCH01", "Root")
    assert f"Added to CA: {sha1_thumbprint(openssl_ca.intermediate_pem)}" in result.stdout
    assert f"Added to Root: {sha1_thumbprint(openssl_ca.root_pem)}" in result.stdout
    assert cert["status"] == "Valid"


def test_reply_is_untrusted_until_its_root_is_in_the_root_store(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    request(org, tmp_path / "r.req")
    leaf = openssl_ca.sign(tmp_path / "r.req")
    p7b = p7b_without_root(openssl_ca, leaf, tmp_path / "no-root.p7b")
    root = sha1_thumbprint(openssl_ca.root_pem)

    thumbprint = imported(org("cert", "import", "--server", "EXCH01", str(p7b)))

    assert store(org, "EXCH01", "CA") == {sha1_thumbprint(openssl_ca.intermediate_pem)}
    assert root not in store(org, "EXCH01", "Root")
    assert show(org, thumbprint)["status"] == "Untrusted"
    assert show(org, thumbprint)["has_private_key"] is True

    org("store", "add", "--server", "EXCH01", "--store", "Root", str(openssl_ca.root_pem))
    assert show(org, thumbprint)["status"] == "Valid"

    org("store", "remove", root, "--server", "EXCH01", "--store", "Root")
    assert show(org, thumbprint)["status"] == "Untrusted"


def test_reply_imported_on_another_server_is_refused(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    request_id = request(org, tmp_path / "r.req")
    leaf = openssl_ca.sign(tmp_path / "r.req")
    p7b = openssl_ca.p7b(leaf, name="webmail_p365labs_com")
    before = server_state(org, "EXCH02")

    result = org("cert", "import", "--server", "EXCH02", str(p7b), ok=False)

    assert_one_error_line(result, "webmail_p365labs_com.p7b", "EXCH01")
    assert server_state(org, "EXCH02") == before
    assert sha1_thumbprint(leaf) not in thumbprints(org, "EXCH02")
    # The request still waits on EXCH01, where the reply then completes it.
    assert thumbprints(org, "EXCH01")[request_id]["status"] == "PendingRequest"
    assert imported(org("cert", "import", "--server", "EXCH01", str(p7b))) == sha1_thumbprint(leaf)


def test_openssl_p7b_imports_without_python_warnings(
    org: Cli, openssl_ca: OpenSslCa, tmp_path: Path
) -> None:
    """The console script, run as an admin runs it: a CA's .p7b made by ``openssl
    crl2pkcs7`` imports with the thumbprint on stdout and nothing on stderr."""
    certward = Path(sys.executable).parent / "certward"
    if not certward.exists():
        pytest.skip("the certward console script is not installed")
    request(org, tmp_path / "r.req")
    leaf = openssl_ca.sign(tmp_path / "r.req")
    p7b = openssl_ca.p7b(leaf)

    done = subprocess.run(
        [str(certward), "cert", "import", "--server", "EXCH01", str(p7b)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == sha1_thumbprint(leaf)
    assert done.stderr == "", f"unexpected output on stderr:\n{done.stderr}"


# -- PFX export ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        (False, ["AES-256-CBC", "hmacWithSHA256", "MAC: sha256"]),
        (True, ["pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"]),
    ],
    ids=["aes256-sha256", "legacy-3des-sha1"],
)
def test_exported_pfx_opens_with_openssl_and_its_key_matches(
    webmail: Issued,
    org: Cli,
    openssl_ca: OpenSslCa,
    password_file: Path,
    tmp_path: Path,
    legacy: bool,
    expected: list[str],
) -> None:
    pfx = export(org, webmail.thumbprint, tmp_path / "webmail.pfx", password_file, legacy=legacy)

    info = openssl_all("pkcs12", "-in", str(pfx), "-passin", f"file:{password_file}",
                       "-info", "-noout")  # fmt: skip
    for needle in expected:
        assert needle.lower() in info.lower(), info
    if legacy:
        assert "AES-256" not in info
    else:
        assert "3-KeyTripleDES" not in info

    parts = open_pfx(pfx, password_file, tmp_path / "opened")
    assert sha1_thumbprint(parts.leaf) == webmail.thumbprint
    assert "PRIVATE KEY" in parts.key.read_text()
    assert pubkey_of_key(parts.key) == pubkey_of_cert(parts.leaf)
    chain = {sha1_thumbprint(pem) for pem in parts.chain}
    assert sha1_thumbprint(openssl_ca.intermediate_pem) in chain
    assert webmail.thumbprint not in chain


def test_export_of_a_non_exportable_key_is_refused(
    org: Cli, openssl_ca: OpenSslCa, password_file: Path, tmp_path: Path
) -> None:
    request(org, tmp_path / "r.req", extra=())  # no --exportable
    leaf = openssl_ca.sign(tmp_path / "r.req")
    thumbprint = imported(org("cert", "import", "--server", "EXCH01", str(openssl_ca.p7b(leaf))))
    assert show(org, thumbprint)["private_key_exportable"] is False
    out = tmp_path / "never.pfx"

    result = org(
        "cert", "export", thumbprint, "--server", "EXCH01", "--out", str(out),
        "--password-file", str(password_file), ok=False,
    )  # fmt: skip

    assert_one_error_line(result, thumbprint, "not exportable")
    assert not out.exists()


# -- PFX import ------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["aes256-sha256", "legacy-3des-sha1"])
def test_pfx_imported_on_the_second_server_has_the_same_thumbprint(
    webmail: Issued,
    org: Cli,
    openssl_ca: OpenSslCa,
    password_file: Path,
    tmp_path: Path,
    legacy: bool,
) -> None:
    pfx = tmp_path / "webmail_p365labs_com.pfx"
    export(org, webmail.thumbprint, pfx, password_file, legacy=legacy)
    wrong = tmp_path / "wrong-password.txt"
    wrong.write_text("not-the-password\n")
    before = server_state(org, "EXCH02")

    # A mistyped password: one error line naming the file, nothing stored on EXCH02.
    refused = org("cert", "import", "--server", "EXCH02", str(pfx),
                  "--password-file", str(wrong), ok=False)  # fmt: skip
    line = assert_one_error_line(refused, "webmail_p365labs_com.pfx")
    assert "password" in line
    assert "not-the-password" not in refused.output
    assert server_state(org, "EXCH02") == before

    result = org("cert", "import", "--server", "EXCH02", str(pfx),
                 "--password-file", str(password_file))  # fmt: skip

    assert imported(result) == webmail.thumbprint
    on_exch02 = show(org, webmail.thumbprint, "EXCH02")
    on_exch01 = show(org, webmail.thumbprint, "EXCH01")
    for key in ("subject", "issuer", "certificate_domains", "not_before", "not_after",
                "serial_number", "public_key_size", "signature_algorithm"):  # fmt: skip
        assert on_exch02[key] == on_exch01[key], key
    assert on_exch02["has_private_key"] is True
    # Imported without --exportable: the key does not travel further (as on Exchange).
    assert on_exch02["private_key_exportable"] is False
    assert on_exch02["services_flags"] == "......."
    assert on_exch02["is_default_smtp"] is False
    # The chain in the PFX lands in EXCH02's stores, so the certificate is trusted there too.
    assert sha1_thumbprint(openssl_ca.intermediate_pem) in store(org, "EXCH02", "CA")
    assert on_exch02["status"] == "Valid"


def openssl_pfx(ca: OpenSslCa, directory: Path, password_file: Path) -> tuple[Path, Path, Path]:
    """Key, certificate (issued by ``ca``) and PFX with the chain, all made by openssl:
    returns (pfx, key, certificate)."""
    key, csr, pfx = directory / "owa.key", directory / "owa.csr", directory / "owa.pfx"
    openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
        "-subj", "/CN=owa.contoso.com", "-addext", "subjectAltName=DNS:owa.contoso.com",
        "-out", str(csr),
    )  # fmt: skip
    leaf = ca.sign(csr, name="owa")
    openssl(
        "pkcs12", "-export", "-inkey", str(key), "-in", str(leaf),
        "-certfile", str(ca.intermediate_pem), "-passout", f"file:{password_file}",
        "-out", str(pfx),
    )  # fmt: skip
    return pfx, key, leaf


def test_pfx_made_by_openssl_imports_with_its_key(
    org: Cli, openssl_ca: OpenSslCa, password_file: Path, tmp_path: Path
) -> None:
    pfx, key, leaf = openssl_pfx(openssl_ca, tmp_path, password_file)  # OpenSSL's defaults

    result = org("cert", "import", "--server", "EXCH01", str(pfx),
                 "--password-file", str(password_file), "--exportable")  # fmt: skip

    thumbprint = imported(result)
    assert thumbprint == sha1_thumbprint(leaf)
    cert = show(org, thumbprint)
    assert cert["has_private_key"] is True
    assert cert["private_key_exportable"] is True
    assert cert["subject"] == "CN=owa.contoso.com"
    assert sha1_thumbprint(openssl_ca.intermediate_pem) in store(org, "EXCH01", "CA")
    # The key came along: the certificate can serve IIS, and certward's own export carries
    # the very key openssl generated.
    org("cert", "enable", thumbprint, "--server", "EXCH01", "--services", "IIS")
    assert show(org, thumbprint)["services_flags"] == "...W..."
    again = export(org, thumbprint, tmp_path / "again.pfx", password_file)
    parts = open_pfx(again, password_file, tmp_path / "again")
    assert pubkey_of_key(parts.key) == pubkey_of_key(key)

    # The same certificate and key as an old Windows server exports them (3DES, SHA-1 MAC).
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    openssl(
        "pkcs12", "-export", "-inkey", str(key), "-in", str(leaf), "-descert",
        "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1",
        "-passout", f"file:{password_file}", "-out", str(legacy / "owa.pfx"),
    )  # fmt: skip
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in openssl_all(
        "pkcs12", "-in", str(legacy / "owa.pfx"), "-passin", f"file:{password_file}",
        "-info", "-noout",
    )  # fmt: skip
    on_exch02 = org("cert", "import", "--server", "EXCH02", str(legacy / "owa.pfx"),
                    "--password-file", str(password_file))  # fmt: skip
    assert imported(on_exch02) == thumbprint
    assert show(org, thumbprint, "EXCH02")["has_private_key"] is True
