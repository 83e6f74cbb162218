"""Fetching an MTA-STS policy (RFC 8461 §3.3) with treq, Twisted's HTTP client.

``GET https://mta-sts.<domain>/.well-known/mta-sts.txt``: the connection goes to the address
the prober's resolver gave, the host's certificate must validate to the trusted roots and
name the host (judged as an endpoint's is, so a refusal reads as one does), redirects are
never followed (a 3xx makes the policy invalid), and at most 64 KiB of (decoded) body are
read. HTTP/1.1 itself — chunked transfer coding, gzip content coding — is treq's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import treq.client
from cryptography import x509
from OpenSSL import SSL
from treq import collect
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python import failure
from twisted.web import client
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from certward.probe import analysis
from certward.probe.policy import MAX_POLICY_BYTES
from certward.probe.report import FailureReason, NameMatch
from certward.probe.trust import TrustAnchors
from certward.probe.wire import ProbeFailure, closed, tls_endpoint

POLICY_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True, slots=True)
class FetchedPolicy:
    """The policy's bytes and Content-Type, or None and why it could not be had."""

    body: bytes | None
    content_type: str = ""
    error: str = ""


def _context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_verify(SSL.VERIFY_NONE)  # judged at the end of the handshake, below
    return context


@implementer(IOpenSSLClientConnectionCreator)
class _JudgingCreator:
    """TLS to the policy host with SNI; at the end of the handshake the chain is judged
    against the roots and the host name, and the connection refused when it fails."""

    def __init__(
        self,
        host: str,
        roots: Sequence[x509.Certificate] | TrustAnchors,
        now: Callable[[], dt.datetime],
    ) -> None:
        self._host = host
        self._roots = roots
        self._now = now

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        context = _context()
        context.set_info_callback(self._judge)
        connection = SSL.Connection(context, None)
        connection.set_tlsext_host_name(self._host.encode("idna"))
        connection.set_connect_state()
        return connection

    def _judge(self, connection: SSL.Connection, where: int, _ret: int) -> None:
        if not where & SSL.SSL_CB_HANDSHAKE_DONE:
            return
        chain = list(connection.get_peer_cert_chain(as_cryptography=True) or [])
        reason = "it presented no certificate"
        if chain:
            judged = analysis.certificate_report(
                chain, reference=self._host, now=self._now(), roots=self._roots
            )
            if judged.trusted and judged.name_match is NameMatch.SAN:
                return
            reason = judged.trust_error or f"it does not name {self._host}"
        refusal = ProbeFailure(
            FailureReason.TLS_FAILED, f"the certificate of {self._host} is not valid: {reason}"
        )
        connection.get_app_data().failVerification(failure.Failure(refusal))


@implementer(IAgentEndpointFactory)
class _ToAddress:
    """Every request goes to the resolved address (the URL keeps the host name)."""

    def __init__(self, reactor: Any, address: str, port: int, timeout: float, creator: Any) -> None:
        self._args = (reactor, address, port, timeout, creator)

    def endpointForURI(self, uri: Any) -> Any:
        return tls_endpoint(*self._args)


async def fetch(
    reactor: Any,
    *,
    host: str,
    address: str,
    port: int,
    timeout: float,
    roots: Sequence[x509.Certificate] | TrustAnchors,
    now: Callable[[], dt.datetime],
) -> FetchedPolicy:
    creator = _JudgingCreator(host, roots, now)
    pool = client.HTTPConnectionPool(reactor, persistent=False)
    agent = client.Agent.usingEndpointFactory(
        reactor, _ToAddress(reactor, address, port, timeout, creator), pool=pool
    )
    url = f"https://{host}{'' if port == 443 else f':{port}'}{POLICY_PATH}"
    try:
        response = await treq.client.HTTPClient(agent).get(
            url, allow_redirects=False, unbuffered=True
        )
        if 300 <= response.code < 400:
            where = response.headers.getRawHeaders("location", ["nowhere"])[0]
            return FetchedPolicy(
                None, error=f"HTTP {response.code}, a redirect to {where}: RFC 8461 forbids "
                "following it, so there is no valid policy",
            )  # fmt: skip
        if response.code != 200:
            return FetchedPolicy(None, error=f"HTTP status {response.code}")
        content_type = response.headers.getRawHeaders("content-type", [""])[0]
        body = await _read(response)
    except ProbeFailure as exc:
        return FetchedPolicy(None, error=exc.detail)
    except (client.ResponseFailed, client.RequestTransmissionFailed) as exc:
        return FetchedPolicy(None, error=_first_reason(exc.reasons).detail)
    finally:
        await pool.closeCachedConnections()
    return FetchedPolicy(body, content_type)


async def _read(response: Any) -> bytes:
    parts: list[bytes] = []
    size = 0

    def keep(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > MAX_POLICY_BYTES:
            raise ProbeFailure(FailureReason.TOO_LARGE, "the policy is over 64 KiB")
        parts.append(data)

    await collect(response, keep)
    return b"".join(parts)


def _first_reason(reasons: Sequence[failure.Failure]) -> ProbeFailure:
    """The prober's own refusal when there is one (the certificate), else the first."""
    for reason in reasons:
        if isinstance(reason.value, ProbeFailure):
            return reason.value
    if reasons:
        return closed(reasons[0])
    return ProbeFailure(FailureReason.CLOSED, "the connection failed")
