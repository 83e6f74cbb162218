"""Mailbox passwords at rest: salted scrypt hashes (no I/O; the only secret is the input)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from certward.model import Password

_N, _R, _P = 2**14, 8, 1


def hash_password(password: Password) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.reveal(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(),
         base64.b64encode(digest).decode()]
    )  # fmt: skip


def verify_password(stored: str, password: Password) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.reveal(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(Password(secrets.token_bytes(16)))


def reject_in_equal_time(password: Password) -> bool:
    """For an unknown user: spend the same scrypt as for a known one, then refuse (False),
    so the time of a refusal does not tell which users exist."""
    verify_password(_dummy_hash(), password)
    return False
