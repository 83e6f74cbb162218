"""The encryption of safes and shrouded keys: PBES2 (PBKDF2 + AES-CBC or 3DES) and the
PKCS#12 PBEs (3DES, RC2-128) with the RFC 7292 key derivation.

An AlgorithmIdentifier is parsed once, by :func:`parse_encryption`, into a typed value;
describing (:func:`protection`), decrypting, encrypting and refreshing a salt all work on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TypeAlias

from asn1crypto import algos, core
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2, TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from certward.pki.pfx._kdf import HASH_NAMES, HASHES, KDF_IV, KDF_KEY, bmp_password, pkcs12_kdf


class Unsupported(Exception):
    """An encryption certward does not implement (the message names it)."""


_AES_CBC = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_PBES2_KEY_LENGTHS = {**_AES_CBC, "tripledes_3key": 24}
_PKCS12_PBES = {  # name: (cipher label, key length)
    "pkcs12_sha1_tripledes_3key": ("3DES-CBC", 24),
    "pkcs12_sha1_rc2_128": ("RC2-128-CBC", 16),
    "pkcs12_sha1_rc2_40": ("RC2-40-CBC", 5),
    "pkcs12_sha1_tripledes_2key": ("2-key 3DES-CBC", 16),
    "pkcs12_sha1_rc4_128": ("RC4-128", 16),
    "pkcs12_sha1_rc4_40": ("RC4-40", 5),
}
_PKCS12_PBES_DECRYPTED = ("pkcs12_sha1_tripledes_3key", "pkcs12_sha1_rc2_128")


# -- what an AlgorithmIdentifier says, parsed once ---------------------------------------------
@dataclass(frozen=True, slots=True)
class Pbes2:
    """PBES2 (RFC 8018): the key derivation and the encryption scheme.

    ``prf``, ``salt``, ``iterations`` and ``key_length`` are PBKDF2's (None for another
    KDF); ``iv`` is the scheme's parameter when it is an OCTET STRING (the CBC ciphers)."""

    kdf: str  # "pbkdf2"
    scheme: str  # "aes256_cbc", "tripledes_3key", ...
    prf: str | None = None  # "sha256"
    salt: bytes | None = None  # None: PBKDF2's "otherSource" salt, or not PBKDF2
    iterations: int = 0
    key_length: int | None = None
    iv: bytes | None = None

    def algorithm(self) -> algos.EncryptionAlgorithm:
        """The AlgorithmIdentifier again (PBKDF2 only)."""
        pbkdf2: dict[str, object] = {
            "salt": ("specified", self.salt),
            "iteration_count": self.iterations,
            "prf": {"algorithm": self.prf},
        }
        if self.key_length is not None:
            pbkdf2["key_length"] = self.key_length
        return algos.EncryptionAlgorithm(
            {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {"algorithm": "pbkdf2", "parameters": pbkdf2},
                    "encryption_scheme": {"algorithm": self.scheme, "parameters": self.iv},
                },
            }
        )


@dataclass(frozen=True, slots=True)
class Pkcs12Pbe:
    """One of RFC 7292's password-based encryptions (``pkcs12_sha1_tripledes_3key`` ...)."""

    name: str
    salt: bytes
    iterations: int

    def algorithm(self) -> algos.EncryptionAlgorithm:
        parameters = {"salt": self.salt, "iterations": self.iterations}
        return algos.EncryptionAlgorithm({"algorithm": self.name, "parameters": parameters})


@dataclass(frozen=True, slots=True)
class OtherEncryption:
    """An algorithm certward names but does not interpret (PBES1, ...)."""

    name: str


Encryption: TypeAlias = Pbes2 | Pkcs12Pbe | OtherEncryption


def parse_encryption(algorithm: algos.EncryptionAlgorithm) -> Encryption:
    """The parameters of a safe's or a shrouded key's AlgorithmIdentifier. asn1crypto parses
    lazily: a malformed one raises ValueError, TypeError, KeyError ... here."""
    name = algorithm["algorithm"].native
    if name == "pbes2":
        params = algorithm["parameters"]
        kdf = params["key_derivation_func"]
        scheme = params["encryption_scheme"]
        kdf_name = kdf["algorithm"].native
        iv = scheme["parameters"].native
        found = Pbes2(
            kdf_name, scheme["algorithm"].native, iv=iv if isinstance(iv, bytes) else None
        )
        if kdf_name != "pbkdf2":
            return found
        kdf_params = kdf["parameters"]
        salt = kdf_params["salt"]
        key_length = kdf_params["key_length"]
        return replace(
            found,
            prf=kdf_params["prf"]["algorithm"].native,
            salt=salt.chosen.native if salt.name == "specified" else None,
            iterations=kdf_params["iteration_count"].native,
            key_length=None if isinstance(key_length, core.Void) else key_length.native,
        )
    if name in _PKCS12_PBES:
        params = algorithm["parameters"]
        return Pkcs12Pbe(name, params["salt"].native, params["iterations"].native)
    return OtherEncryption(name)


# -- describing -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Protection:
    """How a safe or the shrouded key is encrypted."""

    scheme: str  # "PBES2" or "PKCS#12 PBE"
    cipher: str  # "AES-256-CBC", "3DES-CBC", "RC2-40-CBC", ...
    kdf: str  # "PBKDF2-HMAC-SHA256", "PKCS#12 KDF (SHA-1)"
    iterations: int

    @property
    def is_aes(self) -> bool:
        return self.cipher.startswith("AES")

    def __str__(self) -> str:
        return f"{self.scheme} {self.cipher}, {self.kdf}, {self.iterations} iterations"


def protection(algorithm: algos.EncryptionAlgorithm) -> Protection:
    """How ``algorithm`` encrypts, in words (``kdf`` is "?" for what certward cannot decrypt)."""
    return describe(parse_encryption(algorithm))


def describe(encryption: Encryption) -> Protection:
    if isinstance(encryption, Pbes2):
        if encryption.kdf != "pbkdf2":
            return Protection("PBES2", encryption.scheme, "?", 0)
        scheme = encryption.scheme
        cipher = (
            f"AES-{_AES_CBC[scheme] * 8}-CBC"
            if scheme in _AES_CBC
            else {"tripledes_3key": "3DES-CBC"}.get(scheme, scheme)
        )
        prf = encryption.prf or "?"
        hash_name = HASH_NAMES.get(prf, prf).replace("-", "")
        return Protection("PBES2", cipher, f"PBKDF2-HMAC-{hash_name}", encryption.iterations)
    if isinstance(encryption, Pkcs12Pbe):
        label = _PKCS12_PBES[encryption.name][0]
        return Protection("PKCS#12 PBE", label, "PKCS#12 KDF (SHA-1)", encryption.iterations)
    return Protection(encryption.name, encryption.name, "?", 0)


# -- encrypting and decrypting ----------------------------------------------------------------
def _cipher_and_iv(encryption: Encryption, password: bytes) -> tuple[CipherAlgorithm, bytes, int]:
    """The cipher (with its key), the IV and the block size in bits."""
    if isinstance(encryption, Pbes2):
        if encryption.kdf != "pbkdf2":
            raise Unsupported(f"PBES2 with {encryption.kdf}")
        prf = encryption.prf or "?"
        if prf not in HASHES:
            raise Unsupported(f"PBKDF2 with HMAC-{prf}")
        length = _PBES2_KEY_LENGTHS.get(encryption.scheme)
        if length is None:
            raise Unsupported(f"PBES2 with {encryption.scheme}")
        if encryption.salt is None:
            raise Unsupported("PBKDF2 with a salt from another source")
        if encryption.iv is None:  # asn1crypto reads the CBC ciphers' IV as an OCTET STRING
            raise TypeError(f"the {encryption.scheme} parameters are not an IV")
        key = PBKDF2HMAC(HASHES[prf], length, encryption.salt, encryption.iterations).derive(
            password
        )
        if encryption.scheme in _AES_CBC:
            return algorithms.AES(key), encryption.iv, 128
        return TripleDES(key), encryption.iv, 64
    if isinstance(encryption, Pkcs12Pbe) and encryption.name in _PKCS12_PBES_DECRYPTED:
        secret = bmp_password(password)
        salt, iterations = encryption.salt, encryption.iterations
        length = _PKCS12_PBES[encryption.name][1]
        key = pkcs12_kdf("sha1", secret, salt, KDF_KEY, iterations, length)
        iv = pkcs12_kdf("sha1", secret, salt, KDF_IV, iterations, 8)
        cipher: CipherAlgorithm = TripleDES(key) if "tripledes" in encryption.name else RC2(key)
        return cipher, iv, 64
    label = _PKCS12_PBES.get(encryption.name, (encryption.name, 0))[0]
    raise Unsupported(f"{label} encryption")


def decrypt(encryption: Encryption, data: bytes, password: bytes) -> bytes:
    """Raises ValueError when the password is wrong (bad padding), and Unsupported."""
    try:
        cipher, iv, block = _cipher_and_iv(encryption, password)
        decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
    except UnsupportedAlgorithm as exc:
        raise Unsupported(str(exc)) from None
    unpadder = padding.PKCS7(block).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def encrypt(encryption: Encryption, data: bytes, password: bytes) -> bytes:
    cipher, iv, block = _cipher_and_iv(encryption, password)
    padder = padding.PKCS7(block).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def fresh(encryption: Encryption) -> Pbes2 | Pkcs12Pbe:
    """The same algorithm, iterations and PRF with a new salt (and IV)."""
    if isinstance(encryption, Pbes2):
        return replace(
            encryption,
            salt=os.urandom(len(encryption.salt or b"")),
            iv=os.urandom(len(encryption.iv or b"")),
        )
    if isinstance(encryption, Pkcs12Pbe):
        return replace(encryption, salt=os.urandom(len(encryption.salt)))
    raise Unsupported(f"{encryption.name} encryption")
