"""Format-List output as forums show it (issue 13): a blank line after every line, lost
indentation, wrapped values, records cut short."""

from __future__ import annotations

from pathlib import Path

import pytest

from certward.errors import InteropError
from certward.interop import parse, read_format_list, split_collection
from certward.interop.dates import culture_order
from certward.model import Service

FIXTURES = Path(__file__).parent / "fixtures"


def _text(kind: str, name: str) -> str:
    return (FIXTURES / kind / name).read_text(encoding="utf-8")


def double_spaced(text: str, *, flush_left: bool = False) -> str:
    """What a forum makes of a paste: every line followed by a blank one (a blank line of
    the paste becomes three), optionally every line's indentation lost."""
    lines = [line.lstrip() if flush_left else line for line in text.splitlines()]
    return "".join(f"{line}\n\n" for line in lines)


def test_real_paste_double_spaced_reads_as_the_paste() -> None:
    text = _text("windows", "get-exchangecertificate-fl-en-AU-no-thumbprint.txt")
    (record,) = read_format_list(text)
    (spaced,) = read_format_list(double_spaced(text))
    assert spaced.fields == record.fields
    rules = split_collection(spaced.get("AccessRules") or "")
    assert rules.items == ("System.Security.AccessControl.CryptoKeyAccessRule",) * 4
    assert (spaced.line, spaced.index) == (7, 1)


@pytest.mark.parametrize("flush_left", [False, True])
def test_several_records_double_spaced(flush_left: bool) -> None:
    text = _text("built", "get-exchangecertificate-fl-en-US-renewal.txt")
    expected = parse(text).exchange_certificates
    spaced = parse(double_spaced(text, flush_left=flush_left)).exchange_certificates
    assert spaced == expected and len(spaced) == 4


def test_a_record_without_thumbprint_is_refused_naming_record_and_line() -> None:
    text = _text("built", "get-exchangecertificate-fl-en-US-renewal.txt")
    lines = text.splitlines()
    thumbprints = [i for i, line in enumerate(lines) if line.startswith("Thumbprint")]
    del lines[thumbprints[1]]  # the second record's
    with pytest.raises(InteropError) as refused:
        parse("\n".join(lines))
    assert refused.value.code.id == "dump.value_missing"
    message = refused.value.message
    assert message.startswith("Get-ExchangeCertificate record 2 at line 19 (Subject 'CN=webmail")
    assert "shows no Thumbprint" in message and "\n" not in message
    assert refused.value.facts == {"line": 19, "record": 2, "field": "Thumbprint"}
    with pytest.raises(InteropError, match="record 2 at line 37 "):
        parse(double_spaced("\n".join(lines)))


WRAPPED = """\
CertificateDomains : {mail.contoso.com, autodiscover.contoso.com, legacy.contoso.com,
                     owa.contoso.com}
HasPrivateKey      : True
IsSelfSigned       : False
Issuer             : CN=Contoso Issuing CA 01, DC=contoso, DC=com
NotAfter           : 3/14/2027 4:00:00 PM
NotBefore          : 3/14/2025 4:00:00 PM
Services           : IMAP, POP, IIS,
                     SMTP
Status             : Valid
Subject            : CN=mail.contoso.com
Thumbprint         : 0123456789ABCDEF0123456789ABCDEF01234567

Identity           : LON-EX01\\Default Frontend LON-EX01
Bindings           : {0.0.0.0:25}
RemoteIPRanges     : {0.0.0.0-255.255.255.255}
Server             : LON-EX01
TlsCertificateName : <I>CN=Contoso Issuing CA 01, DC=contoso, DC=com<S>CN=mail.contoso.
                     com
"""


@pytest.mark.parametrize("spacing", ["as printed", "double", "double, flush left"])
def test_wrapped_domains_services_and_tls_name(spacing: str) -> None:
    text = {
        "as printed": WRAPPED,
        "double": double_spaced(WRAPPED),
        "double, flush left": double_spaced(WRAPPED, flush_left=True),
    }[spacing]
    dump = parse(text, date_order=culture_order("en-US"))
    (cert,) = dump.exchange_certificates
    assert cert.certificate_domains == (
        "mail.contoso.com",
        "autodiscover.contoso.com",
        "legacy.contoso.com",
        "owa.contoso.com",
    )
    assert {s for s in Service if s in cert.services} == {
        Service.IMAP,
        Service.POP,
        Service.IIS,
        Service.SMTP,
    }
    (connector,) = dump.receive_connectors
    assert str(connector.tls_certificate_name) == (
        "<I>CN=Contoso Issuing CA 01, DC=contoso, DC=com<S>CN=mail.contoso.com"
    )


def test_a_connector_of_another_server_keeps_its_server() -> None:
    dump = parse(WRAPPED)
    (connector,) = dump.receive_connectors
    assert (connector.server, connector.identity) == (
        "LON-EX01",
        "LON-EX01\\Default Frontend LON-EX01",
    )
    assert connector.to_connector().servers == ("LON-EX01",)
