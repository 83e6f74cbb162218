"""Judging what a server presented (pure: ``now`` and the trust roots are parameters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509 import verification

from certward.pki import certinfo, clientca, hostnames
from certward.probe.report import CertificateReport, ChainEntry, ClientAuthReport


def _key_type(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "EdDSA"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA"
    return "unknown"


def certificate_report(
    chain: Sequence[x509.Certificate],
    *,
    host: str,
    now: dt.datetime,
    roots: Sequence[x509.Certificate],
) -> CertificateReport:
    """Trust (path validation to ``roots``) and the host name are judged separately."""
    leaf = chain[0]
    trust_error = ""
    try:
        (
            verification.PolicyBuilder()
            .store(verification.Store(list(roots)))
            .time(now)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
            .verify(leaf, list(chain[1:]))
        )
    except (verification.VerificationError, ValueError) as exc:
        trust_error = str(exc)
    hash_algorithm = leaf.signature_hash_algorithm
    hash_name = hash_algorithm.name if hash_algorithm is not None else "none"
    return CertificateReport(
        chain=[
            ChainEntry(
                subject=certinfo.facts(c).subject,
                issuer=certinfo.facts(c).issuer,
                thumbprint_sha1=certinfo.thumbprint(certinfo.to_der(c)),
                not_after=c.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            for c in chain
        ],
        includes_root=len(chain) > 1 and certinfo.is_self_signed(chain[-1]),
        trusted=not trust_error,
        trust_error=trust_error,
        name_match=hostnames.match_host(leaf, host).value,
        days_left=(leaf.not_valid_after_utc - now) // dt.timedelta(days=1),
        key_type=_key_type(leaf.public_key()),
        key_size=certinfo.key_size(leaf.public_key()),
        signature_hash=hash_name,
        sha1_signature=hash_name in ("sha1", "md5"),
    )


def client_auth_report(
    *, requested: bool, handshake_ok: bool, ca_names: Sequence[bytes]
) -> ClientAuthReport:
    """A request the handshake survived without a certificate was optional; one it did not
    survive was required. The size is that of the CertificateRequest's CA field."""
    if not requested:
        return ClientAuthReport()
    size = 2 + sum(2 + len(name) for name in ca_names)
    return ClientAuthReport(
        requested="optional" if handshake_ok else "required",
        ca_names_count=len(ca_names),
        ca_names_size=size,
        over_schannel_limit=size > clientca.SCHANNEL_LIMIT,
    )
