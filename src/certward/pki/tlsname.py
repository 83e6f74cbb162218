"""TlsCertificateName: building it from a certificate, checking it, matching certificates."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TypeVar

from cryptography import x509

from certward.codes.pki import TLS_CERTIFICATE_NAME_INVALID
from certward.model.connectors import TlsCertificateName, TlsNameStatus
from certward.pki import certinfo
from certward.pki.names import NameSyntaxError, dotnet_x500, parse_dotnet_x500, same_name
from certward.pki.profile import CertProfile

T = TypeVar("T")


def tls_certificate_name(cert: x509.Certificate) -> TlsCertificateName:
    """``"<I>$($cert.Issuer)<S>$($cert.Subject)"`` as seed 002 builds it."""
    with certinfo.reading("issuer and subject", cert):
        issuer, subject = dotnet_x500(cert.issuer), dotnet_x500(cert.subject)
    return TlsCertificateName(issuer, subject)


@functools.lru_cache(maxsize=256)
def parse_names(value: str) -> tuple[x509.Name, x509.Name]:
    """Issuer and subject of a TlsCertificateName; ``pki.tls_certificate_name_invalid`` (a
    ValueError too) when the syntax is invalid. Cached: selection and the health rules match
    one name against many certificates."""
    try:
        name = TlsCertificateName.parse(value)
    except ValueError as exc:
        raise TLS_CERTIFICATE_NAME_INVALID(str(exc), value=value) from None
    try:
        return parse_dotnet_x500(name.issuer), parse_dotnet_x500(name.subject)
    except NameSyntaxError as exc:
        raise TLS_CERTIFICATE_NAME_INVALID(
            f"TlsCertificateName {value!r}: {exc}", value=value
        ) from None


def check(value: str | None) -> TlsNameStatus | None:
    """Empty or SyntaxInvalid, else None (the name is well formed; resolve it next)."""
    if value is None or not value.strip():
        return TlsNameStatus.EMPTY
    try:
        parse_names(value)
    except ValueError:
        return TlsNameStatus.SYNTAX_INVALID
    return None


def matches(cert: x509.Certificate | CertProfile, value: str) -> bool:
    issuer, subject = parse_names(value)
    return same_name(cert.issuer, issuer) and same_name(cert.subject, subject)


def resolve(
    value: str | None, certificates: Iterable[tuple[T, x509.Certificate | CertProfile]]
) -> tuple[TlsNameStatus, list[T]]:
    """Status and the matching ids among ``(id, certificate)`` pairs (HealthChecker's view)."""
    problem = check(value)
    if problem is not None:
        return problem, []
    assert value is not None
    found = [ident for ident, cert in certificates if matches(cert, value)]
    return (TlsNameStatus.MATCH if found else TlsNameStatus.NOT_FOUND), found
