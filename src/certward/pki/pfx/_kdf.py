"""The PKCS#12 key derivation (RFC 7292 appendix B.2) and the file's MAC.

``cryptography`` does not offer this KDF as an API; certward needs it for the legacy PBEs
(3DES, RC2-128) and for the MAC key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, hmac

HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - the legacy profile's MAC and PBEs are SHA-1
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
HASH_NAMES = {name: f"SHA-{name[3:]}" if name != "sha1" else "SHA-1" for name in HASHES}
_BLOCK_SIZES = {"sha1": 64, "sha224": 64, "sha256": 64, "sha384": 128, "sha512": 128}

# The KDF's rounds are a tight loop (up to MAX_ITERATIONS): hashlib's C objects cost a quarter
# of what cryptography's Hash objects cost per round.
_HASHLIB: dict[str, Callable[[bytes], hashlib._Hash]] = {
    name: getattr(hashlib, name) for name in HASHES
}

KDF_KEY, KDF_IV, KDF_MAC = 1, 2, 3


def bmp_password(password: bytes) -> bytes:
    """The password as the PKCS#12 KDF takes it: UTF-16BE with a two-byte terminator."""
    try:
        text = password.decode("utf-8")
    except UnicodeDecodeError:
        text = password.decode("latin-1")
    return text.encode("utf-16-be") + b"\x00\x00"


def pkcs12_kdf(
    digest: str, password: bytes, salt: bytes, purpose: int, iterations: int, length: int
) -> bytes:
    """RFC 7292 B.2 with ``digest`` ("sha1", "sha256", ...); ``password`` BMP-encoded
    (see :func:`bmp_password`); ``purpose`` 1 key, 2 IV, 3 MAC key."""
    if iterations < 1:
        raise ValueError("the PKCS#12 KDF needs at least one iteration")
    new = _HASHLIB[digest]
    v = _BLOCK_SIZES[digest]

    def fill(data: bytes) -> bytes:
        if not data:
            return b""
        size = v * -(-len(data) // v)
        return (data * (size // len(data) + 1))[:size]

    d = bytes([purpose]) * v
    i = bytearray(fill(salt) + fill(password))
    out = b""
    while True:
        block = new(d + bytes(i)).digest()
        for _ in range(iterations - 1):
            block = new(block).digest()
        out += block
        if len(out) >= length:
            return out[:length]
        b = int.from_bytes((block * (v // len(block) + 1))[:v], "big") + 1
        for j in range(0, len(i), v):
            value = (int.from_bytes(i[j : j + v], "big") + b) % (1 << (8 * v))
            i[j : j + v] = value.to_bytes(v, "big")


def mac(auth_bytes: bytes, password: bytes, digest: str, salt: bytes, iterations: int) -> hmac.HMAC:
    """The file's MAC over the authenticated safe (finalize or verify it)."""
    algorithm = HASHES[digest]
    key = pkcs12_kdf(
        digest, bmp_password(password), salt, KDF_MAC, iterations, algorithm.digest_size
    )
    result = hmac.HMAC(key, algorithm)
    result.update(auth_bytes)
    return result
