"""What a real Windows/Exchange server printed about a certificate (certutil,
Get-ExchangeCertificate), for servers certward observes but does not run.

Names are kept as the .NET X500 strings Windows prints (most specific RDN first); an
observed certificate never has a private key in certward, whatever the server holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from certward.model.certificates import ServiceSet, StoreName, Thumbprint


@dataclass(frozen=True, slots=True)
class ObservedCertificate:
    server: str
    store: StoreName
    thumbprint: Thumbprint
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    dns_names: tuple[str, ...] = ()
    services: ServiceSet = field(default_factory=ServiceSet)
    has_private_key: bool = False  # on the real server; certward never holds it
    key_provider: str | None = None
    key_size: int | None = None
    signature_algorithm: str | None = None
    serial_number: str = ""
    friendly_name: str = ""
    source: str = ""  # which dump it came from

    @property
    def self_issued(self) -> bool:
        return self.subject.casefold() == self.issuer.casefold()
