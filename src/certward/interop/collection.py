"""A collection zip (``certward collector``'s script output) read safely: bytes in, no I/O.

The zip is untrusted: every member name is checked (no absolute path, no ``..``, no drive,
no link, no name twice), the number of members and their uncompressed sizes are capped
before anything is unpacked, and every member is unpacked with a cap on what it may inflate
to (a zip's declared sizes can lie). ``manifest.json`` must be the collector's, of a schema
this certward reads, and its list of files must be the zip's: a file listed but absent or
present but unlisted is refused. Every problem is one coded error naming the zip and the
member.

Each file is parsed with :func:`certward.interop.dump.parse_bytes` into the dump of its
kind, with the manifest's server; text files are read in the manifest's culture. A file must
hold its kind's objects only; an empty ``<Objs>`` (Export-Clixml of nothing) is an answer.

The zip (schema version 1)::

    manifest.json                          UTF-8 (a BOM allowed)
    organisation/<kind>.xml                the organisation-wide kinds, once
    servers/<SERVER>/<kind>.xml            the per-server kinds, for each server

    {"schema_version": 1, "collected_at": "2026-12-02T09:30:00Z",
     "exchange_build": "Version 15.2 (Build 1544.4)", "culture": "en-GB",
     "collected_on": "EXCH01", "servers": ["EXCH01", "EDGE01"],
     "files": [{"file": "servers/EXCH01/root-store.xml", "kind": "root-store",
                "command": "Get-ChildItem Cert:\\LocalMachine\\Root", "server": "EXCH01",
                "missing": false, "error": null}, ...]}

``missing``: the cmdlet does not exist where the script ran (an older Exchange); ``error``:
it failed (the message). Neither has a file, and neither is evidence. Member names may use
backslashes (Windows PowerShell 5.1's Compress-Archive writes them).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certward.codes.collection import (
    COLLECTION_FILE_INVALID,
    COLLECTION_FILE_MISSING,
    COLLECTION_KIND_UNKNOWN,
    COLLECTION_MANIFEST_INVALID,
    COLLECTION_MANIFEST_MISSING,
    COLLECTION_MEMBER_DAMAGED,
    COLLECTION_MEMBER_UNSAFE,
    COLLECTION_NOT_ZIP,
    COLLECTION_SCHEMA_UNKNOWN,
    COLLECTION_TOO_LARGE,
)
from certward.errors import CertwardError
from certward.interop.collector import MANIFEST, SCHEMA_VERSION, Kind, Scope, file_name, kind
from certward.model.observed import Evidence

if TYPE_CHECKING:
    from certward.interop.dates import DateOrder
    from certward.interop.dump import ObservedDump

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "CollectedFile",
    "Collection",
    "Manifest",
    "ManifestEntry",
    "read_collection",
    "read_manifest",
]

# A large organisation: 50 servers x 20 kinds; a Root store of 400 roots is under 2 MB of
# UTF-16 CliXML. Anything beyond these is not a collection.
MAX_FILES = 2_000
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# (content, source, date order) → the file's dump
Parser = Callable[[bytes, str, "DateOrder | None"], "ObservedDump"]


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file the script tried to write: its kind and server, and why it is not there."""

    file: str
    kind: Kind
    command: str
    server: str | None
    missing: bool = False  # the cmdlet does not exist on that Exchange (an older version)
    error: str | None = None  # the cmdlet failed (or is missing): no file

    @property
    def collected(self) -> bool:
        return self.error is None and not self.missing


@dataclass(frozen=True, slots=True)
class Manifest:
    schema_version: int
    collected_at: dt.datetime
    exchange_build: str | None
    culture: str | None
    collected_on: str | None
    servers: tuple[str, ...]
    entries: tuple[ManifestEntry, ...]


@dataclass(frozen=True, slots=True)
class CollectedFile:
    """One file of the collection, parsed: ``source`` is ``zip:member``."""

    entry: ManifestEntry
    source: str
    dump: ObservedDump


@dataclass(frozen=True, slots=True)
class Collection:
    source: str
    manifest: Manifest
    files: tuple[CollectedFile, ...]

    def evidence(self, server: str | None) -> frozenset[Evidence]:
        """What the collection showed for ``server`` (None: the organisation-wide outputs);
        a cmdlet that failed or was missing is not evidence."""
        shown: set[Evidence] = set()
        for f in self.files:
            owner = f.entry.server
            if (owner is None and server is None) or (
                owner is not None and server is not None and owner.lower() == server.lower()
            ):
                shown |= f.entry.kind.evidence
        return frozenset(shown)

    def of(self, kind_id: str, server: str | None = None) -> list[CollectedFile]:
        """The files of ``kind_id`` (for ``server`` when given)."""
        return [
            f
            for f in self.files
            if f.entry.kind.id == kind_id
            and (server is None or (f.entry.server or "").lower() == server.lower())
        ]


# -- the zip ---------------------------------------------------------------------------------
def _member_name(source: str, info: zipfile.ZipInfo) -> str:
    """The member's name, normalised (Windows PowerShell 5.1's Compress-Archive writes
    backslashes), or an error if it could land anywhere but inside the zip's directory."""
    raw = info.filename
    name = raw.replace("\\", "/")
    unsafe = None
    if "\x00" in name or any(ord(ch) < 32 for ch in name):
        unsafe = "holds a control character"
    elif name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        unsafe = "is an absolute path"
    elif ".." in name.split("/"):
        unsafe = "climbs out of the zip (..)"
    elif stat.S_ISLNK(info.external_attr >> 16):
        unsafe = "is a symbolic link"
    if unsafe is not None:
        raise COLLECTION_MEMBER_UNSAFE(
            f"{source}: member {raw!r} {unsafe}", file=source, member=raw
        )
    return posixpath.normpath(name) if not name.endswith("/") else name


def _open(data: bytes, source: str) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        OSError,
        ValueError,
        EOFError,
        struct.error,
    ) as exc:
        raise COLLECTION_NOT_ZIP(f"{source}: not a zip ({exc})", file=source) from None
    if len(infos) > MAX_FILES:
        raise COLLECTION_TOO_LARGE(
            f"{source}: {len(infos)} members; a collection has at most {MAX_FILES}",
            file=source,
            members=len(infos),
        )
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = _member_name(source, info)
        if name.endswith("/"):
            continue  # a directory entry
        key = name.casefold()  # Windows file names: one file whatever the case
        if key in {k.casefold() for k in members}:
            raise COLLECTION_MEMBER_UNSAFE(
                f"{source}: member {info.filename!r} appears twice", file=source, member=name
            )
        if info.file_size > MAX_FILE_BYTES:
            raise COLLECTION_TOO_LARGE(
                f"{source}: member {name!r} unpacks to {info.file_size} bytes; a collection's "
                f"file has at most {MAX_FILE_BYTES}",
                file=source,
                member=name,
            )
        total += info.file_size
        members[name] = info
    if total > MAX_TOTAL_BYTES:
        raise COLLECTION_TOO_LARGE(
            f"{source}: the members unpack to {total} bytes; a collection has at most "
            f"{MAX_TOTAL_BYTES}",
            file=source,
        )
    return archive, members


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, source: str, limit: int
) -> bytes:
    """The member's bytes, never more than ``limit`` whatever its header says."""
    try:
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, zlib.error,
            EOFError, ValueError, struct.error) as exc:  # fmt: skip
        raise COLLECTION_MEMBER_DAMAGED(
            f"{source}: member {name!r} cannot be unpacked ({exc})", file=source, member=name
        ) from None
    if len(data) > limit:
        raise COLLECTION_TOO_LARGE(
            f"{source}: member {name!r} unpacks to more than {limit} bytes", file=source,
            member=name,
        )  # fmt: skip
    return data


# -- the manifest ----------------------------------------------------------------------------
def _field(obj: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, types) or (isinstance(value, bool) and types is int):
        raise COLLECTION_MANIFEST_INVALID(
            f"{where}: {key!r} is {'missing' if key not in obj else 'not of the right type'}",
            field=key,
        )
    return value


def read_manifest(data: bytes, *, source: str) -> Manifest:
    """The manifest's JSON (UTF-8, with or without a BOM: Windows PowerShell writes one)."""
    where = f"{source}: {MANIFEST}"
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise COLLECTION_MANIFEST_INVALID(
            f"{where} is not JSON ({exc})".replace("\n", " "), file=source
        ) from None
    if not isinstance(doc, dict):
        raise COLLECTION_MANIFEST_INVALID(f"{where} is not a JSON object", file=source)
    version = _field(doc, "schema_version", int, where)
    if version != SCHEMA_VERSION:
        raise COLLECTION_SCHEMA_UNKNOWN(
            f"{where}: schema version {version}; this certward reads version {SCHEMA_VERSION}",
            file=source,
            schema_version=version,
        )
    stamp = _field(doc, "collected_at", str, where)
    try:
        collected_at = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise COLLECTION_MANIFEST_INVALID(
            f"{where}: collected_at {stamp!r} is not an ISO 8601 time", file=source
        ) from None
    if collected_at.tzinfo is None:
        collected_at = collected_at.replace(tzinfo=dt.UTC)
    build = (
        _field(doc, "exchange_build", (str, type(None)), where) if "exchange_build" in doc else None
    )
    culture = _field(doc, "culture", (str, type(None)), where) if "culture" in doc else None
    on = _field(doc, "collected_on", (str, type(None)), where) if "collected_on" in doc else None
    servers = _field(doc, "servers", list, where) if "servers" in doc else []
    if not all(isinstance(s, str) for s in servers):
        raise COLLECTION_MANIFEST_INVALID(f"{where}: 'servers' holds a non-string", file=source)
    entries = tuple(
        _entry(item, f"{where} files[{i}]", source)
        for i, item in enumerate(_field(doc, "files", list, where))
    )
    seen: set[str] = set()
    for e in entries:
        if e.file.casefold() in seen:
            raise COLLECTION_MANIFEST_INVALID(
                f"{where}: file {e.file!r} is listed twice", file=source, member=e.file
            )
        seen.add(e.file.casefold())
    return Manifest(
        schema_version=version,
        collected_at=collected_at,
        exchange_build=build,
        culture=culture or None,
        collected_on=on,
        servers=tuple(servers),
        entries=entries,
    )


def _entry(item: object, where: str, source: str) -> ManifestEntry:
    if not isinstance(item, dict):
        raise COLLECTION_MANIFEST_INVALID(f"{where} is not a JSON object", file=source)
    kind_id = _field(item, "kind", str, where)
    k = kind(kind_id)
    if k is None:
        raise COLLECTION_KIND_UNKNOWN(
            f"{where}: kind {kind_id!r} is none the collector writes", file=source, kind=kind_id
        )
    server = _field(item, "server", (str, type(None)), where) if "server" in item else None
    if (server is None) != (k.scope is Scope.ORGANISATION):
        scope = (
            "once for the organisation, not per server"
            if server
            else "per server, but no server is named"
        )
        raise COLLECTION_MANIFEST_INVALID(f"{where}: {kind_id} is collected {scope}", file=source)
    name = _field(item, "file", str, where).replace("\\", "/")
    if name != file_name(k.id, server):
        raise COLLECTION_MANIFEST_INVALID(
            f"{where}: file {name!r} is not where the collector writes {kind_id} "
            f"({file_name(k.id, server)!r})",
            file=source,
            member=name,
        )
    missing = item.get("missing", False)
    error = item.get("error")
    if not isinstance(missing, bool) or not isinstance(error, (str, type(None))):
        raise COLLECTION_MANIFEST_INVALID(
            f"{where}: 'missing' or 'error' is of the wrong type", file=source
        )
    command = _field(item, "command", str, where) if "command" in item else k.command
    return ManifestEntry(
        name, k, command, server, missing, error or ("missing" if missing else None)
    )


# -- the collection --------------------------------------------------------------------------
def read_collection(
    data: bytes,
    *,
    source: str,
    date_order: DateOrder | None = None,
    parse: Parser | None = None,
) -> Collection:
    """The collection in ``data`` (a zip), every file parsed.

    ``date_order`` overrides the manifest's culture for text files. ``parse`` is the
    per-file reader (default :func:`certward.interop.dump.parse_bytes`).
    """
    archive, members = _open(data, source)
    with archive:
        manifest_info = next((i for n, i in members.items() if n == MANIFEST), None)
        if manifest_info is None:
            raise COLLECTION_MANIFEST_MISSING(
                f"{source}: no {MANIFEST}; only a zip written by the certward collector "
                "can be observed",
                file=source,
            )
        manifest = read_manifest(
            _read_member(archive, manifest_info, MANIFEST, source, MAX_MANIFEST_BYTES),
            source=source,
        )
        listed = {e.file for e in manifest.entries if e.collected}
        for e in manifest.entries:
            if e.collected and e.file not in members:
                raise COLLECTION_FILE_MISSING(
                    f"{source}: the manifest lists {e.file!r}, which the zip does not hold",
                    file=source,
                    member=e.file,
                )
        for name in members:
            if name != MANIFEST and name not in listed:
                raise COLLECTION_FILE_MISSING(
                    f"{source}: member {name!r} is not in the manifest",
                    file=source,
                    member=name,
                )
        order = date_order or _culture_order(manifest.culture)
        reader = parse or _default_parser({f"{source}:{e.file}": e.kind for e in manifest.entries})
        files = []
        for e in manifest.entries:
            if not e.collected:
                continue
            content = _read_member(archive, members[e.file], e.file, source, MAX_FILE_BYTES)
            where = f"{source}:{e.file}"
            try:
                dump = reader(content, where, order)
            except CertwardError as exc:
                message = (
                    exc.message if exc.message.startswith(where) else f"{where}: {exc.message}"
                )
                raise exc.code(message, **{**exc.facts, "file": source, "member": e.file}) from None
            _check_kind(e, dump, where, source)
            files.append(CollectedFile(e, where, dump))
    return Collection(source, manifest, tuple(files))


def _check_kind(entry: ManifestEntry, dump: ObservedDump, where: str, source: str) -> None:
    """A file holds the objects of its kind only (a Get-ReceiveConnector file of
    certificates would put them in the wrong place)."""
    from certward.interop.dump import Format

    expected = Format(entry.kind.format)
    other = sorted(f.value for f in dump.formats if f is not expected)
    if other:
        raise COLLECTION_FILE_INVALID(
            f"{where}: holds {', '.join(other)} objects, not the output of {entry.command}",
            file=source,
            member=entry.file,
        )


def _culture_order(culture: str | None) -> DateOrder | None:
    """The manifest culture's date order; None (inferred from each text file) for a culture
    certward does not know: the collector's CliXML files carry their dates' form."""
    if not culture:
        return None
    from certward.interop.dates import culture_order

    try:
        return culture_order(culture)
    except CertwardError:
        return None


def _default_parser(kinds: Mapping[str, Kind]) -> Parser:
    from certward.codes.interop import DUMP_EMPTY
    from certward.interop.dump import Format, ObservedDump, parse_bytes

    def parse(content: bytes, where: str, order: DateOrder | None) -> ObservedDump:
        try:
            return parse_bytes(content, source=where, date_order=order)
        except CertwardError as exc:
            # Export-Clixml of no objects (no hybrid configuration, an empty CA store) is
            # an answer: the kind was collected and showed nothing.
            if exc.code is not DUMP_EMPTY or not content.strip():
                raise
            k = kinds[where]
            fmt = Format(k.format)
            return ObservedDump(fmt, frozenset({fmt}))

    return parse
