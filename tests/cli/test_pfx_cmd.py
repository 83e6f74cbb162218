"""``certward pfx inspect|convert`` and ``cert convert-key-provider`` (seed 004), with real
PFX files checked by the ``openssl`` command."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from certward.compose import build_app
from certward.model import (
    CAPI_SCHANNEL_PROVIDER,
    CNG_SOFTWARE_KSP,
    CertificateRecord,
    StoreName,
    Thumbprint,
)
from certward.pki import build, ca, certinfo
from certward.pki.names import parse_exchange_dn
from tests.conftest import Cli, error_line, find_openssl, openssl, thumbprints

SECRET = "Pa55word!"  # what the password_file fixture holds
AES_PROVIDER = "Microsoft Enhanced RSA and AES Cryptographic Provider"


# -- helpers ---------------------------------------------------------------------------------
def openssl_info(path: Path) -> str:
    """``openssl pkcs12 -info`` (MAC verified, every safe decrypted): stdout + stderr."""
    args = ["pkcs12", "-info", "-nodes", "-passin", f"pass:{SECRET}", "-in", str(path)]
    done = subprocess.run([find_openssl(), *args], capture_output=True, check=False)
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"openssl {' '.join(args)} failed: {output}"
    return output


def openssl_leaf_thumbprint(path: Path) -> str:
    """The thumbprint of the file's key certificate, as openssl computes it."""
    pem = openssl(
        "pkcs12", "-in", str(path), "-nokeys", "-clcerts", "-passin", f"pass:{SECRET}"
    ).encode()
    out = openssl("x509", "-noout", "-fingerprint", "-sha1", input=pem)
    return out.strip().split("=", 1)[1].replace(":", "").upper()


def new_certificate(cli: Cli, server: str = "EXCH01") -> str:
    result = cli(
        "cert", "new", "--server", server, "--subject", "CN=mail.contoso.com",
        "--domain", "mail.contoso.com", "--exportable", "--services", "IIS",
    )  # fmt: skip
    return result.stdout.split()[0]


def show(cli: Cli, thumbprint: str, server: str = "EXCH01") -> dict[str, Any]:
    return dict(cli.json("cert", "show", thumbprint, "--server", server))


def inspect(cli: Cli, path: Path, *password: str) -> dict[str, Any]:
    return dict(cli.json("pfx", "inspect", str(path), *password))


def pem_with_key(tmp_path: Path, issuer: ca.Authority | None = None) -> tuple[Path, str]:
    """A key and its certificate (self-signed, or issued by ``issuer``) in one PEM file."""
    now = dt.datetime.now(dt.UTC)
    key = build.generate_key()
    subject = parse_exchange_dn("O=Contoso, CN=webmail.contoso.com")
    if issuer is None:
        cert = build.self_signed(
            key, subject, ["webmail.contoso.com"], not_before=now, not_after=now + dt.timedelta(30)
        )
    else:
        csr = build.certificate_request(key, subject, ["webmail.contoso.com"])
        cert = ca.issue(issuer, csr, now=now)
    path = tmp_path / "key-and-cert.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path, certinfo.thumbprint(certinfo.to_der(cert))


def openssl_pfx(pem: Path, out: Path, *extra: str) -> Path:
    openssl(
        "pkcs12", "-export", "-in", str(pem), "-out", str(out), "-passout", f"pass:{SECRET}",
        *extra,
    )  # fmt: skip
    return out


# -- seed 004 end to end ---------------------------------------------------------------------
def test_cng_export_converted_to_capi_keeps_the_thumbprint(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    thumb = new_certificate(contoso)
    out = contoso("cert", "convert-key-provider", thumb, "--server", "EXCH01", "--to", "cng")
    assert f"{thumb}: {CAPI_SCHANNEL_PROVIDER} -> {CNG_SOFTWARE_KSP}" in out.stdout
    assert show(contoso, thumb)["key_provider"] == CNG_SOFTWARE_KSP

    cng = tmp_path / "cng.pfx"
    contoso(
        "cert", "export", thumb, "--server", "EXCH01", "--out", str(cng),
        "--password-file", str(password_file),
    )  # fmt: skip
    info = openssl_info(cng)
    assert f"Microsoft CSP Name: {CNG_SOFTWARE_KSP}" in info
    assert "Microsoft Local Key set" in info

    blind = inspect(contoso, cng)  # no password: the key bag is outside the encryption
    assert blind["key"]["provider"] == CNG_SOFTWARE_KSP
    assert blind["key"]["provider_kind"] == "CNG"
    assert blind["key"]["provider_readable"] is True
    assert "without the password" in blind["key"]["provider_note"]
    assert blind["key"]["machine_key_set"] is True
    assert blind["certificates_readable"] is False
    assert blind["mac_verified"] is False
    assert any("event 1035" in w for w in blind["warnings"])
    assert any("Windows Server 2016" in w for w in blind["warnings"])

    capi = tmp_path / "capi.pfx"
    result = contoso(
        "pfx", "convert", str(cng), "--out", str(capi), "--to", "capi",
        "--password-file", str(password_file),
    )  # fmt: skip
    assert f"{thumb}: {CNG_SOFTWARE_KSP} -> {CAPI_SCHANNEL_PROVIDER}" in result.stdout
    info = openssl_info(capi)
    assert f"Microsoft CSP Name: {CAPI_SCHANNEL_PROVIDER}" in info
    assert CNG_SOFTWARE_KSP not in info
    assert "Microsoft Local Key set" in info
    assert openssl_leaf_thumbprint(capi) == openssl_leaf_thumbprint(cng) == thumb

    report = inspect(contoso, capi, "--password-file", str(password_file))
    assert report["key"]["provider"] == CAPI_SCHANNEL_PROVIDER
    assert report["key"]["provider_kind"] == "CAPI"
    assert report["key"]["type"] == "RSA" and report["key"]["size"] == 2048
    assert report["mac_verified"] is True
    assert [c["thumbprint"] for c in report["certificates"]] == [thumb]
    assert not any("1035" in w for w in report["warnings"])


def test_legacy_profile_for_windows_server_2016(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    pem, thumb = pem_with_key(tmp_path)
    cng = openssl_pfx(pem, tmp_path / "in.pfx", "-CSP", CNG_SOFTWARE_KSP)
    legacy = tmp_path / "legacy.pfx"
    contoso(
        "pfx", "convert", str(cng), "--out", str(legacy), "--to", "capi",
        "--legacy-encryption", "--password-file", str(password_file),
    )  # fmt: skip
    info = openssl_info(legacy)
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "MAC: sha1" in info
    assert f"Microsoft CSP Name: {CAPI_SCHANNEL_PROVIDER}" in info
    assert openssl_leaf_thumbprint(legacy) == thumb
    report = inspect(contoso, legacy, "--password-file", str(password_file))
    assert report["key"]["encryption"].startswith("PKCS#12 PBE 3DES-CBC")
    assert report["mac"].startswith("HMAC-SHA-1")
    assert report["warnings"] == []  # CAPI, 3DES, self-signed: nothing to warn about


def test_convert_with_a_named_provider(contoso: Cli, tmp_path: Path, password_file: Path) -> None:
    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx")
    out = tmp_path / "aes-csp.pfx"
    contoso(
        "pfx", "convert", str(source), "--out", str(out), "--to", "capi",
        "--provider", AES_PROVIDER, "--password-file", str(password_file),
    )  # fmt: skip
    assert f"Microsoft CSP Name: {AES_PROVIDER}" in openssl_info(out)
    line = error_line(
        contoso, "pfx", "convert", str(source), "--out", str(out), "--to", "capi",
        "--provider", CNG_SOFTWARE_KSP, "--password-file", str(password_file),
    )  # fmt: skip
    assert "is a CNG provider, not CAPI" in line


# -- import records the provider --------------------------------------------------------------
@pytest.mark.parametrize(
    ("csp", "expected"),
    [
        ((), CAPI_SCHANNEL_PROVIDER),  # no attribute: Windows' legacy CAPI default
        (("-CSP", CNG_SOFTWARE_KSP, "-LMK"), CNG_SOFTWARE_KSP),
        (("-CSP", AES_PROVIDER), AES_PROVIDER),
    ],
    ids=["none", "cng", "capi-aes"],
)
def test_import_records_the_provider_of_the_file(
    contoso: Cli, tmp_path: Path, password_file: Path, csp: tuple[str, ...], expected: str
) -> None:
    pem, thumb = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx", *csp)
    contoso(
        "cert", "import", "--server", "EXCH02", str(source), "--password-file",
        str(password_file), "--exportable",
    )  # fmt: skip
    assert show(contoso, thumb, "EXCH02")["key_provider"] == expected
    # and an export writes it again
    again = tmp_path / "again.pfx"
    contoso(
        "cert", "export", thumb, "--server", "EXCH02", "--out", str(again),
        "--password-file", str(password_file),
    )  # fmt: skip
    assert f"Microsoft CSP Name: {expected}" in openssl_info(again)


# -- the store -------------------------------------------------------------------------------
def test_convert_key_provider_back_and_forth(contoso: Cli) -> None:
    thumb = new_certificate(contoso)
    contoso("cert", "convert-key-provider", thumb, "--server", "EXCH01", "--to", "CNG")
    assert show(contoso, thumb)["key_provider"] == CNG_SOFTWARE_KSP
    out = contoso("cert", "convert-key-provider", thumb.lower(), "-s", "EXCH01", "--to", "capi")
    assert out.stdout.strip() == f"{thumb}: {CNG_SOFTWARE_KSP} -> {CAPI_SCHANNEL_PROVIDER}"
    assert show(contoso, thumb)["key_provider"] == CAPI_SCHANNEL_PROVIDER
    assert thumb in thumbprints(contoso, "EXCH01")


def test_convert_key_provider_refuses_a_certificate_without_its_key(
    contoso: Cli, isolated_store: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    key = build.generate_key()
    cert = build.self_signed(
        key,
        parse_exchange_dn("CN=partner.fabrikam.com"),
        ["partner.fabrikam.com"],
        not_before=now,
        not_after=now + dt.timedelta(days=30),
    )
    thumb = certinfo.thumbprint(certinfo.to_der(cert))
    app = build_app(str(isolated_store))
    with app.store.transaction() as repo:  # an older import could have left one like this
        repo.add_certificate(
            CertificateRecord(
                server="EXCH01",
                store=StoreName.MY,
                thumbprint=Thumbprint(thumb),
                der=certinfo.to_der(cert),
                created_at=now,
            )
        )
    app.store.close()
    line = error_line(contoso, "cert", "convert-key-provider", thumb, "-s", "EXCH01", "--to", "cng")
    assert thumb in line and "no private key" in line
    assert show(contoso, thumb)["key_provider"] is None


def test_convert_key_provider_refusals(contoso: Cli, tmp_path: Path) -> None:
    thumb = new_certificate(contoso)
    cases = {
        ("--to", "tpm"): "must be capi or cng, not 'tpm'",
        ("--to", "capi", "--provider", CNG_SOFTWARE_KSP): "is a CNG provider, not CAPI",
        ("--to", "cng", "--provider", ""): "must not be empty",
    }
    for args, problem in cases.items():
        assert problem in error_line(
            contoso, "cert", "convert-key-provider", thumb, "-s", "EXCH01", *args
        )
    unknown = "AB" * 20
    assert unknown in error_line(
        contoso, "cert", "convert-key-provider", unknown, "-s", "EXCH01", "--to", "cng"
    )
    pending = contoso(
        "cert", "request", "--server", "EXCH01", "--subject", "CN=req.contoso.com",
        "--out", str(tmp_path / "r.req"),
    ).stdout.split()[0]  # fmt: skip
    assert "pending request" in error_line(
        contoso, "cert", "convert-key-provider", pending, "-s", "EXCH01", "--to", "cng"
    )
    assert show(contoso, thumb)["key_provider"] == CAPI_SCHANNEL_PROVIDER


def test_edgesync_1035_fixed_by_convert_key_provider(org: Cli) -> None:
    """Seed 004 in the store: a CNG default transport key fails EdgeSync with event 1035;
    moving it to the CAPI provider (same certificate) lets the sync succeed."""
    org("server", "add", "EDGE01", "--fqdn", "edge01.contoso.com", "--role", "EdgeTransport")
    org("edge", "subscribe", "EDGE01", "--site", "Amsterdam")
    hub = next(t for t, c in thumbprints(org, "EXCH01").items() if c["is_default_smtp"])
    org("cert", "convert-key-provider", hub, "--server", "EXCH01", "--to", "cng")
    (failed,) = json.loads(org("edge", "sync", "--json", ok=False).stdout)
    assert {h["server"]: h["event"] for h in failed["hubs"]}["EXCH01"] == 1035
    org("cert", "convert-key-provider", hub, "--server", "EXCH01", "--to", "capi")
    (synced,) = json.loads(org("edge", "sync", "--json").stdout)
    assert synced["ok"] is True


# -- inspect: chain, layout, text --------------------------------------------------------------
def test_inspect_puts_the_chain_in_order_and_warns_when_it_is_missing(
    contoso: Cli, tmp_path: Path, password_file: Path, authority: ca.Authority
) -> None:
    pem, thumb = pem_with_key(tmp_path, authority)
    root, intermediate = authority.chain[0], authority.certificate
    chain_pem = tmp_path / "chain.pem"  # root first: the file order is not the chain order
    chain_pem.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (root, intermediate))
    )
    full = openssl_pfx(pem, tmp_path / "full.pfx", "-certfile", str(chain_pem))
    report = inspect(contoso, full, "--password-file", str(password_file))
    roles = {c["thumbprint"]: c["role"] for c in report["certificates"]}
    root_tp, int_tp = (certinfo.thumbprint(certinfo.to_der(c)) for c in (root, intermediate))
    assert roles == {thumb: "leaf", int_tp: "intermediate", root_tp: "root"}
    assert report["chain"] == [thumb, int_tp, root_tp]
    assert report["chain_complete"] is True
    assert not any("chain missing" in w for w in report["warnings"])

    bare = openssl_pfx(pem, tmp_path / "bare.pfx")
    report = inspect(contoso, bare, "--password-file", str(password_file))
    assert report["chain"] == [thumb] and report["chain_complete"] is False
    assert any(w.startswith("chain missing") for w in report["warnings"])
    # a converted file carries the chain in chain order
    converted = tmp_path / "converted.pfx"
    contoso(
        "pfx", "convert", str(full), "--out", str(converted), "--to", "capi",
        "--password-file", str(password_file),
    )  # fmt: skip
    report = inspect(contoso, converted, "--password-file", str(password_file))
    assert [c["thumbprint"] for c in report["certificates"]] == [thumb, int_tp, root_tp]


def test_inspect_text_never_prints_the_key(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    pem, thumb = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx", "-CSP", CNG_SOFTWARE_KSP, "-name", "Web")
    text = contoso("pfx", "inspect", str(source), "--password-file", str(password_file)).stdout
    assert f"KeyProvider     : {CNG_SOFTWARE_KSP} (CNG)" in text
    assert "MachineKeySet   : False" in text
    assert "Mac             : HMAC-SHA-256, 2048 iterations (verified)" in text
    assert f"1\t{thumb}\tleaf (key)" in text  # a table: tab-separated off a terminal
    assert "warning: the key goes to a CNG Key Storage Provider" in text
    key_pem = pem.read_text().split("-----END PRIVATE KEY-----")[0]
    assert "PRIVATE KEY" not in text and key_pem.splitlines()[1] not in text
    blind = contoso("pfx", "inspect", str(source)).stdout
    assert "Certificates: in an encrypted safe; pass --password-file" in blind
    assert "read without the password" in blind


def test_inspect_a_file_without_a_provider_attribute(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx", "-certpbe", "PBE-SHA1-3DES", "-keypbe",
                         "PBE-SHA1-3DES", "-macalg", "sha1")  # fmt: skip
    report = inspect(contoso, source)
    assert report["key"]["provider"] is None
    assert report["key"]["effective_provider"] == CAPI_SCHANNEL_PROVIDER
    assert report["key"]["provider_kind"] == "CAPI"
    assert "no provider attribute" in report["key"]["provider_note"]
    assert report["warnings"] == []


def test_inspect_when_the_key_bag_is_encrypted(contoso: Cli, tmp_path: Path) -> None:
    """Java's keytool and some tools put the key bag inside the encrypted safe: then the
    provider cannot be read without the password, and inspect says so."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx")
    pfx = asn1_pkcs12.Pfx.load(source.read_bytes())
    (encrypted,) = [s for s in pfx.authenticated_safe if s["content_type"].native != "data"]
    only = tmp_path / "only-encrypted.pfx"
    only.write_bytes(
        asn1_pkcs12.Pfx(
            {
                "version": "v3",
                "auth_safe": {
                    "content_type": "data",
                    "content": asn1_pkcs12.AuthenticatedSafe([encrypted]).dump(),
                },
            }
        ).dump()
    )
    report = inspect(contoso, only)
    assert report["key"]["provider_readable"] is False
    assert "not readable without the password" in report["key"]["provider_note"]
    assert report["key"]["present"] is None


# -- bad input -------------------------------------------------------------------------------
def test_bad_files_and_passwords_are_one_line_errors(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-password\n")
    line = error_line(contoso, "pfx", "inspect", str(source), "--password-file", str(wrong))
    assert line.startswith(f"error: {source}: wrong password")
    out = tmp_path / "out.pfx"
    line = error_line(
        contoso, "pfx", "convert", str(source), "--out", str(out), "--to", "capi",
        "--password-file", str(wrong),
    )  # fmt: skip
    assert line.startswith(f"error: {source}: wrong password")
    assert not out.exists()

    missing = tmp_path / "missing.pfx"
    result = contoso("pfx", "inspect", str(missing), ok=False)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {missing}: no such file"

    garbage = tmp_path / "garbage.pfx"
    garbage.write_bytes(b"\x30\x82\x01\x00" + b"\x00" * 40)
    assert error_line(contoso, "pfx", "inspect", str(garbage)).startswith(f"error: {garbage}: ")

    tampered = tmp_path / "tampered.pfx"
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0x40
    tampered.write_bytes(bytes(data))
    assert "MAC does not match" in error_line(
        contoso, "pfx", "inspect", str(tampered), "--password-file", str(password_file)
    )

    certs_only = openssl_pfx(pem, tmp_path / "certs-only.pfx", "-nokeys")
    assert "holds no private key" in error_line(
        contoso, "pfx", "convert", str(certs_only), "--out", str(out), "--to", "capi",
        "--password-file", str(password_file),
    )  # fmt: skip
    report = inspect(contoso, certs_only, "--password-file", str(password_file))
    assert report["key"]["present"] is False
    assert any("no private key" in w for w in report["warnings"])

    assert "a password is required" in error_line(
        contoso, "pfx", "convert", str(source), "--out", str(out), "--to", "capi"
    )


def test_written_files_are_private(contoso: Cli, tmp_path: Path, password_file: Path) -> None:
    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "in.pfx")
    out = tmp_path / "out.pfx"
    contoso(
        "pfx", "convert", str(source), "--out", str(out), "--to", "cng",
        "--password-file", str(password_file),
    )  # fmt: skip
    assert out.stat().st_mode & 0o077 == 0


def test_a_key_provider_windows_cannot_store_is_bad_content_naming_the_file(
    contoso: Cli, tmp_path: Path, password_file: Path
) -> None:
    pem, _ = pem_with_key(tmp_path)
    source = openssl_pfx(pem, tmp_path / "long-csp.pfx", "-CSP", "P" * 300)
    result = contoso(
        "cert", "import", "--server", "EXCH01", str(source), "--password-file", str(password_file),
        ok=False,
    )  # fmt: skip
    assert result.exit_code == 1  # the file's content, not the caller's input
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {source}: the key bag names a key provider Windows cannot")
