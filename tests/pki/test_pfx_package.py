"""The pfx package's shape: a curated public surface, and each AlgorithmIdentifier parsed once
into typed parameters, checked on real files written by ``openssl pkcs12 -export`` and by
``cryptography``."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest
from asn1crypto import algos
from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import certward.pki.pfx
from certward.model import Password
from certward.pki import pfx
from certward.pki.pfx._ciphers import (
    OtherEncryption,
    Pbes2,
    Pkcs12Pbe,
    decrypt,
    describe,
    encrypt,
    fresh,
    parse_encryption,
)
from tests.conftest import openssl
from tests.pki.conftest import Pki

SECRET = "Pa55word!"
PACKAGE = Path(certward.pki.pfx.__file__).parent


# -- the public surface ---------------------------------------------------------------------
def test_all_is_the_public_surface() -> None:
    """Every name in ``__all__`` is there, and nothing public is left out of it."""
    public = {
        name
        for name, value in vars(pfx).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(pfx.__all__)
    assert len(pfx.__all__) == len(set(pfx.__all__))


def test_the_modules_are_private() -> None:
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == [
        "__init__.py",
        "_asn1.py",
        "_ciphers.py",
        "_export.py",
        "_kdf.py",
        "_providers.py",
        "_read.py",
        "_write.py",
    ]


def test_encryption_parameters_are_read_in_one_place() -> None:
    """Only ``parse_encryption`` looks inside an AlgorithmIdentifier's parameters."""
    readers: list[str] = []
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Subscript)
                    and isinstance(node.slice, ast.Constant)
                    and node.slice.value
                    in ("key_derivation_func", "encryption_scheme", "iteration_count", "salt")
                ):
                    readers.append(f"{path.name}:{func.name}")
    assert set(readers) == {"_ciphers.py:parse_encryption"}


# -- parsing real files ----------------------------------------------------------------------
def _encryptions(data: bytes) -> list[tuple[str, algos.EncryptionAlgorithm]]:
    """(where, AlgorithmIdentifier) of every encrypted safe and shrouded key of a file."""
    found: list[tuple[str, algos.EncryptionAlgorithm]] = []
    for info in asn1_pkcs12.Pfx.load(data).authenticated_safe:
        if info["content_type"].native == "encrypted_data":
            eci = info["content"]["encrypted_content_info"]
            found.append(("safe", eci["content_encryption_algorithm"]))
        else:
            for bag in asn1_pkcs12.SafeContents.load(info["content"].native):
                if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                    found.append(("key", bag["bag_value"]["encryption_algorithm"]))
    return found


@pytest.fixture(scope="module")
def pem_bundle(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pem") / "all.pem"
    key = pki.leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(key + pki.leaf.public_bytes(serialization.Encoding.PEM))
    return path


def _openssl_pfx(pem_bundle: Path, tmp_path: Path, *profile: str) -> bytes:
    out = tmp_path / "o.pfx"
    openssl(
        "pkcs12", "-export", "-in", str(pem_bundle), "-out", str(out),
        "-passout", f"pass:{SECRET}", *profile,
    )  # fmt: skip
    return out.read_bytes()


def test_pbes2_parameters_of_an_openssl_file(pem_bundle: Path, tmp_path: Path) -> None:
    data = _openssl_pfx(pem_bundle, tmp_path, "-iter", "4096")
    found = _encryptions(data)
    assert [where for where, _ in found] == ["safe", "key"]
    for _, algorithm in found:
        parsed = parse_encryption(algorithm)
        assert isinstance(parsed, Pbes2)
        assert (parsed.kdf, parsed.prf, parsed.scheme) == ("pbkdf2", "sha256", "aes256_cbc")
        assert parsed.iterations == 4096
        assert parsed.salt is not None and len(parsed.salt) >= 8
        assert parsed.iv is not None and len(parsed.iv) == 16
        assert str(describe(parsed)) == "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, 4096 iterations"
        # written back, the same parameters come out
        assert parse_encryption(parsed.algorithm()) == parsed
    contents = pfx.read_pfx(data, Password(SECRET.encode()), source="o.pfx")
    assert [str(e) for e in contents.encryptions] == [
        "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, 4096 iterations"
    ]


def test_pkcs12_pbe_parameters_of_an_openssl_file(pem_bundle: Path, tmp_path: Path) -> None:
    data = _openssl_pfx(
        pem_bundle, tmp_path, "-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES",
        "-macalg", "sha1", "-iter", "2000",
    )  # fmt: skip
    for _, algorithm in _encryptions(data):
        parsed = parse_encryption(algorithm)
        assert isinstance(parsed, Pkcs12Pbe)
        assert (parsed.name, parsed.iterations) == ("pkcs12_sha1_tripledes_3key", 2000)
        assert str(describe(parsed)) == "PKCS#12 PBE 3DES-CBC, PKCS#12 KDF (SHA-1), 2000 iterations"
        assert parse_encryption(parsed.algorithm()) == parsed


def test_pbes2_parameters_of_a_cryptography_file(pki: Pki) -> None:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(3000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(SECRET.encode())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"webmail", pki.leaf_key, pki.leaf, None, encryption
    )
    parsed = [parse_encryption(a) for _, a in _encryptions(data)]
    assert {(p.kdf, p.prf, p.scheme, p.iterations) for p in parsed if isinstance(p, Pbes2)} == {
        ("pbkdf2", "sha256", "aes256_cbc", 3000)
    }
    assert len(parsed) == 2


def test_fresh_keeps_the_algorithm_and_changes_salt_and_iv(
    pem_bundle: Path, tmp_path: Path
) -> None:
    _, algorithm = _encryptions(_openssl_pfx(pem_bundle, tmp_path))[0]
    parsed = parse_encryption(algorithm)
    assert isinstance(parsed, Pbes2)
    renewed = fresh(parsed)
    assert isinstance(renewed, Pbes2)
    assert (renewed.kdf, renewed.prf, renewed.scheme, renewed.iterations) == (
        parsed.kdf,
        parsed.prf,
        parsed.scheme,
        parsed.iterations,
    )
    assert renewed.salt != parsed.salt and renewed.iv != parsed.iv
    assert renewed.salt is not None and parsed.salt is not None
    assert len(renewed.salt) == len(parsed.salt)
    secret = SECRET.encode()
    assert decrypt(renewed, encrypt(renewed, b"safe contents", secret), secret) == b"safe contents"


def test_an_algorithm_certward_does_not_decrypt_is_named() -> None:
    algorithm = algos.EncryptionAlgorithm(
        {"algorithm": "pkcs12_sha1_rc4_128", "parameters": {"salt": b"12345678", "iterations": 1}}
    )
    parsed = parse_encryption(algorithm)
    assert parsed == Pkcs12Pbe("pkcs12_sha1_rc4_128", b"12345678", 1)
    assert describe(parsed).cipher == "RC4-128"
    other = parse_encryption(
        algos.EncryptionAlgorithm({"algorithm": "des", "parameters": b"1" * 8})
    )
    assert other == OtherEncryption("des")
    assert describe(other).kdf == "?"
