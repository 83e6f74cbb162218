"""Reading a PFX file: parsing it, verifying its MAC, opening its safes, what it holds."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

from asn1crypto import cms, core, pkcs12
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types
from cryptography.hazmat.primitives.serialization import pkcs12 as crypto_pkcs12

from certward.codes.pki import (
    PFX_DAMAGED,
    PFX_ITERATIONS_OUT_OF_RANGE,
    PFX_KEY_COUNT_UNSUPPORTED,
    PFX_NOT_PKCS12,
    PFX_PASSWORD_WRONG,
    PFX_UNDECRYPTABLE,
    PFX_UNSUPPORTED,
)
from certward.errors import CertwardError
from certward.model import Password
from certward.pki import certinfo
from certward.pki.formats import looks_like_pkcs12
from certward.pki.pfx._asn1 import (
    KEY_BAGS,
    OID_FRIENDLY_NAME,
    OID_LOCAL_KEY_ID,
    SafeBag,
    SafeContents,
    bag_kind,
    text_attribute,
)
from certward.pki.pfx._ciphers import (
    Encryption,
    Protection,
    Unsupported,
    decrypt,
    describe,
    parse_encryption,
)
from certward.pki.pfx._kdf import HASH_NAMES, HASHES, mac
from certward.pki.pfx._providers import KeyAttributes, key_attributes

T = TypeVar("T")

# Windows writes 2,000 iterations, OpenSSL 2,048, cryptography 20,000 and Java 10,000-100,000;
# a damaged or hostile count must not keep certward busy for hours.
MAX_ITERATIONS = 2_000_000


# -- what a file holds --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MacInfo:
    digest: str  # "SHA-256"
    iterations: int
    salt_length: int
    verified: bool

    def __str__(self) -> str:
        return f"HMAC-{self.digest}, {self.iterations} iterations"


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
        return find_leaf(
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


# -- an opened file (the writer rewrites it) -----------------------------------------------------
@dataclass
class Safe:
    encryption: Encryption | None  # None: Data
    bags: list[SafeBag] | None  # None: encrypted and not opened
    unsupported: str | None = None  # why an encrypted safe could not be opened
    info: cms.ContentInfo | None = None  # as read: written back as it was when not changed
    changed: bool = False


@dataclass
class Opened:
    safes: list[Safe]
    mac: MacInfo | None
    mac_digest: str | None  # the MAC's digest as asn1crypto names it ("sha256")


# A file may hold many encrypted safes: the iterations of all its MAC and encryptions together
# are bounded too (a real file has a MAC, one encrypted safe and one shrouded key).
MAX_TOTAL_ITERATIONS = 4 * MAX_ITERATIONS
_SPENT: ContextVar[list[int] | None] = ContextVar("pfx_iterations_spent", default=None)


@contextmanager
def parsing(source: str) -> Iterator[None]:
    """asn1crypto parses lazily: a malformed part can fail wherever it is first read. Within
    it, the iterations the file asks for are counted against :data:`MAX_TOTAL_ITERATIONS`."""
    token = _SPENT.set([0])
    try:
        yield
    except CertwardError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        raise PFX_DAMAGED(f"{source}: not a valid PKCS#12 file ({exc})", file=source) from None
    finally:
        _SPENT.reset(token)


def _check_iterations(count: int, what: str, source: str) -> None:
    if not 1 <= count <= MAX_ITERATIONS:
        raise PFX_ITERATIONS_OUT_OF_RANGE(
            f"{source}: the {what} asks for {count} iterations (1-{MAX_ITERATIONS})",
            file=source,
            iterations=count,
        )
    spent = _SPENT.get()
    if spent is not None:
        spent[0] += count
        if spent[0] > MAX_TOTAL_ITERATIONS:
            raise PFX_ITERATIONS_OUT_OF_RANGE(
                f"{source}: the file's MAC and encryptions ask for {spent[0]} iterations in "
                f"all (at most {MAX_TOTAL_ITERATIONS})",
                file=source,
                iterations=spent[0],
            )


def _check_encryption(encryption: Encryption, what: str, source: str) -> None:
    found = describe(encryption)
    if found.kdf != "?":  # a scheme certward decrypts
        _check_iterations(found.iterations, what, source)


def open_pfx(data: bytes, password: bytes | None, source: str) -> Opened:
    """Parse the file and verify its MAC (when a password is given); open the safes."""
    pfx = pkcs12.Pfx.load(data, strict=True)
    if pfx["version"].native != "v3":
        raise PFX_UNSUPPORTED(f"{source}: not a PKCS#12 v3 file", file=source)
    auth_safe = pfx["auth_safe"]
    if auth_safe["content_type"].native != "data":
        raise PFX_UNSUPPORTED(
            f"{source}: the PKCS#12 file uses public-key integrity mode (signed), which "
            "certward does not read",
            file=source,
        )
    auth_bytes = auth_safe["content"].native
    infos = list(pkcs12.AuthenticatedSafe.load(auth_bytes))
    mac_data = pfx["mac_data"]
    mac_info: MacInfo | None = None
    digest_name: str | None = None
    if not isinstance(mac_data, core.Void):
        digest_name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
        iterations = mac_data["iterations"].native
        salt = mac_data["mac_salt"].native
        if digest_name not in HASHES:
            raise PFX_UNSUPPORTED(
                f"{source}: unsupported MAC digest {digest_name}", file=source, digest=digest_name
            )
        _check_iterations(iterations, "MAC", source)
        verified = False
        if password is not None:
            _check_safes(infos, source)
            expected = mac_data["mac"]["digest"].native
            try:
                mac(auth_bytes, password, digest_name, salt, iterations).verify(expected)
            except InvalidSignature:
                raise PFX_PASSWORD_WRONG(
                    f"{source}: wrong password for the PKCS#12 file (or the file was altered: "
                    "its MAC does not match)",
                    file=source,
                ) from None
            verified = True
        mac_info = MacInfo(HASH_NAMES[digest_name], iterations, len(salt), verified)
    elif password is not None:
        _check_safes(infos, source)
    safes = [_open_safe(info, password, source) for info in infos]
    return Opened(safes, mac_info, digest_name)


def _check_safes(infos: list[cms.ContentInfo], source: str) -> None:
    """The encrypted safes' iterations, counted before any key is derived: a file of many
    safes is refused at once, not after hours of derivations."""
    for info in infos:
        if info["content_type"].native == "encrypted_data":
            eci = info["content"]["encrypted_content_info"]
            encryption = parse_encryption(eci["content_encryption_algorithm"])
            _check_encryption(encryption, "encrypted safe", source)


def _open_safe(info: cms.ContentInfo, password: bytes | None, source: str) -> Safe:
    kind = info["content_type"].native
    if kind == "data":
        return Safe(None, list(SafeContents.load(info["content"].native)), info=info)
    if kind == "encrypted_data":
        eci = info["content"]["encrypted_content_info"]
        encryption = parse_encryption(eci["content_encryption_algorithm"])
        if password is None:
            return Safe(encryption, None, info=info)
        try:  # its iterations were checked by _check_safes
            plain = decrypt(encryption, eci["encrypted_content"].native, password)
        except Unsupported as exc:
            return Safe(encryption, None, unsupported=str(exc), info=info)
        except ValueError:
            raise PFX_PASSWORD_WRONG(
                f"{source}: wrong password for the PKCS#12 file, or the file is damaged",
                file=source,
            ) from None
        return Safe(encryption, list(SafeContents.load(plain)), info=info)
    raise PFX_UNSUPPORTED(
        f"{source}: unsupported PKCS#12 safe ({kind}); certward reads password safes",
        file=source,
    )


# -- bags -----------------------------------------------------------------------------------------
def key_bags(opened: Opened) -> list[tuple[Safe, int]]:
    return [
        (safe, index)
        for safe in opened.safes
        if safe.bags is not None
        for index, bag in enumerate(safe.bags)
        if bag_kind(bag) in KEY_BAGS
    ]


def key_encryption(bag: SafeBag) -> Encryption | None:
    """How a shrouded key bag's key is encrypted (None: a plain key bag)."""
    if bag_kind(bag) != "pkcs8_shrouded_key_bag":
        return None
    return parse_encryption(bag["bag_value"]["encryption_algorithm"])


def load_key(
    bag: SafeBag, encryption: Encryption | None, password: bytes | None, source: str
) -> types.PrivateKeyTypes | None:
    """The key of a key bag (``encryption`` from :func:`key_encryption`); None when it is
    shrouded and no password is given."""
    value = bag["bag_value"]
    if encryption is None:
        try:
            return serialization.load_der_private_key(value.untag().dump(), None)
        except (ValueError, UnsupportedAlgorithm):
            raise PFX_DAMAGED(
                f"{source}: the private key in the PKCS#12 file is damaged", file=source
            ) from None
    try:
        if password is None:
            return None
        _check_encryption(encryption, "private key", source)
        plain = decrypt(encryption, value["encrypted_data"].native, password)
        return serialization.load_der_private_key(plain, None)
    except Unsupported as exc:
        raise PFX_UNSUPPORTED(
            f"{source}: the private key uses {exc}, which certward cannot decrypt", file=source
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise PFX_PASSWORD_WRONG(
            f"{source}: wrong password for the private key in the PKCS#12 file, or it is damaged",
            file=source,
        ) from None


def certificate(bag: SafeBag, source: str) -> x509.Certificate | None:
    """The bag's X.509 certificate, every part of it readable (None: another kind of bag)."""
    value = bag["bag_value"]
    if value["cert_id"].native != "x509":
        return None
    with certinfo.reading("encoding", source):
        cert = x509.load_der_x509_certificate(value["cert_value"].parsed.dump())
    return certinfo.check_readable(cert, source=source)


def find_leaf(
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


# -- reading ------------------------------------------------------------------------------------
def read_pfx(data: bytes, password: Password | None, *, source: str) -> PfxContents:
    """Read a PFX file. Without a password: the layout, the MAC algorithm and what the
    unencrypted safes hold (the key bag's attributes when it is there). With one: the MAC is
    verified first (a wrong password or an altered file is refused), then everything."""
    if not looks_like_pkcs12(data):
        raise PFX_NOT_PKCS12(f"{source}: not a PKCS#12 (.pfx) file", file=source)
    with parsing(source), certinfo.quietly():
        return _read_pfx(data, password.reveal() if password is not None else None, source)


def _read_pfx(data: bytes, secret: bytes | None, source: str) -> PfxContents:
    opened = open_pfx(data, secret, source)
    found_keys = key_bags(opened)
    if len(found_keys) > 1:
        raise PFX_KEY_COUNT_UNSUPPORTED(
            f"{source}: holds {len(found_keys)} private keys; certward reads one key per file",
            file=source,
            count=len(found_keys),
        )
    attributes: KeyAttributes | None = None
    key_protection: Protection | None = None
    private_key: types.PrivateKeyTypes | None = None
    if found_keys:
        safe, index = found_keys[0]
        assert safe.bags is not None
        bag = safe.bags[index]
        key_place = KeyPlace.PLAIN_SAFE if safe.encryption is None else KeyPlace.ENCRYPTED_SAFE
        attributes = key_attributes(bag)
        encryption = key_encryption(bag)
        if encryption is not None:
            key_protection = describe(encryption)
        private_key = load_key(bag, encryption, secret, source)
    elif any(s.bags is None for s in opened.safes):
        key_place = KeyPlace.UNKNOWN
    else:
        key_place = KeyPlace.NONE
    unopened = [s for s in opened.safes if s.bags is None]
    certificates: list[CertificateEntry] = []
    readable = not unopened
    for safe in opened.safes:
        for bag in safe.bags or []:
            if bag_kind(bag) != "cert_bag":
                continue
            cert = certificate(bag, source)
            if cert is None:
                continue
            name = text_attribute(bag, OID_FRIENDLY_NAME)
            key_id = text_attribute(bag, OID_LOCAL_KEY_ID)
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
                certinfo.check_readable(c.certificate, source=source),
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
                describe(s.encryption) if s.encryption is not None else None,
                tuple(bag_kind(b) for b in s.bags) if s.bags is not None else None,
            )
            for s in opened.safes
        ),
        mac=opened.mac,
        key_place=key_place,
        key_attributes=attributes,
        key_protection=key_protection,
        certificates=tuple(certificates),
        certificates_readable=readable,
        private_key=private_key,
    )


def _crypto_load(
    data: bytes, password: bytes, source: str
) -> crypto_pkcs12.PKCS12KeyAndCertificates:
    try:
        with certinfo.quietly():
            return crypto_pkcs12.load_pkcs12(data, password)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise PFX_UNDECRYPTABLE(
            f"{source}: cannot decrypt the PKCS#12 file ({exc})", file=source
        ) from None
