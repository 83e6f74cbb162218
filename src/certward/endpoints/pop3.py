"""POP3 with STLS (port 110) and implicit TLS (POP3S, 995) over the delivered Maildirs.

Like Exchange's default LoginType SecureLogin, USER/PASS are refused before TLS.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any, ClassVar

from twisted.cred import error as cred_error
from twisted.internet import defer, protocol
from twisted.mail import pop3
from zope.interface import implementer

from certward.endpoints.mailstore import MailStore
from certward.endpoints.snapshot import EndpointSnapshot
from certward.endpoints.tls import ContextFactory
from certward.model import Password
from certward.passwords import verify_password

Snapshot = Callable[[], EndpointSnapshot]


@implementer(pop3.IMailbox)
class _Mailbox:
    """A POP3 view of a mailbox's Maildir; DELE takes effect at QUIT (sync)."""

    def __init__(self, store: MailStore, address: str) -> None:
        self._store = store
        self._address = address
        self._items = store.items(address)
        self._deleted: set[int] = set()

    def listMessages(self, index: int | None = None) -> Any:
        sizes = [0 if i in self._deleted else len(m) for i, (_, m) in enumerate(self._items)]
        return sizes if index is None else sizes[index]

    def getMessage(self, index: int) -> BytesIO:
        if index in self._deleted:
            raise IndexError(index)
        return BytesIO(self._items[index][1])

    def getUidl(self, index: int) -> bytes:
        return self._items[index][0].encode()

    def deleteMessage(self, index: int) -> None:
        self._deleted.add(index)

    def undeleteMessages(self) -> None:
        self._deleted.clear()

    def sync(self) -> None:
        for index in sorted(self._deleted):
            self._store.remove(self._address, self._items[index][0])


class Pop3Session(pop3.POP3):
    AUTH_CMDS: ClassVar[list[bytes]] = [*pop3.POP3.AUTH_CMDS, b"STLS"]  # before login

    def __init__(
        self, snapshot: Snapshot, store: MailStore, context: ContextFactory | None,
        *, implicit_tls: bool,
    ) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._store = store
        self.ctx = context
        self.secure = implicit_tls

    def listCapabilities(self) -> list[bytes]:
        caps = [c for c in super().listCapabilities() if not c.startswith(b"IMPLEMENTATION")]
        if self.ctx is not None and not self.secure:
            caps.append(b"STLS")
        return caps

    def do_STLS(self) -> None:
        if self.secure:
            self.failResponse(b"Command not permitted when TLS active")
        elif self.ctx is None:
            self.failResponse(b"STLS not available")
        else:
            self.successResponse(b"Begin TLS negotiation now")
            self.transport.startTLS(self.ctx)
            self.secure = True

    def do_USER(self, user: bytes) -> None:
        if not self.secure:
            self.failResponse(b"Command is not valid in this state: use STLS first")
            return
        super().do_USER(user)

    def do_PASS(self, password: bytes, *words: bytes) -> None:
        if not self.secure:
            self.failResponse(b"Command is not valid in this state: use STLS first")
            return
        super().do_PASS(password, *words)

    def authenticateUserPASS(self, user: bytes, password: bytes) -> Any:
        address = user.decode(errors="replace").lower()
        mailbox = self._snapshot().mailboxes.get(address)
        if mailbox is None or not verify_password(mailbox.password_hash, Password(password)):
            return defer.fail(cred_error.UnauthorizedLogin())
        box = _Mailbox(self._store, address)
        return defer.succeed((pop3.IMailbox, box, lambda: None))


class Pop3Factory(protocol.ServerFactory):
    def __init__(
        self, snapshot: Snapshot, store: MailStore,
        context: Callable[[], ContextFactory | None], *, implicit_tls: bool,
    ) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._store = store
        self._context = context
        self._implicit = implicit_tls

    def buildProtocol(self, addr: Any) -> Any:
        session = Pop3Session(
            self._snapshot, self._store, self._context(), implicit_tls=self._implicit
        )
        session.factory = self  # type: ignore[assignment]
        return session
