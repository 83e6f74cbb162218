"""Accepted domains and mailboxes (passwords stored as salted scrypt hashes)."""

from __future__ import annotations

from certward.errors import InputError
from certward.model import Mailbox, Password
from certward.passwords import hash_password
from certward.pki import build
from certward.services.ports import UnitOfWork


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
