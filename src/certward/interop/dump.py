"""One pasted dump in, recognised by its content, parsed into frozen dataclasses."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certward.codes.interop import (
    DUMP_AUTH_CONFIG_REPEATED,
    DUMP_EMPTY,
    DUMP_UNRECOGNISED,
)
from certward.errors import CertwardError, InteropError
from certward.interop import _fields as f
from certward.interop import connectors, exchange_certificate, transport
from certward.interop.certutil import (
    CertutilDump,
    looks_like_certutil,
    looks_verbose,
    parse_certutil,
)
from certward.interop.connectors import ReceiveConnectorEntry, SendConnectorEntry
from certward.interop.dates import DateOrder, infer_order
from certward.interop.exchange_certificate import ExchangeCertificateEntry
from certward.interop.formatlist import FlRecord, read_format_list
from certward.interop.formattable import table_rows
from certward.interop.transport import AuthConfigEntry, TransportServiceEntry
from certward.model import HybridConfiguration, IisBinding, TlsRegistry
from certward.model.vdirs import VirtualDirectory

if TYPE_CHECKING:
    from certward.interop.clixml_objects import (
        EdgeSubscriptionEntry,
        ExchangeServerEntry,
        StoreCertificateEntry,
    )

__all__ = ["Format", "ObservedDump", "detect", "parse", "parse_bytes"]


class Format(enum.StrEnum):
    """What a dump was recognised as (the command that printed it)."""

    CERTUTIL_STORE = "certutil -store"
    CERTUTIL_VERBOSE = "certutil -v -store"
    EXCHANGE_CERTIFICATE = "Get-ExchangeCertificate | Format-List"
    RECEIVE_CONNECTOR = "Get-ReceiveConnector | Format-List"
    SEND_CONNECTOR = "Get-SendConnector | Format-List"
    AUTH_CONFIG = "Get-AuthConfig | Format-List"
    TRANSPORT_SERVICE = "Get-TransportService | Format-List"
    # Export-Clixml files, one value per kind of object (interop.clixml_objects).
    EXCHANGE_CERTIFICATE_CLIXML = "Get-ExchangeCertificate | Export-Clixml"
    STORE_CERTIFICATE_CLIXML = "Get-ChildItem Cert:\\LocalMachine\\<store> | Export-Clixml"
    EXCHANGE_SERVER_CLIXML = "Get-ExchangeServer | Export-Clixml"
    RECEIVE_CONNECTOR_CLIXML = "Get-ReceiveConnector | Export-Clixml"
    SEND_CONNECTOR_CLIXML = "Get-SendConnector | Export-Clixml"
    AUTH_CONFIG_CLIXML = "Get-AuthConfig | Export-Clixml"
    TRANSPORT_SERVICE_CLIXML = "Get-TransportService | Export-Clixml"
    VIRTUAL_DIRECTORY_CLIXML = "Get-*VirtualDirectory | Export-Clixml"
    CLIENT_ACCESS_SERVICE_CLIXML = "Get-ClientAccessService | Export-Clixml"
    IIS_BINDING_CLIXML = "Get-WebBinding | Export-Clixml"
    TLS_SETTINGS_CLIXML = "HealthChecker's TLS settings | Export-Clixml"
    SCHANNEL_CLIXML = "SCHANNEL protocol settings | Export-Clixml"
    NET_TLS_CLIXML = ".NET Framework TLS settings | Export-Clixml"
    ROOT_AUTO_UPDATE_CLIXML = "DisableRootAutoUpdate | Export-Clixml"
    EDGE_SUBSCRIPTION_CLIXML = "Get-EdgeSubscription | Export-Clixml"
    HYBRID_CLIXML = "Get-HybridConfiguration | Export-Clixml"

    @property
    def clixml(self) -> bool:
        return self.value.endswith("| Export-Clixml")


@dataclass(frozen=True, slots=True)
class ObservedDump:
    """Everything one dump showed; only the parts of its format are filled.

    A Format-List file may hold the output of several of these cmdlets one after another;
    ``format`` is then its first record's, and ``formats`` names them all. So may an
    Export-Clixml file: the fields after ``table`` are filled from CliXML only.
    """

    format: Format
    formats: frozenset[Format]
    certutil: CertutilDump | None = None
    exchange_certificates: tuple[ExchangeCertificateEntry, ...] = ()
    receive_connectors: tuple[ReceiveConnectorEntry, ...] = ()
    send_connectors: tuple[SendConnectorEntry, ...] = ()
    auth_config: AuthConfigEntry | None = None
    transport_services: tuple[TransportServiceEntry, ...] = ()
    date_order: DateOrder | None = None
    table: bool = False  # printed by Format-Table rather than Format-List
    exchange_servers: tuple[ExchangeServerEntry, ...] = ()
    # Get-ChildItem Cert:\LocalMachine\Root (or CA, My): plain X509Certificate2 objects
    store_certificates: tuple[StoreCertificateEntry, ...] = ()
    # Get-*VirtualDirectory, and Get-ClientAccessService's Autodiscover URI as "autodiscover"
    virtual_directories: tuple[VirtualDirectory, ...] = ()
    iis_bindings: tuple[IisBinding, ...] = ()  # HTTPS bindings only
    tls_registry: TlsRegistry | None = None
    edge_subscriptions: tuple[EdgeSubscriptionEntry, ...] = ()
    hybrid: HybridConfiguration | None = None


# Checked in this order: a record is the first kind whose labels it has.
_KINDS = (
    (Format.AUTH_CONFIG, transport.is_auth_config),
    (Format.TRANSPORT_SERVICE, transport.is_transport_service),
    (Format.RECEIVE_CONNECTOR, connectors.is_receive_connector),
    (Format.SEND_CONNECTOR, connectors.is_send_connector),
    (Format.EXCHANGE_CERTIFICATE, exchange_certificate.is_exchange_certificate),
)
_DATE_LABELS = {
    Format.EXCHANGE_CERTIFICATE: exchange_certificate.DATE_LABELS,
    Format.AUTH_CONFIG: transport.AUTH_DATE_LABELS,
}


def _kind(record: FlRecord) -> Format:
    for kind, test in _KINDS:
        if test(record):
            return kind
    shown = ", ".join(label for label, _ in record.fields[:4])
    raise DUMP_UNRECOGNISED(
        f"record at line {record.line} ({shown}, ...) is none of "
        + ", ".join(kind.value for kind, _ in _KINDS),
        line=record.line,
    )


def detect(text: str) -> Format:
    """The format of ``text``, from its content alone."""
    if looks_like_certutil(text):
        return Format.CERTUTIL_VERBOSE if looks_verbose(text) else Format.CERTUTIL_STORE
    records, _ = _records(text)
    return _kind(records[0])


def _records(text: str) -> tuple[tuple[FlRecord, ...], bool]:
    """The records of a Format-List or Format-Table dump, and whether it was a table."""
    rows = table_rows(text)
    if rows is not None:
        if not rows:
            raise DUMP_EMPTY("a Format-Table header with no rows under it")
        return rows, True
    try:
        records = read_format_list(text)
    except InteropError as exc:
        raise DUMP_UNRECOGNISED(
            f"neither certutil output nor Format-List output: {exc.message}", **exc.facts
        ) from None
    if not records:
        raise DUMP_EMPTY("the text is empty: no certutil records, no Format-List records")
    return records, False


def parse(
    text: str, *, date_order: DateOrder | None = None, tz: dt.tzinfo = dt.UTC
) -> ObservedDump:
    """Parse a dump of any supported format (see :class:`Format`).

    Dates are read in the culture inferred from all of the dump's dates unless
    ``date_order`` says; they carry ``tz``, the server's time zone (dumps print local time
    with no offset). Raises :class:`~certward.errors.InteropError` for text that is none of
    the formats or holds a value that cannot be what the cmdlet prints.
    """
    if looks_like_certutil(text):
        dump = parse_certutil(text, date_order=date_order, tz=tz)
        kind = Format.CERTUTIL_VERBOSE if dump.verbose else Format.CERTUTIL_STORE
        return ObservedDump(kind, frozenset({kind}), certutil=dump, date_order=dump.date_order)
    records, table = _records(text)
    kinds = [_kind(record) for record in records]
    samples = [
        value
        for record, kind in zip(records, kinds, strict=True)
        for label in _DATE_LABELS.get(kind, ())
        if (value := f.text(record, label)) is not None
    ]
    order = date_order or (infer_order(samples) if samples else None)
    dates = f.Dates(order, tz)
    by_kind: dict[Format, list[FlRecord]] = {}
    for record, kind in zip(records, kinds, strict=True):
        by_kind.setdefault(kind, []).append(record)

    def of(kind: Format) -> list[FlRecord]:
        return by_kind.get(kind, [])

    auth = of(Format.AUTH_CONFIG)
    if len(auth) > 1:
        raise DUMP_AUTH_CONFIG_REPEATED(
            "more than one Get-AuthConfig record; the organisation has one",
            lines=[r.line for r in auth],
        )
    return ObservedDump(
        format=kinds[0],
        formats=frozenset(kinds),
        exchange_certificates=tuple(
            exchange_certificate.read(r, dates) for r in of(Format.EXCHANGE_CERTIFICATE)
        ),
        receive_connectors=tuple(connectors.read_receive(r) for r in of(Format.RECEIVE_CONNECTOR)),
        send_connectors=tuple(connectors.read_send(r) for r in of(Format.SEND_CONNECTOR)),
        auth_config=transport.read_auth_config(auth[0], dates) if auth else None,
        transport_services=tuple(
            transport.read_transport_service(r) for r in of(Format.TRANSPORT_SERVICE)
        ),
        date_order=order,
        table=table,
    )


def parse_bytes(
    data: bytes,
    *,
    source: str,
    date_order: DateOrder | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> ObservedDump:
    """Parse a file as a user hands it over: decoded as PowerShell writes text (UTF-8 with or
    without a BOM, UTF-16 LE/BE), then read as CliXML when it starts with ``<Objs`` (after a
    BOM, whitespace or an XML declaration), else by :func:`parse`.

    CliXML dates carry their own offset, so ``date_order`` and ``tz`` apply to text dumps
    only. Every error is coded, one line, and starts with ``source``.
    """
    from certward.interop.clixml import decode_text, looks_like_clixml

    text = decode_text(data, source=source)
    if looks_like_clixml(text):
        from certward.interop.clixml_objects import parse_clixml

        return parse_clixml(text, source=source)
    try:
        return parse(text, date_order=date_order, tz=tz)
    except CertwardError as exc:
        if exc.message.startswith(f"{source}: "):
            raise
        raise type(exc)(
            f"{source}: {exc.message}", code=exc.code, **{**exc.facts, "source": source}
        ) from None
