"""The trusted-issuer list a TLS server sends with a client-certificate request (seed 001).

In a TLS 1.2 CertificateRequest the ``certificate_authorities`` field is a 2-byte length
followed by, for each name, a 2-byte length and the DER of the CA's subject. Schannel caps
the list at 16,384 bytes: above it, the list is truncated and event 36885 is logged — and
the UM server of seed 001 then fails with ``TlsApiFailureException ... 0x80090301``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509

SCHANNEL_LIMIT = 16_384
WARNING_LIMIT = 12_288  # health: warn at three quarters of the limit


def encoded_size(names: Sequence[x509.Name]) -> int:
    """Bytes of the certificate_authorities field, length prefix included."""
    return encoded_size_of(name.public_bytes() for name in names)


def encoded_size_of(subjects: Iterable[bytes]) -> int:
    """:func:`encoded_size` of names given as their DER."""
    return 2 + sum(2 + len(der) for der in subjects)


@dataclass(frozen=True)
class IssuerList:
    names: tuple[x509.Name, ...]  # what is sent
    full_count: int
    full_size: int  # what it would take to send them all

    @property
    def size(self) -> int:
        return encoded_size(self.names)

    @property
    def truncated(self) -> bool:
        return len(self.names) < self.full_count


def trusted_issuer_list(
    roots: Sequence[x509.Certificate], *, limit: int | None = SCHANNEL_LIMIT
) -> IssuerList:
    """The subjects of the Root store, in store order, truncated like Schannel at ``limit``."""
    names = [root.subject for root in roots]
    full = encoded_size(names)
    if limit is None or full <= limit:
        return IssuerList(tuple(names), len(names), full)
    kept: list[x509.Name] = []
    size = 2
    for name in names:
        item = 2 + len(name.public_bytes())
        if size + item > limit:
            break
        kept.append(name)
        size += item
    return IssuerList(tuple(kept), len(names), full)
