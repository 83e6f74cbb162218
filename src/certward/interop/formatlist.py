"""PowerShell's ``Format-List`` output, read back into records of ``Label : value``.

What ``Format-List`` prints, and what this reader undoes:

* each object is a record: one ``Label : value`` line per property, the labels padded with
  spaces to the longest label of the object, so the values of a record start in one
  column; records are separated by blank lines;
* a value too long for the console is wrapped onto continuation lines indented to that
  column. A line cut at the full console width (mid-word too) is joined to its
  continuation as it is; a shorter one lost a blank at the cut (PowerShell word-wraps in
  some cultures, and pastes drop trailing blanks), which is put back. The width is the
  longest line of the dump unless the caller knows it;
* collections print as ``{a, b}``, cut short with ``...`` after ``$FormatEnumerationLimit``
  items (:func:`split_collection` says so); an empty property prints nothing after the
  colon.

Shell prompts pasted with the output (``[PS] C:\\Windows\\system32>Get-ExchangeCertificate
| fl``) and a common indentation of the whole paste are ignored.

Forum pastes: many forums double-space pasted text, so a blank line follows every
property (and every continuation line), and a lost indentation leaves a continuation
line flush left. A dump none of whose blank-separated blocks holds more than one
``Label : value`` line, with labels padded to a common column, is read as such a paste:
there a record ends at two or more blank lines in a row, or where a label of the record
being read comes again; a block that is no label continues the value before it.
"""

from __future__ import annotations

import re
from collections.abc import KeysView
from dataclasses import dataclass, field

from certward.codes.interop import DUMP_UNRECOGNISED, DUMP_VALUE_INVALID

__all__ = [
    "Collection",
    "FlRecord",
    "is_prompt",
    "parse_bool",
    "read_format_list",
    "split_collection",
]

_LABEL = re.compile(r"(?P<label>[A-Za-z][A-Za-z0-9_.]*)(?P<pad> +):(?: (?P<value>.*))?")
_PROMPT = re.compile(r"\s*(?:\[PS\]\s*|PS\s+)?[A-Za-z]:\\[^>\n]*>.*")


def is_prompt(line: str) -> bool:
    """A shell prompt line (``PS C:\\>``, ``[PS] C:\\Windows\\system32>``, ``C:\\>``)."""
    return _PROMPT.fullmatch(line) is not None


@dataclass(frozen=True, slots=True)
class FlRecord:
    """One object's properties, in the order printed; labels compare case-insensitively."""

    fields: tuple[tuple[str, str], ...]
    line: int  # 1-based line of the record's first label, for messages
    index: int = 0  # 1-based number of the record in its dump; 0: not counted
    # Lowercase label → value (the first printed, should a label repeat); from ``fields``.
    _values: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values: dict[str, str] = {}
        for key, value in self.fields:
            values.setdefault(key.lower(), value)
        object.__setattr__(self, "_values", values)

    def get(self, label: str) -> str | None:
        """The value of ``label``, or None when the record has no such property."""
        return self._values.get(label.lower())

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and label.lower() in self._values

    @property
    def labels(self) -> KeysView[str]:
        """The labels, lowercase."""
        return self._values.keys()


@dataclass(frozen=True, slots=True)
class Collection:
    """A collection value: its items, and whether PowerShell cut the list short."""

    items: tuple[str, ...]
    truncated: bool = False


def read_format_list(text: str, *, width: int | None = None) -> tuple[FlRecord, ...]:
    """Every record of a ``Format-List`` dump, continuation lines joined.

    ``width`` is the console width the dump was printed at; by default the longest line.
    """
    lines = [line.rstrip("\r\n") for line in text.splitlines()]
    shown = [bool(line.strip()) and not is_prompt(line) for line in lines]
    kept = [line for line, keep in zip(lines, shown, strict=True) if keep]
    base = _base_indent(kept)
    content = [_dedent(line, base) for line in kept]
    full = width if width is not None else max((len(line) for line in content), default=0)
    double = _double_spaced(lines, shown, base)
    records: list[FlRecord] = []
    fields: list[list[str]] = []  # [label, value] pairs of the record being read
    first_line = 0
    column = 0
    previous = 0  # length of the physical line the current value last came from
    blanks = 0  # blank (or prompt) lines in a row before this one
    for number, (raw, keep) in enumerate(zip(lines, shown, strict=True), start=1):
        if not keep:
            blanks += 1
            if not double or blanks >= 2:
                _close(records, fields, first_line)
                fields = []
            continue
        blanks = 0
        line = _dedent(raw, base)
        match = _label(line)
        repeated = match is not None and match.group("label").lower() in {
            label.lower() for label, _ in fields
        }
        if double and repeated:
            _close(records, fields, first_line)  # the next object of a forum paste
            fields = []
        if match is not None:
            if not fields:
                first_line = number
            fields.append([match.group("label"), match.group("value") or ""])
            column = match.end("pad") + 2
            previous = len(line)
            continue
        if not fields:
            raise DUMP_UNRECOGNISED(
                f"line {number}: {raw.strip()[:60]!r} is neither 'Label : value' nor the "
                "continuation of one",
                line=number,
            )
        more = _continuation(line, column)
        value = fields[-1][1]
        if previous < full and value and not value.endswith(" ") and not more.startswith(" "):
            value += " "  # the cut fell on a blank that is no longer there
        fields[-1][1] = value + more
        previous = len(line)
    _close(records, fields, first_line)
    return tuple(records)


def _label(line: str) -> re.Match[str] | None:
    return _LABEL.fullmatch(line) if not line[:1].isspace() else None


def _double_spaced(lines: list[str], shown: list[bool], base: int) -> bool:
    """A forum paste with a blank line after every line: two or more blocks of lines
    between blank lines, none of them with more than one label line, and a label padded
    to a longer one's column (``Issuer             :``), which only a record of several
    properties prints: single-property records, blank-separated, read as they are."""
    blocks: list[int] = []  # label lines per block
    aligned = False  # some label padded beyond its own length
    inside = False
    for line, keep in zip(lines, shown, strict=True):
        if not keep:
            inside = False
            continue
        if not inside:
            blocks.append(0)
            inside = True
        match = _label(_dedent(line, base))
        if match is not None:
            blocks[-1] += 1
            aligned = aligned or len(match.group("pad")) > 1
    return aligned and len(blocks) >= 2 and max(blocks) <= 1


def _dedent(line: str, base: int) -> str:
    return line[base:] if base == 0 or line[:base].isspace() else line.lstrip()


def _base_indent(lines: list[str]) -> int:
    """The indentation every label line shares (a paste indented as a whole); ``lines``
    are the non-blank lines that are not prompts."""
    indents = [len(line) - len(line.lstrip()) for line in lines if _LABEL.fullmatch(line.strip())]
    return min(indents, default=0)


def _continuation(line: str, column: int) -> str:
    if column and len(line) > column and line[:column].isspace():
        return line[column:]
    return line.lstrip()


def _close(records: list[FlRecord], fields: list[list[str]], first_line: int) -> None:
    if fields:
        values = tuple((k, v.strip()) for k, v in fields)
        records.append(FlRecord(values, first_line, len(records) + 1))


def split_collection(value: str) -> Collection:
    """``{a, b, c...}`` → items a, b, c, truncated; a bare value is a one-item list."""
    text = value.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    truncated = text.endswith("...")
    if truncated:
        text = text[:-3].rstrip()
    items = (item.strip() for item in text.split(","))
    return Collection(tuple(item for item in items if item), truncated)


def parse_bool(value: str | None) -> bool | None:
    """PowerShell's ``True``/``False``; None when empty or absent."""
    if value is None or not value.strip():
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "$true"):
        return True
    if lowered in ("false", "$false"):
        return False
    raise DUMP_VALUE_INVALID(f"expected True or False, got {value!r}", value=value)
