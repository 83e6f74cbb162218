"""ACME Renewal Information (ARI, RFC 9773): when the CA suggests a certificate be renewed.

Two halves:

- The pure policy (no I/O, ``now`` is a parameter): :func:`renew_at` is a stable point inside
  the server's suggested window — the same for a certificate on every run, spread across
  certificates by ``jitter_seed`` (RFC 9773 section 4.2 asks for a point chosen at random in
  the window; a seeded one keeps the decision the same across runs and hosts) — or, without
  a window, two thirds of the way through the certificate's lifetime. :func:`due` says
  whether that moment has come.
- The fetch: :func:`certificate_identifier` (base64url of the authority key identifier, a
  dot, base64url of the serial's DER content octets), the ``renewalInfo`` URL from the
  directory, and :func:`fetch_renewal_info` over the ``acme`` library's ``ClientNetwork``,
  parsing ``suggestedWindow``, ``explanationURL`` and ``Retry-After``
  (:func:`parse_renewal_info`, pure; the document itself is read by the library's
  ``messages.RenewalInfo``).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import josepy
import requests
from cryptography import x509

from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from certward.codes.acme_dns import ARI_FETCH_FAILED, ARI_INVALID, ARI_NO_IDENTIFIER

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "RenewalInfo",
    "Window",
    "certificate_identifier",
    "due",
    "fetch_directory",
    "fetch_renewal_info",
    "parse_renewal_info",
    "parse_retry_after",
    "renew_at",
    "renewal_info_url",
    "window_for",
]

# RFC 9773 section 4.3.3: ask again after Retry-After, kept within reasonable limits; six
# hours when the server gives none (the acme library's default too).
DEFAULT_RETRY_AFTER = dt.timedelta(hours=6)
USER_AGENT = "certward-ari"
MIN_RETRY_AFTER = dt.timedelta(minutes=1)
MAX_RETRY_AFTER = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    """The suggested renewal window: renew at a moment from ``start`` to ``end``."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"window {name} has no time zone")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def __iter__(self) -> Iterator[dt.datetime]:
        """``start, end = window``."""
        yield self.start
        yield self.end


@dataclass(frozen=True, slots=True)
class RenewalInfo:
    """A renewalInfo answer: the window, when to ask again, and the CA's explanation URL."""

    window: Window
    retry_after: dt.datetime
    explanation_url: str | None = None


# -- the pure policy ----------------------------------------------------------------------


def _fraction(seed: bytes | str) -> float:
    """A number in [0, 1) fixed by ``seed``."""
    data = seed.encode("utf-8") if isinstance(seed, str) else seed
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2**64


def _check_aware(**moments: dt.datetime) -> None:
    for name, moment in moments.items():
        if moment.tzinfo is None:
            raise ValueError(f"{name} has no time zone")


def renew_at(
    window: Window | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    jitter_seed: bytes | str,
) -> dt.datetime:
    """When to renew a certificate valid from ``not_before`` to ``not_after``.

    With an ARI window: a point inside it fixed by ``jitter_seed`` (use something of the
    certificate's own, its ARI identifier or thumbprint), never after ``not_after`` (a window
    past expiry would leave the name without a valid certificate). Without one: two thirds
    of the lifetime. A moment in the past means "now"."""
    _check_aware(not_before=not_before, not_after=not_after)
    if not_after <= not_before:
        raise ValueError(f"not_after {not_after} is not after not_before {not_before}")
    if window is None:
        return not_before + (not_after - not_before) * 2 / 3
    point = window.start + (window.end - window.start) * _fraction(jitter_seed)
    return min(point, not_after)


def due(
    window: Window | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    now: dt.datetime,
    *,
    jitter_seed: bytes | str,
) -> bool:
    """Whether the certificate should be renewed at ``now`` (see :func:`renew_at`)."""
    _check_aware(now=now)
    return now >= renew_at(window, not_before, not_after, jitter_seed=jitter_seed)


def parse_retry_after(value: str | None, *, now: dt.datetime) -> dt.datetime:
    """When to ask again: a ``Retry-After`` header (seconds or an HTTP date) kept between one
    minute and one day from ``now``; six hours when absent or unreadable."""
    _check_aware(now=now)
    delay = DEFAULT_RETRY_AFTER
    text = (value or "").strip()
    if text.isdigit():
        delay = dt.timedelta(seconds=int(text))
    elif text:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            delay = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) - now
    return now + min(max(delay, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def parse_renewal_info(
    document: bytes | str | Mapping[str, object],
    retry_after: str | None,
    *,
    now: dt.datetime,
    source: str = "renewalInfo",
) -> RenewalInfo:
    """A renewalInfo document (RFC 9773 section 4.2) and its ``Retry-After`` header."""
    if isinstance(document, bytes | str):
        try:
            data: object = json.loads(document)
        except ValueError as exc:
            raise ARI_INVALID(f"{source}: the answer is not JSON", url=source) from exc
    else:
        data = document
    if not isinstance(data, Mapping) or not isinstance(data.get("suggestedWindow"), Mapping):
        raise ARI_INVALID(f"{source}: no suggestedWindow object", url=source)
    try:
        parsed = messages.RenewalInfo.from_json(dict(data))
        start, end = parsed.suggested_window.start, parsed.suggested_window.end
    except (josepy.errors.DeserializationError, ValueError, TypeError) as exc:
        raise ARI_INVALID(
            f"{source}: suggestedWindow is not two RFC 3339 times: {exc}", url=source
        ) from exc
    if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
        raise ARI_INVALID(f"{source}: suggestedWindow lacks its start or end", url=source)
    if end <= start:
        raise ARI_INVALID(
            f"{source}: suggestedWindow ends ({end.isoformat()}) before it starts "
            f"({start.isoformat()})",
            url=source,
        )
    explanation = data.get("explanationURL")
    return RenewalInfo(
        window=Window(start.astimezone(dt.UTC), end.astimezone(dt.UTC)),
        retry_after=parse_retry_after(retry_after, now=now),
        explanation_url=explanation if isinstance(explanation, str) else None,
    )


# -- the certificate identifier and the fetch ---------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def certificate_identifier(certificate: x509.Certificate) -> str:
    """The ARI certificate identifier (RFC 9773 section 4.1): base64url(AKI keyIdentifier)
    "." base64url(the serial number's DER INTEGER content octets), without padding."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        aki = None
    key_id = aki.value.key_identifier if aki is not None else None
    if not key_id:
        raise ARI_NO_IDENTIFIER(
            f"certificate with serial {certificate.serial_number:x} has no authority key "
            "identifier",
            serial=f"{certificate.serial_number:x}",
        )
    serial = certificate.serial_number
    serial_der = serial.to_bytes(serial.bit_length() // 8 + 1, "big", signed=True)
    return f"{_b64url(key_id)}.{_b64url(serial_der)}"


def renewal_info_url(directory: messages.Directory, certificate: x509.Certificate) -> str | None:
    """The certificate's renewalInfo URL, or None when the directory offers no ARI."""
    try:
        base = directory["renewalInfo"]
    except KeyError:
        return None
    if not isinstance(base, str) or not base:
        return None
    return f"{base.rstrip('/')}/{certificate_identifier(certificate)}"


def fetch_renewal_info(
    net: acme_client.ClientNetwork,
    directory: messages.Directory,
    certificate: x509.Certificate,
    *,
    now: dt.datetime,
) -> RenewalInfo | None:
    """The certificate's renewal information from the ACME server, or None when its
    directory offers no ``renewalInfo``. A failure is ``ari.fetch_failed`` with the moment
    to try again (``retry_after`` fact); a bad answer is ``ari.invalid``."""
    url = renewal_info_url(directory, certificate)
    if url is None:
        return None
    try:
        response = net.get(url, content_type=acme_client.ClientNetwork.JSON_CONTENT_TYPE)
    except messages.Error as exc:
        raise ARI_FETCH_FAILED(
            f"the ACME server refused the renewal information at {url}: {exc.detail or exc.typ}",
            url=url,
            problem=exc.typ,
            retry_after=parse_retry_after(None, now=now).isoformat(),
        ) from exc
    except (acme_errors.Error, requests.RequestException) as exc:
        raise ARI_FETCH_FAILED(
            f"the renewal information at {url} cannot be fetched: {_reason(exc)}",
            url=url,
            retry_after=parse_retry_after(None, now=now).isoformat(),
        ) from exc
    return parse_renewal_info(
        response.content, response.headers.get("Retry-After"), now=now, source=url
    )


def _reason(exc: Exception) -> str:
    first = exc.args[0] if exc.args else exc
    if isinstance(first, requests.Response):
        return f"HTTP {first.status_code} {first.reason}"
    return str(first) or type(exc).__name__


def fetch_directory(
    directory_url: str, ca_bundle: str | None, *, now: dt.datetime
) -> messages.Directory:
    """The ACME directory at ``directory_url`` (HTTPS verified against ``ca_bundle`` when
    given); ``ari.fetch_failed`` with the moment to try again when it cannot be read."""
    verify: Any = ca_bundle if ca_bundle else True  # requests takes a CA file path too
    try:
        return acme_client.ClientV2.get_directory(directory_url, _network(verify))
    except (messages.Error, acme_errors.Error, requests.RequestException) as exc:
        raise ARI_FETCH_FAILED(
            f"the ACME directory {directory_url} cannot be fetched: {_reason(exc)}",
            url=directory_url,
            retry_after=parse_retry_after(None, now=now).isoformat(),
        ) from exc


def _network(verify: Any) -> acme_client.ClientNetwork:
    return acme_client.ClientNetwork(key=None, verify_ssl=verify, user_agent=USER_AGENT)


def window_for(
    der: bytes,
    directory_url: str,
    ca_bundle: str | None,
    *,
    now: dt.datetime | None = None,
    directory: messages.Directory | None = None,
) -> Window | None:
    """The suggested renewal window of a certificate (DER) from the ACME server at
    ``directory_url`` (HTTPS verified against ``ca_bundle`` when given), or None when the
    directory offers no renewalInfo (then two thirds of the lifetime decide). ``directory``:
    that directory already read (a renewal run reads each once). ``now`` (the service's
    clock) only dates the ``retry_after`` of a failure."""
    from certward.clock import SystemClock

    when = now if now is not None else SystemClock().now()
    if directory is None:
        directory = fetch_directory(directory_url, ca_bundle, now=when)
    verify: Any = ca_bundle if ca_bundle else True
    info = fetch_renewal_info(
        _network(verify), directory, x509.load_der_x509_certificate(der), now=when
    )
    return info.window if info is not None else None
