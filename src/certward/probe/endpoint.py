"""Probing one endpoint: connect, the protocol's dialogue (``dialogues.py``) up to TLS, the
handshake, what it showed, and which TLS versions the server accepts.

One connection gathers every certificate and handshake fact; extra connections only
enumerate TLS versions (as internet.nl does, because mail servers limit connections).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509

from certward.probe import analysis
from certward.probe.dialogues import Session, dialogue_for
from certward.probe.report import (
    VERSIONS,
    CertificateReport,
    ClientAuthReport,
    EndpointReport,
    FailureReason,
    NameMatch,
)
from certward.probe.stages import Deadline, Quiet, Stages
from certward.probe.targets import Target, is_ip
from certward.probe.trust import TrustAnchors
from certward.probe.wire import (
    ProbeFailure,
    ProbeTlsCreator,
    TlsObservation,
    Wire,
    client_hello,
    connect,
)

_VERSION_OPTIONS = {"TLSv1": "1.0", "TLSv1.1": "1.1", "TLSv1.2": "1.2", "TLSv1.3": "1.3"}
EXPIRY_WARNING_DAYS = 30


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
    # ``roots`` prepared once for every endpoint of the run.
    anchors: TrustAnchors = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchors", TrustAnchors.of(self.roots))


async def _resolve(
    reactor: Any, host: str, resolve: Callable[[str], Awaitable[str]] | None = None
) -> str:
    """The host's address, as the connection will use it: from the chosen resolver, else
    the system's (IPv4)."""
    if resolve is not None:
        return await resolve(host)
    try:
        address: str = await reactor.resolve(host)
    except Exception as exc:
        detail = f"no address for {host}: {exc.__class__.__name__}"
        raise ProbeFailure(FailureReason.NO_ADDRESS, detail) from None
    return address


def _connect(reactor: Any, target: Target, timeout: float) -> Awaitable[Wire]:
    return connect(reactor, target.address or target.host, target.port, timeout)


@dataclass(frozen=True, slots=True)
class _Handshake:
    """What the TLS handshake settled."""

    version: str
    cipher: str
    chain: tuple[x509.Certificate, ...]


async def probe(reactor: Any, target: Target, options: ProbeOptions) -> EndpointReport:
    """One endpoint, judged: its stages, where it stopped (a value, never an exception),
    its TLS, certificate and client authentication, the versions it accepts."""
    stages = Stages(reactor, options.timeout)
    observation = TlsObservation()
    dialogue = dialogue_for(target.protocol)
    session = Session(target.server_name or target.host, options.helo, options.mail_from,
                      options.rcpt_to)  # fmt: skip
    wire: Wire | None = None
    banner = ""
    handshake: _Handshake | None = None
    try:
        if target.address is None and not is_ip(target.host):
            address = await stages.run(
                "DNS answer", lambda: _resolve(reactor, target.host, options.resolve)
            )
            target = replace(target, address=address)
        wire = await stages.run("connect", lambda: _connect(reactor, target, options.timeout))
        if dialogue.starttls:
            banner = await dialogue.greet(wire, stages)
            await dialogue.upgrade(wire, stages, session)
        connected = wire
        connection = await stages.run(
            "TLS negotiated",
            lambda: connected.start_tls(ProbeTlsCreator(target.server_name, observation)),
        )
        handshake = _Handshake(
            connection.get_protocol_version_name(),
            connection.get_cipher_name() or "",
            tuple(connection.get_peer_cert_chain(as_cryptography=True) or ()),
        )
        banner = (await dialogue.after_tls(connected, stages, session)).banner or banner
    except ProbeFailure:
        pass  # recorded by the stage that failed (stages.failure)
    finally:
        stages.close()
        if wire is not None:
            wire.close()
    chain = handshake.chain if handshake is not None else ()
    certificate = (
        analysis.certificate_report(
            chain, reference=target.reference, now=options.now(), roots=options.anchors
        )
        if chain
        else None
    )
    failure = stages.failure
    client_auth = analysis.client_auth_report(
        requested=observation.requested,
        refused_without=handshake is None
        or (failure is not None and failure.reason is FailureReason.CLIENT_CERTIFICATE_REQUIRED),
        ca_names=observation.ca_names,
    )
    if certificate is not None:
        stages.note("certificate OK", certificate.trusted and not certificate.expired,
                    certificate.trust_error or f"{certificate.days_left} days left")  # fmt: skip
        secure = (
            certificate.trusted
            and not certificate.expired
            and certificate.name_match is not NameMatch.NONE
        )
        stages.note("secure", secure, f"name match: {certificate.name_match}")
    versions: dict[str, bool | None] = {}
    if options.enumerate_versions and handshake is not None and certificate is not None:
        versions = await _versions(reactor, target, options, handshake.version)
    return EndpointReport(
        target.text,
        target.host,
        target.port,
        target.protocol.value,
        stages=tuple(stages.stages),
        failure=failure,
        versions=versions,
        ocsp_stapled=observation.ocsp_stapled,
        certificate=certificate,
        client_auth=client_auth,
        warnings=warnings(target, certificate, client_auth, versions),
        presented_chain=chain,
        banner=banner,
        negotiated_version=handshake.version if handshake is not None else "",
        cipher=handshake.cipher if handshake is not None else "",
    )


def warnings(
    target: Target,
    certificate: CertificateReport | None,
    client_auth: ClientAuthReport,
    versions: dict[str, bool | None],
) -> tuple[str, ...]:
    """What a secure endpoint should still fix (each a WARNING, ``verdict.py``)."""
    found: list[str] = []
    if certificate is not None:
        if certificate.sha1_signature:
            found.append(f"the certificate is signed with {certificate.signature_hash}")
        if certificate.name_match is NameMatch.CN_ONLY:
            found.append(f"{target.reference} is only in the subject CN, not in a SAN")
        if 0 <= certificate.days_left <= EXPIRY_WARNING_DAYS:
            found.append(f"the certificate expires in {certificate.days_left} days")
    old = [v for v in ("TLSv1", "TLSv1.1") if versions.get(v)]
    if old:
        found.append(f"{' and '.join(old)} still accepted")
    if client_auth.over_schannel_limit:
        found.append(
            f"the acceptable-CA list is {client_auth.ca_names_size} bytes "
            f"({client_auth.ca_names_count} names): over Schannel's 16,384, so "
            "Windows clients see a truncated list (seed 001, event 36885)"
        )
    return tuple(found)


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
    dialogue = dialogue_for(target.protocol)
    session = Session(target.server_name or target.host, options.helo)
    deadline = Deadline(reactor, options.timeout)

    async def offer(low: str, high: str) -> str | None:
        """The version selected when offering ``low``..``high``; None: refused or failed."""
        wire: Wire | None = None
        try:  # each step within the stage timeout, as on the main connection
            wire = await _connect(reactor, target, options.timeout)
            if dialogue.starttls:
                await deadline.run(_upgrade(wire, session))
            hello = client_hello(target.server_name, _VERSION_OPTIONS[low], _VERSION_OPTIONS[high])
            wire.send(hello)
            selected = await deadline.run(wire.server_hello())
        except Exception:  # refused, reset, timed out, garbage: not accepted
            return None
        finally:
            if wire is not None:
                wire.close()
        inside = selected in VERSIONS and (
            VERSIONS.index(low) <= VERSIONS.index(selected) <= VERSIONS.index(high)
        )
        return selected if inside else None  # a client would refuse any other version

    async def _upgrade(wire: Wire, session: Session) -> None:
        await dialogue.greet(wire, Quiet())
        await dialogue.upgrade(wire, Quiet(), session)

    results: dict[str, bool | None] = dict.fromkeys(VERSIONS, False)
    if negotiated not in VERSIONS:
        return dict.fromkeys(VERSIONS)
    top = VERSIONS.index(negotiated)
    results[negotiated] = True
    try:
        for name in VERSIONS[top + 1 :]:
            results[name] = await offer(name, name) == name
        high = top - 1
        while high >= 0:
            selected = await offer(VERSIONS[0], VERSIONS[high])
            if selected is None:
                break
            results[selected] = True
            high = VERSIONS.index(selected) - 1
    finally:
        deadline.close()
    return results
