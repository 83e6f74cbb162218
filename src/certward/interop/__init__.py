"""Windows and Exchange artefacts: what real servers print, parsed (no I/O).

``parse(text)`` recognises a dump by its content (``detect``) and returns an
:class:`ObservedDump`: ``certutil [-v] -store`` output (:mod:`.certutil`), or the
``Format-List`` output of Get-ExchangeCertificate, Get-ReceiveConnector, Get-SendConnector,
Get-AuthConfig and Get-TransportService, all read by one Format-List reader
(:mod:`.formatlist`). ``parse_bytes(data, source=…)`` takes a file's bytes as PowerShell
wrote them and also reads ``Export-Clixml`` files (:mod:`.clixml`, mapped by
:mod:`.clixml_objects`). Every result is a frozen dataclass; ``to_observed`` /
``to_connector`` / ``to_auth_config`` map them to certward's model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certward.interop.certutil import (
        CertutilCertificate,
        CertutilDump,
        KeyKind,
        KeyProviderInfo,
        parse_certutil,
    )
    from certward.interop.clixml import ClixmlObject, read_clixml
    from certward.interop.clixml_objects import (
        EdgeSubscriptionEntry,
        ExchangeServerEntry,
        StoreCertificateEntry,
        parse_clixml,
    )
    from certward.interop.connectors import AddressSpace, ReceiveConnectorEntry, SendConnectorEntry
    from certward.interop.dates import DateOrder
    from certward.interop.dump import Format, ObservedDump, detect, parse, parse_bytes
    from certward.interop.exchange_certificate import ExchangeCertificateEntry
    from certward.interop.formatlist import Collection, FlRecord, read_format_list, split_collection
    from certward.interop.transport import AuthConfigEntry, TransportServiceEntry

# The parsers load when first used: the health rules import the PowerShell writer from
# this package, and a command that reads no dump should not pay for the parsers.
_LAZY: dict[str, str] = {
    "ClixmlObject": "certward.interop.clixml",
    "EdgeSubscriptionEntry": "certward.interop.clixml_objects",
    "ExchangeServerEntry": "certward.interop.clixml_objects",
    "StoreCertificateEntry": "certward.interop.clixml_objects",
    "parse_bytes": "certward.interop.dump",
    "parse_clixml": "certward.interop.clixml_objects",
    "read_clixml": "certward.interop.clixml",
    "AddressSpace": "certward.interop.connectors",
    "AuthConfigEntry": "certward.interop.transport",
    "CertutilCertificate": "certward.interop.certutil",
    "CertutilDump": "certward.interop.certutil",
    "Collection": "certward.interop.formatlist",
    "DateOrder": "certward.interop.dates",
    "ExchangeCertificateEntry": "certward.interop.exchange_certificate",
    "FlRecord": "certward.interop.formatlist",
    "Format": "certward.interop.dump",
    "KeyKind": "certward.interop.certutil",
    "KeyProviderInfo": "certward.interop.certutil",
    "ObservedDump": "certward.interop.dump",
    "ReceiveConnectorEntry": "certward.interop.connectors",
    "SendConnectorEntry": "certward.interop.connectors",
    "TransportServiceEntry": "certward.interop.transport",
    "detect": "certward.interop.dump",
    "parse": "certward.interop.dump",
    "parse_certutil": "certward.interop.certutil",
    "read_format_list": "certward.interop.formatlist",
    "split_collection": "certward.interop.formatlist",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AddressSpace",
    "AuthConfigEntry",
    "CertutilCertificate",
    "CertutilDump",
    "ClixmlObject",
    "Collection",
    "DateOrder",
    "EdgeSubscriptionEntry",
    "ExchangeCertificateEntry",
    "ExchangeServerEntry",
    "FlRecord",
    "Format",
    "KeyKind",
    "KeyProviderInfo",
    "ObservedDump",
    "ReceiveConnectorEntry",
    "SendConnectorEntry",
    "StoreCertificateEntry",
    "TransportServiceEntry",
    "detect",
    "parse",
    "parse_bytes",
    "parse_certutil",
    "parse_clixml",
    "read_clixml",
    "read_format_list",
    "split_collection",
]
