"""PKCS#12 (.pfx) files with the bag attributes Windows writes and reads (bytes in, bytes out).

``cryptography`` reads and writes PFX files but keeps only a friendly name and a local key ID;
Windows also records in the key bag where the key is to live (seed 004):

- ``1.3.6.1.4.1.311.17.1`` (szOID_PKCS_12_KEY_PROVIDER_NAME_ATTR): the provider, a BMPString
  such as ``Microsoft Software Key Storage Provider`` (CNG) or ``Microsoft RSA SChannel
  Cryptographic Provider`` (CAPI); ``openssl pkcs12 -info`` prints it as "Microsoft CSP Name";
- ``1.3.6.1.4.1.311.17.2`` (szOID_LOCAL_MACHINE_KEYSET): an empty SET, "import the key into
  the machine's key set" ("Microsoft Local Key set").

The structure is read with asn1crypto and the cryptography done with ``cryptography``:
PBES2 (PBKDF2 + AES-CBC) and the PKCS#12 PBEs (3DES, RC2-128) with the RFC 7292 appendix B
key derivation, which ``cryptography`` does not offer as an API, for the legacy ciphers and
for the MAC key. Rewriting a file changes the bags' attributes, re-encrypts the safes that
were encrypted (same algorithm and iterations, fresh salt and IV) and recomputes the MAC.

Shrouded key bags keep their attributes outside the encryption: when the key bag sits in an
unencrypted safe (Windows, OpenSSL and ``cryptography`` all put it there) the provider can be
read without the password.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from asn1crypto import algos, cms, core, keys, pkcs12
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import RC2, TripleDES
from cryptography.hazmat.primitives import hashes, hmac, padding, serialization
from cryptography.hazmat.primitives.asymmetric import types
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from certward.errors import PkiError
from certward.model import CAPI_SCHANNEL_PROVIDER, CNG_SOFTWARE_KSP, Password, is_cng_provider
from certward.pki import certinfo
from certward.pki.formats import looks_like_pkcs12

T = TypeVar("T")

OID_KEY_PROVIDER_NAME = "1.3.6.1.4.1.311.17.1"
OID_LOCAL_MACHINE_KEYSET = "1.3.6.1.4.1.311.17.2"
OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"

# What Windows imports a PFX into when the file names no provider (CryptoAPI's default for
# an exportable RSA key used by Schannel).
DEFAULT_PROVIDER = CAPI_SCHANNEL_PROVIDER  # Windows, when a PFX names no provider
MAX_PROVIDER_LENGTH = 256  # the column certward stores it in


# -- providers -----------------------------------------------------------------------------
class ProviderKind(enum.StrEnum):
    CNG = "CNG"  # a Key Storage Provider (Cryptography Next Generation)
    CAPI = "CAPI"  # a legacy CryptoAPI Cryptographic Service Provider
    UNKNOWN = "unknown"


_CAPI_NAMES = re.compile(r"cryptographic provider|crypto provider|\bcsp\b", re.IGNORECASE)


def provider_kind(name: str) -> ProviderKind:
    """CNG for Key Storage Providers (software, smart card, TPM), CAPI for the CSPs."""
    if is_cng_provider(name):
        return ProviderKind.CNG
    if _CAPI_NAMES.search(name):
        return ProviderKind.CAPI
    return ProviderKind.UNKNOWN


DEFAULT_PROVIDERS = {ProviderKind.CAPI: CAPI_SCHANNEL_PROVIDER, ProviderKind.CNG: CNG_SOFTWARE_KSP}


def effective_provider(attributes: KeyAttributes | None) -> str:
    """Where Windows puts an imported key: the key bag's provider, else the CAPI default."""
    provider = attributes.provider if attributes is not None else None
    return provider or DEFAULT_PROVIDER


def validate_provider_name(name: str) -> str:
    """A provider name as Windows can store it: 1-256 BMP characters, no control characters."""
    cleaned = name.strip()
    if not cleaned:
        raise ValueError("the provider name must not be empty")
    if len(cleaned) > MAX_PROVIDER_LENGTH:
        raise ValueError(f"the provider name is longer than {MAX_PROVIDER_LENGTH} characters")
    if any(ord(ch) > 0xFFFF or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in cleaned):
        raise ValueError(f"the provider name {cleaned!r} has characters a BMPString cannot hold")
    return cleaned


# -- ASN.1: asn1crypto's pkcs12 module maps 311.17.1 to the wrong name; bags with our map ------
class _AttributeType(core.ObjectIdentifier):  # type: ignore[misc]
    _map: ClassVar[dict[str, str]] = {
        OID_FRIENDLY_NAME: "friendly_name",
        OID_LOCAL_KEY_ID: "local_key_id",
        OID_KEY_PROVIDER_NAME: "key_provider_name",
        OID_LOCAL_MACHINE_KEYSET: "local_machine_keyset",
    }


class _Attribute(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [("type", _AttributeType), ("values", None)]
    _oid_specs: ClassVar[dict[str, type]] = {
        "friendly_name": pkcs12.SetOfBMPString,
        "local_key_id": pkcs12.SetOfOctetString,
        "key_provider_name": pkcs12.SetOfBMPString,
    }

    def _values_spec(self) -> type:
        spec: type = self._oid_specs.get(self["type"].native, pkcs12.SetOfAny)
        return spec

    _spec_callbacks: ClassVar[dict[str, Any]] = {"values": _values_spec}


class _Attributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _Attribute


class _SafeBag(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("bag_id", pkcs12.BagId),
        ("bag_value", core.Any, {"explicit": 0}),
        ("bag_attributes", _Attributes, {"optional": True}),
    ]
    _oid_pair = ("bag_id", "bag_value")
    _oid_specs: ClassVar[dict[str, type]] = {
        "key_bag": keys.PrivateKeyInfo,
        "pkcs8_shrouded_key_bag": keys.EncryptedPrivateKeyInfo,
        "cert_bag": pkcs12.CertBag,
        "crl_bag": pkcs12.CrlBag,
        "secret_bag": pkcs12.SecretBag,
    }


class _SafeContents(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _SafeBag


# -- the PKCS#12 key derivation (RFC 7292 appendix B.2) ---------------------------------------
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - the legacy profile's MAC and PBEs are SHA-1
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_HASH_NAMES = {name: f"SHA-{name[3:]}" if name != "sha1" else "SHA-1" for name in _HASHES}
_BLOCK_SIZES = {"sha1": 64, "sha224": 64, "sha256": 64, "sha384": 128, "sha512": 128}

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
    algorithm = _HASHES[digest]
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
        block = _digest(algorithm, d + bytes(i))
        for _ in range(iterations - 1):
            block = _digest(algorithm, block)
        out += block
        if len(out) >= length:
            return out[:length]
        b = int.from_bytes((block * (v // len(block) + 1))[:v], "big") + 1
        for j in range(0, len(i), v):
            value = (int.from_bytes(i[j : j + v], "big") + b) % (1 << (8 * v))
            i[j : j + v] = value.to_bytes(v, "big")


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


# -- what a file holds --------------------------------------------------------------------------
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


@dataclass(frozen=True, slots=True)
class MacInfo:
    digest: str  # "SHA-256"
    iterations: int
    salt_length: int
    verified: bool

    def __str__(self) -> str:
        return f"HMAC-{self.digest}, {self.iterations} iterations"


@dataclass(frozen=True, slots=True)
class KeyAttributes:
    """The key bag's attributes."""

    provider: str | None = None
    machine_key_set: bool = False
    friendly_name: str | None = None
    local_key_id: bytes | None = None
    others: tuple[str, ...] = ()  # dotted OIDs of attributes certward does not interpret


@dataclass(frozen=True)
class CertificateEntry:
    certificate: x509.Certificate
    friendly_name: str | None = None
    local_key_id: bytes | None = None


class KeyPlace(enum.StrEnum):
    PLAIN_SAFE = "unencrypted safe"
    ENCRYPTED_SAFE = "encrypted safe"
    NONE = "none"
    UNKNOWN = "unknown"  # no key bag in the unencrypted safes; encrypted ones not opened


@dataclass(frozen=True)
class SafeInfo:
    protection: Protection | None  # None: an unencrypted (Data) safe
    bags: tuple[str, ...] | None  # bag kinds in order; None: not opened (no password)


@dataclass(frozen=True)
class PfxContents:
    """A PFX file as read: its layout, the key bag's attributes, certificates, the key."""

    safes: tuple[SafeInfo, ...]
    mac: MacInfo | None
    key_place: KeyPlace
    key_attributes: KeyAttributes | None  # None: no key bag, or not readable
    key_protection: Protection | None  # the shrouded key's encryption (None: plain or unknown)
    certificates: tuple[CertificateEntry, ...]  # file order; empty when not readable
    certificates_readable: bool
    private_key: types.PrivateKeyTypes | None = field(default=None, repr=False)

    @property
    def leaf(self) -> CertificateEntry | None:
        """The certificate of the private key (by public key, else by local key ID)."""
        key_id = self.key_attributes.local_key_id if self.key_attributes else None
        return _find_leaf(
            ((e, e.certificate, e.local_key_id) for e in self.certificates),
            certinfo.spki(self.private_key) if self.private_key is not None else None,
            key_id,
        )

    @property
    def encryptions(self) -> tuple[Protection, ...]:
        found = [s.protection for s in self.safes if s.protection is not None]
        if self.key_protection is not None:
            found.append(self.key_protection)
        return tuple(dict.fromkeys(found))


# -- internal state of an opened file -----------------------------------------------------------
@dataclass
class _Safe:
    algorithm: algos.EncryptionAlgorithm | None  # None: Data
    bags: list[_SafeBag] | None  # None: encrypted and not opened
    unsupported: str | None = None  # why an encrypted safe could not be opened
    info: cms.ContentInfo | None = None  # as read: written back as it was when not changed
    changed: bool = False


@dataclass
class _Opened:
    safes: list[_Safe]
    mac: MacInfo | None
    mac_digest: str | None  # the MAC's digest as asn1crypto names it ("sha256")


def _fail(source: str, problem: str) -> PkiError:
    return PkiError(f"{source}: {problem}")


# Windows writes 2,000 iterations, OpenSSL 2,048, cryptography 20,000 and Java 10,000-100,000;
# a damaged or hostile count must not keep certward busy for hours.
MAX_ITERATIONS = 2_000_000


def _check_iterations(count: int, what: str, source: str) -> None:
    if not 1 <= count <= MAX_ITERATIONS:
        raise _fail(source, f"the {what} asks for {count} iterations (1-{MAX_ITERATIONS})")


def _check_protection(algorithm: algos.EncryptionAlgorithm, what: str, source: str) -> None:
    found = protection(algorithm)
    if found.kdf != "?":  # a scheme certward decrypts
        _check_iterations(found.iterations, what, source)


def _open(data: bytes, password: bytes | None, source: str) -> _Opened:
    """Parse the file and verify its MAC (when a password is given); open the safes."""
    pfx = pkcs12.Pfx.load(data, strict=True)
    if pfx["version"].native != "v3":
        raise _fail(source, "not a PKCS#12 v3 file")
    auth_safe = pfx["auth_safe"]
    if auth_safe["content_type"].native != "data":
        raise _fail(
            source,
            "the PKCS#12 file uses public-key integrity mode (signed), which certward "
            "does not read",
        )
    auth_bytes = auth_safe["content"].native
    infos = list(pkcs12.AuthenticatedSafe.load(auth_bytes))
    mac_data = pfx["mac_data"]
    mac: MacInfo | None = None
    digest_name: str | None = None
    iterations = salt_length = 0
    if not isinstance(mac_data, core.Void):
        digest_name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
        iterations = mac_data["iterations"].native
        salt = mac_data["mac_salt"].native
        salt_length = len(salt)
        if digest_name not in _HASHES:
            raise _fail(source, f"unsupported MAC digest {digest_name}")
        _check_iterations(iterations, "MAC", source)
        verified = False
        if password is not None:
            expected = mac_data["mac"]["digest"].native
            _verify_mac(auth_bytes, password, digest_name, salt, iterations, expected, source)
            verified = True
        mac = MacInfo(_HASH_NAMES[digest_name], iterations, salt_length, verified)
    safes = [_open_safe(info, password, source) for info in infos]
    return _Opened(safes, mac, digest_name)


def _verify_mac(
    auth_bytes: bytes,
    password: bytes,
    digest: str,
    salt: bytes,
    iterations: int,
    expected: bytes,
    source: str,
) -> None:
    try:
        _mac(auth_bytes, password, digest, salt, iterations).verify(expected)
    except InvalidSignature:
        raise _fail(
            source,
            "wrong password for the PKCS#12 file (or the file was altered: its MAC does not match)",
        ) from None


def _mac(
    auth_bytes: bytes, password: bytes, digest: str, salt: bytes, iterations: int
) -> hmac.HMAC:
    algorithm = _HASHES[digest]
    key = pkcs12_kdf(
        digest, bmp_password(password), salt, KDF_MAC, iterations, algorithm.digest_size
    )
    mac = hmac.HMAC(key, algorithm)
    mac.update(auth_bytes)
    return mac


def _open_safe(info: cms.ContentInfo, password: bytes | None, source: str) -> _Safe:
    kind = info["content_type"].native
    if kind == "data":
        return _Safe(None, list(_SafeContents.load(info["content"].native)), info=info)
    if kind == "encrypted_data":
        eci = info["content"]["encrypted_content_info"]
        algorithm = eci["content_encryption_algorithm"]
        if password is None:
            return _Safe(algorithm, None, info=info)
        _check_protection(algorithm, "encrypted safe", source)
        try:
            plain = _decrypt(algorithm, eci["encrypted_content"].native, password)
        except _Unsupported as exc:
            return _Safe(algorithm, None, unsupported=str(exc), info=info)
        except ValueError:
            raise _fail(
                source, "wrong password for the PKCS#12 file, or the file is damaged"
            ) from None
        return _Safe(algorithm, list(_SafeContents.load(plain)), info=info)
    raise _fail(source, f"unsupported PKCS#12 safe ({kind}); certward reads password safes")


# -- ciphers --------------------------------------------------------------------------------------
class _Unsupported(Exception):
    pass


_AES_CBC = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_PKCS12_PBES = {  # name: (cipher label, key length)
    "pkcs12_sha1_tripledes_3key": ("3DES-CBC", 24),
    "pkcs12_sha1_rc2_128": ("RC2-128-CBC", 16),
    "pkcs12_sha1_rc2_40": ("RC2-40-CBC", 5),
    "pkcs12_sha1_tripledes_2key": ("2-key 3DES-CBC", 16),
    "pkcs12_sha1_rc4_128": ("RC4-128", 16),
    "pkcs12_sha1_rc4_40": ("RC4-40", 5),
}


def protection(algorithm: algos.EncryptionAlgorithm) -> Protection:
    name = algorithm["algorithm"].native
    if name == "pbes2":
        params = algorithm["parameters"]
        kdf = params["key_derivation_func"]
        if kdf["algorithm"].native != "pbkdf2":
            return Protection("PBES2", params["encryption_scheme"]["algorithm"].native, "?", 0)
        prf = kdf["parameters"]["prf"]["algorithm"].native
        scheme = params["encryption_scheme"]["algorithm"].native
        cipher = (
            f"AES-{_AES_CBC[scheme] * 8}-CBC"
            if scheme in _AES_CBC
            else {"tripledes_3key": "3DES-CBC"}.get(scheme, scheme)
        )
        return Protection(
            "PBES2",
            cipher,
            f"PBKDF2-HMAC-{_HASH_NAMES.get(prf, prf).replace('-', '')}",
            kdf["parameters"]["iteration_count"].native,
        )
    if name in _PKCS12_PBES:
        return Protection(
            "PKCS#12 PBE",
            _PKCS12_PBES[name][0],
            "PKCS#12 KDF (SHA-1)",
            algorithm["parameters"]["iterations"].native,
        )
    return Protection(name, name, "?", 0)


def _cipher_and_keys(
    algorithm: algos.EncryptionAlgorithm, password: bytes
) -> tuple[CipherAlgorithm, bytes, int]:
    """The cipher (with its key), the IV and the block size in bits."""
    name = algorithm["algorithm"].native
    if name == "pbes2":
        params = algorithm["parameters"]
        kdf = params["key_derivation_func"]
        scheme = params["encryption_scheme"]
        scheme_name = scheme["algorithm"].native
        if kdf["algorithm"].native != "pbkdf2":
            raise _Unsupported(f"PBES2 with {kdf['algorithm'].native}")
        kdf_params = kdf["parameters"]
        prf = kdf_params["prf"]["algorithm"].native
        if prf not in _HASHES:
            raise _Unsupported(f"PBKDF2 with HMAC-{prf}")
        if scheme_name in _AES_CBC:
            length = _AES_CBC[scheme_name]
        elif scheme_name == "tripledes_3key":
            length = 24
        else:
            raise _Unsupported(f"PBES2 with {scheme_name}")
        key = PBKDF2HMAC(
            _HASHES[prf],
            length,
            kdf_params["salt"].chosen.native,
            kdf_params["iteration_count"].native,
        ).derive(password)
        iv = scheme["parameters"].native
        if scheme_name in _AES_CBC:
            return algorithms.AES(key), iv, 128
        return TripleDES(key), iv, 64
    if name in ("pkcs12_sha1_tripledes_3key", "pkcs12_sha1_rc2_128"):
        salt = algorithm["parameters"]["salt"].native
        iterations = algorithm["parameters"]["iterations"].native
        secret = bmp_password(password)
        length = _PKCS12_PBES[name][1]
        key = pkcs12_kdf("sha1", secret, salt, KDF_KEY, iterations, length)
        iv = pkcs12_kdf("sha1", secret, salt, KDF_IV, iterations, 8)
        cipher: CipherAlgorithm = TripleDES(key) if "tripledes" in name else RC2(key)
        return cipher, iv, 64
    label = _PKCS12_PBES.get(name, (name, 0))[0]
    raise _Unsupported(f"{label} encryption")


def _decrypt(algorithm: algos.EncryptionAlgorithm, data: bytes, password: bytes) -> bytes:
    """Raises ValueError when the password is wrong (bad padding) and _Unsupported."""
    try:
        cipher, iv, block = _cipher_and_keys(algorithm, password)
        decryptor = Cipher(cipher, modes.CBC(iv)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
    except UnsupportedAlgorithm as exc:
        raise _Unsupported(str(exc)) from None
    unpadder = padding.PKCS7(block).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _encrypt(algorithm: algos.EncryptionAlgorithm, data: bytes, password: bytes) -> bytes:
    cipher, iv, block = _cipher_and_keys(algorithm, password)
    padder = padding.PKCS7(block).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def _fresh(algorithm: algos.EncryptionAlgorithm) -> algos.EncryptionAlgorithm:
    """The same algorithm, iterations and PRF with a new salt and IV."""
    name = algorithm["algorithm"].native
    if name == "pbes2":
        params = algorithm["parameters"]
        kdf_params = params["key_derivation_func"]["parameters"]
        scheme = params["encryption_scheme"]
        pbkdf2: dict[str, object] = {
            "salt": ("specified", os.urandom(len(kdf_params["salt"].chosen.native))),
            "iteration_count": kdf_params["iteration_count"].native,
            "prf": {"algorithm": kdf_params["prf"]["algorithm"].native},
        }
        if not isinstance(kdf_params["key_length"], core.Void):
            pbkdf2["key_length"] = kdf_params["key_length"].native
        return algos.EncryptionAlgorithm(
            {
                "algorithm": "pbes2",
                "parameters": {
                    "key_derivation_func": {"algorithm": "pbkdf2", "parameters": pbkdf2},
                    "encryption_scheme": {
                        "algorithm": scheme["algorithm"].native,
                        "parameters": os.urandom(len(scheme["parameters"].native)),
                    },
                },
            }
        )
    salt = algorithm["parameters"]["salt"].native
    return algos.EncryptionAlgorithm(
        {
            "algorithm": name,
            "parameters": {
                "salt": os.urandom(len(salt)),
                "iterations": algorithm["parameters"]["iterations"].native,
            },
        }
    )


# -- bags and attributes ------------------------------------------------------------------------
def _attributes(bag: _SafeBag) -> list[_Attribute]:
    attrs = bag["bag_attributes"]
    return [] if isinstance(attrs, core.Void) else list(attrs)


def _attribute_type(attr: _Attribute) -> str:
    return str(attr["type"].dotted)


def _key_attributes(bag: _SafeBag) -> KeyAttributes:
    result = KeyAttributes()
    others: list[str] = []
    for attr in _attributes(bag):
        oid = _attribute_type(attr)
        values = list(attr["values"])
        if oid == OID_KEY_PROVIDER_NAME:
            result = replace(result, provider=values[0].native if values else None)
        elif oid == OID_LOCAL_MACHINE_KEYSET:
            result = replace(result, machine_key_set=True)
        elif oid == OID_FRIENDLY_NAME:
            result = replace(result, friendly_name=values[0].native if values else None)
        elif oid == OID_LOCAL_KEY_ID:
            result = replace(result, local_key_id=values[0].native if values else None)
        else:
            others.append(oid)
    return replace(result, others=tuple(others))


def _text_attribute(bag: _SafeBag, oid: str) -> str | bytes | None:
    for attr in _attributes(bag):
        if _attribute_type(attr) == oid:
            values = list(attr["values"])
            if values:
                value: str | bytes = values[0].native
                return value
    return None


def _with_attributes(bag: _SafeBag, updates: dict[str, object | None]) -> _SafeBag:
    """The bag with the attributes in ``updates`` (dotted OID -> value; None removes it) set,
    others kept in their order. A value of ``()`` writes an empty SET (the machine key set)."""
    kept = [a for a in _attributes(bag) if _attribute_type(a) not in updates]
    for oid, value in updates.items():
        if value is None:
            continue
        values: list[object] = [] if value == () else [value]
        kept.append(_Attribute({"type": oid, "values": values}))
    contents: dict[str, object] = {
        "bag_id": bag["bag_id"].native,
        "bag_value": bag["bag_value"].copy(),
    }
    if kept:
        contents["bag_attributes"] = _Attributes(kept)
    return _SafeBag(contents)


def _bag_kind(bag: _SafeBag) -> str:
    return str(bag["bag_id"].native)


_KEY_BAGS = ("key_bag", "pkcs8_shrouded_key_bag")


def _key_bags(opened: _Opened) -> list[tuple[_Safe, int]]:
    return [
        (safe, index)
        for safe in opened.safes
        if safe.bags is not None
        for index, bag in enumerate(safe.bags)
        if _bag_kind(bag) in _KEY_BAGS
    ]


def _load_key(bag: _SafeBag, password: bytes | None, source: str) -> types.PrivateKeyTypes | None:
    value = bag["bag_value"]
    if _bag_kind(bag) == "key_bag":
        try:
            return serialization.load_der_private_key(value.untag().dump(), None)
        except (ValueError, UnsupportedAlgorithm):
            raise _fail(source, "the private key in the PKCS#12 file is damaged") from None
    try:
        if password is None:
            return None
        algorithm = value["encryption_algorithm"]
        _check_protection(algorithm, "private key", source)
        plain = _decrypt(algorithm, value["encrypted_data"].native, password)
        return serialization.load_der_private_key(plain, None)
    except _Unsupported as exc:
        raise _fail(source, f"the private key uses {exc}, which certward cannot decrypt") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _fail(
            source, "wrong password for the private key in the PKCS#12 file, or it is damaged"
        ) from None


def _certificate(bag: _SafeBag) -> x509.Certificate | None:
    value = bag["bag_value"]
    if value["cert_id"].native != "x509":
        return None
    return x509.load_der_x509_certificate(value["cert_value"].parsed.dump())


# -- reading ------------------------------------------------------------------------------------
@contextmanager
def _parsing(source: str) -> Iterator[None]:
    """asn1crypto parses lazily: a malformed part can fail wherever it is first read."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _fail(source, f"not a valid PKCS#12 file ({exc})") from None


def read_pfx(data: bytes, password: Password | None, *, source: str) -> PfxContents:
    """Read a PFX file. Without a password: the layout, the MAC algorithm and what the
    unencrypted safes hold (the key bag's attributes when it is there). With one: the MAC is
    verified first (a wrong password or an altered file is refused), then everything."""
    if not looks_like_pkcs12(data):
        raise _fail(source, "not a PKCS#12 (.pfx) file")
    with _parsing(source):
        return _read_pfx(data, password.reveal() if password is not None else None, source)


def _read_pfx(data: bytes, secret: bytes | None, source: str) -> PfxContents:
    opened = _open(data, secret, source)
    key_bags = _key_bags(opened)
    if len(key_bags) > 1:
        raise _fail(source, f"holds {len(key_bags)} private keys; certward reads one key per file")
    key_attributes: KeyAttributes | None = None
    key_protection: Protection | None = None
    private_key: types.PrivateKeyTypes | None = None
    if key_bags:
        safe, index = key_bags[0]
        assert safe.bags is not None
        bag = safe.bags[index]
        key_place = KeyPlace.PLAIN_SAFE if safe.algorithm is None else KeyPlace.ENCRYPTED_SAFE
        key_attributes = _key_attributes(bag)
        if _bag_kind(bag) == "pkcs8_shrouded_key_bag":
            key_protection = protection(bag["bag_value"]["encryption_algorithm"])
        private_key = _load_key(bag, secret, source)
    elif any(s.bags is None for s in opened.safes):
        key_place = KeyPlace.UNKNOWN
    else:
        key_place = KeyPlace.NONE
    unopened = [s for s in opened.safes if s.bags is None]
    certificates: list[CertificateEntry] = []
    readable = not unopened
    for safe in opened.safes:
        for bag in safe.bags or []:
            if _bag_kind(bag) != "cert_bag":
                continue
            cert = _certificate(bag)
            if cert is None:
                continue
            name = _text_attribute(bag, OID_FRIENDLY_NAME)
            key_id = _text_attribute(bag, OID_LOCAL_KEY_ID)
            certificates.append(
                CertificateEntry(
                    cert,
                    name if isinstance(name, str) else None,
                    key_id if isinstance(key_id, bytes) else None,
                )
            )
    if unopened and secret is not None:
        # A cipher certward does not implement (RC2-40, RC4): cryptography (OpenSSL) reads it.
        loaded = _crypto_load(data, secret, source)
        certificates = [
            CertificateEntry(
                c.certificate,
                c.friendly_name.decode("utf-8", "replace") if c.friendly_name else None,
            )
            for c in ([loaded.cert] if loaded.cert else []) + list(loaded.additional_certs)
        ]
        if private_key is None and loaded.key is not None:
            private_key = loaded.key
            key_place = KeyPlace.ENCRYPTED_SAFE
        readable = True
    return PfxContents(
        safes=tuple(
            SafeInfo(
                protection(s.algorithm) if s.algorithm is not None else None,
                tuple(_bag_kind(b) for b in s.bags) if s.bags is not None else None,
            )
            for s in opened.safes
        ),
        mac=opened.mac,
        key_place=key_place,
        key_attributes=key_attributes,
        key_protection=key_protection,
        certificates=tuple(certificates),
        certificates_readable=readable,
        private_key=private_key,
    )


def _crypto_load(
    data: bytes, password: bytes, source: str
) -> crypto_pkcs12.PKCS12KeyAndCertificates:
    try:
        return crypto_pkcs12.load_pkcs12(data, password)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(source, f"cannot decrypt the PKCS#12 file ({exc})") from None


# -- writing ------------------------------------------------------------------------------------
def set_attributes(
    data: bytes,
    password: Password,
    *,
    provider: str | None,
    machine_key_set: bool,
    friendly_name: str | None = None,
    local_key_id: bytes | None = None,
    source: str = "PFX",
) -> bytes:
    """Rewrite a PFX so its key bag names ``provider`` (None: no provider attribute) and the
    machine key set (or not). ``friendly_name`` and ``local_key_id``, when given, replace
    those of the key bag and of the key's certificate bag; otherwise they are kept. Safes
    that were encrypted are encrypted again; the MAC is recomputed with the same digest and
    iterations (a fresh salt)."""
    if provider is not None:
        provider = validate_provider_name(provider)
    with _parsing(source):
        return _set_attributes(
            data,
            password.reveal(),
            source,
            provider=provider,
            machine_key_set=machine_key_set,
            friendly_name=friendly_name,
            local_key_id=local_key_id,
        )


def _set_attributes(
    data: bytes,
    secret: bytes,
    source: str,
    *,
    provider: str | None,
    machine_key_set: bool,
    friendly_name: str | None,
    local_key_id: bytes | None,
) -> bytes:
    opened = _open(data, secret, source)
    for safe in opened.safes:
        if safe.bags is None:
            raise _fail(source, f"a safe uses {safe.unsupported}; certward cannot rewrite it")
    key_bags = _key_bags(opened)
    if len(key_bags) != 1:
        raise _fail(source, f"holds {len(key_bags)} private keys; certward rewrites exactly one")
    key_safe, key_index = key_bags[0]
    assert key_safe.bags is not None
    key_bag = key_safe.bags[key_index]
    updates: dict[str, object | None] = {
        OID_KEY_PROVIDER_NAME: provider,
        OID_LOCAL_MACHINE_KEYSET: () if machine_key_set else None,
    }
    cert_updates: dict[str, object | None] = {}
    if friendly_name is not None:
        updates[OID_FRIENDLY_NAME] = cert_updates[OID_FRIENDLY_NAME] = friendly_name
    if local_key_id is not None:
        updates[OID_LOCAL_KEY_ID] = cert_updates[OID_LOCAL_KEY_ID] = local_key_id
    key_safe.changed = True
    old_key_id = _text_attribute(key_bag, OID_LOCAL_KEY_ID)
    key_safe.bags[key_index] = _with_attributes(key_bag, updates)
    if cert_updates:
        target = _leaf_bag(opened, _load_key(key_bag, secret, source), old_key_id)
        if target is None:
            raise _fail(source, "no certificate in the file belongs to its private key")
        safe, index = target
        assert safe.bags is not None
        safe.bags[index] = _with_attributes(safe.bags[index], cert_updates)
        safe.changed = True
    return _rebuild(opened, secret)


def _leaf_bag(
    opened: _Opened, key: types.PrivateKeyTypes | None, key_id: object
) -> tuple[_Safe, int] | None:
    return _find_leaf(
        (
            ((safe, index), _certificate(bag), _text_attribute(bag, OID_LOCAL_KEY_ID))
            for safe in opened.safes
            for index, bag in enumerate(safe.bags or [])
            if _bag_kind(bag) == "cert_bag"
        ),
        certinfo.spki(key) if key is not None else None,
        key_id,
    )


def _find_leaf(
    items: Iterable[tuple[T, x509.Certificate | None, object]], spki: bytes | None, key_id: object
) -> T | None:
    """The item whose certificate has the key's public key, else the first whose local key
    ID is the key's."""
    by_id: T | None = None
    for item, cert, item_key_id in items:
        if spki is not None and cert is not None and certinfo.spki(cert) == spki:
            return item
        if by_id is None and key_id is not None and item_key_id == key_id:
            by_id = item
    return by_id


def _rebuild(opened: _Opened, password: bytes) -> bytes:
    """The file again: safes that did not change as they were read; changed ones written
    anew (an encrypted one with a fresh salt and IV); a new MAC over it all."""
    infos = []
    for safe in opened.safes:
        if not safe.changed and safe.info is not None:
            infos.append(safe.info)
            continue
        assert safe.bags is not None
        contents = _SafeContents(safe.bags).dump(force=True)
        if safe.algorithm is None:
            infos.append(cms.ContentInfo({"content_type": "data", "content": contents}))
            continue
        algorithm = _fresh(safe.algorithm)
        encrypted = _encrypt(algorithm, contents, password)
        infos.append(
            cms.ContentInfo(
                {
                    "content_type": "encrypted_data",
                    "content": {
                        "version": "v0",
                        "encrypted_content_info": {
                            "content_type": "data",
                            "content_encryption_algorithm": algorithm,
                            "encrypted_content": encrypted,
                        },
                    },
                }
            )
        )
    auth_bytes = pkcs12.AuthenticatedSafe(infos).dump(force=True)
    pfx: dict[str, object] = {
        "version": "v3",
        "auth_safe": {"content_type": "data", "content": auth_bytes},
    }
    if opened.mac is not None and opened.mac_digest is not None:
        iterations = opened.mac.iterations
        salt = os.urandom(opened.mac.salt_length or 8)
        digest = _mac(auth_bytes, password, opened.mac_digest, salt, iterations)
        pfx["mac_data"] = {
            "mac": {
                "digest_algorithm": {"algorithm": opened.mac_digest},
                "digest": digest.finalize(),
            },
            "mac_salt": salt,
            "iterations": iterations,
        }
    result: bytes = pkcs12.Pfx(pfx).dump(force=True)
    return result
