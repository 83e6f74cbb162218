"""The console's expiry timeline: one bar per certificate, grouped by server, as inline SVG
(pure; the page's CSS colours it).

No two pieces of text may overlap: each certificate's label sits in its own row of a
monospaced label column, cut to the characters that fit; the date of the view sits alone in
a row above the bars and the start and end dates in a row below them, the end date anchored
at the right edge.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass

from certward.health.engine import TimelineEntry

WIDTH = 960
ROW = 20
LABEL_WIDTH = 330
FONT_SIZE = 11
CHAR_WIDTH = 0.6 * FONT_SIZE  # a monospaced glyph's advance, with room to spare below
LABEL_CHARS = int((LABEL_WIDTH - 10) / (CHAR_WIDTH * 1.1))
DATE_WIDTH = 10 * CHAR_WIDTH * 1.1  # "2026-12-03"
SOON_DAYS = 60


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of the timeline."""

    server: str
    thumbprint: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    state: str  # expired, soon, ok, unused


def bars(entries: Sequence[TimelineEntry], as_of: dt.datetime) -> list[Bar]:
    """The rows, by server then expiry, each with its state at ``as_of``."""
    rows = []
    for e in sorted(entries, key=lambda e: (e.server.casefold(), e.not_after, e.thumbprint)):
        days = (e.not_after - as_of).total_seconds() / 86400
        state = (
            "unused"
            if not e.in_use
            else "expired"
            if days < 0
            else "soon"
            if days < SOON_DAYS
            else "ok"
        )
        rows.append(Bar(e.server, e.thumbprint, e.subject, e.not_before, e.not_after, state))
    return rows


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timeline_svg(entries: Sequence[TimelineEntry], as_of: dt.datetime) -> str:
    """The SVG (scaled to its container by its viewBox), or a sentence when there is nothing."""
    rows = bars(entries, as_of)
    if not rows:
        return "<p>No certificates.</p>"
    start = min(min(r.not_before for r in rows), as_of)
    end = max(max(r.not_after for r in rows), as_of)
    span = (end - start).total_seconds() or 1.0

    def x(when: dt.datetime) -> float:
        return LABEL_WIDTH + (WIDTH - LABEL_WIDTH - 4) * (when - start).total_seconds() / span

    top = ROW  # the row of the view's date
    height = top + ROW * len(rows) + ROW + 4
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-labelledby="timeline-title" font-size="{FONT_SIZE}">'
        f'<title id="timeline-title">Expiry timeline of {len(rows)} certificates, '
        f"{start:%Y-%m-%d} to {end:%Y-%m-%d}; today is {as_of:%Y-%m-%d}</title>"
    ]
    for i, row in enumerate(rows):
        y = top + ROW * i
        x0, x1 = x(row.not_before), x(row.not_after)
        label = _cut(f"{row.server} {row.subject}", LABEL_CHARS)
        parts.append(
            f'<text class="label" x="2" y="{y + 14}" font-family="monospace">{_e(label)}</text>'
            f'<rect class="bar {row.state}" x="{x0:.1f}" y="{y + 3}" '
            f'width="{max(x1 - x0, 2):.1f}" height="{ROW - 6}">'
            f"<title>{_e(row.server)} {_e(row.thumbprint)} {_e(row.subject)}: "
            f"{row.not_before:%Y-%m-%d} to {row.not_after:%Y-%m-%d} ({row.state})</title></rect>"
        )
    x_now = x(as_of)
    bottom = top + ROW * len(rows)
    # The view's date above the bars, kept inside the drawing.
    now_x = min(max(x_now - DATE_WIDTH / 2, LABEL_WIDTH), WIDTH - DATE_WIDTH)
    parts.append(
        f'<line class="now" x1="{x_now:.1f}" x2="{x_now:.1f}" y1="{top - 2}" y2="{bottom + 2}"/>'
        f'<text class="axis" x="{now_x:.1f}" y="{top - 6}" font-family="monospace">'
        f"{as_of:%Y-%m-%d}</text>"
        f'<text class="axis" x="{LABEL_WIDTH}" y="{bottom + 15}" font-family="monospace">'
        f"{start:%Y-%m-%d}</text>"
        f'<text class="axis" x="{WIDTH - 2}" y="{bottom + 15}" text-anchor="end" '
        f'font-family="monospace">{end:%Y-%m-%d}</text></svg>'
    )
    return "".join(parts)
