"""The master key of one store: checked before anything is written, and rotated.

The database's ``meta`` table holds one record, ``master_key``: how the key is turned into
the secret that seals private keys, and a check value, HMAC-SHA256 over a fixed label under
the derived key. Opening a store compares the check value first (constant time); a wrong
key is refused before any write, naming where the key was read.

- A key in the key file's format (32 bytes as 64 hex digits or as base64) is used as given:
  it is the PKCS#8 password of every sealed key (``kdf: none``), as in every earlier
  certward.
- Anything else is a passphrase: scrypt (RFC 7914) with a per-database random salt, at
  :data:`RECOMMENDED_COST`, stretched once per process; the derived 256-bit key, in hex,
  is the PKCS#8 password (``seal: derived``). The cost is stored with the salt, so lowering
  it (tests) affects only a record made with the explicit test-only argument.
- A database made before the check value existed gets its record on first use, if the key
  opens a stored key. A passphrase then keeps sealing keys as before (the passphrase itself
  is the PKCS#8 password, ``seal: key``) until ``key rotate`` re-seals them under scrypt.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certward.atomic import fsync_directory, write_atomically
from certward.codes.general import MASTER_KEY_INVALID
from certward.codes.keys import MASTER_KEY_MISMATCH, MASTER_KEY_MISSING, MASTER_KEY_UNCHANGED
from certward.config import (
    MASTER_KEY_ENV,
    MasterKey,
    Settings,
    create_key_file,
    read_key_file,
    read_master_key,
)
from certward.services.audit import record_in
from certward.storage.vault import KeyVault

if TYPE_CHECKING:
    from certward.storage import SqlStore

__all__ = [
    "RECOMMENDED_COST",
    "KeyCheck",
    "KeyRecord",
    "MasterKeys",
    "Rotation",
    "ScryptCost",
    "Unlocked",
    "is_key_format",
]

META_NAME = "master_key"
_LABEL = b"certward master key check v1"
_HEX_KEY = re.compile(rb"[0-9a-fA-F]{64}")


class ScryptCost(NamedTuple):
    """scrypt's work factors (RFC 7914): CPU/memory cost ``n``, block size ``r``,
    parallelisation ``p``."""

    n: int
    r: int
    p: int


RECOMMENDED_COST = ScryptCost(n=2**17, r=8, p=1)  # 128 MiB; OWASP's first scrypt choice
_MINIMUM_N = 2**14  # a stored record asking for less is refused


def is_key_format(text: bytes) -> bool:
    """Whether ``text`` is a key as the key file holds one (else it is a passphrase)."""
    if _HEX_KEY.fullmatch(text):
        return True
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


class KeyRecord(NamedTuple):
    """The ``master_key`` meta record: derivation, sealing mode and check value."""

    kdf: str  # "none" (a key) or "scrypt" (a passphrase)
    seal: str  # "key": the key text seals; "derived": the scrypt output (hex) seals
    check: str  # hex HMAC-SHA256(derived, label)
    salt: str = ""  # base64, scrypt only
    cost: ScryptCost | None = None

    def to_json(self) -> str:
        data: dict[str, object] = {"v": 1, "kdf": self.kdf, "seal": self.seal}
        if self.cost is not None:
            data |= {"n": self.cost.n, "r": self.cost.r, "p": self.cost.p, "salt": self.salt}
        data["check"] = self.check
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> KeyRecord:
        try:
            data = json.loads(text)
            kdf, seal, check = data["kdf"], data["seal"], data["check"]
            if data.get("v") != 1 or (kdf, seal) not in _MODES or not isinstance(check, str):
                raise ValueError(text)
            if kdf == "none":
                return cls(kdf, seal, check)
            cost = ScryptCost(int(data["n"]), int(data["r"]), int(data["p"]))
            base64.b64decode(data["salt"], validate=True)
            if cost.n < _MINIMUM_N or cost.n & (cost.n - 1) or not 0 < cost.r * cost.p < 2**30:
                raise ValueError(text)
            return cls(kdf, seal, check, data["salt"], cost)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise MASTER_KEY_INVALID(
                "the database's master key record cannot be read (it was changed by hand?)"
            ) from None

    @property
    def legacy(self) -> bool:
        """A passphrase that still seals keys directly (a database from before scrypt)."""
        return self.kdf == "scrypt" and self.seal == "key"

    def describe(self) -> str:
        if self.cost is None:
            return "a 256-bit key"
        how = f"a passphrase through scrypt (n=2**{self.cost.n.bit_length() - 1}, "
        how += f"r={self.cost.r}, p={self.cost.p})"
        return how + (", keys still sealed the old way" if self.legacy else "")


_MODES = {("none", "key"), ("scrypt", "key"), ("scrypt", "derived")}


@lru_cache(maxsize=8)  # a process opening one store twice stretches the passphrase once
def _scrypt(text: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(text)


def _derive(key: MasterKey, record: KeyRecord) -> tuple[bytes, bytes]:
    """(check value, sealing secret) of ``key`` under ``record``'s derivation."""
    if record.cost is None:
        base = key.text
    else:
        c = record.cost
        base = _scrypt(key.text, base64.b64decode(record.salt), c.n, c.r, c.p)
    secret = base.hex().encode() if record.seal == "derived" else key.text
    return hmac.new(base, _LABEL, hashlib.sha256).digest(), secret


def _new_record(key: MasterKey, cost: ScryptCost, *, legacy: bool) -> tuple[KeyRecord, bytes]:
    if is_key_format(key.text):
        shape = KeyRecord("none", "key", "")
    else:
        salt = base64.b64encode(secrets.token_bytes(16)).decode()
        shape = KeyRecord("scrypt", "key" if legacy else "derived", "", salt, cost)
    check, secret = _derive(key, shape)
    return KeyRecord(shape.kdf, shape.seal, check.hex(), shape.salt, shape.cost), secret


class Unlocked(NamedTuple):
    """A master key that matched the database: its record and sealing secret."""

    key: MasterKey
    record: KeyRecord
    secret: bytes
    created: str | None = None  # "key file" / "check value" made on this opening

    def __repr__(self) -> str:  # the sealing secret is never shown
        return f"Unlocked(key={self.key!r}, record={self.record!r}, created={self.created!r})"


class KeyCheck(NamedTuple):
    """What ``key check`` found: where the key came from, its derivation, and how many
    stored private keys it opens (``keys`` in all, ``unreadable`` not)."""

    source: str
    kdf: str
    keys: int
    unreadable: int


class Rotation(NamedTuple):
    """What ``key rotate`` did: keys re-sealed, where the old key came from, the new
    derivation, and the key file written."""

    resealed: int
    old_source: str
    kdf: str
    installed: Path | None  # the key file now holding the new key, if certward wrote one


class MasterKeys:
    """The master key of one store: checked on opening, verified, rotated."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        new_record_cost: ScryptCost = RECOMMENDED_COST,
    ) -> None:
        """``new_record_cost`` is for tests only: the scrypt cost of a record made now."""
        self._store = store
        self._settings = settings
        self._environ = os.environ if environ is None else environ
        self._cost = new_record_cost

    def unlock(self) -> Unlocked:
        """The key checked against the database, before anything is written; on a store's
        first use its key file (if no key is given) and its check value are made."""
        created = None
        while True:
            with self._store.transaction() as repo:
                stored = repo.meta(META_NAME)
                # only a store without a check value needs to know whether it holds keys
                probe = repo.sealed_keys(limit=1) if stored is None else []
            key = read_master_key(self._settings, self._environ)
            if key is None:
                if stored is not None or probe:
                    path = self._settings.key_file
                    raise MASTER_KEY_MISSING(
                        f"{path}: no master key file, and ${MASTER_KEY_ENV} is not set, but the "
                        "database already holds keys sealed under a master key",
                        file=str(path),
                    )
                key = create_key_file(self._settings.key_file)
                created = "key file"
            if stored is not None:
                return self._matching(key, KeyRecord.from_json(stored), created)
            if probe and not KeyVault(key.text).opens(probe[0]):
                raise self._mismatch(key, "does not open the private keys already stored")
            record, secret = _new_record(key, self._cost, legacy=bool(probe))
            with self._store.transaction() as repo:
                if repo.meta(META_NAME) is None:
                    repo.set_meta(META_NAME, record.to_json())
                    return Unlocked(key, record, secret, created or "check value")
            # another process wrote the record meanwhile: check against that one

    def check(self) -> KeyCheck:
        """The key against the check value, then against every stored private key."""
        unlocked = self.unlock()
        vault = KeyVault(unlocked.secret)
        with self._store.transaction() as repo:
            sealed = repo.sealed_keys()
        bad = sum(1 for blob in sealed if not vault.opens(blob))
        return KeyCheck(unlocked.key.source, unlocked.record.describe(), len(sealed), bad)

    def rotate(self, new: MasterKey) -> Rotation:
        """Re-seal every private key and the check value under ``new`` in one transaction;
        then, when the current key came from the key file, put ``new`` in the key file
        (staged beside it first, so an interruption leaves the new key on disk)."""
        current = self.unlock()
        if new.text == current.key.text and not current.record.legacy:
            raise MASTER_KEY_UNCHANGED("the new master key is the current one")
        record, secret = _new_record(new, self._cost, legacy=False)
        old_vault, new_vault = KeyVault(current.secret), KeyVault(secret)
        in_file = current.key.source != f"${MASTER_KEY_ENV}"
        staged = self._settings.staged_key_file
        if in_file:
            write_atomically(staged, new.text + b"\n", mode=0o600, replace=True)
        try:
            with self._store.transaction() as repo:
                if repo.meta(META_NAME) != current.record.to_json():
                    raise self._mismatch(current.key, "was changed by another rotation meanwhile")
                count = repo.reseal_keys(lambda blob: new_vault.seal(old_vault.open(blob)))
                repo.set_meta(META_NAME, record.to_json())
                record_in(
                    repo,
                    "master_key.rotate",
                    {"keys": count, "from": current.key.source, "record": record.describe()},
                    dt.datetime.now(dt.UTC),
                )
        except BaseException:
            staged.unlink(missing_ok=True)  # nothing was re-sealed: the old key stays the key
            raise
        installed = None
        if in_file:
            os.replace(staged, self._settings.key_file)
            fsync_directory(self._settings.key_file.parent)
            installed = self._settings.key_file
        return Rotation(count, current.key.source, record.describe(), installed)

    def _matching(self, key: MasterKey, record: KeyRecord, created: str | None) -> Unlocked:
        check, secret = _derive(key, record)
        if hmac.compare_digest(check.hex(), record.check):
            return Unlocked(key, record, secret, created)
        raise self._mismatch(key, "does not match the database's check value", record)

    def _mismatch(self, key: MasterKey, what: str, record: KeyRecord | None = None) -> Exception:
        message = f"the master key from {key.source} {what}; nothing was written"
        staged = self._settings.staged_key_file
        if record is not None and key.source != f"${MASTER_KEY_ENV}" and staged.exists():
            try:
                candidate = read_key_file(staged)
            except (OSError, ValueError):
                candidate = None
            if candidate is not None and hmac.compare_digest(
                _derive(candidate, record)[0].hex(), record.check
            ):
                message += f" ({staged} holds the key that matches: a rotation was interrupted)"
        return MASTER_KEY_MISMATCH(message, source=key.source)
