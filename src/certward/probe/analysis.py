"""Judging what a server presented (pure: ``now`` and the trust roots are parameters)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import service_identity
from cryptography import x509
from service_identity.cryptography import (
    verify_certificate_hostname,
    verify_certificate_ip_address,
)

from certward.pki import certinfo, clientca, hostnames
from certward.pki.names import dotnet_x500
from certward.pki.profile import key_type
from certward.probe import trust
from certward.probe.report import (
    CertificateReport,
    ChainEntry,
    ClientAuth,
    ClientAuthReport,
    NameMatch,
)
from certward.probe.targets import is_ip


def name_match(leaf: x509.Certificate, reference: str) -> NameMatch:
    """RFC 6125 by ``service_identity``: a DNS name against the DNS SANs, an IP address
    against the IP-address SANs. A DNS name found only in the subject CN (which RFC 6125
    clients no longer read, Schannel still does) is ``cn-only``; an address never is."""
    try:
        if is_ip(reference):
            verify_certificate_ip_address(leaf, reference)
        else:
            verify_certificate_hostname(leaf, reference)
    except (service_identity.VerificationError, service_identity.CertificateError):
        pass
    else:
        return NameMatch.SAN
    if not is_ip(reference) and hostnames.match_host(leaf, reference) is NameMatch.CN_ONLY:
        return NameMatch.CN_ONLY
    return NameMatch.NONE


def certificate_report(
    chain: Sequence[x509.Certificate],
    *,
    reference: str,
    now: dt.datetime,
    roots: Sequence[x509.Certificate] | trust.TrustAnchors,
) -> CertificateReport:
    """Trust (path validation to ``roots``, prepared once with ``trust.TrustAnchors`` when
    judging many) and the name (``reference``: the server name, or the IP address of a
    target given without one) are judged separately. A certificate with a part that cannot
    be read is ``pki.certificate_damaged``."""
    entries = tuple(map(_chain_entry, chain))
    leaf = chain[0]
    failure, words = trust.judge(leaf, intermediates=chain[1:], roots=roots, now=now)
    kind, size, hash_name = _leaf_facts(leaf)
    return CertificateReport(
        chain=entries,
        includes_root=len(chain) > 1 and trust.is_self_signed(chain[-1]),
        trust_failure=failure,
        trust_error=words,
        name_match=_name_match(leaf, reference),
        days_left=(leaf.not_valid_after_utc - now) // dt.timedelta(days=1),
        key_type=kind,
        key_size=size,
        signature_hash=hash_name,
        sha1_signature=hash_name in ("sha1", "md5"),
    )


# Kept for the run, as _chain_entry: what depends only on the certificate (and the name
# asked for) is judged once per distinct certificate, however many endpoints present it.
_name_match = functools.lru_cache(maxsize=1024)(name_match)


@functools.lru_cache(maxsize=1024)
def _leaf_facts(leaf: x509.Certificate) -> tuple[str, int, str]:
    """The key's type and size and the signature's hash ("none" without one)."""
    hash_algorithm = leaf.signature_hash_algorithm
    public_key = leaf.public_key()
    hash_name = hash_algorithm.name if hash_algorithm is not None else "none"
    return key_type(public_key), certinfo.key_size(public_key), hash_name


@functools.lru_cache(maxsize=1024)
def _chain_entry(cert: x509.Certificate) -> ChainEntry:
    """One certificate as sent, every part of it checked readable first (as every reader
    of certificates does), so judging it cannot stumble on a damaged part later. Kept for
    the run: endpoints share certificates (a wildcard, the CA's intermediates)."""
    der = certinfo.to_der(cert)
    thumbprint = certinfo.thumbprint(der)
    certinfo.check_readable(cert, source=f"certificate {thumbprint}")
    with certinfo.quietly():  # cryptography's warnings about tolerated defects, as there
        return ChainEntry(
            subject=dotnet_x500(cert.subject),
            issuer=dotnet_x500(cert.issuer),
            thumbprint_sha1=thumbprint,
            not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )


def client_auth_report(
    *, requested: bool, refused_without: bool, ca_names: Sequence[bytes]
) -> ClientAuthReport:
    """A request the server went on from without a certificate was optional; one it refused
    to go on from (``refused_without``: the handshake failed, or the server's alert said a
    certificate is required) was required. The size is that of the CertificateRequest's CA
    field."""
    if not requested:
        return ClientAuthReport()
    size = 2 + sum(2 + len(name) for name in ca_names)
    return ClientAuthReport(
        requested=ClientAuth.REQUIRED if refused_without else ClientAuth.OPTIONAL,
        ca_names_count=len(ca_names),
        ca_names_size=size,
        over_schannel_limit=size > clientca.SCHANNEL_LIMIT,
    )
