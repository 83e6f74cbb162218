"""What a certificate says about itself, recorded once per thumbprint (issue 16).

A thumbprint names one certificate, whose content never changes, so what the health rules
and a store listing read from it is worked out once, when the certificate enters the store,
and stored beside it (``certward.storage.facts_repo``): later readers rebuild a profile or a
view from these values without parsing the certificate or checking its signature again.

Plain values only (no cryptography objects): names as their DER encoding and their .NET
text, times in UTC. :data:`FACTS_FORMAT` names how they were worked out; a stored row of
another format is worked out again.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from certward.model.certificates import Thumbprint

FACTS_FORMAT = 1
"""The version of the rules that derive :class:`CertFacts` from a certificate."""


class CertFacts(NamedTuple):
    """A named tuple, not a frozen dataclass: health makes 20,000 at a time and a bulk store
    add 10,000, and a frozen dataclass takes five times as long to make (issue 16)."""

    thumbprint: Thumbprint
    subject: bytes  # the subject name, DER (as ``x509.Name.public_bytes`` encodes it)
    issuer: bytes
    subject_text: str  # the .NET form (``dotnet_x500``): what Get-ExchangeCertificate prints
    issuer_text: str
    common_name: str | None  # the most specific CN of the subject
    dns_names: tuple[str, ...]  # the SAN DNS names, in order
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool  # issuer = subject and its own key verifies its signature
    is_ca: bool
    version: int  # 1 or 3
    key_type: str  # RSA, EC, DSA, EdDSA, unknown
    key_size: int
    signature_algorithm: str  # Windows' short name ("sha256RSA")
    serial_number: str  # upper-case hex, at least two digits

    @property
    def certificate_domains(self) -> tuple[str, ...]:
        """Exchange's CertificateDomains: the SAN DNS names, else the subject CN."""
        if self.dns_names:
            return self.dns_names
        return (self.common_name,) if self.common_name else ()
