"""PowerShell's ``Format-Table`` output (``| ft Name,InternalTransportCertificateThumbprint``,
as seed 004 runs it), read back into the same records as ``Format-List``.

A table is a header line, a line of dashes under each column, and one row per object; a
column spans from the first dash of its run to the next run. The rows become
:class:`~certward.interop.formatlist.FlRecord` objects, so every cmdlet reader serves both
shapes. Values PowerShell cut to fit end in ``...`` and are kept as printed.
"""

from __future__ import annotations

import re

from certward.interop.formatlist import FlRecord, is_prompt

_DASHES = re.compile(r"-+")


def looks_like_table(text: str) -> bool:
    """A header line followed by a line of dash runs, one per header word."""
    return _table_lines(text) is not None


def table_rows(text: str) -> tuple[FlRecord, ...] | None:
    """The rows when ``text`` looks like a table (:func:`looks_like_table`), else None."""
    lines = _table_lines(text)
    return None if lines is None else _rows(lines)


def read_format_table(text: str) -> tuple[FlRecord, ...]:
    return _rows(_content_lines(text))


def _table_lines(text: str) -> list[tuple[int, str]] | None:
    lines = _content_lines(text)
    if (
        len(lines) >= 2
        and _is_rule(lines[1][1])
        and len(lines[0][1].split()) == len(_DASHES.findall(lines[1][1]))
    ):
        return lines
    return None


def _rows(lines: list[tuple[int, str]]) -> tuple[FlRecord, ...]:
    if len(lines) < 2 or not _is_rule(lines[1][1]):
        return ()
    header, rule = lines[0][1], lines[1][1]
    spans = [(m.start(), m.end()) for m in _DASHES.finditer(rule)]
    starts = [start for start, _ in spans]
    labels = [header[start:end].strip() for start, end in spans]
    records = []
    for number, row in lines[2:]:
        if _is_rule(row):
            continue
        cells = []
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else None
            cells.append(row[start:end].strip())
        records.append(FlRecord(tuple(zip(labels, cells, strict=True)), number))
    return tuple(records)


def _is_rule(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and set(stripped) <= {"-", " "}


def _content_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank lines that are not shell prompts, with their 1-based line numbers."""
    return [
        (number, line.rstrip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not is_prompt(line)
    ]
