"""The dialogues: SMTP, IMAP and POP3 up to STARTTLS/STLS, implicit TLS, HTTPS; stage timing.

One connection gathers every certificate and handshake fact; extra connections only
enumerate TLS versions (as internet.nl does, because mail servers limit connections).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from cryptography import x509
from twisted.internet import defer

from certward.probe import analysis
from certward.probe.report import VERSIONS, EndpointReport, Stage
from certward.probe.targets import Protocol, Target
from certward.probe.wire import (
    ProbeFailure,
    ProbeTlsCreator,
    TlsObservation,
    Wire,
    client_hello,
)
from certward.probe.wire import connect as wire_connect

T = TypeVar("T")
MAX_REPLY_LINES = 100
_VERSION_OPTIONS = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}


@dataclass(frozen=True)
class ProbeOptions:
    timeout: float
    roots: Sequence[x509.Certificate]
    now: Callable[[], dt.datetime]
    helo: str = "certward.probe.invalid"
    mail_from: str | None = None
    rcpt_to: str | None = None
    enumerate_versions: bool = True
    # Host name to address by the resolver given with --resolver (dnspython); None: the
    # system's resolver (which also reads /etc/hosts).
    resolve: Callable[[str], Awaitable[str]] | None = None


class _Stages:
    def __init__(self, report: EndpointReport, reactor: Any, timeout: float) -> None:
        self._report = report
        self._reactor = reactor
        self._timeout = timeout

    async def run(self, name: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run one stage with a hard timeout; record its time and result."""
        start = time.perf_counter()
        try:
            result = await _within(self._reactor, self._timeout, _as_coroutine(step))
        except defer.TimeoutError:
            self._record(name, False, start, f"no answer within {self._timeout:g} s")
            raise ProbeFailure(f"{name}: timed out") from None
        except ProbeFailure as exc:
            self._record(name, False, start, str(exc))
            raise
        except Exception as exc:
            self._record(name, False, start, f"{exc.__class__.__name__}: {exc}")
            raise ProbeFailure(f"{name}: {exc}") from exc
        self._record(name, True, start, _detail(result))
        return result

    def note(self, name: str, ok: bool, detail: str = "") -> None:
        self._report.stages.append(Stage(name, ok, 0.0, detail))

    def _record(self, name: str, ok: bool, start: float, detail: str) -> None:
        ms = (time.perf_counter() - start) * 1000
        self._report.stages.append(Stage(name, ok, ms, detail))


async def _within(reactor: Any, seconds: float, step: Coroutine[Any, Any, T]) -> T:
    """``step``, cancelled (defer.TimeoutError) after ``seconds``."""
    d = defer.Deferred.fromCoroutine(step)
    d.addTimeout(seconds, reactor)
    return await d


async def _as_coroutine(step: Callable[[], Awaitable[T]]) -> T:
    return await step()


def _detail(result: object) -> str:
    return result if isinstance(result, str) else ""


async def smtp_reply(wire: Wire) -> tuple[int, list[str]]:
    """A complete (multi-line) SMTP reply: ``250-...`` lines up to ``250 ...``."""
    lines: list[str] = []
    for _ in range(MAX_REPLY_LINES):
        text = await wire.line()
        if len(text) < 3 or not text[:3].isdigit() or (len(text) > 3 and text[3] not in " -"):
            raise ProbeFailure(f"not an SMTP reply: {text[:80]!r}")
        lines.append(text[4:])
        if len(text) == 3 or text[3] == " ":
            return int(text[:3]), lines
    raise ProbeFailure(f"more than {MAX_REPLY_LINES} continuation lines")


async def _resolve(
    reactor: Any, host: str, resolve: Callable[[str], Awaitable[str]] | None = None
) -> str:
    """The host's address, as the connection will use it (an IP stays as it is): from the
    chosen resolver, else the system's (IPv4)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if resolve is not None:
        return await resolve(host)
    try:
        address: str = await reactor.resolve(host)
    except Exception as exc:
        raise ProbeFailure(f"no address for {host}: {exc.__class__.__name__}") from None
    return address


async def _connect(reactor: Any, target: Target, timeout: float) -> Wire:
    return await wire_connect(reactor, target.address or target.host, target.port, timeout)


async def _to_starttls(wire: Wire, target: Target, stages: _Stages | None, helo: str) -> str:
    """Speak the protocol up to the point where TLS starts; returns the banner."""

    def stage(name: str, step: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        return stages.run(name, step) if stages else step()

    family = target.protocol.family
    if family == "smtp":

        async def greeting() -> str:
            code, lines = await smtp_reply(wire)
            text = " ".join(lines)
            if code == 421:
                raise ProbeFailure(f"rate limited: 421 {text}")
            if code != 220:
                raise ProbeFailure(f"banner {code} {text}")
            return text

        async def hello() -> list[str]:
            wire.send(f"EHLO {helo}\r\n".encode())
            code, lines = await smtp_reply(wire)
            if code != 250:
                raise ProbeFailure(f"EHLO refused: {code} {' '.join(lines)}")
            return lines

        banner = await stage("banner", greeting)
        ehlo = await stage("EHLO", hello)
        offered = any(line.upper().split()[:1] == ["STARTTLS"] for line in ehlo[1:])
        if stages:
            stages.note("STARTTLS offered", offered)
        if not offered:
            raise ProbeFailure("STARTTLS not offered")
        wire.send(b"STARTTLS\r\n")
        code, reply = await stage("STARTTLS", lambda: smtp_reply(wire))
        if code != 220:
            raise ProbeFailure(f"STARTTLS refused: {code} {' '.join(reply)}")
        return banner
    if family == "imap":
        banner = await stage("banner", wire.line)
        if not banner.upper().startswith("* OK"):
            raise ProbeFailure(f"not an IMAP greeting: {banner[:80]!r}")
        wire.send(b"c1 CAPABILITY\r\n")

        async def capability() -> str:
            caps = ""
            for _ in range(MAX_REPLY_LINES):
                line = await wire.line()
                if line.upper().startswith("* CAPABILITY"):
                    caps = line
                if line.startswith("c1 "):
                    return caps
            raise ProbeFailure("no end to the CAPABILITY reply")

        caps = await stage("CAPABILITY", capability)
        offered = "STARTTLS" in caps.upper().split()
        if stages:
            stages.note("STARTTLS offered", offered)
        if not offered:
            raise ProbeFailure("STARTTLS not offered")
        wire.send(b"c2 STARTTLS\r\n")
        answer = await stage("STARTTLS", wire.line)
        if not answer.upper().startswith("C2 OK"):
            raise ProbeFailure(f"STARTTLS refused: {answer[:80]!r}")
        return banner
    if family == "pop3":
        banner = await stage("banner", wire.line)
        if not banner.startswith("+OK"):
            raise ProbeFailure(f"not a POP3 greeting: {banner[:80]!r}")
        wire.send(b"CAPA\r\n")

        async def capa() -> list[str]:
            first = await wire.line()
            if not first.startswith("+OK"):
                return []
            found: list[str] = []
            for _ in range(MAX_REPLY_LINES):
                line = await wire.line()
                if line == ".":
                    return found
                found.append(line.upper())
            raise ProbeFailure("no end to the CAPA reply")

        caps = await stage("CAPA", capa)
        offered = "STLS" in caps
        if stages:
            stages.note("STLS offered", offered)
        if not offered:
            raise ProbeFailure("STLS not offered")
        wire.send(b"STLS\r\n")
        answer = await stage("STLS", wire.line)
        if not answer.startswith("+OK"):
            raise ProbeFailure(f"STLS refused: {answer[:80]!r}")
        return banner
    return ""


async def probe(reactor: Any, target: Target, options: ProbeOptions) -> EndpointReport:
    report = EndpointReport(target.text, target.host, target.port, target.protocol.value)
    stages = _Stages(report, reactor, options.timeout)
    observation = TlsObservation()
    wire: Wire | None = None
    handshake_ok = False
    try:
        if target.address is None:  # a mail domain's MX was resolved already
            address = await stages.run(
                "DNS answer", lambda: _resolve(reactor, target.host, options.resolve)
            )
            target = replace(target, address=address)
        wire = await stages.run("connect", lambda: _connect(reactor, target, options.timeout))
        if target.protocol.starttls:
            report.banner = await _to_starttls(wire, target, stages, options.helo)
        connected = wire
        connection = await stages.run(
            "TLS negotiated",
            lambda: connected.start_tls(ProbeTlsCreator(target.host, observation)),
        )
        handshake_ok = True
        report.negotiated_version = connection.get_protocol_version_name()
        report.cipher = connection.get_cipher_name() or ""
        report.ocsp_stapled = observation.ocsp_stapled
        chain = list(connection.get_peer_cert_chain(as_cryptography=True) or [])
        report.presented_chain = chain
        if chain:
            report.certificate = analysis.certificate_report(
                chain, host=target.host, now=options.now(), roots=options.roots
            )
        await _after_tls(connected, target, stages, report, options)
    except ProbeFailure:
        pass
    finally:
        if wire is not None:
            wire.close()
    report.client_auth = analysis.client_auth_report(
        requested=observation.requested,
        handshake_ok=handshake_ok and "required" not in " ".join(s.detail for s in report.stages),
        ca_names=observation.ca_names,
    )
    _judge(report, stages)
    if options.enumerate_versions and report.certificate is not None:
        report.versions = await _versions(reactor, target, options, report.negotiated_version)
    return report


async def _after_tls(
    wire: Wire, target: Target, stages: _Stages, report: EndpointReport, options: ProbeOptions
) -> None:
    family = target.protocol.family
    if target.protocol in (Protocol.SMTPS, Protocol.IMAPS, Protocol.POP3S):
        if family == "smtp":
            _, lines = await stages.run("banner", lambda: smtp_reply(wire))
            report.banner = " ".join(lines)
        else:
            report.banner = await stages.run("banner", wire.line)
    if family == "smtp":
        wire.send(f"EHLO {options.helo}\r\n".encode())
        await stages.run("EHLO after TLS", lambda: smtp_reply(wire))
        if options.mail_from and options.rcpt_to:
            for verb, value in (("MAIL FROM", options.mail_from), ("RCPT TO", options.rcpt_to)):
                wire.send(f"{verb}:<{value}>\r\n".encode())
                code, reply = await stages.run(verb, lambda: smtp_reply(wire))
                if code >= 400:
                    stages.note(f"{verb} accepted", False, f"{code} {' '.join(reply)}")
                    break
        wire.send(b"QUIT\r\n")
    elif target.protocol is Protocol.HTTPS:
        # GET, not HEAD: some servers (openssl s_server -www) never answer HEAD. Only the
        # status line is read; the connection closes after it.
        wire.send(f"GET / HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
        report.banner = await stages.run("HTTP status", wire.line)


def _judge(report: EndpointReport, stages: _Stages) -> None:
    certificate = report.certificate
    if certificate is None:
        return
    stages.note("certificate OK", certificate.trusted and certificate.days_left >= 0,
                certificate.trust_error or f"{certificate.days_left} days left")  # fmt: skip
    stages.note("secure", report.secure, f"name match: {certificate.name_match}")
    if certificate.sha1_signature:
        report.warnings.append(f"the certificate is signed with {certificate.signature_hash}")
    if certificate.name_match == "cn-only":
        report.warnings.append(f"{report.host} is only in the subject CN, not in a SAN")
    if report.client_auth.over_schannel_limit:
        report.warnings.append(
            f"the acceptable-CA list is {report.client_auth.ca_names_size} bytes "
            f"({report.client_auth.ca_names_count} names): over Schannel's 16,384, so "
            "Windows clients see a truncated list (seed 001, event 36885)"
        )


async def _versions(
    reactor: Any, target: Target, options: ProbeOptions, negotiated: str
) -> dict[str, bool | None]:
    """Which versions the server accepts, one extra connection at a time (mail servers limit
    connections), each stopping at the server's answer to the ClientHello.

    The main connection offered every version and the server chose ``negotiated``, its
    highest. Each version above it is still tried alone. Below it, one ClientHello offers the
    whole range from TLS 1.0 up: a server selects the highest version both sides support
    (RFC 8446 4.2.1, RFC 5246 appendix E.1), so the answer settles that version and every
    one between it and the last; the range below it is tried next, until the server refuses
    or TLS 1.0 is reached. A server with TLS 1.2 and 1.3 takes two connections.
    """

    async def offer(low: str, high: str) -> str | None:
        """The version selected when offering ``low``..``high``; None: refused or failed."""
        wire: Wire | None = None
        try:  # each step within the stage timeout, as on the main connection
            wire = await _connect(reactor, target, options.timeout)
            if target.protocol.starttls:
                await _within(
                    reactor, options.timeout, _to_starttls(wire, target, None, options.helo)
                )
            wire.send(client_hello(target.host, _VERSION_OPTIONS[low], _VERSION_OPTIONS[high]))
            selected = await _within(reactor, options.timeout, wire.server_hello())
        except Exception:  # refused, reset, timed out, garbage: not accepted
            return None
        finally:
            if wire is not None:
                wire.close()
        inside = selected in VERSIONS and (
            VERSIONS.index(low) <= VERSIONS.index(selected) <= VERSIONS.index(high)
        )
        return selected if inside else None  # a client would refuse any other version

    results: dict[str, bool | None] = dict.fromkeys(VERSIONS, False)
    if negotiated not in VERSIONS:
        return dict.fromkeys(VERSIONS)
    top = VERSIONS.index(negotiated)
    results[negotiated] = True
    for name in VERSIONS[top + 1 :]:
        results[name] = await offer(name, name) == name
    high = top - 1
    while high >= 0:
        selected = await offer(VERSIONS[0], VERSIONS[high])
        if selected is None:
            break
        results[selected] = True
        high = VERSIONS.index(selected) - 1
    return results
