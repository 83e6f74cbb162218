"""One dialogue per protocol, looked up by the target's protocol (as sslyze keeps one
STARTTLS helper per protocol): SMTP, IMAP and POP3 up to STARTTLS/STLS or over implicit TLS,
and HTTPS.

A dialogue speaks its protocol and nothing else: the endpoint probe (``endpoint.py``) opens
the connection, starts TLS and judges what it saw; the dialogue's hooks run before TLS
(``greet``, ``upgrade``: the STARTTLS protocols) and after it (``after_tls``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from certward.probe.report import FailureReason
from certward.probe.stages import StageRunner
from certward.probe.targets import Protocol
from certward.probe.wire import ProbeFailure, Wire

MAX_REPLY_LINES = 100


@dataclass(frozen=True, slots=True)
class Session:
    """What a dialogue may do after TLS: the EHLO name, and MAIL FROM / RCPT TO to try."""

    host: str  # the name the target was given by (HTTP's Host)
    helo: str = "certward.probe.invalid"
    mail_from: str | None = None
    rcpt_to: str | None = None


@dataclass(frozen=True, slots=True)
class AfterTls:
    """What the dialogue learnt after TLS: the banner (implicit TLS's greeting or HTTP's
    status line), "" when it has none to report."""

    banner: str = ""


class Dialogue:
    """The hooks of one protocol. ``starttls``: TLS starts inside the dialogue (after
    ``greet`` and ``upgrade``); otherwise it starts at once and ``greet`` follows it."""

    starttls: bool = False

    async def greet(self, wire: Wire, stages: StageRunner) -> str:
        """Read the server's greeting; returns the banner ("" for a protocol without one)."""
        return ""

    async def upgrade(self, wire: Wire, stages: StageRunner, session: Session) -> None:
        """Ask for TLS (STARTTLS, STLS); returns when the server agreed."""
        raise NotImplementedError

    async def after_tls(self, wire: Wire, stages: StageRunner, session: Session) -> AfterTls:
        """Speak over TLS once it is up (EHLO again, MAIL FROM, an HTTP request)."""
        return AfterTls()


async def smtp_reply(wire: Wire) -> tuple[int, list[str]]:
    """A complete (multi-line) SMTP reply: ``250-...`` lines up to ``250 ...``."""
    lines: list[str] = []
    for _ in range(MAX_REPLY_LINES):
        text = await wire.line()
        if len(text) < 3 or not text[:3].isdigit() or (len(text) > 3 and text[3] not in " -"):
            raise ProbeFailure(FailureReason.NOT_THE_PROTOCOL, f"not an SMTP reply: {text[:80]!r}")
        lines.append(text[4:])
        if len(text) == 3 or text[3] == " ":
            return int(text[:3]), lines
    raise ProbeFailure(FailureReason.TOO_LARGE, f"more than {MAX_REPLY_LINES} continuation lines")


class SmtpDialogue(Dialogue):
    def __init__(self, *, starttls: bool) -> None:
        self.starttls = starttls

    async def greet(self, wire: Wire, stages: StageRunner) -> str:
        async def greeting() -> str:
            code, lines = await smtp_reply(wire)
            text = " ".join(lines)
            if code == 421:
                raise ProbeFailure(FailureReason.RATE_LIMITED, f"rate limited: 421 {text}")
            if code != 220:
                raise ProbeFailure(FailureReason.REFUSED, f"banner {code} {text}")
            return text

        return await stages.run("banner", greeting)

    async def _ehlo(self, wire: Wire, session: Session) -> list[str]:
        wire.send(f"EHLO {session.helo}\r\n".encode())
        code, lines = await smtp_reply(wire)
        if code != 250:
            raise ProbeFailure(FailureReason.REFUSED, f"EHLO refused: {code} {' '.join(lines)}")
        return lines

    async def upgrade(self, wire: Wire, stages: StageRunner, session: Session) -> None:
        ehlo = await stages.run("EHLO", lambda: self._ehlo(wire, session))
        if not any(line.upper().split()[:1] == ["STARTTLS"] for line in ehlo[1:]):
            raise stages.fail(
                "STARTTLS offered", FailureReason.STARTTLS_NOT_OFFERED, "STARTTLS not offered"
            )
        stages.note("STARTTLS offered", True)

        async def starttls() -> None:
            wire.send(b"STARTTLS\r\n")
            code, reply = await smtp_reply(wire)
            if code != 220:
                raise ProbeFailure(
                    FailureReason.STARTTLS_REFUSED, f"STARTTLS refused: {code} {' '.join(reply)}"
                )

        await stages.run("STARTTLS", starttls)

    async def after_tls(self, wire: Wire, stages: StageRunner, session: Session) -> AfterTls:
        banner = "" if self.starttls else await self.greet(wire, stages)
        await stages.run("EHLO after TLS", lambda: self._ehlo(wire, session))
        if session.mail_from and session.rcpt_to:
            for verb, value in (("MAIL FROM", session.mail_from), ("RCPT TO", session.rcpt_to)):
                wire.send(f"{verb}:<{value}>\r\n".encode())
                code, reply = await stages.run(verb, lambda: smtp_reply(wire))
                if code >= 400:  # a finding about the mail system, not a failed dialogue
                    stages.note(f"{verb} accepted", False, f"{code} {' '.join(reply)}")
                    break
        wire.send(b"QUIT\r\n")
        return AfterTls(banner)


class ImapDialogue(Dialogue):
    def __init__(self, *, starttls: bool) -> None:
        self.starttls = starttls

    async def greet(self, wire: Wire, stages: StageRunner) -> str:
        async def greeting() -> str:
            banner = await wire.line()
            if not banner.upper().startswith("* OK"):
                raise ProbeFailure(
                    FailureReason.NOT_THE_PROTOCOL, f"not an IMAP greeting: {banner[:80]!r}"
                )
            return banner

        return await stages.run("banner", greeting)

    async def upgrade(self, wire: Wire, stages: StageRunner, session: Session) -> None:
        async def capability() -> str:
            wire.send(b"c1 CAPABILITY\r\n")
            caps = ""
            for _ in range(MAX_REPLY_LINES):
                line = await wire.line()
                if line.upper().startswith("* CAPABILITY"):
                    caps = line
                if line.startswith("c1 "):
                    return caps
            raise ProbeFailure(FailureReason.TOO_LARGE, "no end to the CAPABILITY reply")

        caps = await stages.run("CAPABILITY", capability)
        if "STARTTLS" not in caps.upper().split():
            raise stages.fail(
                "STARTTLS offered", FailureReason.STARTTLS_NOT_OFFERED, "STARTTLS not offered"
            )
        stages.note("STARTTLS offered", True)

        async def starttls() -> None:
            wire.send(b"c2 STARTTLS\r\n")
            answer = await wire.line()
            if not answer.upper().startswith("C2 OK"):
                raise ProbeFailure(
                    FailureReason.STARTTLS_REFUSED, f"STARTTLS refused: {answer[:80]!r}"
                )

        await stages.run("STARTTLS", starttls)

    async def after_tls(self, wire: Wire, stages: StageRunner, session: Session) -> AfterTls:
        return AfterTls("" if self.starttls else await self.greet(wire, stages))


class Pop3Dialogue(Dialogue):
    def __init__(self, *, starttls: bool) -> None:
        self.starttls = starttls

    async def greet(self, wire: Wire, stages: StageRunner) -> str:
        async def greeting() -> str:
            banner = await wire.line()
            if not banner.startswith("+OK"):
                raise ProbeFailure(
                    FailureReason.NOT_THE_PROTOCOL, f"not a POP3 greeting: {banner[:80]!r}"
                )
            return banner

        return await stages.run("banner", greeting)

    async def upgrade(self, wire: Wire, stages: StageRunner, session: Session) -> None:
        async def capa() -> list[str]:
            wire.send(b"CAPA\r\n")
            first = await wire.line()
            if not first.startswith("+OK"):
                return []
            found: list[str] = []
            for _ in range(MAX_REPLY_LINES):
                line = await wire.line()
                if line == ".":
                    return found
                found.append(line.upper())
            raise ProbeFailure(FailureReason.TOO_LARGE, "no end to the CAPA reply")

        if "STLS" not in await stages.run("CAPA", capa):
            raise stages.fail(
                "STLS offered", FailureReason.STARTTLS_NOT_OFFERED, "STLS not offered"
            )
        stages.note("STLS offered", True)

        async def stls() -> None:
            wire.send(b"STLS\r\n")
            answer = await wire.line()
            if not answer.startswith("+OK"):
                raise ProbeFailure(FailureReason.STARTTLS_REFUSED, f"STLS refused: {answer[:80]!r}")

        await stages.run("STLS", stls)

    async def after_tls(self, wire: Wire, stages: StageRunner, session: Session) -> AfterTls:
        return AfterTls("" if self.starttls else await self.greet(wire, stages))


class HttpsDialogue(Dialogue):
    async def after_tls(self, wire: Wire, stages: StageRunner, session: Session) -> AfterTls:
        # GET, not HEAD: some servers (openssl s_server -www) never answer HEAD. Only the
        # status line is read; the connection closes after it.
        host = f"[{session.host}]" if ":" in session.host else session.host
        wire.send(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return AfterTls(await stages.run("HTTP status", wire.line))


DIALOGUES: Mapping[Protocol, Dialogue] = MappingProxyType(
    {
        Protocol.SMTP: SmtpDialogue(starttls=True),
        Protocol.SMTPS: SmtpDialogue(starttls=False),
        Protocol.IMAP: ImapDialogue(starttls=True),
        Protocol.IMAPS: ImapDialogue(starttls=False),
        Protocol.POP3: Pop3Dialogue(starttls=True),
        Protocol.POP3S: Pop3Dialogue(starttls=False),
        Protocol.HTTPS: HttpsDialogue(),
    }
)


def dialogue_for(protocol: Protocol) -> Dialogue:
    return DIALOGUES[protocol]
