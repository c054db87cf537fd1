"""The report as one self-contained HTML page: inline CSS, inline SVG, and, when the
document carries items or pairs, the viewer's inline script (tui/render/viewer.py).

Made to be scp'd off a GPU box and opened on a laptop with no network: nothing on the
page refers to anything outside it (no <script src>, no <link>, no web font, no URL), the
fonts are the system's own, and it follows the reader's light or dark setting. Every
string comes from the report document, much of it user data (criterion, category, judge
and session names, paths), and is escaped with html.escape; the viewer's data goes in as
JSON that no string can break out of. With items, a category row and a judge's agreement
row link to the filtered items.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from sftscope.sessions.report.layout import DASH, TOO_SMALL, UNDEFINED, Chart, Note, Section, Table
from sftscope.tui.render.svg import chart_svg
from sftscope.tui.render.viewer import category_link, has_views, judge_link, value_link, viewer_html

CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d0d7de;
        --bg: #ffffff; --stripe: #f6f8fa; --accent: #4e79a7; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --bg: #0d1117; --stripe: #161b22; }
}
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 960px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.meta, .note, figcaption { color: var(--muted); }
.note { font-size: 0.9em; margin: 4px 0 0; }
nav { margin: 12px 0; font-size: 0.92em; }
nav a { color: var(--accent); margin-right: 12px; text-decoration: none; }
.table { overflow-x: auto; margin: 16px 0 4px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0 0 6px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { text-align: left; font-weight: 600; }
tbody tr:nth-child(even) { background: var(--stripe); }
.r { text-align: right; white-space: nowrap; }
.muted { color: var(--muted); font-style: italic; }
figure { margin: 16px 0; }
figcaption { font-size: 0.9em; }
figcaption b { color: var(--fg); }
svg.chart { max-width: 100%; height: auto; display: block; margin: 6px 0; }
svg text { fill: var(--fg); font-size: 12px; font-family: inherit; }
svg .tick, svg .count { fill: var(--muted); font-size: 11px; }
svg .value { font-weight: 600; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .reference { stroke: var(--muted); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .whisker { stroke: var(--fg); stroke-width: 1.5; }
svg .point { fill: var(--fg); }
svg .bar { opacity: 0.55; }
"""


def _e(text: str) -> str:
    return escape(text, quote=True)


def draw_html(title: str, sections: list[Section], doc: Mapping[str, Any] | None = None) -> str:
    """The whole page; with `doc`'s items or pairs, the viewer after the numbers."""
    views = doc is not None and has_views(doc)
    links = bool(doc and doc.get("items"))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="sftscope">',
        "<title>sftscope report</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<h1>sftscope report</h1>",
        f'<p class="meta">{_e(title)}</p>',
    ]
    if len(sections) > 1 or views:
        nav = [f'<a href="#section-{i}">{_e(s.title)}</a>' for i, s in enumerate(sections, 1)]
        if views:
            pairs = bool(doc and doc.get("pairs"))
            nav.append('<a href="#pairs">Pairs</a>' if pairs else '<a href="#items">Items</a>')
        out.append(f"<nav>{' '.join(nav)}</nav>")
    for index, section in enumerate(sections, 1):
        out.append(f'<section id="section-{index}">')
        out.append(f"<h2>{_e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                out.append(_table(block, links))
            elif isinstance(block, Chart):
                out.append(_figure(block, links))
            elif isinstance(block, Note):
                out.append(f"<p>{_e(block.text)}</p>")
        out.append("</section>")
    if views and doc is not None:
        out.append(viewer_html(doc))
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def _cell(tag: str, text: str, align: str) -> str:
    classes = []
    if align == "r":
        classes.append("r")
    if text in (TOO_SMALL, UNDEFINED, DASH):
        classes.append("muted")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<{tag}{attr}>{_e(text)}</{tag}>"


def _row_link(table: Table, first: str) -> str | None:
    """Where a row's first cell opens the items: a category's, or where a judge and you differ."""
    column = table.columns[0] if table.columns else ""
    if column == "category":
        return category_link(first)
    if column == "judge" and ": human vs judge" in table.title:
        return judge_link(first, table.title.split(": human vs judge")[0])
    return None


def _table(table: Table, links: bool = False) -> str:
    aligns = table.align + ["l"] * (len(table.columns) - len(table.align))
    head = "".join(_cell("th", c, a) for c, a in zip(table.columns, aligns, strict=False))
    rows = []
    for row in table.rows:
        cells = [_cell("td", c, a) for c, a in zip(row, aligns, strict=False)]
        target = _row_link(table, row[0]) if links and row else None
        if target is not None:
            cells[0] = f'<td><a href="{_e(target)}">{_e(row[0])}</a></td>'
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows)
    caption = f"<caption>{_e(table.title)}</caption>" if table.title else ""
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in table.notes)
    return (
        f'<div class="table"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{notes}"
    )


def _figure(chart: Chart, links: bool = False) -> str:
    criterion = chart.criterion if links else None

    def bar_link(source: str, label: str) -> str | None:
        """A bar of your own labels opens the items you gave that value."""
        return value_link(criterion, label) if criterion and source == "human" else None

    svg = chart_svg(chart, bar_link)
    if not svg:
        return ""
    caption = f"<b>{_e(chart.title)}</b>" + (f" — {_e(chart.caption)}" if chart.caption else "")
    return f"<figure>\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>"
