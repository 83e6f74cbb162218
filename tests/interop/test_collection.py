"""The collection zip reader: the manifest, and every way a hostile or damaged zip is refused
(one coded error naming the zip and the member, never a traceback)."""

from __future__ import annotations

import io
import json
import stat
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certward.errors import CertwardError
from certward.interop import collection
from certward.interop.collection import read_collection, read_manifest
from certward.interop.collector import MANIFEST, SCHEMA_VERSION
from certward.model.observed import Evidence

FIXTURES = Path(__file__).parent / "fixtures" / "collection"
FIRST = FIXTURES / "contoso-1.zip"


def manifest(files: Iterable[dict[str, Any]] = (), **overrides: Any) -> bytes:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "collected_at": "2026-11-02T09:30:00Z",
        "exchange_build": "Version 15.2 (Build 1544.4)",
        "culture": "en-GB",
        "collected_on": "EXCH01",
        "servers": ["EXCH01"],
        "files": list(files),
    }
    doc.update(overrides)
    return b"\xef\xbb\xbf" + json.dumps(doc).encode()


def entry(kind: str = "auth-config", server: str | None = None, **extra: Any) -> dict[str, Any]:
    where = f"servers/{server}/{kind}.xml" if server else f"organisation/{kind}.xml"
    return {"file": where, "kind": kind, "command": "Get-X", "server": server,
            "missing": False, "error": None, **extra}  # fmt: skip


def make_zip(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def refused(data: bytes) -> CertwardError:
    with pytest.raises(CertwardError) as info:
        read_collection(data, source="c.zip")
    assert "c.zip" in info.value.message
    assert "\n" not in info.value.message
    return info.value


def test_the_manifest_is_read() -> None:
    m = read_manifest(manifest([entry(), entry("root-store", "EXCH01", missing=True)]),
                      source="c.zip")  # fmt: skip
    assert m.schema_version == SCHEMA_VERSION
    assert m.culture == "en-GB" and m.collected_at.isoformat() == "2026-11-02T09:30:00+00:00"
    assert [e.kind.id for e in m.entries] == ["auth-config", "root-store"]
    assert m.entries[0].collected and not m.entries[1].collected
    assert m.entries[1].error  # a missing cmdlet is no file, and says why


def test_the_fixture_zip_is_laid_out_as_the_script_writes_it() -> None:
    with zipfile.ZipFile(FIRST) as archive:
        names = set(archive.namelist())
        m = read_manifest(archive.read(MANIFEST), source=str(FIRST))
        sample = archive.read("servers/EXCH01/exchange-certificate.xml")
    assert {e.file for e in m.entries if e.collected} | {MANIFEST} == names
    assert {e.server for e in m.entries} == {None, "EXCH01", "EXCH02", "EXCH03", "EDGE01"}
    assert any(e.missing for e in m.entries)
    assert sample.startswith(b"\xff\xfe<\x00O\x00b\x00j\x00s\x00")  # UTF-16 LE, BOM, <Objs
    text = sample.decode("utf-16")
    assert '<Objs Version="1.1.0.1"' in text
    assert "Selected.Microsoft.Exchange.Management.SystemConfigurationTasks." in text


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("../evil.xml", "climbs out"),
        ("organisation/../../evil.xml", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.xml", "absolute"),
        ("..\\evil.xml", "climbs out"),
    ],
)
def test_member_names_that_leave_the_zip_are_refused(name: str, what: str) -> None:
    error = refused(make_zip((MANIFEST, manifest()), (name, b"x")))
    assert error.code.id == "collection.member_unsafe"
    assert what in error.message and repr(name) in error.message


def test_a_symbolic_link_is_refused() -> None:
    link = zipfile.ZipInfo("organisation/auth-config.xml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refused(make_zip((MANIFEST, manifest([entry()])), (link, b"/etc/passwd")))
    assert error.code.id == "collection.member_unsafe" and "link" in error.message


@pytest.mark.parametrize("other", ["a.xml", "A.xml", "./a.xml"])
def test_a_name_twice_is_refused(other: str) -> None:
    with warnings.catch_warnings():  # zipfile warns about the duplicate it is asked to write
        warnings.simplefilter("ignore", UserWarning)
        data = make_zip((MANIFEST, manifest()), ("a.xml", b"1"), (other, b"2"))
    error = refused(data)
    assert error.code.id == "collection.member_unsafe" and "twice" in error.message


def test_too_many_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collection, "MAX_FILES", 3)
    error = refused(make_zip(*((f"f{i}", b"") for i in range(4))))
    assert error.code.id == "collection.too_large"


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = make_zip((MANIFEST, manifest()), ("organisation/auth-config.xml",
                                              b"\0" * (collection.MAX_FILE_BYTES + 1)))  # fmt: skip
    assert len(bomb) < 100_000
    error = refused(bomb)
    assert error.code.id == "collection.too_large"
    assert "organisation/auth-config.xml" in error.message


def test_a_member_larger_than_its_header_says_is_not_unpacked_past_the_cap() -> None:
    data = bytearray(make_zip((MANIFEST, manifest([entry()])),
                              ("organisation/auth-config.xml", b"<Objs/>" * 1000)))  # fmt: skip
    # lie in the central directory: the member claims to be 7 bytes
    at = data.rfind(b"PK\x01\x02")
    data[at + 24 : at + 28] = (7).to_bytes(4, "little")
    seen: list[int] = []

    def parse(content: bytes, where: str, order: object) -> Any:
        seen.append(len(content))
        raise CertwardError("stop")

    with pytest.raises(CertwardError):
        read_collection(bytes(data), source="c.zip", parse=parse)
    assert all(n <= 7 for n in seen)  # never more than the header allows


@pytest.mark.parametrize(
    ("members", "code"),
    [
        ((), "collection.manifest_missing"),
        (((MANIFEST, b"{not json"),), "collection.manifest_invalid"),
        (((MANIFEST, b"[]"),), "collection.manifest_invalid"),
        (((MANIFEST, manifest(schema_version=2)),), "collection.schema_unknown"),
        (((MANIFEST, manifest(schema_version="1")),), "collection.manifest_invalid"),
        (((MANIFEST, manifest(collected_at="yesterday")),), "collection.manifest_invalid"),
        (((MANIFEST, manifest([entry("format-c")])),), "collection.kind_unknown"),
        (((MANIFEST, manifest([entry("auth-config", "EXCH01")])),), "collection.manifest_invalid"),
        (((MANIFEST, manifest([entry("root-store")])),), "collection.manifest_invalid"),
        (((MANIFEST, manifest([{**entry(), "file": "elsewhere.xml"}])),),
         "collection.manifest_invalid"),
        (((MANIFEST, manifest([entry(), entry()])),), "collection.manifest_invalid"),
        (((MANIFEST, manifest([entry()])),), "collection.file_missing"),
        (((MANIFEST, manifest()), ("organisation/auth-config.xml", b"")),
         "collection.file_missing"),
        (((MANIFEST, manifest([entry(error="failed")])), ("organisation/auth-config.xml", b"")),
         "collection.file_missing"),
    ],
)  # fmt: skip
def test_a_manifest_that_is_not_the_collector_s_is_refused(
    members: tuple[tuple[str, bytes], ...], code: str
) -> None:
    assert refused(make_zip(*members)).code.id == code


def test_not_a_zip_is_refused() -> None:
    assert refused(b"certutil -store my\n").code.id == "collection.not_zip"
    assert refused(FIRST.read_bytes()[:5000]).code.id == "collection.not_zip"


def test_a_listed_file_that_is_not_its_command_s_output_names_the_member() -> None:
    error = refused(make_zip((MANIFEST, manifest([entry()])),
                             ("organisation/auth-config.xml", b"hello")))  # fmt: skip
    assert "organisation/auth-config.xml" in error.message
    assert error.facts["member"] == "organisation/auth-config.xml"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_damaged_collection_is_refused_with_an_error(data: st.DataObject) -> None:
    raw = bytearray(SMALL)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    try:
        read_collection(bytes(raw), source="c.zip")
    except CertwardError as exc:
        assert "\n" not in exc.message


SMALL = make_zip(
    (MANIFEST, manifest([entry("edge-subscription")])),
    ("organisation/edge-subscription.xml",
     '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"></Objs>'
     .encode("utf-16")),
)  # fmt: skip


def test_the_fixture_collection_is_read_whole() -> None:
    c = read_collection(FIRST.read_bytes(), source="contoso-1.zip")
    assert c.manifest.servers == ("EXCH01", "EXCH02", "EXCH03", "EDGE01")
    (servers,) = c.of("exchange-server")
    assert {s.name for s in servers.dump.exchange_servers} == set(c.manifest.servers)
    (certs,) = c.of("exchange-certificate", "EXCH01")
    assert certs.source == "contoso-1.zip:servers/EXCH01/exchange-certificate.xml"
    assert len(certs.dump.exchange_certificates) == 4
    (roots,) = c.of("root-store", "EXCH02")
    assert len(roots.dump.store_certificates) == 1
    (hybrid,) = c.of("hybrid-configuration")  # Export-Clixml of nothing: shown, and empty
    assert hybrid.dump.hybrid is None
    # What was shown: a cmdlet that failed (EDGE01's stores) or is missing is not evidence.
    assert Evidence.ROOT_STORE in c.evidence("EXCH01")
    assert Evidence.ROOT_STORE not in c.evidence("EDGE01")
    assert Evidence.EXCHANGE_CERTIFICATE in c.evidence("edge01")
    assert Evidence.VIRTUAL_DIRECTORIES in c.evidence("EXCH02")  # the vdirs, though not CAS
    assert not any(f.entry.kind.id == "client-access-service" and f.entry.server == "EXCH02"
                   for f in c.files)  # fmt: skip
    assert c.evidence(None) >= {Evidence.EXCHANGE_SERVER, Evidence.AUTH_CONFIG,
                                Evidence.SEND_CONNECTOR, Evidence.HYBRID_CONFIGURATION}  # fmt: skip


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
_FIELDS = ("schema_version", "collected_at", "exchange_build", "culture", "collected_on",
           "servers", "files")  # fmt: skip


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(_FIELDS), _JSON, st.data())
def test_a_manifest_with_any_value_anywhere_is_read_or_refused(
    field: str, value: object, data: st.DataObject
) -> None:
    doc = json.loads(manifest([entry(), entry("root-store", "EXCH01")]).decode("utf-8-sig"))
    if field == "files" and data.draw(st.booleans()):
        doc["files"][data.draw(st.integers(0, 1))][data.draw(st.sampled_from(
            ["file", "kind", "server", "missing", "error", "command"]))] = value  # fmt: skip
    else:
        doc[field] = value
    try:
        read_manifest(json.dumps(doc).encode(), source="c.zip")
    except CertwardError as exc:
        assert "c.zip" in exc.message and "\n" not in exc.message


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=300))
def test_manifest_bytes_are_read_or_refused(data: bytes) -> None:
    try:
        read_manifest(data, source="c.zip")
    except CertwardError as exc:
        assert "c.zip" in exc.message and "\n" not in exc.message


def test_a_file_holding_another_command_s_objects_is_refused() -> None:
    with zipfile.ZipFile(FIRST) as archive:
        certificates = archive.read("servers/EXCH01/exchange-certificate.xml")
    data = make_zip(
        (MANIFEST, manifest([entry("receive-connector", "EXCH01")])),
        ("servers/EXCH01/receive-connector.xml", certificates),
    )
    error = refused(data)
    assert error.code.id == "collection.file_invalid"
    assert "servers/EXCH01/receive-connector.xml" in error.message
    assert "Get-ExchangeCertificate" in error.message


def test_backslash_member_names_as_windows_powershell_5_writes_them() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(FIRST) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("/", "\\"), src.read(info))
    c = read_collection(out.getvalue(), source="ps51.zip")
    assert len(c.files) == len(read_collection(FIRST.read_bytes(), source="x").files)
