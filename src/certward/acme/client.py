"""The ACME client: certbot's ``acme`` library (``ClientV2``, ``messages``, ``josepy``) behind
certward's errors.

* :func:`register` makes a new account (terms of service agreed; an external account binding
  with HS256 when the CA needs one).
* :class:`AcmeClient` obtains a certificate for a CSR: new order, one challenge per
  authorization answered through a :class:`certward.acme.solvers.ChallengeSolver`, polling,
  finalization, the full chain.

ACME problem documents (``urn:ietf:params:acme:error:*``) become typed certward errors with
stable codes (:mod:`certward.codes.acme`). ``rateLimited``, ``badNonce`` and
``serverInternal`` are retried with capped exponential backoff, never sooner than the
response's ``Retry-After``; a wait longer than the cap is not slept through but reported
(the error's ``retry_after_seconds`` fact), so the caller stores when to try again.
:data:`DEFAULT_RETRY` is the policy of a client given none.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa, types
from josepy import b64, jwa, jwk

from acme import challenges, client, errors, messages
from certward.acme.solvers import ChallengeSolver
from certward.codes.acme import (
    ACME_ACCOUNT_REFUSED,
    ACME_BAD_CSR,
    ACME_BAD_NONCE,
    ACME_CHALLENGE_INVALID,
    ACME_DIRECTORY_UNREACHABLE,
    ACME_EAB_INVALID,
    ACME_MALFORMED,
    ACME_NO_CHALLENGE,
    ACME_ORDER_INVALID,
    ACME_PROBLEM,
    ACME_RATE_LIMITED,
    ACME_REJECTED_IDENTIFIER,
    ACME_SERVER_INTERNAL,
    ACME_TIMEOUT,
    ACME_UNAUTHORIZED,
)
from certward.errors import CertwardError, ErrorCode

USER_AGENT = "certward"
PROBLEM_PREFIX = "urn:ietf:params:acme:error:"
RETRYABLE = frozenset({"rateLimited", "badNonce", "serverInternal"})

_PROBLEM_CODES: dict[str, ErrorCode] = {
    "rateLimited": ACME_RATE_LIMITED,
    "badNonce": ACME_BAD_NONCE,
    "serverInternal": ACME_SERVER_INTERNAL,
    "unauthorized": ACME_UNAUTHORIZED,
    "rejectedIdentifier": ACME_REJECTED_IDENTIFIER,
    "unsupportedIdentifier": ACME_REJECTED_IDENTIFIER,
    "caa": ACME_REJECTED_IDENTIFIER,
    "malformed": ACME_MALFORMED,
    "badCSR": ACME_BAD_CSR,
    "accountDoesNotExist": ACME_ACCOUNT_REFUSED,
    "externalAccountRequired": ACME_ACCOUNT_REFUSED,
    "agreementRequired": ACME_ACCOUNT_REFUSED,
    "invalidContact": ACME_ACCOUNT_REFUSED,
    "unsupportedContact": ACME_ACCOUNT_REFUSED,
    "userActionRequired": ACME_ACCOUNT_REFUSED,
    "badPublicKey": ACME_ACCOUNT_REFUSED,
    "badSignatureAlgorithm": ACME_ACCOUNT_REFUSED,
    "connection": ACME_CHALLENGE_INVALID,
    "dns": ACME_CHALLENGE_INVALID,
    "incorrectResponse": ACME_CHALLENGE_INVALID,
    "tls": ACME_CHALLENGE_INVALID,
    "orderNotReady": ACME_ORDER_INVALID,
}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how long, a retryable answer is tried again within one operation."""

    attempts: int = 4
    first: float = 1.0  # seconds
    cap: float = 30.0  # the longest single wait; a longer Retry-After is reported, not slept

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """The wait before try ``attempt + 1`` (``attempt`` counts from 1), or None: give up."""
        if attempt >= self.attempts:
            return None
        wait: float = min(self.cap, self.first * 2.0 ** (attempt - 1))
        if retry_after is not None:
            if retry_after > self.cap:
                return None
            wait = max(wait, retry_after)
        return wait


DEFAULT_RETRY = RetryPolicy()
"""The policy of a client given none (the tests' pebble runs use a quicker one)."""


def problem_name(problem_type: str | None) -> str | None:
    """``rateLimited`` from ``urn:ietf:params:acme:error:rateLimited``; None otherwise."""
    if problem_type and problem_type.startswith(PROBLEM_PREFIX):
        return problem_type[len(PROBLEM_PREFIX) :]
    return None


def problem_error(
    problem: messages.Error, *, context: str, retry_after: float | None = None
) -> CertwardError:
    """The certward error for an ACME problem document."""
    name = problem_name(problem.typ)
    code = _PROBLEM_CODES.get(name or "", ACME_PROBLEM)
    detail = problem.detail or problem.title or problem.typ
    facts: dict[str, object] = {"problem": problem.typ, "detail": detail}
    if retry_after is not None:
        facts["retry_after_seconds"] = round(retry_after)
    wait = f" (the server asks to retry after {round(retry_after)} s)" if retry_after else ""
    return code(f"{context}: the ACME server answered {name or problem.typ}: {detail}{wait}",
                **facts)  # fmt: skip


class _Network(client.ClientNetwork):
    """The library's network layer, remembering the last answer's ``Retry-After``."""

    last_retry_after: float | None = None

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_retry_after = _retry_after_seconds(response)
        return response


def _retry_after_seconds(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(int(header)))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def account_jwk(key: types.PrivateKeyTypes) -> jwk.JWK:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return jwk.JWKEC(key=key)
    if isinstance(key, rsa.RSAPrivateKey):
        return jwk.JWKRSA(key=key)
    raise TypeError(f"an ACME account key must be EC or RSA, not {type(key).__name__}")


def _alg(key: jwk.JWK) -> jwa.JWASignature:
    if isinstance(key, jwk.JWKEC):
        return jwa.ES256
    return jwa.RS256


def new_account_key() -> ec.EllipticCurvePrivateKey:
    """An account key: ECDSA P-256 (ES256), which every ACME CA accepts."""
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk_json(key: jwk.JWK) -> str:
    return json.dumps(key.public_key().to_partial_json(), sort_keys=True)


def jwk_thumbprint(key: jwk.JWK) -> str:
    """The key's RFC 7638 thumbprint (SHA-256, base64url)."""
    return b64.b64encode(key.thumbprint()).decode()


@dataclass(frozen=True, slots=True)
class Eab:
    """An external account binding: the CA's key identifier and its HMAC key (base64url).
    The HMAC key is a secret: its repr does not show it."""

    kid: str
    hmac_key: str

    def __repr__(self) -> str:
        return f"Eab(kid={self.kid!r}, hmac_key=<redacted>)"

    @classmethod
    def read(cls, kid: str, data: bytes, *, source: str) -> Eab:
        """The binding from a key identifier and an HMAC key file's content."""
        text = data.decode("ascii", errors="replace").strip()
        if not kid.strip():
            raise ACME_EAB_INVALID("the external account binding's key identifier is empty")
        try:
            decoded = b64.b64decode(text)
        except (ValueError, TypeError) as exc:
            raise ACME_EAB_INVALID(f"{source}: the HMAC key is not base64url", file=source) from exc
        if not text or len(decoded) < 16 or any(c.isspace() for c in text):
            raise ACME_EAB_INVALID(
                f"{source}: the HMAC key is not one base64url value of at least 16 bytes",
                file=source,
            )
        return cls(kid.strip(), text)


@dataclass(frozen=True, slots=True)
class Registered:
    account_url: str
    terms_of_service: str | None


@dataclass(frozen=True, slots=True)
class Issued:
    fullchain_pem: bytes
    order_url: str | None


class AcmeClient:
    """One directory, one account key (and, once registered or known, the account URL)."""

    def __init__(
        self,
        directory_url: str,
        key: jwk.JWK,
        *,
        account_url: str | None = None,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        directory: messages.Directory | None = None,
    ) -> None:
        """``directory``: the directory at ``directory_url`` when the caller has read it
        already (a renewal run reads each directory once); else it is fetched here."""
        self.directory_url = directory_url
        self.key = key
        self.timeout = timeout
        self.retry = retry or DEFAULT_RETRY
        self._sleep = sleep
        verify: Any = ca_bundle if ca_bundle else True  # requests takes a CA file path too
        self._net = _Network(
            key,
            alg=_alg(key),
            verify_ssl=verify,
            user_agent=USER_AGENT,
            timeout=int(timeout),
        )
        if account_url is not None:
            self._net.account = messages.RegistrationResource(
                uri=account_url, body=messages.Registration()
            )
        if directory is None:
            with self._errors("the ACME directory " + directory_url):
                directory = self._retrying(
                    lambda: client.ClientV2.get_directory(directory_url, self._net)
                )
        self._client = client.ClientV2(directory, self._net)

    @property
    def directory(self) -> messages.Directory:
        return self._client.directory

    # -- errors and retries -----------------------------------------------------------------
    @contextmanager
    def _errors(self, context: str) -> Iterator[None]:
        try:
            yield
        except CertwardError:
            raise
        except messages.Error as exc:
            raise problem_error(
                exc, context=context, retry_after=self._net.last_retry_after
            ) from exc
        except errors.IssuanceError as exc:
            raise problem_error(exc.error, context=context) from exc
        except errors.ValidationError as exc:
            raise _validation_error(exc, context) from exc
        except errors.TimeoutError as exc:
            raise ACME_TIMEOUT(
                f"{context}: the ACME server did not finish within {self.timeout:.0f} s"
            ) from exc
        except requests.RequestException as exc:
            raise ACME_DIRECTORY_UNREACHABLE(
                f"{context}: cannot reach the ACME server ({_short(exc)})",
                directory=self.directory_url,
            ) from exc
        except errors.Error as exc:
            raise ACME_PROBLEM(f"{context}: {_short(exc)}") from exc

    def _retrying(self, call: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return call()
            except messages.Error as exc:
                name = problem_name(exc.typ)
                wait = (
                    self.retry.delay(attempt, self._net.last_retry_after)
                    if name in RETRYABLE
                    else None
                )
                if wait is None:
                    raise
                self._sleep(wait)
                attempt += 1

    def _answer(
        self, challb: messages.ChallengeBody, response: challenges.ChallengeResponse
    ) -> None:
        self._retrying(lambda: self._client.answer_challenge(challb, response))

    # -- account ----------------------------------------------------------------------------
    def external_account_required(self) -> bool:
        return bool(self._client.external_account_required())

    def register(self, email: str, *, eab: Eab | None = None) -> Registered:
        """A new account for ``email``, agreeing to the CA's terms of service."""
        context = f"registering {email} at {self.directory_url}"
        with self._errors(context):
            binding = None
            if eab is not None:
                binding = messages.ExternalAccountBinding.from_data(
                    account_public_key=self.key.public_key(),
                    kid=eab.kid,
                    hmac_key=eab.hmac_key,
                    directory=self._client.directory,
                    hmac_alg="HS256",
                )
            registration = messages.NewRegistration.from_data(
                email=email, terms_of_service_agreed=True, external_account_binding=binding
            )
            try:
                regr = self._retrying(lambda: self._client.new_account(registration))
            except errors.ConflictError as exc:  # the key is registered already: that account
                return Registered(str(exc.location), _terms(self._client.directory))
        return Registered(str(regr.uri), _terms(self._client.directory))

    # -- orders -----------------------------------------------------------------------------
    def obtain(self, csr_pem: bytes, solver: ChallengeSolver) -> Issued:
        """A certificate for the CSR's names, each authorization answered by ``solver``."""
        context = "the ACME order"
        performed: list[tuple[str, challenges.KeyAuthorizationChallenge]] = []
        try:
            with self._errors(context):
                orderr = self._retrying(lambda: self._client.new_order(csr_pem))
                context = f"the ACME order {orderr.uri}"
                for authzr in orderr.authorizations:
                    if authzr.body.status == messages.STATUS_VALID:
                        continue
                    domain = str(authzr.body.identifier.value)
                    challb = _challenge_of(authzr, solver.kind, domain)
                    chall = challb.chall
                    assert isinstance(chall, challenges.KeyAuthorizationChallenge)
                    performed.append((domain, chall))
                    solver.perform(domain, chall, self.key)
                    response = chall.response(self.key)
                    self._answer(challb, response)
                deadline = dt.datetime.now() + dt.timedelta(seconds=self.timeout)
                # each step may be repeated after a retryable answer: polling the
                # authorizations reads; polling for finalization finalizes a ready order
                # and otherwise reads, so a repeat never finalizes twice
                ready = self._retrying(lambda: self._client.poll_authorizations(orderr, deadline))
                finished = self._retrying(lambda: self._client.poll_finalization(ready, deadline))
        finally:
            for domain, chall in reversed(performed):
                # what a failed cleanup leaves is replaced by the next perform, or expires
                with suppress(CertwardError):
                    solver.cleanup(domain, chall, self.key)
        if not finished.fullchain_pem:
            raise ACME_ORDER_INVALID(f"{context}: the ACME server returned no certificate")
        return Issued(finished.fullchain_pem.encode(), finished.uri)


def _terms(directory: messages.Directory) -> str | None:
    meta = getattr(directory, "meta", None)
    terms = getattr(meta, "terms_of_service", None) if meta is not None else None
    return str(terms) if terms else None


def _challenge_of(
    authzr: messages.AuthorizationResource, kind: str, domain: str
) -> messages.ChallengeBody:
    offered = []
    for challb in authzr.body.challenges:
        offered.append(str(challb.chall.typ))
        if challb.chall.typ == kind and isinstance(
            challb.chall, challenges.KeyAuthorizationChallenge
        ):
            return challb
    raise ACME_NO_CHALLENGE(
        f"the ACME server offers no {kind} challenge for {domain} "
        f"(offered: {', '.join(offered) or 'none'})",
        domain=domain,
        kind=kind,
        offered=offered,
    )


def _validation_error(exc: errors.ValidationError, context: str) -> CertwardError:
    reasons = []
    first: messages.Error | None = None
    for authzr in exc.failed_authzrs:
        domain = authzr.body.identifier.value
        for challb in authzr.body.challenges:
            if challb.error is not None:
                first = first or challb.error
                detail = challb.error.detail or challb.error.typ
                reasons.append(f"{domain} ({challb.chall.typ}): {detail}")
    problem = first.typ if first is not None else None
    return ACME_CHALLENGE_INVALID(
        f"{context}: validation failed for {'; '.join(reasons) or 'an authorization'}",
        problem=problem,
        detail="; ".join(reasons),
    )


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
