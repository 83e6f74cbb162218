"""The key vault: private keys at rest as PKCS#8 encrypted under the master key."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types

from certward.codes.general import MASTER_KEY_INVALID


class KeyVault:
    """Seals keys to encrypted PKCS#8 DER and opens them again. Its repr shows no secret."""

    def __init__(self, master_key: bytes) -> None:
        if not master_key:
            raise ValueError("master_key must not be empty")
        self._master_key = master_key

    def __repr__(self) -> str:
        return "KeyVault(<master key redacted>)"

    def seal(self, key: types.PrivateKeyTypes) -> bytes:
        return key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._master_key),
        )

    def open(self, sealed: bytes) -> types.PrivateKeyTypes:
        try:
            return serialization.load_der_private_key(sealed, password=self._master_key)
        except ValueError as exc:
            raise MASTER_KEY_INVALID(
                "cannot decrypt a stored private key: wrong master key "
                "($CERTWARD_MASTER_KEY or the key file beside the database)"
            ) from exc
