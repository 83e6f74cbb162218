"""Judging what a server presented (pure: ``now`` and the trust roots are parameters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509

from certward.pki import certinfo, clientca, hostnames
from certward.pki import chain as chain_paths
from certward.pki.profile import key_type
from certward.probe.report import CertificateReport, ChainEntry, ClientAuthReport


def certificate_report(
    chain: Sequence[x509.Certificate],
    *,
    host: str,
    now: dt.datetime,
    roots: Sequence[x509.Certificate],
) -> CertificateReport:
    """Trust (path validation to ``roots``) and the host name are judged separately."""
    leaf = chain[0]
    trust_error = chain_paths.path_error(leaf, intermediates=chain[1:], roots=roots, now=now)
    hash_algorithm = leaf.signature_hash_algorithm
    hash_name = hash_algorithm.name if hash_algorithm is not None else "none"
    return CertificateReport(
        chain=[
            ChainEntry(
                subject=facts.subject,
                issuer=facts.issuer,
                thumbprint_sha1=facts.thumbprint,
                not_after=facts.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            for facts in map(certinfo.facts, chain)
        ],
        includes_root=len(chain) > 1 and certinfo.is_self_signed(chain[-1]),
        trusted=trust_error is None,
        trust_error=trust_error or "",
        name_match=hostnames.match_host(leaf, host).value,
        days_left=(leaf.not_valid_after_utc - now) // dt.timedelta(days=1),
        key_type=key_type(leaf.public_key()),
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
