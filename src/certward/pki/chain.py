"""Chains and Exchange's certificate Status (pure: ``now`` is a parameter)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import verification

from certward.model import CertStatus
from certward.pki.certinfo import is_self_signed, to_der

_MAX_DEPTH = 8


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Names chain and the issuer's key verifies the signature."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def build_chain(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``cert`` found in ``pool``, nearest first, up to a self-signed root.

    Stops where no issuer is found (a partial chain). The leaf itself is not included.
    """
    chain: list[x509.Certificate] = []
    seen = {to_der(cert)}
    current = cert
    for _ in range(_MAX_DEPTH):
        if is_self_signed(current):
            break
        issuer = next((c for c in pool if to_der(c) not in seen and issued_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        seen.add(to_der(issuer))
        current = issuer
    return chain


def certificate_status(
    cert: x509.Certificate,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    now: dt.datetime,
) -> CertStatus:
    """Status as Get-ExchangeCertificate reports it.

    DateInvalid outside the validity period; a self-signed certificate is Valid; a
    CA-issued one is Valid when it chains through the CA store to a root in the Root
    store, Untrusted when that root is not trusted (or cannot be found), Invalid when the
    chain reaches a trusted root but does not verify (an expired or misused issuer).
    """
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return CertStatus.DATE_INVALID
    if is_self_signed(cert):
        return CertStatus.VALID
    if not roots:
        return CertStatus.UNTRUSTED
    path = build_chain(cert, [*intermediates, *roots])
    root_ders = {to_der(root) for root in roots}
    anchored = any(to_der(c) in root_ders for c in path)
    if not anchored:
        return CertStatus.UNTRUSTED
    if _verifies(cert, roots=roots, intermediates=intermediates, now=now):
        return CertStatus.VALID
    return CertStatus.INVALID


def _verifies(
    cert: x509.Certificate,
    *,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    now: dt.datetime,
) -> bool:
    """Path validation with cryptography's verifier: dates, signatures, CA constraints.

    Usage-specific extension rules are relaxed for the leaf (Exchange's Status does not
    depend on the service); CA certificates keep the web PKI rules.
    """
    policy_builder = (
        verification.PolicyBuilder()
        .store(verification.Store(list(roots)))
        .time(now)
        .max_chain_depth(_MAX_DEPTH)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        policy_builder.build_client_verifier().verify(cert, list(intermediates))
    except verification.VerificationError:
        return False
    return True
