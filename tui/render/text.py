"""The report as terminal text: rich tables and plotext charts, no line wider than asked.

Drawn from report_render's layout, never from the document directly, so the text shows
the same formatted numbers as the Markdown and the HTML. Plain by default (a file, a
pipe, a golden test); ANSI colour only when asked for (a terminal).
"""

from __future__ import annotations

import io
import threading
from typing import Any

from sftscope.sessions.report.layout import Chart, Note, Section, Table

# plotext draws on one module-level figure; two reports rendered at once (the console's
# worker and a test) must not draw on it together.
_PLOT_LOCK = threading.Lock()

LABEL_WIDTH = 32
EIGHTHS = " ▏▎▍▌▋▊▉█"


def draw_text(title: str, sections: list[Section], *, width: int = 80, color: bool = False) -> str:
    """Every section in order, no line wider than `width` (40 at the least); trailing
    spaces stripped (rich pads table lines to the table's width)."""
    from rich.console import Console
    from rich.text import Text

    width = max(width, 40)
    buffer = io.StringIO()
    # color_system=None, not just force_terminal=False: FORCE_COLOR in the environment
    # would otherwise switch a file's output to ANSI.
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
        legacy_windows=False,
    )
    console.print(Text(title, style="bold"))
    for section in sections:
        console.print()
        console.rule(Text(section.title, style="bold"), align="left", characters="─")
        for block in section.blocks:
            if isinstance(block, Table):
                _print_table(console, block)
            elif isinstance(block, Chart):
                _print_chart(console, block, width)
            elif isinstance(block, Note):
                console.print(Text(block.text))
    lines = buffer.getvalue().splitlines()
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _natural_width(table: Table) -> int:
    """The width the table would take with no cell wrapped."""
    widths = [len(name) for name in table.columns]
    for row in table.rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, [*row, *[""] * len(widths)], strict=False)]
    return sum(w + 3 for w in widths)


def _long_form(table: Table) -> Table:
    """A wide table (many judges, runs or methods as columns) turned a row per cell: each
    key, then one row per other column with its name and value. Nothing is lost; a table
    wrapped into columns a few characters wide would be unreadable."""
    rows = []
    for row in table.rows:
        for index, (name, cell) in enumerate(zip(table.columns[1:], row[1:], strict=False)):
            rows.append([row[0] if index == 0 else "", name, cell])
    return Table(table.title, [table.columns[0], "", ""], rows, ["l", "l", "r"], table.notes)


def _print_table(console: Any, table: Table) -> None:
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    if len(table.columns) > 3 and _natural_width(table) > 1.5 * console.width:
        table = _long_form(table)

    # The title is printed on its own: as the table's title rich would wrap it to the
    # table's width, which may be much narrower than the page.
    out = RichTable(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        header_style="bold",
        show_header=any(table.columns),  # a two-column list of names and values has none
    )
    for name, align in zip(table.columns, table.align, strict=False):
        out.add_column(Text(name), justify="right" if align == "r" else "left", overflow="fold")
    for row in table.rows:
        out.add_row(*(Text(cell) for cell in row))
    console.print()
    if table.title:
        console.print(Text(table.title, style="bold"))
    console.print(out)
    for note in table.notes:
        console.print(Text(note, style="dim"))


def _print_chart(console: Any, chart: Chart, width: int) -> None:
    from rich.text import Text

    console.print()
    if chart.kind == "counts":
        _print_counts(console, chart, width)
    else:
        text = _interval_chart(chart, width)
        if text:
            console.print(Text(text, no_wrap=True, overflow="crop"))
    if chart.caption:
        console.print(Text(chart.caption, style="dim"))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unique(labels: list[str]) -> list[str]:
    """plotext keys bars by label: two labels equal after shortening would merge."""
    out: list[str] = []
    for label in labels:
        candidate, n = label, 2
        while candidate in out:
            candidate, n = f"{label[: LABEL_WIDTH - 3]}#{n}", n + 1
        out.append(candidate)
    return out


Row = tuple[str, float, float | None, float | None]


def _interval_chart(chart: Chart, width: int) -> str:
    """A horizontal bar chart, each bar's 95% interval drawn over it; the value printed
    in the bar's label. Bars read top to bottom as listed. Drawn by plotext (6.x's figure
    API); with a plotext that lacks it, by `_plain_interval_chart`."""
    series = chart.series[0]
    count = len(series.values)
    texts = series.texts or [f"{v:.2f}" if v is not None else "" for v in series.values]
    lows = series.lows or [None] * count
    highs = series.highs or [None] * count
    picked = [
        (label, value, low, high, text)
        for label, value, low, high, text in zip(
            chart.labels, series.values, lows, highs, texts, strict=False
        )
        if value is not None
    ]
    if not picked:
        return ""
    limit = max(12, min(LABEL_WIDTH, width * 2 // 5))
    labels = _unique([f"{_shorten(label, limit - len(text) - 1)} {text}" for label, _, _, _, text in picked])
    rows: list[Row] = [
        (label, v, low, high) for label, (_, v, low, high, _) in zip(labels, picked, strict=True)
    ]
    ends = [v for row in rows for v in row[1:4] if v is not None]
    lo, hi = min(chart.lo, *ends), max(chart.hi, *ends)
    title = _shorten(chart.title, width - 4)
    try:
        text = _plotext_interval_chart(rows, lo, hi, chart.reference, title, width)
    except (ImportError, AttributeError, TypeError):
        text = _plain_interval_chart(rows, lo, hi, chart.reference, title, width)
    return "\n".join(line.rstrip() for line in text.splitlines())


def _plotext_interval_chart(
    rows: list[Row], lo: float, hi: float, reference: float | None, title: str, width: int
) -> str:
    import plotext as plt

    positions = list(range(len(rows), 0, -1))  # the first bar on top
    with _PLOT_LOCK:
        figure = plt.figure
        figure.clear()
        try:
            figure.theme("colorless")
            # 2n + 1 canvas rows for positions 1..n on a 0.5..n+0.5 axis put every bar on
            # its own row, a blank row between; + title, frame and x ticks.
            figure.plot_size(width - 1, 2 * len(rows) + 5)
            figure.title(title)
            if reference is not None:
                figure.draw(figure.segment([reference, reference], [0.5, len(rows) + 0.5], marker="┊"))
            # Each bar drawn as a run of ░ from the axis to its value (plotext's own bar
            # signal renders two rows thick and off its tick at this size), its interval
            # as ├──┤ over it and the value as █.
            for position, (_, value, low, high) in zip(positions, rows, strict=True):
                figure.draw(figure.segment([lo, value], [position, position], marker="░"))
                if low is not None and high is not None:
                    figure.draw(figure.segment([low, high], [position, position], marker="─"))
                    figure.draw(figure.signal([low], [position], marker="├"))
                    figure.draw(figure.signal([high], [position], marker="┤"))
                figure.draw(figure.signal([value], [position], marker="█"))
            figure.ruler("x").lim(lo, hi)
            figure.ruler("y").lim(0.5, len(rows) + 0.5)
            figure.ruler("y").ticks(positions, [label for label, _, _, _ in rows])
            ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
            figure.ruler("x").ticks(ticks, [f"{t:g}" for t in ticks])
            return str(figure.build().string(colorless=True))
        finally:
            figure.clear()


def _plain_interval_chart(
    rows: list[Row], lo: float, hi: float, reference: float | None, title: str, width: int
) -> str:
    """The same chart in plain characters, for a plotext without the figure API."""
    label_width = max(len(label) for label, _, _, _ in rows)
    cells = max(10, width - label_width - 3)

    def col(value: float) -> int:
        return round((value - lo) / (hi - lo) * (cells - 1)) if hi > lo else 0

    lines = [title.center(label_width + 2 + cells)]
    for label, value, low, high in rows:
        line = [" "] * cells
        for c in range(col(lo), col(value) + 1):
            line[c] = "░"
        if reference is not None and line[col(reference)] == " ":
            line[col(reference)] = "┊"
        if low is not None and high is not None:
            for c in range(col(low), col(high) + 1):
                line[c] = "─"
            line[col(low)], line[col(high)] = "├", "┤"
        line[col(value)] = "█"
        lines.append(f"{label.rjust(label_width)} │{''.join(line)}")
    lines.append(" " * label_width + " └" + "─" * cells)
    axis = [" "] * (cells + 6)
    for k in range(5):
        tick = f"{lo + (hi - lo) * k / 4:g}"
        start = min(col(lo + (hi - lo) * k / 4), cells - len(tick))
        axis[start : start + len(tick)] = tick
    lines.append(" " * (label_width + 2) + "".join(axis))
    return "\n".join(lines)


def _bar(share: float, cells: int) -> str:
    """A share of 0–1 as a left-aligned bar of `cells` characters, in eighths."""
    eighths = round(max(0.0, min(1.0, share)) * cells * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(cells)


def _print_counts(console: Any, chart: Chart, width: int) -> None:
    """A distribution as a small table: a row per score, a bar and a count per source."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    columns = len(chart.series)
    cells = max(4, min(16, (width - 8) // max(columns, 1) - 7))
    console.print(Text(chart.title, style="bold"))
    if cells < 8:
        _print_counts_by_source(console, chart)
        return
    out = RichTable(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
    )
    out.add_column(Text("score"), justify="right")
    totals = [sum(v or 0 for v in s.values) for s in chart.series]
    for series, total in zip(chart.series, totals, strict=True):
        out.add_column(Text(f"{series.name} (n={total:.0f})"), overflow="fold")
    digits = [max(len(f"{v or 0:.0f}") for v in series.values) for series in chart.series]
    for index, label in enumerate(chart.labels):
        row = [Text(label)]
        for series, total, wide in zip(chart.series, totals, digits, strict=True):
            count = series.values[index] or 0
            share = count / total if total else 0.0
            row.append(Text(f"{_bar(share, cells)} {count:>{wide}.0f}"))
        out.add_row(*row)
    console.print(out)


SPARKS = "▁▂▃▄▅▆▇█"


def _print_counts_by_source(console: Any, chart: Chart) -> None:
    """Too many sources for a bar each side by side: a row per source instead, its count
    per score and the distribution's shape as a sparkline (bar height: share of the
    source's largest count)."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    out = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    out.add_column(Text("source"), overflow="fold")
    out.add_column(Text("n"), justify="right")
    for label in chart.labels:
        out.add_column(Text(label), justify="right")
    out.add_column(Text("shape"), no_wrap=True)
    for series in chart.series:
        counts = [v or 0 for v in series.values]
        top = max(counts) or 1
        shape = "".join(SPARKS[round(c / top * (len(SPARKS) - 1))] if c else " " for c in counts)
        out.add_row(
            Text(series.name), Text(f"{sum(counts):.0f}"), *(Text(f"{c:.0f}") for c in counts), Text(shape)
        )
    console.print(out)
