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
from sftscope.sessions.report.layout import FORMATS, Note, Table, layout, render_json


def render_text(doc: Mapping[str, Any], width: int = 80, *, color: bool = False) -> str:
    """Plain text (rich tables, plotext charts) no line wider than `width`; `color` adds
    ANSI styles for a terminal."""
    from sftscope.tui.render.text import draw_text

    return draw_text(*layout(doc), width=width, color=color)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """GitHub-flavoured Markdown for a pull request: the same sections as GitHub tables
    (charts are left out: their numbers are in the tables next to them)."""
    title, sections = layout(doc)
    out = ["# sftscope report", "", _md_text(title), ""]
    for section in sections:
        out += [f"## {_md_text(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Note):
                out += [_md_paragraph(block.text), ""]
            elif isinstance(block, Table):
                out += _md_table(block)
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


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained page: inline CSS and inline SVG charts, no script, no external
    URL, so it opens offline after scp."""
    from sftscope.tui.render.html import draw_html

    return draw_html(*layout(doc))


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
