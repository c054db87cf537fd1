"""The report drawn: plain text (rich, plotext), GitHub Markdown and one HTML page.

Each format draws the neutral layout that sessions/report/layout.py makes from the report's
JSON document (sections of headings, notes, tables of formatted strings, charts of
numbers), so the formats cannot disagree: a number is formatted in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sftscope.sessions.core.files import write_atomically
from sftscope.sessions.report.layout import FORMATS, Chart, Note, Table, fmt, layout, render_json

BAR = 10  # a text bar's full width, in characters


def render_text(doc: Mapping[str, Any], width: int = 80, *, color: bool = False) -> str:
    """Plain text (rich tables, plotext charts) no line wider than `width`; `color` adds
    ANSI styles for a terminal."""
    from sftscope.tui.render.text import draw_text

    return draw_text(*layout(doc), width=width, color=color)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """GitHub-flavoured Markdown for a pull request: the same sections as GitHub tables,
    each chart as a small table of text bars (a score distribution keeps its shape)."""
    title, sections = layout(doc)
    out = ["# sftscope report", "", _md_text(title), ""]
    for section in sections:
        out += [f"## {_md_text(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Note):
                out += [_md_paragraph(block.text), ""]
            elif isinstance(block, Table):
                out += _md_table(block)
            elif isinstance(block, Chart):
                out += _md_table(_chart_table(block))
    return "\n".join(out).rstrip() + "\n"


def _md_text(text: str) -> str:
    """User text made inert: HTML and Markdown's own characters escaped."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_|":
        text = text.replace(char, "\\" + char)
    # Brackets stay readable ("[3.70, 4.10]"); only a link's "](" is broken up.
    return " ".join(text.replace("](", "]\\(").split())


def _md_paragraph(text: str) -> str:
    """A line of its own: also kept from starting a heading or a list."""
    text = _md_text(text)
    return "\\" + text if text.startswith(("#", "-", "+", "=")) else text


def _md_table(table: Table) -> list[str]:
    out = []
    if table.title:
        out += [f"**{_md_text(table.title)}**", ""]
    out.append("| " + " | ".join(_md_text(c) or " " for c in table.columns) + " |")
    out.append("|" + "|".join("---:" if a == "r" else "---" for a in table.align) + "|")
    for row in table.rows:
        cells = [_md_text(c) for c in row] + [""] * (len(table.columns) - len(row))
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out += [_md_paragraph(note) + "  " for note in table.notes]
    if table.notes:
        out.append("")
    return out


def _bar(share: float | None) -> str:
    """A share of 0–1 as a bar of up to BAR blocks ("" for none)."""
    if share is None:
        return ""
    return "█" * round(max(0.0, min(share, 1.0)) * BAR)


def _chart_table(chart: Chart) -> Table:
    """A chart as a table of text bars. A distribution: a row per score, a column per
    source with its count, its share of the source's own labels and a bar of that share.
    An estimate chart: a row per label with its number and a bar on the chart's axis (the
    intervals are in the tables beside it)."""
    caption = [chart.caption] if chart.caption else []
    if chart.kind == "counts":
        totals = [sum(v or 0.0 for v in s.values) for s in chart.series]
        rows = []
        for index, label in enumerate(chart.labels):
            row = [label]
            for series, total in zip(chart.series, totals, strict=True):
                count = series.values[index] if index < len(series.values) else None
                share = (count or 0.0) / total if total else None
                row.append(f"{count or 0:.0f} ({100 * (share or 0):.0f}%) {_bar(share)}".rstrip())
            rows.append(row)
        columns = ["score", *(s.name for s in chart.series)]
        return Table(chart.title, columns, rows, ["l"] * len(columns), caption)
    span = chart.hi - chart.lo or 1.0
    rows = []
    for series in chart.series:
        for index, label in enumerate(chart.labels):
            value = series.values[index] if index < len(series.values) else None
            text = series.texts[index] if index < len(series.texts) else fmt(value)
            share = None if value is None else (value - chart.lo) / span
            rows.append([label, text, _bar(share)])
    return Table(chart.title, ["", "estimate", "bar"], rows, ["l", "r", "l"], caption)


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained page: inline CSS and inline SVG charts, and the viewer's inline
    script when the document carries items or pairs; no external URL, so it opens offline
    after scp."""
    from sftscope.tui.render.html import draw_html

    return draw_html(*layout(doc), doc=doc)


def render(doc: Mapping[str, Any], format: str, *, width: int = 80, color: bool = False) -> str:
    """The document in one of FORMATS."""
    if format == "json":
        return render_json(doc)
    if format == "md":
        return render_markdown(doc)
    if format == "html":
        return render_html(doc)
    if format == "text":
        return render_text(doc, width, color=color)
    raise ValueError(f"unknown report format {format!r} (one of {', '.join(FORMATS)})")


def write_html_report(directory: Path, doc: Mapping[str, Any]) -> Path:
    """The console's "report" action: `report.html` in the session directory, replaced
    atomically. Returns its path."""
    return write_atomically(Path(directory) / "report.html", render_html(doc))
