"""POP3 with STLS (port 110) and implicit TLS (POP3S, 995) over the delivered Maildirs.

Like Exchange's default LoginType SecureLogin, USER/PASS and AUTH are refused before TLS.
AUTH PLAIN (RFC 5034) is offered after TLS, with or without an initial response.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from io import BytesIO
from typing import Any, ClassVar

from twisted.internet import protocol
from twisted.mail import pop3
from twisted.python import log
from zope.interface import implementer

from certward.endpoints.limits import POP3_IDLE, SourceLimit, StartTlsBarrier
from certward.endpoints.logins import PasswordChecker
from certward.endpoints.mailstore import MailStore
from certward.endpoints.snapshot import EndpointSnapshot
from certward.endpoints.tls import ContextFactory
from certward.model import Password

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


class Pop3Session(StartTlsBarrier, pop3.POP3):
    AUTH_CMDS: ClassVar[list[bytes]] = [*pop3.POP3.AUTH_CMDS, b"STLS"]  # before login
    timeOut = POP3_IDLE

    def __init__(
        self, snapshot: Snapshot, store: MailStore, context: ContextFactory | None,
        *, implicit_tls: bool, checker: PasswordChecker,
    ) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._store = store
        self.ctx = context
        self.secure = implicit_tls
        self._checker = checker

    def listCapabilities(self) -> list[bytes]:
        caps = [
            c for c in super().listCapabilities()
            if not c.startswith((b"IMPLEMENTATION", b"SASL"))
        ]  # fmt: skip
        if self.ctx is not None and not self.secure:
            caps.append(b"STLS")
        if self.secure:
            caps.append(b"SASL PLAIN")
        return caps

    def state_COMMAND(self, line: bytes) -> None:
        """Twisted's version fails on its own error message (``b"".join`` of str args) when
        a command has the wrong number of arguments, and drops the connection."""
        try:
            self.processCommand(*line.split(b" "))
        except pop3.POP3Error as exc:
            detail = exc.args[0] if exc.args and isinstance(exc.args[0], bytes) else b""
            self.failResponse(detail or b"Command not valid")
        except (TypeError, ValueError, AttributeError):
            log.err()
            self.failResponse(b"Syntax error in command or arguments")

    def do_AUTH(self, mechanism: bytes | None = None, initial: bytes | None = None) -> None:
        if not self.secure:
            self.failResponse(b"Command is not valid in this state: use STLS first")
        elif mechanism is None:
            self.successResponse(b"Supported authentication methods:")
            self.sendLine(b"PLAIN")
            self.sendLine(b".")
        elif mechanism.upper() != b"PLAIN":
            self.failResponse(b"Unsupported SASL mechanism")
        elif initial is None or initial == b"=":
            self.sendLine(b"+ ")
            self.state = "AUTH"
        else:
            self._auth_plain(initial)

    def state_AUTH(self, line: bytes) -> None:
        self.state = "COMMAND"
        if line.strip() == b"*":
            self.failResponse(b"AUTH cancelled")
            return
        self._auth_plain(line.strip())

    def _auth_plain(self, response: bytes) -> None:
        try:
            _authzid, user, password = base64.b64decode(response, validate=True).split(b"\0")
        except (binascii.Error, ValueError):
            self.failResponse(b"Invalid AUTH PLAIN response")
            return
        self._login(user, password)

    def do_STLS(self) -> None:
        if self.secure:
            self.failResponse(b"Command not permitted when TLS active")
        elif self.ctx is None:
            self.failResponse(b"STLS not available")
        else:
            self.successResponse(b"Begin TLS negotiation now")
            self.transport.startTLS(self.ctx)
            self.secure = True
            self.tls_barrier()  # commands pipelined in plaintext are not run (CVE-2011-0411)

    def do_USER(self, user: bytes) -> None:
        if not self.secure:
            self.failResponse(b"Command is not valid in this state: use STLS first")
            return
        super().do_USER(user)

    def do_PASS(self, password: bytes, *words: bytes) -> None:
        if not self.secure:
            self.failResponse(b"Command is not valid in this state: use STLS first")
            return
        if self._userIs is None:
            self.failResponse(b"USER required before PASS")
            return
        user, self._userIs = self._userIs, None
        self._login(user, b" ".join((password, *words)))

    def _login(self, user: bytes, password: bytes) -> None:
        """Check the password off the event loop; later commands wait for the answer."""
        self.blocked = []
        checked = self._checker.check(
            user.decode(errors="replace"), Password(password),
            source=self.transport.getPeer().host, service="POP3",
        )  # fmt: skip

        def answer(mailbox: Any) -> None:
            if mailbox is None:
                self.failResponse(b"Authentication failed")
                return
            self.mbox = _Mailbox(self._store, mailbox.address)
            self.successResponse(b"Authentication succeeded")

        checked.addCallback(answer)
        checked.addBoth(self._unblock)


class Pop3Factory(protocol.ServerFactory):
    def __init__(
        self, snapshot: Snapshot, store: MailStore,
        context: Callable[[], ContextFactory | None], *, implicit_tls: bool,
        checker: PasswordChecker, limit: SourceLimit,
    ) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._store = store
        self._context = context
        self._implicit = implicit_tls
        self._checker = checker
        self._limit = limit

    def buildProtocol(self, addr: Any) -> Any:
        def make() -> Pop3Session:
            session = Pop3Session(
                self._snapshot, self._store, self._context(), implicit_tls=self._implicit,
                checker=self._checker,
            )  # fmt: skip
            session.factory = self  # type: ignore[assignment]
            return session

        return self._limit.build(addr, make, "pop3")
