"""Accepted domains and mailboxes (passwords stored as salted scrypt hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from certward.errors import InputError
from certward.model import Mailbox, Password
from certward.pki import build
from certward.services.ports import UnitOfWork

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


class MailService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add_domain(self, domain: str) -> str:
        try:
            value = build.validate_domain(domain).lower()
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if "*" in value:
            raise InputError("an accepted domain takes no wildcard")
        with self._uow.transaction() as repo:
            repo.add_accepted_domain(value)
        return value

    def domains(self) -> list[str]:
        with self._uow.transaction() as repo:
            return repo.accepted_domains()

    def add_mailbox(self, address: str, *, server: str, password: Password) -> Mailbox:
        local, _, domain = address.strip().partition("@")
        if not local or not domain or " " in address.strip():
            raise InputError(f"not a mail address: {address!r}")
        with self._uow.transaction() as repo:
            if domain.lower() not in repo.accepted_domains():
                raise InputError(
                    f"{domain} is not an accepted domain (certward domain add {domain.lower()})"
                )
            mailbox = Mailbox(
                address.strip().lower(), repo.server(server).name, hash_password(password)
            )
            repo.add_mailbox(mailbox)
            return mailbox

    def mailboxes(self, server: str | None = None) -> list[Mailbox]:
        with self._uow.transaction() as repo:
            return repo.mailboxes(server)
