"""A self-contained HTML report (no external assets) an admin can mail to a colleague."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from certward.probe import verdict
from certward.probe.report import EndpointReport, stage_matrix

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}
.ok{color:#176317}.fail{color:#a11}h2{margin-bottom:.2em}.warn{color:#8a5a00}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def render(endpoints: Sequence[EndpointReport], domains: Sequence[Any], *, when: str) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>certward probe</title>",
        f"<style>{_STYLE}</style></head><body><h1>certward probe</h1><p>{_e(when)}</p>",
    ]
    for domain in domains:
        data = domain.to_json()
        parts.append(f"<h2>Domain {_e(data['domain'])}: score {data['score']}</h2><ul>")
        mx = ", ".join(f"{m['host']} ({m['preference']})" for m in data["mx"])
        parts.append(f"<li>MX: {_e(mx)}</li>")
        sts = data["mta_sts"]
        parts.append(
            f"<li>MTA-STS: {_e(sts['mode'] or 'absent')} {_e('; '.join(sts['errors']))}</li>"
        )
        parts.append(f"<li>TLS-RPT: {_e(', '.join(data['tls_rpt']['rua']) or 'absent')}</li>")
        for dane in data["dane"]:
            state = (
                "matched" if dane["matched"] else "absent" if not dane["present"] else "no match"
            )
            parts.append(f"<li>DANE {_e(dane['mx'])}: {_e(state)}</li>")
        parts.append("</ul>")
    if len(endpoints) > 1:
        parts.append(_matrix(list(endpoints)))
    for report in endpoints:
        data = report.to_json()
        judged = verdict.endpoint(report)
        secure = "secure" if data["secure"] else "NOT secure"
        parts.append(
            f"<h2>{_e(data['target'])}: {judged.status.name}, {secure}, score {data['score']}</h2>"
        )
        css = "warn" if judged.status is verdict.Status.WARNING else "fail"
        parts += [f"<p class='{css}'>{_e(reason)}</p>" for reason in judged.reasons]
        parts.append("<table><tr><th>Stage</th><th>Result</th><th>ms</th><th>Detail</th></tr>")
        for stage in data["stages"]:
            css, word = ("ok", "ok") if stage["ok"] else ("fail", "FAIL")
            parts.append(
                f"<tr><td>{_e(stage['name'])}</td><td class='{css}'>{word}</td>"
                f"<td>{stage['ms']}</td><td>{_e(stage['detail'])}</td></tr>"
            )
        parts.append("</table>")
        cert = data["certificate"]
        if cert:
            leaf = cert["chain"][0]
            parts.append(
                f"<p>Certificate {_e(leaf['subject'])} from {_e(leaf['issuer'])}; trusted: "
                f"{cert['trusted']}; name match: {_e(cert['name_match'])}; "
                f"{cert['days_left']} days left</p>"
            )
        versions = ", ".join(f"{k}: {v}" for k, v in data["tls"]["versions"].items())
        parts.append(f"<p>TLS {_e(data['tls']['negotiated_version'])}; {_e(versions)}</p>")
        auth = data["client_auth"]
        if auth["requested"] != "none":
            parts.append(
                f"<p>Client certificate {auth['requested']}: {auth['ca_names_count']} CA names, "
                f"{auth['ca_names_size']} bytes</p>"
            )
        for warning in data["warnings"]:
            parts.append(f"<p class='warn'>warning: {_e(warning)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _matrix(endpoints: list[EndpointReport]) -> str:
    """The stage matrix of the console report: a row per endpoint, ✓/✗ and ms per stage."""
    columns, rows = stage_matrix(endpoints)
    head = "".join(f"<th title='{_e(meaning)}'>{_e(short)}</th>" for short, meaning in columns)
    parts = [f"<h2>Stages</h2><table><tr><th>Endpoint</th>{head}<th>Score</th></tr>"]
    for report, row in zip(endpoints, rows, strict=True):
        cells = "".join(
            "<td>–</td>"
            if cell is None
            else f"<td class='{'ok' if cell.ok else 'fail'}'>{'✓' if cell.ok else '✗'} "
            f"{cell.ms:.0f}</td>"
            for cell in row
        )
        parts.append(f"<tr><td>{_e(report.target)}</td>{cells}<td>{report.score}</td></tr>")
    legend = "; ".join(f"{short}: {meaning}" for short, meaning in columns)
    parts.append(f"</table><p>{_e(legend)}; times in milliseconds.</p>")
    return "".join(parts)
