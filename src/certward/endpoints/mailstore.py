"""Delivered mail, one Maildir per mailbox under the data directory (kept across restarts).

A mailbox's directory is its address, joined with :func:`certward.paths.safe_join`: an
address that is not one path component inside the mail directory is refused
(``mail.address_invalid``), so delivery never writes outside it.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

from certward.codes.endpoints import MAIL_ADDRESS_INVALID
from certward.paths import safe_join


class MailStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _maildir(self, address: str) -> mailbox.Maildir:
        try:
            path = safe_join(self._directory, address.lower())
        except ValueError as exc:
            raise MAIL_ADDRESS_INVALID(
                f"no mailbox can be stored as {address!r}: {exc}", address=address
            ) from None
        self._directory.mkdir(parents=True, exist_ok=True)
        return mailbox.Maildir(path, create=True)

    def deliver(self, address: str, message: bytes) -> str:
        return self._maildir(address).add(message)

    def messages(self, address: str) -> list[bytes]:
        return [data for _, data in self.items(address)]

    def items(self, address: str) -> list[tuple[str, bytes]]:
        """(key, message) pairs, oldest first (Maildir keys start with the time)."""
        box = self._maildir(address)
        return [(key, box.get_bytes(key)) for key in sorted(box.keys())]

    def remove(self, address: str, key: str) -> None:
        self._maildir(address).discard(key)
