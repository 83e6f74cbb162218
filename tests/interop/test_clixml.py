"""The generic Export-Clixml reader, on HealthChecker's real CliXML (fixtures/clixml)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certward.errors import InteropError
from certward.interop.clixml import (
    MAX_DEPTH,
    ClixmlDict,
    ClixmlEnum,
    ClixmlObject,
    decode_text,
    looks_like_clixml,
    read_clixml,
)

FIXTURES = Path(__file__).parent / "fixtures" / "clixml"
NS = 'xmlns="http://schemas.microsoft.com/powershell/2004/04"'


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def only(name: str) -> ClixmlObject:
    (obj,) = read_clixml(fixture(name), source=name)
    assert isinstance(obj, ClixmlObject)
    return obj


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.name)
def test_every_fixture_reads_to_objects(path: Path) -> None:
    objects = read_clixml(path.read_bytes(), source=path.name)
    assert objects
    assert all(isinstance(o, ClixmlObject) and o.type_names for o in objects)


def test_exchange_server_properties_enums_dates_and_nested_objects() -> None:
    server = only("e19-GetExchangeServer.xml")
    assert server.is_a("Microsoft.Exchange.Data.Directory.Management.ExchangeServer")
    assert server.type_names[0].startswith("Deserialized.")
    assert server.get("fqdn") == "Solo-E19A.Solo.com"  # case-insensitive, as PowerShell
    role = server.get("ServerRole")
    assert isinstance(role, ClixmlEnum)
    assert str(role) == "Mailbox" and role.names == ("Mailbox",)
    assert server.get("IsEdgeServer") is False
    created = server.get("WhenCreated")
    assert created == dt.datetime(
        2019, 12, 3, 14, 44, 44, tzinfo=dt.timezone(dt.timedelta(hours=-8))
    )
    version = server.get("AdminDisplayVersion")
    assert isinstance(version, ClixmlObject)
    assert str(version) == "Version 15.2 (Build 986.5)"
    assert (version.get("Major"), version.get("Build"), version.get("Revision")) == (15, 986, 5)
    assert server.get("CurrentDomainControllers") == ("Solo-DC1.Solo.com",)


def test_certificate_raw_data_is_the_der() -> None:
    (auth, *_rest) = read_clixml(fixture("e19-GetExchangeCertificate.xml"), source="x")
    raw = auth.get("RawData")
    assert isinstance(raw, bytes) and raw[:2] == b"\x30\x82"
    assert auth.get("PSComputerName") == "solo-e19a.solo.com"  # from <MS>
    assert "[Thumbprint]\r\n  C3EDCF181EF4F9B53D01768ECA99564014BCA6E7" in str(auth)


def test_hashtables_read_as_dicts() -> None:
    tls = only("e19-GetAllTlsSettings.xml")
    registry = tls.get("Registry")
    assert isinstance(registry, ClixmlObject)
    versions = registry.get("TLS")
    assert isinstance(versions, ClixmlDict)
    assert "1.2" in versions and "1.2" in set(versions.keys())
    assert versions.get("1.2").get("ServerEnabledValue") is not None


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8"])
def test_reads_the_encodings_powershell_writes(encoding: str) -> None:
    text = fixture("e19-GetAuthConfig.xml").decode("utf-8-sig")
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (auth,) = read_clixml(data, source="auth.xml")
    assert auth.get("CurrentCertificateThumbprint") == "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"
    assert looks_like_clixml(decode_text(data, source="auth.xml"))


def test_a_ref_shares_the_object_it_names() -> None:
    data = f"""<?xml version="1.0" encoding="utf-16"?>
<Objs Version="1.1.0.1" {NS}>
  <Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN>
    <MS><Obj N="A" RefId="1"><TNRef RefId="0" /><MS><S N="X">x</S><Nil N="Y" /></MS></Obj>
        <Ref N="B" RefId="1" /></MS></Obj>
</Objs>""".encode()
    (obj,) = read_clixml(data, source="ref.xml")
    assert obj.get("A") is obj.get("B")
    assert obj.get("A").get("X") == "x" and "Y" in obj.get("A") and obj.get("A").get("Y") is None


def test_refs_that_would_expand_exponentially_are_refused_quickly() -> None:
    """40 lists, each holding two <Ref>s to the one before: 2**40 values if walked."""
    inner = (
        '<Obj N="L0" RefId="0"><TN RefId="0"><T>System.Object[]</T></TN><LST><S>x</S></LST></Obj>'
    )
    for i in range(1, 40):
        inner += (
            f'<Obj N="L{i}" RefId="{i}"><TNRef RefId="0"/>'
            f'<LST><Ref RefId="{i - 1}"/><Ref RefId="{i - 1}"/></LST></Obj>'
        )
    data = f'<Objs {NS}><Obj RefId="99"><TN RefId="1"><T>X</T></TN><MS>{inner}</MS></Obj></Objs>'
    with pytest.raises(InteropError) as caught:
        read_clixml(data.encode(), source="fan.xml")
    assert caught.value.code.id == "clixml.unsafe" and "fan.xml" in caught.value.message


@pytest.mark.parametrize(
    ("data", "code", "said"),
    [
        (b"<Objs><Obj", "clixml.malformed", "line 1"),
        (b"<root/>", "clixml.malformed", "does not start with <Objs>"),
        (f"<Objs {NS}><I32>x</I32></Objs>".encode(), "clixml.malformed", "not what"),
        (f'<Objs {NS}><Ref RefId="3"/></Objs>'.encode(), "clixml.malformed", "RefId"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><Objs/>', "clixml.unsafe", "DOCTYPE"),
        (
            b'<?xml version="1.0"?><!DOCTYPE Objs [<!ENTITY l0 "ha"><!ENTITY l1 "&l0;&l0;">]>'
            b"<Objs>&l1;</Objs>",
            "clixml.unsafe",
            "DOCTYPE",
        ),
        (f"<Objs {NS}>".encode() + b"<Obj>" * (MAX_DEPTH + 1), "clixml.unsafe", "deeper"),
        (b"\xff\xfe<\x00\x00\xd8", "clixml.undecodable", "UTF-16-LE"),
    ],
)
def test_damaged_or_hostile_input_is_one_coded_error(data: bytes, code: str, said: str) -> None:
    with pytest.raises(InteropError) as caught:
        read_clixml(data, source="damaged.xml")
    assert caught.value.code.id == code
    assert "damaged.xml" in caught.value.message and said in caught.value.message
    assert "\n" not in caught.value.message
