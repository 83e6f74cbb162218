"""Making keys, self-signed certificates and certificate requests the way Exchange does."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from certward.codes.pki import DOMAIN_INVALID, KEY_SIZE_UNSUPPORTED
from certward.pki.names import common_name

# Sizes New-ExchangeCertificate accepts for -KeySize; 2048 is its default.
KEY_SIZES = (1024, 2048, 3072, 4096)
DEFAULT_KEY_SIZE = 2048

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def validate_key_size(bits: int) -> int:
    """``bits`` when New-ExchangeCertificate accepts it; ``pki.key_size_unsupported`` (a
    ValueError too) otherwise."""
    if bits not in KEY_SIZES:
        allowed = ", ".join(str(size) for size in KEY_SIZES)
        raise KEY_SIZE_UNSUPPORTED(
            f"key size {bits} is not supported; use one of {allowed}", bits=bits
        )
    return bits


def generate_key(bits: int = DEFAULT_KEY_SIZE) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=validate_key_size(bits))


def validate_domain(name: str) -> str:
    """A DNS name as -DomainName accepts it: labels, optionally a left-most ``*``;
    ``pki.domain_invalid`` (a ValueError too) otherwise."""
    candidate = name.strip().rstrip(".")
    labels = candidate.split(".")
    if not candidate or len(candidate) > 253:
        raise DOMAIN_INVALID(f"invalid domain name {name!r}", domain=name)
    for index, label in enumerate(labels):
        if label == "*" and index == 0 and len(labels) > 1:
            continue
        if not _LABEL.fullmatch(label):
            raise DOMAIN_INVALID(f"invalid domain name {name!r}", domain=name)
    return candidate


def domains_with_cn(subject: x509.Name, domains: Sequence[str]) -> list[str]:
    """The SAN list Exchange writes: the subject's CN first unless given, then the domains.

    Duplicates (case-insensitive) are dropped; the CN is added only when it is a host name.
    """
    result: list[str] = []
    seen: set[str] = set()
    cn = common_name(subject)
    candidates = list(domains)
    if cn and cn.lower() not in {d.lower() for d in domains}:
        # A CN such as "Microsoft Exchange Server Auth Certificate" is no host name.
        with contextlib.suppress(ValueError):
            candidates.insert(0, validate_domain(cn))
    for domain in candidates:
        valid = validate_domain(domain)
        if valid.lower() not in seen:
            seen.add(valid.lower())
            result.append(valid)
    return result


def _san(domains: Sequence[str]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName([x509.DNSName(d) for d in domains])


def self_signed(
    key: rsa.RSAPrivateKey,
    subject: x509.Name,
    domains: Sequence[str],
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial_number: int | None = None,
) -> x509.Certificate:
    """A self-signed server certificate like Exchange's: SAN, server-auth EKU, SHA-256."""
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial_number or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if domains:
        builder = builder.add_extension(_san(domains), critical=False)
    return builder.sign(key, hashes.SHA256())


def certificate_request(
    key: rsa.RSAPrivateKey, subject: x509.Name, domains: Sequence[str]
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request with the subject in the given order and the domains as SANs."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if domains:
        builder = builder.add_extension(_san(domains), critical=False)
    return builder.sign(key, hashes.SHA256())
