"""The timeline's SVG as text (pure): escaped, cut to fit, states by date. Its drawn text is
checked for overlaps in the browser (test_console)."""

from __future__ import annotations

import datetime as dt
import re

from certward.health.engine import TimelineEntry
from certward.interfaces.web.timeline import LABEL_CHARS, bars, timeline_svg

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def _entry(server: str, subject: str, days: int, *, in_use: bool = True) -> TimelineEntry:
    return TimelineEntry(
        server=server,
        thumbprint=f"{abs(days):040X}",
        subject=subject,
        not_before=NOW - dt.timedelta(days=365),
        not_after=NOW + dt.timedelta(days=days),
        in_use=in_use,
    )


def test_states_by_date_and_use_grouped_by_server() -> None:
    rows = bars(
        [
            _entry("EXCH02", "CN=b", 400),
            _entry("EXCH01", "CN=old", -1),
            _entry("EXCH01", "CN=soon", 59),
            _entry("EXCH01", "CN=spare", 5, in_use=False),
        ],
        NOW,
    )
    assert [(r.server, r.subject, r.state) for r in rows] == [
        ("EXCH01", "CN=old", "expired"),
        ("EXCH01", "CN=spare", "unused"),
        ("EXCH01", "CN=soon", "soon"),
        ("EXCH02", "CN=b", "ok"),
    ]


def test_text_is_escaped_and_labels_cut_to_fit() -> None:
    svg = timeline_svg([_entry("EXCH01", "CN=<script>alert(1)</script>" + "x" * 80, 30)], NOW)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    labels = re.findall(r'<text class="label"[^>]*>([^<]*)</text>', svg)
    assert len(labels) == 1
    label = labels[0].replace("&lt;", "<").replace("&gt;", ">")
    assert len(label) == LABEL_CHARS and label.endswith("…")
    assert 'text-anchor="end"' in svg  # the end date kept inside the drawing


def test_nothing_to_draw_is_said() -> None:
    assert timeline_svg([], NOW) == "<p>No certificates.</p>"
