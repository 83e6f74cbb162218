"""The send queue on disk: a message is queued before it is sent, so none is ever lost."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from certward.paths import safe_join


@dataclass
class QueuedMessage:
    id: str
    server: str
    connector: str
    mail_from: str
    rcpt_to: list[str]
    status: str  # Ready, Retry
    attempts: int
    last_error: str
    queued_at: str


class MailQueue:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _file(self, entry: QueuedMessage, suffix: str) -> Path:
        return safe_join(self._directory, f"{entry.id}.{suffix}")

    def add(self, entry: QueuedMessage, message: bytes) -> QueuedMessage:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._file(entry, "eml").write_bytes(message)
        self.save(entry)
        return entry

    def save(self, entry: QueuedMessage) -> None:
        path = self._file(entry, "json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(entry), indent=2))
        tmp.replace(path)

    def remove(self, entry: QueuedMessage) -> None:
        self._file(entry, "json").unlink(missing_ok=True)
        self._file(entry, "eml").unlink(missing_ok=True)

    def message(self, entry: QueuedMessage) -> bytes:
        return self._file(entry, "eml").read_bytes()

    def entries(self) -> list[QueuedMessage]:
        if not self._directory.is_dir():
            return []
        return [
            QueuedMessage(**json.loads(path.read_text()))
            for path in sorted(self._directory.glob("*.json"))
        ]


def new_id() -> str:
    return secrets.token_hex(8).upper()
