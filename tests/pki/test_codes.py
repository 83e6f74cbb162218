"""Every refusal in certward.pki carries a stable code (certward.codes.pki): checked in the
source, and by feeding real bad input (damaged files, wrong passwords, malformed names)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import certward.pki
from certward.codes import pki as pki_codes
from certward.errors import CertwardError, ErrorCode, InputError, PkiError, all_codes
from certward.interfaces.cli.hints import HINTS, error_line
from certward.model import Password
from certward.pki import build, ca, formats, names, pfx, tlsname
from tests.conftest import openssl
from tests.pki.conftest import NOW, Pki

PKI = Path(certward.pki.__file__).parent
PASSWORD = Password(b"Pa55word!")

# Raises that are not refusals of a user's file or value, with why each may stay.
NOT_CODED = {
    # programmer misuse: the callers compute the dates, check the password, the iterations
    ("build.py", "ValueError"): "self_signed: not_after must be later than not_before",
    ("pfx/_export.py", "ValueError"): "export_pfx: the caller refuses an empty password",
    ("pfx/_kdf.py", "ValueError"): "pkcs12_kdf: the callers check the iteration count",
    ("selection.py", "ValueError"): "Candidate.x509() on a certificate known by description",
    # internal signals, translated to coded errors by the callers in the same package
    ("formats.py", "ValueError"): "load_pkcs7 says 'not PKCS#7'; load_bundle tries the next",
    ("pfx/_ciphers.py", "Unsupported"): "a cipher certward lacks; _read codes it",
    ("pfx/_ciphers.py", "TypeError"): "a malformed IV; _read.parsing codes it pfx.damaged",
}


def _raises() -> list[tuple[str, int, str]]:
    """(module, line, what is raised) for every ``raise X(...)`` in certward.pki."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(PKI.rglob("*.py")):
        module = path.relative_to(PKI).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                name = exc.id if isinstance(exc, ast.Name) else ast.unparse(exc)
                found.append((module, node.lineno, name))
    return found


def test_every_raise_in_pki_names_a_registered_code() -> None:
    uncoded = [
        f"{module}:{line} raises {name}"
        for module, line, name in _raises()
        if not isinstance(getattr(pki_codes, name, None), ErrorCode)
        and (module, name) not in NOT_CODED
    ]
    assert uncoded == []
    used = {name for _, _, name in _raises()}
    assert {(m, n) for m, _, n in _raises() if (m, n) in NOT_CODED} == set(NOT_CODED)
    unused = [
        name
        for name, value in vars(pki_codes).items()
        if isinstance(value, ErrorCode) and name not in used
    ]
    assert unused == []


def test_the_codes_are_stable_identifiers_with_a_summary() -> None:
    codes = [v for v in vars(pki_codes).values() if isinstance(v, ErrorCode)]
    assert {c.id for c in codes} <= {c.id for c in all_codes()}
    for c in codes:
        assert re.fullmatch(r"(pki|pfx)\.[a-z0-9_]+", c.id), c.id
        assert c.summary.endswith(".") and "--" not in c.summary, c.id


def test_the_cli_hints_of_pki_codes_name_registered_codes() -> None:
    ids = {c.id for c in all_codes()}
    ours = [code for code in HINTS if code.split(".")[0] in ("pki", "pfx")]
    assert ours and set(ours) <= ids


# -- bad input, real files -----------------------------------------------------------------
def _refusal(call: object, *args: object, **kwargs: object) -> CertwardError:
    assert callable(call)
    with pytest.raises(CertwardError) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert "--" not in error.message  # a message never names a flag
    return error


@pytest.fixture(scope="module")
def modern(pki: Pki) -> bytes:
    return pfx.export_pfx(pki.leaf_key, pki.leaf, [pki.issuing.certificate], PASSWORD)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"  \n", "pki.file_empty"),
        (b"\x00garbage" * 8, "pki.file_unrecognised"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB", "pki.pem_damaged"),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "pki.pem_damaged"),
        (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "pki.pem_block_unsupported"),
    ],
)
def test_unusable_certificate_files(data: bytes, code: str) -> None:
    error = _refusal(formats.load_bundle, data, source="f.pem")
    assert error.code.id == code
    assert error.facts["file"] == "f.pem"
    assert isinstance(error, PkiError)


def test_a_request_a_key_alone_and_two_keys(pki: Pki) -> None:
    csr = build.certificate_request(pki.leaf_key, pki.leaf.subject, ["webmail.p365labs.com"])
    request = csr.public_bytes(serialization.Encoding.PEM)
    assert _refusal(formats.load_bundle, request, source="r").code.id == "pki.file_is_request"
    key = pki.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert _refusal(formats.load_bundle, key, source="k").code.id == "pki.certificate_missing"
    two = _refusal(formats.load_bundle, key + key, source="k")
    assert two.code.id == "pki.private_key_duplicate"


def test_the_command_line_adds_the_flag_the_message_leaves_out(pki: Pki, modern: bytes) -> None:
    missing = _refusal(formats.load_bundle, modern, source="x.pfx")
    assert missing.code.id == "pfx.password_missing"
    assert error_line(missing) == (
        "error: x.pfx: the PKCS#12 file is password-protected; pass --password-file"
    )
    encrypted = pki.leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    pem = pki.leaf.public_bytes(serialization.Encoding.PEM) + encrypted
    locked = _refusal(formats.load_bundle, pem, source="k.pem")
    assert error_line(locked) == (
        "error: k.pem: the private key is encrypted; pass --password-file"
    )
    with_key = _refusal(formats.load_certificates, modern, source="x.pfx")
    assert with_key.code.id == "pfx.password_missing"
    plain = pki.leaf.public_bytes(serialization.Encoding.PEM) + pki.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    unexpected = _refusal(formats.load_certificates, plain, source="c.pem")
    assert error_line(unexpected) == (
        "error: c.pem: contains a private key; use 'certward cert import' instead"
    )


def test_wrong_passwords(modern: bytes) -> None:
    wrong = Password(b"nope")
    assert _refusal(formats.load_bundle, modern, source="x", password=wrong).code.id == (
        "pfx.password_wrong"
    )
    error = _refusal(pfx.read_pfx, modern, wrong, source="m.pfx")
    assert error.code.id == "pfx.password_wrong"
    assert error.facts == {"file": "m.pfx"}
    altered = bytearray(modern)
    altered[-40] ^= 0x01  # inside the MAC
    assert _refusal(pfx.read_pfx, bytes(altered), PASSWORD, source="m").code.id == (
        "pfx.password_wrong"
    )


def test_not_a_pfx_damaged_and_absurd(modern: bytes) -> None:
    assert _refusal(pfx.read_pfx, b"not a pfx", None, source="g").code.id == "pfx.not_pkcs12"
    truncated = modern[: len(modern) // 2]
    assert _refusal(pfx.read_pfx, truncated, None, source="t").code.id == "pfx.damaged"
    parsed = asn1_pkcs12.Pfx.load(modern)
    hostile = asn1_pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": parsed["auth_safe"],
            "mac_data": {
                "mac": parsed["mac_data"]["mac"],
                "mac_salt": parsed["mac_data"]["mac_salt"],
                "iterations": 10**9,
            },
        }
    ).dump()
    error = _refusal(pfx.read_pfx, hostile, PASSWORD, source="h")
    assert error.code.id == "pfx.iterations_out_of_range"
    assert error.facts["iterations"] == 10**9


def test_rewriting_needs_one_key_and_its_certificate(pki: Pki, tmp_path: Path) -> None:
    other = ca.make_root("Unrelated Root", now=NOW).certificate
    encryption = serialization.BestAvailableEncryption(PASSWORD.reveal())
    no_key = pkcs12.serialize_key_and_certificates(None, None, None, [other], encryption)
    error = _refusal(pfx.set_attributes, no_key, PASSWORD, provider=None, machine_key_set=True)
    assert (error.code.id, error.facts["count"]) == ("pfx.key_count_unsupported", 0)
    stray = pkcs12.serialize_key_and_certificates(None, pki.leaf_key, None, [other], encryption)
    error = _refusal(
        pfx.set_attributes,
        stray,
        PASSWORD,
        provider=None,
        machine_key_set=True,
        friendly_name="webmail",
        source="s.pfx",
    )
    assert error.code.id == "pfx.leaf_missing"
    assert error.message == "s.pfx: no certificate in the file belongs to its private key"


def test_an_openssl_file_with_an_unsupported_cipher_is_still_read(pki: Pki, tmp_path: Path) -> None:
    """RC2-40 (OpenSSL's legacy default) is not decrypted by certward; OpenSSL reads it, or
    the file is refused with a code."""
    pem = tmp_path / "all.pem"
    key = pki.leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem.write_bytes(key + pki.leaf.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "rc2.pfx"
    try:
        openssl(
            "pkcs12", "-export", "-legacy", "-in", str(pem), "-out", str(out),
            "-passout", "pass:Pa55word!",
        )  # fmt: skip
    except AssertionError:
        pytest.skip("this openssl has no legacy provider (RC2-40)")
    try:
        contents = pfx.read_pfx(out.read_bytes(), PASSWORD, source="rc2.pfx")
    except CertwardError as exc:
        assert exc.code.id == "pfx.undecryptable"
    else:
        assert contents.leaf is not None
        assert any(e.cipher == "RC2-40-CBC" for e in contents.encryptions)


# -- values: coded errors that stay ValueErrors for the callers that check before use --------
@pytest.mark.parametrize(
    ("call", "args", "code"),
    [
        (build.validate_key_size, (1000,), "pki.key_size_unsupported"),
        (build.validate_domain, ("-bad-.example",), "pki.domain_invalid"),
        (build.validate_domain, ("",), "pki.domain_invalid"),
        (names.parse_exchange_dn, ("CN=a, X=b",), "pki.name_syntax_invalid"),
        (names.parse_exchange_dn, ('CN="open',), "pki.name_syntax_invalid"),
        (tlsname.parse_names, ("no markers",), "pki.tls_certificate_name_invalid"),
        (tlsname.parse_names, ("<I>CN=a<S>CN=",), "pki.tls_certificate_name_invalid"),
        (pfx.validate_provider_name, ("  ",), "pfx.provider_invalid"),
        (pfx.validate_provider_name, ("bad\x07name",), "pfx.provider_invalid"),
    ],
)
def test_bad_values(call: object, args: tuple[object, ...], code: str) -> None:
    error = _refusal(call, *args)
    assert error.code.id == code
    assert isinstance(error, InputError) and isinstance(error, ValueError)
    assert error.exit_code == 2


def test_name_syntax_errors_are_still_name_syntax_errors() -> None:
    with pytest.raises(names.NameSyntaxError, match="unknown attribute 'X'") as caught:
        names.parse_exchange_dn("CN=a, X=b")
    assert caught.value.facts == {"key": "X"}
