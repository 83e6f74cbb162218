"""``Export-Clixml`` files read back into plain frozen values (no I/O).

An ``Export-Clixml`` file is ``<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/
powershell/2004/04">`` holding one ``<Obj>`` (or primitive) per object the pipeline wrote.
Windows PowerShell writes it in UTF-16 LE with a BOM; copies often end up UTF-8.

The PowerShell serialisation itself (``<Ref RefId>``, ``<TNRef>``, ``<MS>``, ``<Props>``,
``<LST>``, ``<DCT>``, ``<BA>``, ``<DT>``, ``<Nil/>``, ``<ToString>``, enums) is decoded by
``psrpcore`` (:func:`psrpcore.types.deserialize_clixml`), the maintained PowerShell Remoting
Protocol implementation, which reads the CliXML HealthChecker saves as it is. Before it sees
the text, an expat pass refuses what Export-Clixml never writes and a hostile file would: a
DOCTYPE (so no entity can be declared, expanded or fetched), entity declarations, nesting
deeper than :data:`MAX_DEPTH`, more than :data:`MAX_CHARS` characters. Its result is then
copied into the frozen types below (:class:`ClixmlObject`, :class:`ClixmlDict`,
:class:`ClixmlEnum`, tuples and Python primitives), sharing what ``<Ref>`` shares, so a
caller never touches ``psrpcore``'s mutable objects.
"""

from __future__ import annotations

import binascii
import codecs
import datetime as dt
import decimal
import uuid
import xml.etree.ElementTree
import xml.parsers.expat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from psrpcore.types import PSCryptoProvider, PSObject, deserialize_clixml

from certward.codes.clixml import CLIXML_MALFORMED, CLIXML_UNDECODABLE, CLIXML_UNSAFE

__all__ = [
    "MAX_CHARS",
    "MAX_DEPTH",
    "MAX_EXPANDED",
    "ClixmlDict",
    "ClixmlEnum",
    "ClixmlObject",
    "Value",
    "decode_text",
    "looks_like_clixml",
    "plain_type_name",
    "read_clixml",
    "read_clixml_text",
]

MAX_DEPTH = 64  # HealthChecker's deepest files nest about 20 elements
MAX_CHARS = 64 * 1024 * 1024  # a whole organisation's Get-ReceiveConnector is a few MB
# Values a file may stand for once every <Ref> is expanded: a reader walking the values
# (rendering a list, say) must not be made to walk 2**40 of them by 40 nested lists of two
# <Ref>s each. An object of HealthChecker's files expands to a few hundred.
MAX_EXPANDED = 2_000_000
_PREFIXES = ("Deserialized.", "Selected.")

# A value as read: None (<Nil/>), bool, int, float, Decimal, str (also <URI>, <G>, <C>…),
# bytes (<BA>), datetime (<DT>, with its offset), timedelta (<TS>), a tuple (<LST>, <IE>,
# <QUE>, <STK>), a ClixmlDict (<DCT>), a ClixmlEnum or a ClixmlObject.
Value = Any


@dataclass(frozen=True, slots=True)
class ClixmlEnum:
    """An enum value: its number and its name(s) as ``<ToString>`` printed them
    (``"Mailbox"``; flags ``"Mailbox, ClientAccess"``)."""

    value: int
    text: str
    type_names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class ClixmlDict:
    """A ``<DCT>`` (hashtable): its entries in file order."""

    items: tuple[tuple[Value, Value], ...] = ()

    def get(self, key: object, default: Value = None) -> Value:
        folded = key.casefold() if isinstance(key, str) else key
        for k, v in self.items:
            if (k.casefold() if isinstance(k, str) else k) == folded:
                return v
        return default

    def __contains__(self, key: object) -> bool:
        marker = object()
        return self.get(key, marker) is not marker

    def keys(self) -> tuple[Value, ...]:
        return tuple(k for k, _ in self.items)

    def values(self) -> tuple[Value, ...]:
        return tuple(v for _, v in self.items)


@dataclass(frozen=True, slots=True)
class ClixmlObject:
    """One ``<Obj>``: its type names (most derived first, as psrpcore reports them, with
    ``Deserialized.`` in front of a deserialised .NET type), its properties (adapted
    ``<Props>`` then extended ``<MS>``, names as written) and its ``<ToString>``."""

    type_names: tuple[str, ...]
    properties: tuple[tuple[str, Value], ...] = ()
    to_string: str | None = None
    _index: Mapping[str, Value] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Value] = {}
        for name, value in self.properties:
            index.setdefault(name.casefold(), value)
        object.__setattr__(self, "_index", index)

    def __contains__(self, name: str) -> bool:
        return name.casefold() in self._index

    def get(self, name: str, default: Value = None) -> Value:
        """The property ``name`` (case-insensitive, as PowerShell looks it up)."""
        return self._index.get(name.casefold(), default)

    @property
    def names(self) -> frozenset[str]:
        """The property names, case-folded."""
        return frozenset(self._index)

    @property
    def plain_type_names(self) -> tuple[str, ...]:
        """The type names without ``Deserialized.`` / ``Selected.`` prefixes."""
        return tuple(plain_type_name(name) for name in self.type_names)

    def is_a(self, type_name: str) -> bool:
        folded = type_name.casefold()
        return any(name.casefold() == folded for name in self.plain_type_names)

    def __str__(self) -> str:
        return self.to_string if self.to_string is not None else ""


def plain_type_name(name: str) -> str:
    """``Deserialized.Selected.Microsoft.…Certificate`` → ``Microsoft.…Certificate``."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                stripped = True
    return name


# -- text ---------------------------------------------------------------------------------------
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, *, source: str) -> str:
    """``data`` as PowerShell writes text files: UTF-8 with or without a BOM, UTF-16 LE/BE
    with a BOM (``Out-File`` and ``Export-Clixml`` in Windows PowerShell), or UTF-16
    without one when the NUL bytes say so."""
    encoding = "utf-8"
    body = data
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, body = name, data[len(bom) :]
            break
    else:
        head = data[:200]
        if len(head) >= 2 and head.count(0) * 3 >= len(head):
            odd_nuls = head[1::2].count(0)
            even_nuls = head[0::2].count(0)
            encoding = "utf-16-le" if odd_nuls >= even_nuls else "utf-16-be"
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise CLIXML_UNDECODABLE(
            f"{source}: not {encoding.upper()} text (byte {exc.start} cannot be decoded); "
            "save the output as UTF-8 or UTF-16",
            source=source,
            encoding=encoding,
            offset=exc.start,
        ) from None


def _strip_declaration(text: str) -> str:
    text = text.lstrip("\ufeff \t\r\n")
    if text.startswith("#< CLIXML"):
        text = text[len("#< CLIXML") :].lstrip("\r\n \t")
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :].lstrip(" \t\r\n") if end >= 0 else text
    return text


def looks_like_clixml(text: str) -> bool:
    """Whether ``text`` starts (after a BOM, whitespace and an XML declaration) with ``<Objs``."""
    return _strip_declaration(text[:4096]).startswith("<Objs")


# -- safety pass --------------------------------------------------------------------------------
class _Refused(Exception):
    def __init__(self, message: str, *, unsafe: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unsafe = unsafe


def _check_safe(text: str, source: str) -> None:
    if len(text) > MAX_CHARS:
        raise CLIXML_UNSAFE(
            f"{source}: {len(text)} characters of CliXML, more than certward reads "
            f"({MAX_CHARS}); export fewer objects per file",
            source=source,
            size=len(text),
        )
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0

    def doctype(*_: object) -> None:
        raise _Refused("a DOCTYPE (Export-Clixml writes none; a DTD could declare entities)")

    def entity(name: str, *_: object) -> None:
        raise _Refused(f"an entity declaration ({name!r})")

    def start(name: str, _attrs: object) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH} (at <{name}>)")

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = entity  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        raise CLIXML_UNSAFE(
            f"{source}: line {parser.CurrentLineNumber}: {exc.message}; certward does not read it",
            source=source,
            line=parser.CurrentLineNumber,
        ) from None
    except xml.parsers.expat.ExpatError as exc:
        raise CLIXML_MALFORMED(
            f"{source}: line {exc.lineno} column {exc.offset + 1}: not well-formed XML "
            f"({xml.parsers.expat.ErrorString(exc.code)})",
            source=source,
            line=exc.lineno,
            column=exc.offset + 1,
        ) from None


# -- conversion ---------------------------------------------------------------------------------
class _Convert:
    """psrpcore's objects → frozen values; an object ``<Ref>``-ed twice is converted once."""

    def __init__(self) -> None:
        self.done: dict[int, Value] = {}
        self.busy: set[int] = set()
        self.keep: list[object] = []  # keeps ids stable while converting
        self.sizes: dict[int, int] = {}  # id of a converted container → values it expands to

    def size(self, value: Value) -> int:
        return self.sizes.get(id(value), 1)

    def sized(self, result: Value, children: Iterable[Value]) -> Value:
        total = 1 + sum(self.size(child) for child in children)
        if total > MAX_EXPANDED:
            raise _Refused(
                f"shared <Ref>s make it stand for more than {MAX_EXPANDED} values",
                unsafe=True,
            )
        self.sizes[id(result)] = total
        self.keep.append(result)
        return result

    def __call__(self, value: object) -> Value:
        if value is None or isinstance(value, bool):
            return value
        key = id(value)
        if key in self.done:
            return self.done[key]
        if key in self.busy:
            raise _Refused("an object refers to itself (<Ref> to an enclosing <Obj>)")
        self.busy.add(key)
        self.keep.append(value)
        try:
            result = self._convert(value, PSObject)
        finally:
            self.busy.discard(key)
        self.done[key] = result
        return result

    def _convert(self, value: object, ps_object: type) -> Value:
        meta = getattr(value, "PSObject", None) if isinstance(value, ps_object) else None
        type_names = tuple(str(n) for n in getattr(meta, "type_names", ()) or ())
        if isinstance(value, int) and meta is not None and _is_enum(type_names):
            text = getattr(meta, "to_string", None)
            return ClixmlEnum(
                int(value), str(text) if text is not None else str(int(value)), type_names
            )
        if isinstance(value, bool | int | float | decimal.Decimal):
            return _plain_number(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        if isinstance(value, dt.datetime):
            return dt.datetime(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                tzinfo=value.tzinfo,
            )
        if isinstance(value, dt.timedelta):
            return dt.timedelta(
                days=value.days, seconds=value.seconds, microseconds=value.microseconds
            )
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, dict):
            pairs = tuple((self(k), self(v)) for k, v in value.items())
            return self.sized(ClixmlDict(pairs), (x for pair in pairs for x in pair))
        if isinstance(value, list | tuple):
            items = tuple(self(item) for item in value)
            return self.sized(items, items)
        queue = getattr(value, "queue", None)
        if queue is not None:
            items = tuple(self(item) for item in list(queue))
            return self.sized(items, items)
        if meta is not None:
            return self._object(value, meta, type_names)
        return str(value)

    def _object(self, value: object, meta: Any, type_names: tuple[str, ...]) -> ClixmlObject:
        properties: list[tuple[str, Value]] = []
        for prop in [*meta.adapted_properties, *meta.extended_properties]:
            properties.append((str(prop.name), self(prop.get_value(value))))
        text = getattr(meta, "to_string", None)
        obj = ClixmlObject(type_names, tuple(properties), None if text is None else str(text))
        self.sized(obj, (v for _, v in properties))
        return obj


def _is_enum(type_names: tuple[str, ...]) -> bool:
    return any(plain_type_name(name) == "System.Enum" for name in type_names)


def _plain_number(value: bool | int | float | decimal.Decimal) -> Value:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return decimal.Decimal(value)


class _NoSecrets(PSCryptoProvider):
    """SecureStrings in an Export-Clixml file are DPAPI-encrypted for the user who wrote them;
    certward reads none, so each reads as an empty string."""

    def decrypt(self, value: str) -> str:
        return ""

    def encrypt(self, value: str) -> str:
        return ""


# psrpcore raises these for an element that is not what Export-Clixml writes (an <I32>
# that is no number, a <Ref> to nothing, base64 that is not, …).
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    LookupError,
    OverflowError,
    ArithmeticError,
    binascii.Error,
    NotImplementedError,
    RecursionError,
    xml.etree.ElementTree.ParseError,
)


def read_clixml(data: bytes, *, source: str) -> tuple[Value, ...]:
    """The top-level objects of an ``Export-Clixml`` file, in file order.

    Raises a coded :class:`~certward.errors.InteropError`: ``clixml.undecodable`` (not
    UTF-8/UTF-16 text), ``clixml.unsafe`` (DTD, entities, too deep, too big) or
    ``clixml.malformed`` (not CliXML); every message names ``source``.
    """
    return read_clixml_text(decode_text(data, source=source), source=source)


def read_clixml_text(text: str, *, source: str) -> tuple[Value, ...]:
    """:func:`read_clixml` of text already decoded."""
    body = _strip_declaration(text)
    if body[:9].upper() == "<!DOCTYPE":
        _check_safe(body, source)  # refuses it, naming the line
    if not body.startswith("<Objs"):
        raise CLIXML_MALFORMED(
            f"{source}: does not start with <Objs>, so it is not an Export-Clixml file",
            source=source,
        )
    _check_safe(body, source)
    try:
        raw = deserialize_clixml(body, _NoSecrets())
        convert = _Convert()
        return tuple(convert(item) for item in raw)
    except _Refused as exc:
        refusal = CLIXML_UNSAFE if exc.unsafe else CLIXML_MALFORMED
        raise refusal(f"{source}: {exc.message}", source=source) from None
    except KeyError as exc:
        problem = (
            "an <Obj> or <TN> has no RefId attribute"
            if str(exc) == "'RefId'"
            else f"a <Ref> or <TNRef> names RefId {exc}, which no earlier element has"
        )
        raise CLIXML_MALFORMED(f"{source}: {problem}", source=source) from None
    except _DECODE_ERRORS as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CLIXML_MALFORMED(
            f"{source}: an element is not what Export-Clixml writes ({detail})",
            source=source,
        ) from None


def iter_objects(values: tuple[Value, ...]) -> Iterator[ClixmlObject]:
    """The :class:`ClixmlObject` among top-level values (a pipeline of primitives has none)."""
    for value in values:
        if isinstance(value, ClixmlObject):
            yield value
