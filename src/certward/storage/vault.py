"""The key vault: private keys at rest as PKCS#8 encrypted under the master key.

A vault is made locked when the store opens and is unlocked with the sealing secret once
the master key has been checked against the database (:mod:`certward.services.keys`); a
locked vault seals and opens nothing, so no key is ever sealed under an unchecked key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types

from certward.codes.general import MASTER_KEY_INVALID


class KeyVault:
    """Seals keys to encrypted PKCS#8 DER and opens them again. Its repr shows no secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        """``secret`` is the PKCS#8 password; without one the vault starts locked."""
        if secret is not None and not secret:
            raise ValueError("secret must not be empty")
        self._secret = secret

    def __repr__(self) -> str:
        state = "locked" if self._secret is None else "<secret redacted>"
        return f"KeyVault({state})"

    @property
    def locked(self) -> bool:
        return self._secret is None

    def unlock(self, secret: bytes) -> None:
        """Take the sealing secret (after the master key was checked)."""
        if not secret:
            raise ValueError("secret must not be empty")
        self._secret = secret

    def _key(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("the key vault is locked: the master key has not been checked")
        return self._secret

    def seal(self, key: types.PrivateKeyTypes) -> bytes:
        return key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._key()),
        )

    def opens(self, sealed: bytes) -> bool:
        """Whether this vault's secret decrypts ``sealed``."""
        try:
            serialization.load_der_private_key(sealed, password=self._key())
        except (ValueError, TypeError):
            return False
        return True

    def open(self, sealed: bytes) -> types.PrivateKeyTypes:
        """The private key ``sealed`` holds. Only keys this store sealed come here, and each
        was a loaded (hence checked) or freshly generated key when it was sealed, so the RSA
        consistency check (57 ms for a 2048-bit key; ``serve`` opens every key it serves) is
        not repeated."""
        try:
            return serialization.load_der_private_key(
                sealed, password=self._key(), unsafe_skip_rsa_key_validation=True
            )
        except ValueError as exc:
            raise MASTER_KEY_INVALID(
                "cannot decrypt a stored private key: wrong master key "
                "($CERTWARD_MASTER_KEY or the key file beside the database)"
            ) from exc
