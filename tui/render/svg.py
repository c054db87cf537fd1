"""The HTML report's charts as inline SVG, drawn here rather than by a chart library.

A page that must open offline after scp cannot load a script or a stylesheet from a CDN,
and a PNG would need matplotlib on the machine that made the report; a few rects and
lines written as text need nothing. No xmlns attribute: SVG inside HTML does not need
one, and the page then holds no URL at all. Every label is user data (criterion,
category, judge and session names) and is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

from sftscope.sessions.report.layout import Chart

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")

WIDTH = 720
LABEL = 250  # px kept for the bar labels on the left of an interval chart
ROW = 28


def _e(text: str) -> str:
    return escape(text, quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}"


def chart_svg(chart: Chart, link: Callable[[str, str], str | None] | None = None) -> str:
    """The chart as one <svg> element (empty string when it has nothing to draw). `link`,
    given a series' name and a label, says where that bar of a distribution points."""
    return counts_svg(chart, link) if chart.kind == "counts" else interval_svg(chart)


def interval_svg(chart: Chart) -> str:
    """Horizontal bars from the axis to each estimate, its 95% interval as a whisker
    with caps, and the value printed after the label; a dashed line at `reference`."""
    series = chart.series[0]
    count = len(series.values)
    lows = series.lows or [None] * count
    highs = series.highs or [None] * count
    texts = series.texts or [f"{v:.2f}" if v is not None else "" for v in series.values]
    rows = [
        (label, value, low, high, text)
        for label, value, low, high, text in zip(
            chart.labels, series.values, lows, highs, texts, strict=False
        )
        if value is not None
    ]
    if not rows:
        return ""
    ends = [v for row in rows for v in row[1:4] if v is not None]
    lo, hi = min(chart.lo, *ends), max(chart.hi, *ends)
    left, right, top = LABEL + 10, WIDTH - 20, 10
    height = top + ROW * len(rows) + 30

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * (right - left) if hi > lo else left

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{_e(chart.title)}">',
        f"<title>{_e(chart.title)}</title>",
    ]
    bottom = top + ROW * len(rows)
    for k in range(5):
        tick = lo + (hi - lo) * k / 4
        tx = _f(x(tick))
        parts.append(f'<line class="grid" x1="{tx}" y1="{top}" x2="{tx}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{tx}" y="{bottom + 16}" text-anchor="middle">{tick:g}</text>')
    if chart.reference is not None:
        rx = _f(x(chart.reference))
        parts.append(f'<line class="reference" x1="{rx}" y1="{top}" x2="{rx}" y2="{bottom}"/>')
    for index, (label, value, low, high, text) in enumerate(rows):
        y = top + ROW * index
        mid = _f(y + ROW / 2)
        interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
        parts.append("<g>")
        parts.append(f"<title>{_e(label)}: {_e(text)}{interval}</title>")
        parts.append(
            f'<text class="label" x="{LABEL}" y="{_f(y + ROW / 2 + 4)}" text-anchor="end">'
            f'{_e(label)} <tspan class="value">{_e(text)}</tspan></text>'
        )
        x0, x1 = x(lo), x(value)
        parts.append(
            f'<rect class="bar" x="{_f(min(x0, x1))}" y="{_f(y + 7)}" width="{_f(abs(x1 - x0))}" '
            f'height="{ROW - 14}" fill="{PALETTE[0]}"/>'
        )
        if low is not None and high is not None:
            a, b = _f(x(low)), _f(x(high))
            parts.append(f'<line class="whisker" x1="{a}" y1="{mid}" x2="{b}" y2="{mid}"/>')
            for end in (a, b):
                parts.append(
                    f'<line class="whisker" x1="{end}" y1="{_f(y + 8)}" x2="{end}" y2="{_f(y + ROW - 8)}"/>'
                )
        parts.append(f'<circle class="point" cx="{_f(x1)}" cy="{mid}" r="3"/>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def counts_svg(chart: Chart, link: Callable[[str, str], str | None] | None = None) -> str:
    """A distribution: a group of vertical bars per score, one bar per source, each the
    source's share of its own labels (so a judge with more items compares), the count
    written above it; a legend below."""
    totals = [sum(v or 0 for v in s.values) for s in chart.series]
    if not chart.labels or not any(totals):
        return ""
    left, right, top, plot = 40, WIDTH - 10, 24, 160
    bottom = top + plot
    legend_y = bottom + 36
    height = legend_y + 16 * ((len(chart.series) + 2) // 3) + 8
    group = (right - left) / len(chart.labels)
    bar = min(40.0, (group - 12) / max(len(chart.series), 1))
    largest = max(
        ((v or 0) / t for s, t in zip(chart.series, totals, strict=True) if t for v in s.values), default=1.0
    )
    # The share axis ends on a round tenth above the tallest bar, ticked every 10% (20%
    # past one half).
    peak = min(1.0, max(0.1, math.ceil(largest * 10 - 1e-9) / 10))
    step = 0.1 if peak <= 0.5 else 0.2
    ticks = [k * step for k in range(int(peak / step + 1e-9) + 1)]
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{_e(chart.title)}">',
        f"<title>{_e(chart.title)}</title>",
    ]
    for share in ticks:
        y = _f(bottom - plot * share / peak)
        parts.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{right}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{left - 4}" y="{y}" text-anchor="end">{100 * share:.0f}%</text>')
    for g, label in enumerate(chart.labels):
        gx = left + group * g + (group - bar * len(chart.series)) / 2
        for s, (series, total) in enumerate(zip(chart.series, totals, strict=True)):
            count = series.values[g] or 0
            share = count / total if total else 0.0
            h = plot * share / peak
            bx = gx + bar * s
            colour = PALETTE[s % len(PALETTE)]
            bar_svg = (
                f"<g><title>{_e(series.name)}, {_e(label)}: {count:.0f} of {total:.0f}</title>"
                f'<rect x="{_f(bx + 1)}" y="{_f(bottom - h)}" width="{_f(bar - 2)}" height="{_f(h)}" '
                f'fill="{colour}"/>'
                f'<text class="count" x="{_f(bx + bar / 2)}" y="{_f(bottom - h - 3)}" '
                f'text-anchor="middle">{count:.0f}</text></g>'
            )
            target = link(series.name, label) if link and count else None
            parts.append(f'<a href="{_e(target)}">{bar_svg}</a>' if target else bar_svg)
        parts.append(
            f'<text class="tick" x="{_f(left + group * g + group / 2)}" y="{bottom + 16}" '
            f'text-anchor="middle">{_e(label)}</text>'
        )
    for s, (series, total) in enumerate(zip(chart.series, totals, strict=True)):
        lx = left + (s % 3) * 220
        ly = legend_y + 16 * (s // 3)
        colour = PALETTE[s % len(PALETTE)]
        parts.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text class="label" x="{lx + 18}" y="{ly}">{_e(series.name)} (n={total:.0f})</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
