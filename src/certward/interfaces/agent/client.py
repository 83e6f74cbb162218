"""The agent's side of the REST API, on treq (Twisted's HTTP client) over verified TLS.

HTTPS only: the answers carry private keys. The service's certificate is verified against
``--ca-bundle`` (the CA that issued the service's certificate) or, without it, the
system's trust store, and must name the host of the API's URL (a name or an IP address).
Every failure — connection, TLS, timeout, an error status, a body that is not the API's —
is one :data:`AGENT_API_UNREACHABLE` error whose message is one line, never the body; a
refused token (HTTP 401 or 403) is :data:`AGENT_API_REFUSED`, which retrying sooner does
not mend. The token is asked of its source at every request, so a token file renewed
while the agent runs is used from the next request on; it is never in a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from certward.codes.agents import AGENT_API_REFUSED, AGENT_API_UNREACHABLE
from certward.codes.general import INPUT_INVALID
from certward.model.deploy import certificate_blocks

API_PATH = "/api/v1/agents"
MAX_BODY = 16 * 1024 * 1024


def check_api_url(url: str) -> str:
    """The API's base URL without a trailing slash; ``input.invalid`` unless it is an
    ``https://`` URL with a host (keys never travel over plain HTTP)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise INPUT_INVALID(
            f"API URL {url!r}: must be https://HOST[:PORT] (keys travel only over TLS)",
            url=url,
        )
    if parts.username is not None or parts.password is not None:
        # The URL is logged at every start and in every failure: no secret may be in it.
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        raise INPUT_INVALID(
            f"API URL {shown}: holds a user name or password; the agent's token is its credential",
            url=shown,
        )
    return url.strip().rstrip("/")


def load_ca_bundle(path: Path) -> list[bytes]:
    """The PEM certificates of a CA bundle file; ``input.invalid`` names a file without one."""
    try:
        blocks = certificate_blocks(path.read_bytes())
    except OSError as exc:
        raise INPUT_INVALID(
            f"{path}: cannot be read ({exc.strerror or exc})", path=str(path)
        ) from None
    if not blocks:
        raise INPUT_INVALID(f"{path}: holds no PEM certificate", path=str(path))
    return blocks


class ApiClient:
    """``GET /api/v1/agents/{host}/deployments`` and ``POST …/results`` with a bearer token."""

    def __init__(
        self,
        reactor: Any,
        base_url: str,
        token: str | Callable[[], str],
        *,
        ca_pems: Sequence[bytes] = (),
        timeout: float = 30.0,
        user_agent: str = "certward-agent",
    ) -> None:
        from treq.client import HTTPClient
        from twisted.internet import ssl
        from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool

        self._reactor = reactor
        self._base = check_api_url(base_url)
        self._token: Callable[[], str] = token if callable(token) else lambda: token
        self._timeout = timeout
        self._user_agent = user_agent
        trust = (
            ssl.trustRootFromCertificates(  # type: ignore[no-untyped-call]
                [ssl.Certificate.loadPEM(pem) for pem in ca_pems]
            )
            if ca_pems
            else ssl.platformTrust()  # type: ignore[no-untyped-call]
        )
        # A connection per request: an agent calls twice a cycle, minutes apart.
        self._pool = HTTPConnectionPool(reactor, persistent=False)  # type: ignore[no-untyped-call]
        agent: Any = Agent(  # type: ignore[no-untyped-call]
            reactor,
            contextFactory=BrowserLikePolicyForHTTPS(trustRoot=trust),  # type: ignore[no-untyped-call]
            connectTimeout=timeout,
            pool=self._pool,
        )
        self._http = HTTPClient(agent)

    def _url(self, host: str, what: str) -> str:
        return f"{self._base}{API_PATH}/{quote(host, safe='')}/{what}"

    def _headers(self) -> dict[bytes | str, list[bytes | str]]:
        return {
            "Authorization": [f"Bearer {self._token()}"],
            "User-Agent": [self._user_agent],
            "Accept": ["application/json"],
        }

    async def deployments(self, host: str) -> list[dict[str, Any]]:
        """The host's deployments with their material (the API's JSON)."""
        answer = await self._call("GET", self._url(host, "deployments"), None)
        if not isinstance(answer, list):
            raise AGENT_API_UNREACHABLE(f"{self._base}: the answer is not a list of deployments")
        return [item for item in answer if isinstance(item, dict)]

    async def report(self, host: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._call("POST", self._url(host, "results"), body)
        if not isinstance(answer, dict):
            raise AGENT_API_UNREACHABLE(f"{self._base}: the answer to a report is not an object")
        return answer

    async def _call(self, method: str, url: str, body: dict[str, Any] | None) -> Any:
        from treq import collect

        headers = self._headers()
        data = None
        if body is not None:
            headers["Content-Type"] = ["application/json"]
            data = json.dumps(body).encode()
        where = f"{method} {urlsplit(url).path}"
        chunks = _Bounded(MAX_BODY)
        try:
            response = await self._http.request(
                method, url, headers=headers, data=data, timeout=self._timeout
            )
            await collect(response, chunks)  # the connection dropped past MAX_BODY
        except _TooLarge:
            raise AGENT_API_UNREACHABLE(
                f"{self._base}: {where}: the answer is larger than {MAX_BODY} bytes",
                url=self._base,
            ) from None
        except Exception as exc:  # connection, TLS, timeout: all one "unreachable"
            raise AGENT_API_UNREACHABLE(
                f"{self._base}: {where}: {_reason(exc)}", url=self._base
            ) from None
        raw = b"".join(chunks.parts)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if response.code >= 400:
            said = ""
            if isinstance(parsed, dict) and "code" in parsed:
                said = f" {parsed.get('code')}: {str(parsed.get('detail', ''))[:300]}"
            error = AGENT_API_REFUSED if response.code in (401, 403) else AGENT_API_UNREACHABLE
            raise error(
                f"{self._base}: {where} answered HTTP {response.code}{said}",
                url=self._base,
                status=response.code,
                problem=parsed.get("code") if isinstance(parsed, dict) else None,
            )
        if parsed is None:
            raise AGENT_API_UNREACHABLE(f"{self._base}: {where}: the answer is not JSON")
        return parsed

    async def close(self) -> None:
        await self._pool.closeCachedConnections()  # type: ignore[no-untyped-call]


class _TooLarge(Exception):
    """A body past its limit (the connection is closed on it)."""


class _Bounded:
    """A body's chunks as they arrive, refused past ``limit`` bytes: a service (or anything
    answering at its address) cannot make the agent hold more than that in memory."""

    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self._left = limit

    def __call__(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0:
            self.parts.clear()
            raise _TooLarge
        self.parts.append(data)


def _reason(exc: BaseException) -> str:
    """One line for a Twisted failure (its wrapped reasons unfolded)."""
    reasons = getattr(exc, "reasons", None)
    if reasons:
        inner = reasons[0].value if hasattr(reasons[0], "value") else reasons[0]
        return _reason(inner)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "certificate verify failed" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return "the service's certificate is not trusted (is --ca-bundle its CA?)"
    return f"{type(exc).__name__}: {text}"[:300]
