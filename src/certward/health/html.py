"""A self-contained HTML health report with an SVG certificate-expiry timeline (pure)."""

from __future__ import annotations

import datetime as dt
import html

from certward.health.engine import HealthReport, TimelineEntry

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
vertical-align:top}code{font-size:.85em;background:#f4f4f4;padding:0 .2em;white-space:pre-wrap;
overflow-wrap:anywhere}.nowrap{white-space:nowrap}.legend span{display:inline-block;width:1em;
height:.8em;margin:0 .3em 0 1em}
.critical{color:#fff;background:#8b0000}.error{color:#a11}.warning{color:#8a5a00}.info{color:#555}
"""
_COLOURS = {"expired": "#8b0000", "soon": "#d9822b", "ok": "#3a7d44", "unused": "#b8b8b8"}
_WIDTH, _ROW, _LABEL = 960, 18, 330
_LABEL_CHARS = 46


def _e(value: object) -> str:
    return html.escape(str(value))


def _x(when: dt.datetime, start: dt.datetime, end: dt.datetime) -> float:
    span = (end - start).total_seconds() or 1.0
    return _LABEL + (_WIDTH - _LABEL) * (when - start).total_seconds() / span


def timeline_svg(entries: tuple[TimelineEntry, ...], as_of: dt.datetime) -> str:
    """One bar per certificate from NotBefore to NotAfter, grouped by server, with a line at
    the report's date. Red: expired by then; orange: expires within 60 days; grey: unused."""
    if not entries:
        return "<p>No certificates.</p>"
    start = min(min(e.not_before for e in entries), as_of)
    end = max(max(e.not_after for e in entries), as_of)
    height = _ROW * (len(entries) + 2)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{height}' "
        "role='img' aria-label='certificate expiry timeline' font-size='11' "
        "font-family='system-ui,sans-serif'>"
    ]
    for i, entry in enumerate(sorted(entries, key=lambda e: (e.server, e.not_after))):
        y = _ROW * (i + 1)
        days = (entry.not_after - as_of).days
        state = (
            "unused"
            if not entry.in_use
            else "expired"
            if days < 0
            else "soon"
            if days < 60
            else "ok"
        )
        x0, x1 = _x(entry.not_before, start, end), _x(entry.not_after, start, end)
        label = f"{entry.server} {entry.subject}"
        if len(label) > _LABEL_CHARS:
            label = label[: _LABEL_CHARS - 1] + "…"
        parts.append(f"<text x='2' y='{y + 12}'>{_e(label)}</text>")
        parts.append(
            f"<rect x='{x0:.1f}' y='{y + 2}' width='{max(x1 - x0, 1):.1f}' height='{_ROW - 5}' "
            f"fill='{_COLOURS[state]}'><title>{_e(entry.thumbprint)} {_e(entry.subject)}: "
            f"{entry.not_before:%Y-%m-%d} to {entry.not_after:%Y-%m-%d}</title></rect>"
        )
    x_now = _x(as_of, start, end)
    parts.append(
        f"<line x1='{x_now:.1f}' x2='{x_now:.1f}' y1='{_ROW - 4}' y2='{height - _ROW + 4}' "
        "stroke='#000' stroke-dasharray='4 3'/>"
        f"<text x='{x_now + 3:.1f}' y='{height - 4}'>{as_of:%Y-%m-%d}</text>"
        f"<text x='{_LABEL}' y='{height - 4}'>{start:%Y-%m-%d}</text>"
        f"<text x='{_WIDTH - 70}' y='{height - 4}'>{end:%Y-%m-%d}</text></svg>"
    )
    return "".join(parts)


def render(report: HealthReport) -> str:
    counts = report.counts()
    summary = ", ".join(f"{n} {label}" for label, n in counts.items() if n) or "no findings"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>certward health</title>",
        f"<style>{_STYLE}</style></head><body><h1>certward health</h1>",
        f"<p>As of {report.as_of:%Y-%m-%d %H:%M} UTC; servers: {_e(', '.join(report.servers))}; "
        f"{report.rules_run} rules; {_e(summary)}.</p>",
        "<h2>Certificate expiry timeline</h2>",
        timeline_svg(report.timeline, report.as_of),
        "<p class='legend'>"
        + "".join(
            f"<span style='background:{colour}'></span>{_e(text)}"
            for colour, text in (
                (_COLOURS["ok"], "in use"),
                (_COLOURS["soon"], "in use, expires within 60 days of the report's date"),
                (_COLOURS["expired"], "in use, expired by then"),
                (_COLOURS["unused"], "not in use"),
            )
        )
        + "<br>The dashed line is the report's date.</p>",
        "<h2>Findings</h2>",
    ]
    if not report.findings:
        parts.append("<p>No findings.</p>")
    else:
        parts.append(
            "<table><tr><th>Severity</th><th>Server</th><th>Rule</th><th>Finding</th>"
            "<th>Fix</th></tr>"
        )
        for f in report.findings:
            parts.append(
                f"<tr><td class='{f.severity.label}'>{_e(f.severity.label)}</td>"
                f"<td class='nowrap'>{_e(f.server or '(organisation)')}</td>"
                f"<td class='nowrap'>{_e(f.rule_id)}</td>"
                f"<td>{_e(f.message)}</td><td><code>{_e(f.remediation.certward)}</code><br>"
                f"<code>{_e(f.remediation.shell)}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
