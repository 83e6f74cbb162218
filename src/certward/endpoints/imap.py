"""IMAP4 with STARTTLS (143) and implicit TLS (IMAPS, 993): the delivered mail, read-only.

One folder, INBOX, over the mailbox's Maildir. As with Exchange's default SecureLogin,
LOGIN is refused before TLS.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.interfaces import ISSLTransport
from twisted.mail import imap4
from zope.interface import implementer

from certward.endpoints.limits import (
    IMAP_IDLE,
    IMAP_IDLE_AUTHENTICATED,
    SourceLimit,
    StartTlsBarrier,
)
from certward.endpoints.logins import PasswordChecker
from certward.endpoints.mailstore import MailStore
from certward.endpoints.snapshot import EndpointSnapshot
from certward.endpoints.tls import ContextFactory
from certward.model import Password

Snapshot = Callable[[], EndpointSnapshot]


@implementer(imap4.IMessage)
class _Message:
    def __init__(self, uid: int, raw: bytes) -> None:
        self._uid = uid
        self._raw = raw
        self._parsed = email.message_from_bytes(raw, policy=email.policy.compat32)

    def getUID(self) -> int:
        return self._uid

    def getFlags(self) -> list[str]:
        return []

    def getInternalDate(self) -> str:
        parsed = (
            email.utils.parsedate_to_datetime(self._parsed.get("Date", ""))
            if self._parsed.get("Date")
            else None
        )
        if parsed is None:
            return "01-Jan-1970 00:00:00 +0000"
        return parsed.strftime("%d-%b-%Y %H:%M:%S %z")

    def getHeaders(self, negate: bool, *names: Any) -> dict[str, str]:
        wanted = {(n.decode() if isinstance(n, bytes) else n).lower() for n in names}
        return {
            key.lower(): value
            for key, value in self._parsed.items()
            if not names or ((key.lower() in wanted) != negate)
        }

    def getBodyFile(self) -> BytesIO:
        _, _, body = self._raw.partition(b"\n\n")
        if b"\r\n\r\n" in self._raw:
            _, _, body = self._raw.partition(b"\r\n\r\n")
        return BytesIO(body)

    def getSize(self) -> int:
        return len(self._raw)

    def isMultipart(self) -> bool:
        return False

    def getSubPart(self, part: int) -> Any:
        raise IndexError(part)


@implementer(imap4.IMailbox)
class _Inbox:
    def __init__(self, store: MailStore, address: str) -> None:
        self._store = store
        self._address = address

    def _messages(self) -> list[_Message]:
        return [_Message(i, raw) for i, raw in enumerate(self._store.messages(self._address), 1)]

    def getFlags(self) -> list[str]:
        return [r"\Seen"]

    def getHierarchicalDelimiter(self) -> str:
        return "/"

    def getUIDValidity(self) -> int:
        return 1

    def getUIDNext(self) -> int:
        return len(self._messages()) + 1

    def getUID(self, message: int) -> int:
        return message

    def getMessageCount(self) -> int:
        return len(self._messages())

    def getRecentCount(self) -> int:
        return 0

    def getUnseenCount(self) -> int:
        return len(self._messages())

    def isWriteable(self) -> bool:
        return False

    def destroy(self) -> None:
        raise imap4.MailboxException("INBOX cannot be deleted")

    def requestStatus(self, names: Iterable[str]) -> dict[str, int]:
        count = self.getMessageCount()
        values = {
            "MESSAGES": count,
            "RECENT": 0,
            "UIDNEXT": count + 1,
            "UIDVALIDITY": 1,
            "UNSEEN": count,
        }
        return {name: values[name] for name in names if name in values}

    def addListener(self, listener: Any) -> None:
        pass

    def removeListener(self, listener: Any) -> None:
        pass

    def addMessage(self, message: Any, flags: Any = (), date: Any = None) -> Any:
        return defer.fail(imap4.ReadOnlyMailbox())

    def expunge(self) -> list[int]:
        return []

    def fetch(self, messages: Any, uid: bool) -> list[tuple[int, _Message]]:
        found = self._messages()
        if not found:
            return []
        messages.last = len(found)
        return [(m.getUID(), m) for m in found if m.getUID() in messages]

    def store(self, messages: Any, flags: Any, mode: Any, uid: bool) -> Any:
        raise imap4.ReadOnlyMailbox()


@implementer(imap4.IAccount)
class _Account:
    def __init__(self, inbox: _Inbox) -> None:
        self._inbox = inbox

    def select(self, name: str, rw: bool = True) -> _Inbox | None:
        return self._inbox if name.upper() == "INBOX" else None

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, _Inbox]]:
        return [("INBOX", self._inbox)]

    def isSubscribed(self, name: str) -> bool:
        return name.upper() == "INBOX"

    def subscribe(self, name: str) -> bool:
        return True

    def unsubscribe(self, name: str) -> bool:
        return True

    def addMailbox(self, name: str, mbox: Any = None) -> Any:
        raise imap4.MailboxException("read-only account")

    def create(self, pathspec: str) -> bool:
        return False

    def delete(self, name: str) -> Any:
        raise imap4.MailboxException("read-only account")

    def rename(self, oldname: str, newname: str) -> Any:
        raise imap4.MailboxException("read-only account")


class ImapSession(StartTlsBarrier, imap4.IMAP4Server):
    timeOut = IMAP_IDLE
    POSTAUTH_TIMEOUT = IMAP_IDLE_AUTHENTICATED

    def __init__(
        self, snapshot: Snapshot, store: MailStore, context: ContextFactory | None,
        checker: PasswordChecker,
    ) -> None:  # fmt: skip
        super().__init__(contextFactory=context)
        self._snapshot = snapshot
        self._store = store
        self._checker = checker

    def _secure(self) -> bool:
        return bool(self.startedTLS or ISSLTransport(self.transport, None) is not None)

    def capabilities(self) -> dict[bytes, Any]:
        caps = super().capabilities()
        if not self._secure():
            caps[b"LOGINDISABLED"] = None
        return caps

    def do_STARTTLS(self, tag: bytes) -> None:
        before = self.startedTLS
        super().do_STARTTLS(tag)
        if self.startedTLS and not before:
            self.tls_barrier()  # commands pipelined in plaintext are not run (CVE-2011-0411)

    unauth_STARTTLS = (do_STARTTLS,)  # type: ignore[assignment]

    def do_LOGIN(self, tag: bytes, user: Any, passwd: Any) -> None:
        if b"LOGINDISABLED" in self.capabilities():
            self.sendBadResponse(tag, b"LOGIN is disabled before STARTTLS")
            return
        address = (user.decode(errors="replace") if isinstance(user, bytes) else user).lower()
        secret = passwd if isinstance(passwd, bytes) else str(passwd).encode()
        self.blocked = []  # later commands wait for the answer (the check runs on a thread)
        checked = self._checker.check(
            address, Password(secret), source=self.transport.getPeer().host, service="IMAP4"
        )

        def answer(mailbox: Any) -> None:
            if mailbox is None:
                self.sendNegativeResponse(tag, b"LOGIN failed")
                return
            self.account = _Account(_Inbox(self._store, mailbox.address))
            self.state = "auth"
            self.sendPositiveResponse(tag, b"LOGIN succeeded")
            self.setTimeout(self.POSTAUTH_TIMEOUT)

        checked.addCallback(answer)
        checked.addBoth(lambda _: self._unblock())

    unauth_LOGIN = (do_LOGIN, imap4.IMAP4Server.arg_astring, imap4.IMAP4Server.arg_finalastring)  # type: ignore[assignment]


class ImapFactory(protocol.ServerFactory):
    def __init__(
        self, snapshot: Snapshot, store: MailStore, context: Callable[[], ContextFactory | None],
        *, checker: PasswordChecker, limit: SourceLimit,
    ) -> None:  # fmt: skip
        self._snapshot = snapshot
        self._store = store
        self._context = context
        self._checker = checker
        self._limit = limit

    def buildProtocol(self, addr: Any) -> Any:
        def make() -> ImapSession:
            session = ImapSession(self._snapshot, self._store, self._context(), self._checker)
            session.factory = self
            return session

        return self._limit.build(addr, make, "imap")
