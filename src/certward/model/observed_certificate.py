"""A certificate as a real Windows/Exchange server's dumps showed it (certutil,
Get-ExchangeCertificate, Export-Clixml), for servers certward observes but does not run.

Names are kept as the .NET X500 strings Windows prints (most specific RDN first); an
observed certificate never has a private key in certward, whatever the server holds. A
module of its own (re-exported by :mod:`certward.model.observed`), so that reading a
certificate profile (``pki.profile``, the prober's start-up) does not build the
dataclasses of everything else a collection showed.
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
    key_size: int | None = None  # public key bits; None: no dump showed the key
    signature_algorithm: str | None = None
    serial_number: str = ""
    friendly_name: str = ""
    source: str = ""  # which dump it came from
    # certutil's "Archived!": hidden from Exchange (Get-ExchangeCertificate) and the rules.
    archived: bool = False
    # certutil's "Private key is NOT exportable" → False; "Private key is NOT plain text
    # exportable" (exportable in a PFX, not as plain text) → True; None: not shown.
    exportable: bool | None = None
    status: str | None = None  # Get-ExchangeCertificate's Status: Valid, Invalid, DateInvalid …
    public_key_algorithm: str | None = None  # "RSA", "ECC" (ECDSA/ECDH), "DSA"; None: not shown
    der: bytes | None = None  # the certificate itself, when a dump carried it (CliXML RawData)

    @property
    def self_issued(self) -> bool:
        return self.subject.casefold() == self.issuer.casefold()
