"""Host-name matching against certificates (RFC 6125), with SAN and CN-only told apart."""

from __future__ import annotations

import enum

from cryptography import x509

from certward.pki.certinfo import dns_names
from certward.pki.names import common_name
from certward.pki.profile import CertProfile


class NameMatch(enum.StrEnum):
    SAN = "san"  # a DNS subject alternative name matches
    CN_ONLY = "cn-only"  # only the subject CN matches (what seed 000 asks about)
    NONE = "none"


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def pattern_matches(pattern: str, host: str) -> bool:
    """RFC 6125 §6.4: case-insensitive; a ``*`` may only be the whole left-most label and
    matches exactly one label (``*.contoso.com`` matches ``mail.contoso.com``, not
    ``contoso.com`` nor ``a.b.contoso.com``)."""
    p, h = _normalise(pattern), _normalise(host)
    if not p or not h:
        return False
    if "*" not in p:
        return p == h
    p_labels, h_labels = p.split("."), h.split(".")
    if p_labels[0] != "*" or "*" in ".".join(p_labels[1:]) or len(p_labels) < 3:
        return False  # partial or non-left-most wildcards, or "*.com": never
    return len(p_labels) == len(h_labels) and p_labels[1:] == h_labels[1:]


def _names(cert: x509.Certificate | CertProfile) -> tuple[tuple[str, ...], str | None]:
    """The SAN DNS names and the subject CN."""
    if isinstance(cert, CertProfile):
        return cert.dns_names, cert.common_name
    return tuple(dns_names(cert)), common_name(cert.subject)


def match_host(cert: x509.Certificate | CertProfile, host: str) -> NameMatch:
    sans, cn = _names(cert)
    if any(pattern_matches(name, host) for name in sans):
        return NameMatch.SAN
    if cn is not None and pattern_matches(cn, host):
        return NameMatch.CN_ONLY
    return NameMatch.NONE


def covers(cert: x509.Certificate | CertProfile, host: str) -> bool:
    """Subject CN or SAN: the way Exchange's certificate selection matches a name."""
    return match_host(cert, host) is not NameMatch.NONE


def is_wildcard(cert: x509.Certificate | CertProfile) -> bool:
    sans, cn = _names(cert)
    return (cn or "").startswith("*.") or any(name.startswith("*.") for name in sans)
