"""Windows and Exchange artefacts: what real servers print, parsed (no I/O).

``parse(text)`` recognises a dump by its content (``detect``) and returns an
:class:`ObservedDump`: ``certutil [-v] -store`` output (:mod:`.certutil`), or the
``Format-List`` output of Get-ExchangeCertificate, Get-ReceiveConnector, Get-SendConnector,
Get-AuthConfig and Get-TransportService, all read by one Format-List reader
(:mod:`.formatlist`). Every result is a frozen dataclass; ``to_observed`` /
``to_connector`` / ``to_auth_config`` map them to certward's model.
"""

from certward.interop.certutil import (
    CertutilCertificate,
    CertutilDump,
    KeyKind,
    KeyProviderInfo,
    parse_certutil,
)
from certward.interop.connectors import AddressSpace, ReceiveConnectorEntry, SendConnectorEntry
from certward.interop.dates import DateOrder
from certward.interop.dump import Format, ObservedDump, detect, parse
from certward.interop.exchange_certificate import ExchangeCertificateEntry
from certward.interop.formatlist import Collection, FlRecord, read_format_list, split_collection
from certward.interop.transport import AuthConfigEntry, TransportServiceEntry

__all__ = [
    "AddressSpace",
    "AuthConfigEntry",
    "CertutilCertificate",
    "CertutilDump",
    "Collection",
    "DateOrder",
    "ExchangeCertificateEntry",
    "FlRecord",
    "Format",
    "KeyKind",
    "KeyProviderInfo",
    "ObservedDump",
    "ReceiveConnectorEntry",
    "SendConnectorEntry",
    "TransportServiceEntry",
    "detect",
    "parse",
    "parse_certutil",
    "read_format_list",
    "split_collection",
]
