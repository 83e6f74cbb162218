"""Accepted domains and mailboxes (passwords stored as salted scrypt hashes)."""

from __future__ import annotations

from certward.codes.endpoints import (
    MAIL_ADDRESS_INVALID,
    MAIL_DOMAIN_INVALID,
    MAIL_DOMAIN_NOT_ACCEPTED,
)
from certward.model import Mailbox, Password
from certward.passwords import hash_password
from certward.pki import build
from certward.services._names import mail_local_part
from certward.services.ports import UnitOfWork


class MailService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add_domain(self, domain: str) -> str:
        try:
            value = build.validate_domain(domain).lower()
        except ValueError as exc:
            raise MAIL_DOMAIN_INVALID(str(exc), domain=domain) from None
        if "*" in value:
            raise MAIL_DOMAIN_INVALID(
                f"{value}: an accepted domain takes no wildcard", domain=domain
            )
        with self._uow.transaction() as repo:
            repo.add_accepted_domain(value)
        return value

    def domains(self) -> list[str]:
        with self._uow.transaction() as repo:
            return repo.accepted_domains()

    def add_mailbox(self, address: str, *, server: str, password: Password) -> Mailbox:
        local, _, domain = address.strip().rpartition("@")
        if not local or not domain:
            raise MAIL_ADDRESS_INVALID(f"not a mail address: {address!r}", address=address)
        mail_local_part(local, address)
        with self._uow.transaction() as repo:
            if domain.lower() not in repo.accepted_domains():
                raise MAIL_DOMAIN_NOT_ACCEPTED(
                    f"{domain} is not an accepted domain of the organisation",
                    domain=domain.lower(),
                    address=address.strip(),
                )
            mailbox = Mailbox(
                address.strip().lower(), repo.server(server).name, hash_password(password)
            )
            repo.add_mailbox(mailbox)
            return mailbox

    def mailboxes(self, server: str | None = None) -> list[Mailbox]:
        with self._uow.transaction() as repo:
            return repo.mailboxes(server)
