"""Chains and Exchange's certificate Status (pure: ``now`` is a parameter)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509 import verification

from certward.model import CertStatus
from certward.pki.certinfo import is_self_signed, signed_by, to_der

_MAX_DEPTH = 8


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Names chain and the issuer's key verifies the signature."""
    return cert.issuer == issuer.subject and signed_by(cert, issuer)


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
    if path_error(cert, intermediates=intermediates, roots=roots, now=now) is None:
        return CertStatus.VALID
    return CertStatus.INVALID


def path_error(
    leaf: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: dt.datetime,
    store: verification.Store | None = None,
) -> str | None:
    """Why ``leaf`` does not validate to one of ``roots`` (None when it does); ``store``:
    ``roots`` made into a verification store once, by a caller that judges many leaves.

    cryptography's verifier checks dates, signatures and CA constraints. The leaf's
    usage-specific extension rules are relaxed: Exchange's Status, a partner's mutual-TLS
    certificate and a probed server's certificate are judged the same way whatever their
    extended key usage; CA certificates keep the web PKI rules. The host name is checked
    separately (``certward.pki.hostnames``).
    """
    try:
        (
            verification.PolicyBuilder()
            .store(verification.Store(list(roots)) if store is None else store)  # empty: ValueError
            .time(now)
            .max_chain_depth(_MAX_DEPTH)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
            .verify(leaf, list(intermediates))
        )
    except (verification.VerificationError, ValueError) as exc:
        return str(exc) or exc.__class__.__name__
    return None
