"""The report's renderings (text, Markdown, HTML) made from its JSON document.

Every renderer takes the dict that `Report.to_dict()` returns, the same document
`sftscope report --format json` prints, never the Report object: whatever a reader sees
in the text, the Markdown or the HTML page is a number a script can read from the JSON,
so the formats cannot disagree. To make that hold for formatting too, the document is
turned once into a small neutral layout here (`layout`: sections of headings, notes,
tables of already formatted strings and charts of numbers), and each format only draws
that layout: a number is formatted in one place, "n too small" is decided in one place.

The document's schema is in docs/reports.md; keys the renderers do
not know are ignored, keys they know may be absent (a run without judges has none).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sftscope.scorers.intervals import (
    TOO_SMALL,
    UNDEFINED,
    figure_cells,
    figure_text,
    interval_text,
    number_text,
    p_text,
)
from sftscope.scorers.stats import intervals as rules  # MIN_N lives there alone
from sftscope.scorers.stats.intervals import enough as is_enough
from sftscope.sessions.compare.summary import sign_text
from sftscope.sessions.core.inert import inert_line

DASH = "–"
PAIRED_TESTS_NOTE = "each item's two labels compared: McNemar's exact for yes/no, Wilcoxon for scales"

FORMATS = ("text", "json", "html", "md")


# ---------------------------------------------------------------------------------------
# The layout every format draws.


@dataclass
class Table:
    """A table of formatted cells. `align` is "l" or "r" per column (numbers right)."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    align: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.align = self.align or ["l"] + ["r"] * (len(self.columns) - 1)


@dataclass
class Series:
    """One source's numbers in a chart: a value per label, with optional interval ends."""

    name: str
    values: list[float | None]
    lows: list[float | None] = field(default_factory=list)
    highs: list[float | None] = field(default_factory=list)
    # How each value is printed beside its bar: the number from the document, which the
    # bar's length may show rescaled (a likert mean on a 0–1 axis).
    texts: list[str] = field(default_factory=list)


@dataclass
class Chart:
    """A bar chart. kind "interval": one series of estimates with 95% whiskers on an axis
    from `lo` to `hi` (a dashed `reference`, e.g. 0.5 for a win rate); kind "counts": a
    distribution, one series per source, drawn as each source's share of its own n so
    sources with different n compare."""

    title: str
    labels: list[str]
    series: list[Series]
    kind: Literal["interval", "counts"] = "interval"
    lo: float = 0.0
    hi: float = 1.0
    reference: float | None = None
    caption: str = ""
    # The criterion whose labels a "counts" chart shows: a drawing can point a bar at the
    # items with that value (the HTML viewer does, for your own labels).
    criterion: str | None = None


@dataclass
class Note:
    """A paragraph of plain text."""

    text: str


Block = Table | Chart | Note


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Number formatting, in one place for every format.


def _num(value: Any) -> float | None:
    """A finite float, or None (null, NaN, or something that is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fmt(value: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A number as the report prints it; null is "undefined" (the schema's rule)."""
    return number_text(value, digits, signed=signed)


def fmt_ci(ci: Any, digits: int = 2, *, signed: bool = False) -> str:
    """ "[low, high]", or "" when the interval is null (n < 2)."""
    return interval_text(ci, digits, signed=signed)


def fmt_p(value: Any) -> str:
    """A p-value: "p = 0.008", "p < 0.001", or "" when there is none (scorers.intervals)."""
    return p_text(value)


def fmt_count(value: Any) -> str:
    number = _num(value)
    return DASH if number is None else f"{number:.0f}"


def enough(entry: Mapping[str, Any] | None) -> bool:
    """The aggregate's own `enough`; without one, n of MIN_N or more."""
    if not entry:
        return False
    if "enough" in entry:
        return bool(entry["enough"])
    return is_enough(entry.get("n"))


def estimate(
    entry: Mapping[str, Any] | None,
    key: str,
    ci_key: str = "ci",
    *,
    signed: bool = False,
    check_n: bool = True,
) -> str:
    """ "3.90 [3.70, 4.10]", "n too small", "undefined", or "–" when there is no entry."""
    if not isinstance(entry, Mapping) or not entry:
        return DASH
    shown = enough(entry) if check_n else True
    return figure_text(entry.get(key), entry.get(ci_key), entry.get("n"), shown=shown, signed=signed)


def value_key(entry: Mapping[str, Any]) -> str:
    """Which key holds an aggregate's estimate: a mean, a rate, a methods value or a rho."""
    for key in ("mean", "rate", "value", "rho"):
        if key in entry:
            return key
    return "mean"


def _dicts(value: Any) -> dict[str, Any]:
    """The mapping at a key, or {} (absent, null, or the wrong shape)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _with_n(text: str, entry: Mapping[str, Any]) -> str:
    return f"{text} n={fmt_count(entry.get('n'))}" if "n" in entry else text


# ---------------------------------------------------------------------------------------
# A judge's failures, shown wherever its numbers are: a judge that failed on most items
# must never look like a judge with few items.


@dataclass(frozen=True)
class Failures:
    """A judge's failed judgments in a run (its judge_health entry)."""

    judged: int
    errors: int
    by_kind: str  # "parse 2, http 1", or "" when the kinds are unknown
    what: str = "judgments"

    def text(self, judge: str) -> str:
        kinds = f" ({self.by_kind})" if self.by_kind else ""
        return f"{judge}: {self.errors} of {self.judged} {self.what} failed{kinds}, left out of the numbers"


def _pair_failures(groups: Iterable[Mapping[str, Any]]) -> dict[str, Failures]:
    """Per judge of a comparison with failed pairs, its Failures over the given groups'
    sources (a judge's `errors` are pairs on which it failed; `n`, those it decided)."""
    errors: dict[str, int] = {}
    judged: dict[str, int] = {}
    for sources in groups:
        for name, source in sources.items():
            if name == "human" or not isinstance(source, Mapping):
                continue
            failed = int(_num(source.get("errors")) or 0)
            errors[name] = errors.get(name, 0) + failed
            judged[name] = judged.get(name, 0) + failed + int(_num(source.get("n")) or 0)
    return {name: Failures(judged[name], count, "", "pairs") for name, count in errors.items() if count}


def _failures(health: Any) -> dict[str, Failures]:
    """Per judge with at least one failed judgment, its Failures (from judge_health)."""
    out: dict[str, Failures] = {}
    for judge, h in _dicts(health).items():
        if not isinstance(h, Mapping):
            continue
        errors, judged = _num(h.get("errors")), _num(h.get("judged"))
        if not errors or judged is None:
            continue
        kinds = _dicts(h.get("errors_by_kind"))
        by_kind = ", ".join(f"{k} {fmt_count(v)}" for k, v in kinds.items() if _num(v))
        out[str(judge)] = Failures(int(judged), int(errors), by_kind)
    return out


def _failure_notes(names: Iterable[str], failures: Mapping[str, Failures]) -> list[str]:
    """A note for each judge among `names` (judge names, or "judge:NAME" method keys) that
    failed on some judgments."""
    notes = []
    for name in dict.fromkeys(names):
        judge = name.removeprefix("judge:")
        if judge in failures:
            notes.append(failures[judge].text(judge))
    return notes


# ---------------------------------------------------------------------------------------
# The document, section by section.


def layout(doc: Mapping[str, Any]) -> tuple[str, list[Section]]:
    """The report's title line and its sections, in the order every format shows them."""
    title = (
        f"sftscope {doc.get('sftscope_version', '')} report · 95% bootstrap intervals "
        f"({fmt_count(doc.get('resamples'))} resamples, seed {fmt_count(doc.get('seed'))})"
    )
    builders = (
        _sessions,
        _warnings,
        _disagreements,
        _criteria,
        _agreement,
        _effective_judges,
        _judge_health,
        _checks,
        _methods,
        _reliability,
        _raters,
        _runs,
        _comparison,
    )
    sections = [section for build in builders for section in build(doc) if section.blocks]
    return inert_line(title), [_inert(section) for section in _collapse(doc, sections)]


def _inert(section: Section) -> Section:
    """Every string of the section made inert (scorers' names, categories, judge and
    session names, paths and warnings come from files sftscope does not control): a
    control character is shown as a symbol (ESC as ␛) and a line break as ␊, so no cell,
    title or note can drive a terminal, break a row or start a new line in any format.
    Done once here, every format draws the same inert strings (HTML and Markdown escape
    their own markup on top)."""
    blocks: list[Block] = []
    for block in section.blocks:
        if isinstance(block, Table):
            blocks.append(
                Table(
                    inert_line(block.title),
                    [inert_line(c) for c in block.columns],
                    [[inert_line(c) for c in row] for row in block.rows],
                    list(block.align),
                    [inert_line(n) for n in block.notes],
                )
            )
        elif isinstance(block, Chart):
            series = [
                Series(inert_line(s.name), s.values, s.lows, s.highs, [inert_line(t) for t in s.texts])
                for s in block.series
            ]
            labels = [inert_line(label) for label in block.labels]
            title, caption = inert_line(block.title), inert_line(block.caption)
            # The criterion is kept as it is: a name to link with (percent-encoded), never shown.
            kept = (block.kind, block.lo, block.hi, block.reference, caption, block.criterion)
            blocks.append(Chart(title, labels, series, *kept))
        else:
            blocks.append(Note(inert_line(block.text)))
    return Section(inert_line(section.title), blocks)


def _sessions(doc: Mapping[str, Any]) -> Iterable[Section]:
    sessions = [s for s in doc.get("sessions") or [] if isinstance(s, Mapping)]
    rows = [
        [
            str(s.get("name", "")),
            str(s.get("kind", "")),
            str(s.get("model") or DASH),
            fmt_count(s.get("items")),
            fmt_count(s.get("answered")),
            fmt_count(s.get("labelled")),
            str(s.get("status") or DASH),
        ]
        for s in sessions
    ]
    blocks: list[Block] = []
    if rows:
        columns = ["session", "kind", "model", "items", "answered", "labelled", "status"]
        blocks.append(Table("", columns, rows, ["l", "l", "l", "r", "r", "r", "l"]))
        blocks += [Note(f"{s.get('name', '')}: {s.get('path', '')}") for s in sessions]
        runs = [s for s in sessions if s.get("kind") == "run"]
        if len(runs) > 1 and doc.get("criteria"):
            blocks.append(
                Note(
                    f"Criteria, agreement, judge health and checks below describe the first "
                    f"run session, {runs[0].get('name', '')}; every run is under Runs."
                )
            )
        blocks += [_context_table(s) for s in sessions if isinstance(s.get("context"), Mapping)]
        sides = _sides_table(_dicts(doc.get("comparison")).get("sides"))
        if sides:
            blocks.append(sides)
    yield Section("Sessions", blocks)


SHORT_SHA = 12  # a digest's first hex digits, enough to tell two files apart by eye
SYSTEM_SHOWN = 200  # characters of a system message shown (the JSON has it whole)


def _short(text: Any, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _length_text(length: Mapping[str, Any]) -> str:
    """ "812 characters, 190 tokens (n=40)": an answer's average length, or "–"."""
    n = _num(length.get("n"))
    if not n:
        return DASH
    text = f"{fmt(length.get('chars'), 0)} characters"
    tokens_n = _num(length.get("tokens_n"))
    if _num(length.get("tokens")) is not None:
        text += f", {fmt(length.get('tokens'), 0)} tokens"
        if tokens_n is not None and tokens_n != n:
            text += f" (tokens over {fmt_count(tokens_n)})"
    return f"{text} (n={fmt_count(n)})"


def _context_table(session: Mapping[str, Any]) -> Table:
    """What one run session compared: engine and model, the model's digest, the system
    message, sampling, the prompt set, its judges, when it ran and its answers' length."""
    context = _dicts(session.get("context"))
    params = _dicts(context.get("params"))
    prompts = _dicts(context.get("prompts"))
    sha = context.get("model_sha256")
    prompt_sha = prompts.get("sha256")
    prompt_set = str(prompts.get("path") or DASH)
    if _num(prompts.get("count")) is not None:
        prompt_set += f", {fmt_count(prompts['count'])} items"
    if prompt_sha:
        prompt_set += f", sha256 {str(prompt_sha)[:SHORT_SHA]}"
    system = context.get("system")
    ran = [str(context[k]) for k in ("created", "updated") if context.get(k)]
    rows = [
        ["engine", str(context.get("engine") or DASH)],
        ["model", str(context.get("model") or DASH)],
        ["model sha256", str(sha)[:SHORT_SHA] if sha else "not recorded"],
        ["system message", _short(system, SYSTEM_SHOWN) if system else "none"],
        ["sampling", ", ".join(f"{k} {v}" for k, v in params.items()) or DASH],
        ["prompt set", prompt_set],
    ]
    for judge in context.get("judges") or []:
        judge = _dicts(judge)
        template = str(judge.get("template") or DASH)
        if judge.get("template_sha256"):
            template += f"@{str(judge['template_sha256'])[:8]}"
        rows.append([f"judge {judge.get('name', '')}", f"{judge.get('model') or DASH}, template {template}"])
    if not context.get("judges"):
        rows.append(["judges", "none"])
    for panel in context.get("panels") or []:
        panel = _dicts(panel)
        members = [str(j) for j in panel.get("judges") or []]
        rule = f"majority of {len(members)} (yes/no), median (scales)"
        rows.append([f"panel {panel.get('name', '')}", f"{', '.join(members)}: {rule}"])
    rows.append(["ran", " – ".join(ran) if ran else DASH])
    rows.append(["answer length", _length_text(_dicts(context.get("length")))])
    return Table(f"What {session.get('name', '')} compared", ["", ""], rows, ["l", "l"])


def _sides_table(sides: Any) -> Table | None:
    """Each side of a comparison: engine, model, system message and average length."""
    rows = [
        [
            str(side.get("name", "")),
            str(side.get("engine") or DASH),
            str(side.get("model") or ("reference answers" if side.get("reference") else DASH)),
            _short(side["system"], SYSTEM_SHOWN) if side.get("system") else "none",
            _length_text(_dicts(side.get("length"))),
        ]
        for side in sides or []
        if isinstance(side, Mapping)
    ]
    if not rows:
        return None
    columns = ["session", "engine", "model", "system message", "average answer length"]
    return Table("What was compared", columns, rows, ["l"] * 5)


def _category_tables(groups: Any) -> list[Block]:
    """Per pair of sessions, each source's win rate of B per category (FastChat's MT-Bench
    breakdown), "n too small" below MIN_N like every other figure."""
    tables: dict[tuple[str, str], list[list[str]]] = {}
    for group in groups or []:
        if not isinstance(group, Mapping):
            continue
        rows = tables.setdefault((str(group.get("a", "A")), str(group.get("b", "B"))), [])
        for name, source in _dicts(group.get("sources")).items():
            if not isinstance(source, Mapping):
                continue
            rows.append(
                [
                    str(group.get("category", "")),
                    name,
                    fmt_count(source.get("n")),
                    *figure_cells(
                        source.get("win_rate_b"), source.get("win_rate_b_ci"), shown=enough(source)
                    ),
                ]
            )
    return [
        Table(
            f"B = {b} vs A = {a}: win rate of B per category",
            ["category", "source", "n", "win rate", "95% CI"],
            rows,
            ["l", "l", "r", "r", "r"],
        )
        for (a, b), rows in tables.items()
        if rows
    ]


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _disagreements(doc: Mapping[str, Any]) -> Iterable[Section]:
    """The items (or pairs) where you and the judges differ most, each with the start of
    its answer (or both answers): where to look first."""
    section = Section("Where you and the judges disagree most")
    for d in doc.get("disagreements") or []:
        if not isinstance(d, Mapping):
            continue
        category = f" ({d['category']})" if d.get("category") else ""
        section.blocks.append(
            Note(
                f"{d.get('item', '')}{category} · {d.get('criterion', '')}: you {_label(d.get('human'))}, "
                f"judge {d.get('judge', '')} {_label(d.get('judge_value'))} · answer: {d.get('excerpt', '')}"
            )
        )
    comp = _dicts(doc.get("comparison"))
    for d in comp.get("disagreements") or []:
        if not isinstance(d, Mapping):
            continue
        category = f" ({d['category']})" if d.get("category") else ""
        verdicts = ", ".join(f"{j} {v}" for j, v in _dicts(d.get("judges")).items())
        section.blocks.append(
            Note(
                f"{d.get('item', '')}{category}, A = {d.get('a', '')}, B = {d.get('b', '')}: "
                f"you {d.get('human', '')}, judges {verdicts} · A: {d.get('excerpt_a', '')} · "
                f"B: {d.get('excerpt_b', '')}"
            )
        )
    yield section


# Sections that hold figures, collapsed together when most of them would only say
# "n too small" (a session just started): the one line says how many more labels. Judge
# health is never collapsed: its counts of failures are shown at any n (a judge's
# failures are shown wherever its numbers are).
FIGURE_SECTIONS = (
    "Scores",
    "Agreement",
    "Checks",
    "Methods side by side",
    "Reliability",
    "Runs",
    "Comparison",
)
_SHOWN_FIGURE = re.compile(r"\[[-+−]?\d")  # an interval: a figure was shown


def _too_small_only(section: Section) -> bool:
    """Whether the section's tables say "n too small" and show no figure with an interval."""
    cells = [c for b in section.blocks if isinstance(b, Table) for row in b.rows for c in row]
    return any(TOO_SMALL in c for c in cells) and not any(_SHOWN_FIGURE.search(c) for c in cells)


def _collapse(doc: Mapping[str, Any], sections: list[Section]) -> list[Section]:
    """When most figure sections would say only "n too small", one line instead of them."""
    figures = [s for s in sections if s.title in FIGURE_SECTIONS]
    small = [s for s in figures if _too_small_only(s)]
    if not small or 2 * len(small) <= len(figures):
        return sections
    labelled = [_num(s.get("labelled")) or 0 for s in doc.get("sessions") or [] if isinstance(s, Mapping)]
    more = max(rules.MIN_N - int(max(labelled, default=0)), 1)
    names = ", ".join(s.title for s in small)
    note = Note(
        f"{TOO_SMALL} for {names}: each figure needs {rules.MIN_N} labels; label about {more} more "
        "to see them (the JSON report has every count now)."
    )
    kept = [s for s in sections if all(s is not t for t in small)]
    at = next((i for i, s in enumerate(kept) if s.title in FIGURE_SECTIONS), len(kept))
    return [*kept[:at], Section("Figures", [note]), *kept[at:]]


def _warnings(doc: Mapping[str, Any]) -> Iterable[Section]:
    """What reading the sessions warned of (a torn last line, an unknown event kind)."""
    warnings = doc.get("warnings")
    texts = [str(w) for w in warnings] if isinstance(warnings, list) else []
    yield Section("Warnings", [Note(text) for text in texts])


def _sources(criterion: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The human's aggregate first, then each judge's."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(criterion.get("human"), Mapping):
        out.append(("human", criterion["human"]))
    out += [(name, agg) for name, agg in _dicts(criterion.get("judges")).items() if isinstance(agg, Mapping)]
    return out


def _scale(criterion: Mapping[str, Any]) -> tuple[float, float] | None:
    scale = criterion.get("scale")
    if isinstance(scale, Sequence) and not isinstance(scale, str) and len(scale) == 2:
        low, high = _num(scale[0]), _num(scale[1])
        if low is not None and high is not None and high > low:
            return low, high
    return None


def _criterion_title(name: str, criterion: Mapping[str, Any]) -> str:
    kind = str(criterion.get("kind", ""))
    scale = _scale(criterion)
    if kind == "likert" and scale:
        return f"{name} (likert {scale[0]:g}–{scale[1]:g})"
    return f"{name} ({kind})" if kind else name


def _criteria(doc: Mapping[str, Any]) -> Iterable[Section]:
    section = Section("Scores")
    failures = _failures(doc.get("judge_health"))
    panels = _panel_names(doc)
    for name, criterion in _dicts(doc.get("criteria")).items():
        if not isinstance(criterion, Mapping):
            continue
        section.blocks += _criterion_blocks(name, criterion, failures, panels)
    if section.blocks:  # once for the section: its tables' "failed" column, in words
        section.blocks += [Note(note) for note in _failure_notes(failures, failures)]
    yield section


def _panel_names(doc: Mapping[str, Any]) -> set[str]:
    """The names of the judge panels of the report's run sessions (their context)."""
    names: set[str] = set()
    for session in doc.get("sessions") or []:
        for panel in _dicts(_dicts(session).get("context")).get("panels") or []:
            names.add(str(_dicts(panel).get("name")))
    return names


def _panel_label(source: str, panels: set[str]) -> str:
    """A source as a table names it: a panel says it is one (it asks no model of its own)."""
    return f"{source} (panel)" if source in panels else source


def _criterion_blocks(
    name: str,
    criterion: Mapping[str, Any],
    failures: Mapping[str, Failures] | None = None,
    panels: set[str] | None = None,
) -> list[Block]:
    kind = criterion.get("kind")
    panels = panels or set()
    sources = [(_panel_label(s, panels), agg) for s, agg in _sources(criterion)]
    title = _criterion_title(name, criterion)
    if kind == "tags":
        return [_tags_table(title, sources)]
    failures = failures or {}
    blocks: list[Block] = []
    stat = "rate" if kind == "binary" else "mean"
    rows = []
    for source, agg in sources:
        key = value_key(agg)
        shown = enough(agg)
        failed = (
            DASH
            if source == "human" or source.endswith(" (panel)")
            else str(failures[source].errors if source in failures else 0)
        )
        rows.append(
            [
                source,
                fmt_count(agg.get("n")),
                *(figure_cells(agg.get(key), agg.get("ci"), shown=shown) if agg else (DASH, "")),
                failed,
            ]
        )
    listed = {source for source, _ in sources}
    for judge, failed in failures.items():  # a judge that failed on every item has no figure
        if judge not in listed and failed.errors >= failed.judged:
            rows.append([judge, "0", DASH, "", fmt_count(failed.errors)])
    notes = []
    if _num(criterion.get("off_scale")):
        notes.append(f"{fmt_count(criterion['off_scale'])} judge values outside the rubric's scale left out.")
    blocks.append(Table(title, ["source", "n", stat, "95% CI", "failed"], rows, notes=notes))
    blocks += ppi_blocks(name, criterion, stat)
    if kind == "likert":
        chart = _distribution_chart(name, criterion, sources)
        if chart:
            blocks.append(chart)
    by_category = _dicts(criterion.get("by_category"))
    if by_category:
        names = [s for s, _ in sources]
        for per in by_category.values():
            per = _dicts(per)
            extra = ["human"] if "human" in per else []
            extra += list(_dicts(per.get("judges")))
            names += [n for n in extra if n not in names]
        cat_rows = []
        for category, per in by_category.items():
            per = _dicts(per)
            cells = dict(_sources(per))
            cat_rows.append([category] + [_cell(cells.get(n)) for n in names])
        blocks.append(Table(f"{name} by category", ["category", *names], cat_rows))
    return blocks


def ppi_blocks(name: str, sample: Mapping[str, Any], stat: str, ci_key: str = "ci") -> list[Block]:
    """The prediction-powered estimates (sessions/report/ppi.py) of a criterion or a pair
    of sessions: per judge, your random-sample labels (n random) with the judge's labels on
    every item it judged (n judged), the estimate and its 95% CLT interval ("n too small"
    below MIN_N random labels), lambda and the human labels it is worth; or why there is
    none. Nothing when the document has no `n_random` (a report written before it)."""
    if "n_random" not in sample:
        return []
    if sample.get("ppi_note"):
        return [Note(f"{name}: {sample['ppi_note']}.")]
    random = fmt_count(sample.get("n_random"))
    title = f"{name}: prediction-powered (your {random} random-sample labels + a judge)"
    rows, notes = [], []
    for judge, entry in _dicts(sample.get("ppi")).items():
        if not isinstance(entry, Mapping):
            continue
        shown = enough(entry) and entry.get(stat) is not None
        cells = figure_cells(entry.get(stat), entry.get(ci_key), shown=enough(entry))
        worth = _num(entry.get("n_effective"))
        rows.append([
            judge, fmt_count(entry.get("n_random")), fmt_count(entry.get("n_judged")), *cells,
            fmt(entry.get("lambda")) if shown else DASH,
            f"≈ {worth:.0f}" if shown and worth is not None else DASH,
        ])  # fmt: skip
        if entry.get("reason"):
            notes.append(f"{judge}: {entry['reason']}.")
    if not rows:  # no judge scored this criterion: the sample's size is still worth saying
        return [Note(f"{name}: {random} of your labels are in the random sample (no judge to combine with).")]
    notes.append(
        "PPI++: the judge's mean on every judged item, corrected by its error on your random "
        "sample; λ is the judge's weight (0: your labels alone); worth: the random labels a "
        "human-only interval this narrow would need."
    )
    columns = ["judge", "n random", "n judged", stat, "95% CI", "λ", "worth"]
    return [Table(title, columns, rows, notes=notes)]


def _cell(entry: Mapping[str, Any] | None) -> str:
    """An aggregate in one cell: "3.90 [3.70, 4.10] n=20", or tag counts."""
    if not isinstance(entry, Mapping) or not entry:
        return DASH
    if "counts" in entry:
        counts = _dicts(entry.get("counts"))
        return ", ".join(f"{tag} {fmt_count(c)}" for tag, c in counts.items()) or DASH
    return _with_n(estimate(entry, value_key(entry)), entry)


def _tags_table(title: str, sources: list[tuple[str, Mapping[str, Any]]]) -> Table:
    tags: list[str] = []
    for _, agg in sources:
        tags += [t for t in _dicts(agg.get("counts")) if t not in tags]
    first = _dicts(sources[0][1].get("counts")) if sources else {}
    tags.sort(key=lambda t: -(_num(first.get(t)) or 0))
    rows = [["n labelled"] + [fmt_count(agg.get("n")) for _, agg in sources]]
    rows += [[tag] + [fmt_count(_dicts(agg.get("counts")).get(tag, 0)) for _, agg in sources] for tag in tags]
    return Table(f"{title}: times each tag was given", ["tag", *(s for s, _ in sources)], rows)


def _score_key(key: str) -> tuple[float, str]:
    number = _num(_to_number(key))
    return (number if number is not None else math.inf, key)


def _to_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _distribution_chart(
    name: str, criterion: Mapping[str, Any], sources: list[tuple[str, Mapping[str, Any]]]
) -> Chart | None:
    keys: list[str] = []
    scale = _scale(criterion)
    if scale and scale[1] - scale[0] <= 20 and float(scale[0]).is_integer():
        keys = [f"{v:g}" for v in range(int(scale[0]), int(scale[1]) + 1)]
    for _, agg in sources:
        keys += [str(k) for k in _dicts(agg.get("distribution")) if str(k) not in keys]
    keys.sort(key=_score_key)
    series = []
    for source, agg in sources:
        dist = {str(k): v for k, v in _dicts(agg.get("distribution")).items()}
        if any(_num(v) for v in dist.values()):  # a source with no labels has no shape
            series.append(Series(source, [_num(dist.get(k, 0)) or 0.0 for k in keys]))
    if not series or not keys:
        return None
    return Chart(
        f"{name}: distribution of scores",
        keys,
        series,
        kind="counts",
        caption="Bars are each source's share of its own labels; the numbers are counts.",
        criterion=name,
    )


def _agreement_rows(entries: Mapping[str, Any]) -> tuple[list[list[str]], list[str]]:
    rows, notes = [], []
    for who, entry in entries.items():
        if not isinstance(entry, Mapping):
            continue
        n = fmt_count(entry.get("n"))
        if not enough(entry):
            rows.append([who, n, TOO_SMALL, TOO_SMALL, TOO_SMALL, TOO_SMALL])
            continue
        rows.append(
            [
                who,
                n,
                fmt(entry.get("exact")),
                estimate(entry, "kappa", "kappa_ci", check_n=False),
                estimate(entry, "alpha", "alpha_ci", check_n=False),
                fmt(entry.get("spearman")),
            ]
        )
        if entry.get("undefined"):
            notes.append(f"{who}: {UNDEFINED}: {entry['undefined']}")
    return rows, notes


def _agreement_title(name: str, entries: Mapping[str, Any]) -> str:
    first = next((e for e in entries.values() if isinstance(e, Mapping)), {})
    how = [
        f"κ {first['kappa_weights']}" if first.get("kappa_weights") not in (None, "", "none") else "",
        f"α {first['alpha_level']}" if first.get("alpha_level") else "",
    ]
    how = [h for h in how if h]
    return f"{name}: human vs judge" + (f" ({', '.join(how)})" if how else "")


def _agreement(doc: Mapping[str, Any]) -> Iterable[Section]:
    section = Section("Agreement")
    columns = ["judge", "n", "exact", "κ [95% CI]", "α [95% CI]", "ρ"]
    judges: list[str] = []
    panels = _panel_names(doc)
    for name, entries in _dicts(doc.get("agreement")).items():
        entries = {_panel_label(j, panels): e for j, e in _dicts(entries).items()}
        rows, notes = _agreement_rows(entries)
        judges += [row[0] for row in rows]
        if rows:
            section.blocks.append(Table(_agreement_title(name, entries), columns, rows, notes=notes))
    for name, entries in _dicts(doc.get("agreement_by_template")).items():
        entries = _dicts(entries)
        rows, notes = _agreement_rows(entries)
        judges += [str(e.get("judge")) for e in entries.values() if isinstance(e, Mapping) and e.get("judge")]
        if rows:
            title = f"{name}: human vs judge, per judge template"
            section.blocks.append(Table(title, ["template", *columns[1:]], rows, notes=notes))
    if section.blocks:  # once for the section: every table above has the same judges' failures
        section.blocks += [Note(n) for n in _failure_notes(judges, _failures(doc.get("judge_health")))]
    yield section


def _effective_judges(doc: Mapping[str, Any]) -> Iterable[Section]:
    """Per criterion, how many independent judges the judges are worth, from the correlation
    of their errors against your labels (docs/judges.md)."""
    section = Section("Effective judges")
    rows = []
    for name, entry in _dicts(doc.get("judges_effective")).items():
        entry = _dicts(entry)
        n_eff, rho = _num(entry.get("n_effective")), _num(entry.get("mean_error_correlation"))
        shown = f"{n_eff:.2f} of {fmt_count(entry.get('k'))}" if n_eff is not None else UNDEFINED
        if entry.get("undefined"):
            shown += f" ({entry['undefined']})"
        rows.append([name, fmt_count(entry.get("n")), fmt(rho) if rho is not None else DASH, shown])
    if rows:
        note = (
            "n_eff = k / (1 + (k − 1)·ρ̄), ρ̄ the mean pairwise correlation of the judges' errors "
            "(judge − you) on the n items all of them and you scored: 1 when they err together, k when "
            "their errors are independent. Panels are not counted; a judge whose error never varies "
            "is left out."
        )
        columns = ["criterion", "n", "mean error ρ", "independent judges"]
        section.blocks.append(Table("Effective number of independent judges", columns, rows, notes=[note]))
    yield section


def _judge_health(doc: Mapping[str, Any]) -> Iterable[Section]:
    section = Section("Judge health")
    health = {k: v for k, v in _dicts(doc.get("judge_health")).items() if isinstance(v, Mapping)}
    rows = []
    for judge, h in health.items():
        kinds = _dicts(h.get("errors_by_kind"))
        by_kind = ", ".join(f"{k} {fmt_count(v)}" for k, v in kinds.items() if _num(v)) or DASH
        shown = bool(h["enough"]) if "enough" in h else None  # else: from n = judged
        rate = figure_text(h.get("error_rate"), h.get("error_rate_ci"), h.get("judged"), shown=shown)
        rows.append([judge, fmt_count(h.get("judged")), fmt_count(h.get("errors")), rate, by_kind])
    if rows:
        section.blocks.append(
            Table(
                "Errors",
                ["judge", "judged", "errors", "error rate [95% CI]", "by kind"],
                rows,
                ["l", "r", "r", "r", "l"],
            )
        )
    bias_rows = []
    for judge, h in health.items():
        judge_rho = _dicts(h.get("length_spearman"))
        human_rho = _dicts(h.get("human_length_spearman"))
        for criterion in [*judge_rho, *(c for c in human_rho if c not in judge_rho)]:
            bias_rows.append(
                [judge, criterion, _rho_cell(judge_rho.get(criterion)), _rho_cell(human_rho.get(criterion))]
            )
    if bias_rows:
        section.blocks.append(
            Table(
                "Length bias: Spearman ρ of score against answer length",
                ["judge", "criterion", "judge ρ [95% CI]", "human ρ [95% CI]"],
                bias_rows,
                ["l", "l", "r", "r"],
                notes=["A judge ρ well above the human's means the judge rewards length itself."],
            )
        )
    revision_rows = []
    for judge, h in health.items():
        rev = _dicts(h.get("revisions_after_reveal"))
        if rev:
            revision_rows.append(
                [
                    judge,
                    fmt_count(rev.get("n")),
                    fmt_count(rev.get("of_labels")),
                    figure_text(rev.get("rate"), None, rev.get("of_labels"), digits=3),
                ]
            )
    if revision_rows:
        section.blocks.append(
            Table(
                "Human labels revised after the judge's verdict was revealed",
                ["judge", "revised", "of labels", "rate"],
                revision_rows,
            )
        )
    yield section


def _rho_cell(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return DASH
    return _with_n(estimate(entry, "rho"), entry)


def _rate_rows(entries: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> list[list[str]]:
    rows = []
    for key, entry in entries.items():
        if not isinstance(entry, Mapping):
            continue
        label = (labels or {}).get(key, key)
        stat = value_key(entry)
        shown = enough(entry)
        rows.append(
            [
                label,
                fmt_count(entry.get("n")),
                *figure_cells(entry.get(stat), entry.get("ci"), shown=shown),
            ]
        )
    return rows


IFEVAL_LABELS = {
    "prompt_strict": "prompt-level strict",
    "prompt_loose": "prompt-level loose",
    "instruction_strict": "instruction-level strict",
    "instruction_loose": "instruction-level loose",
}
METRIC_LABELS = {"rougeL": "ROUGE-L", "bleu": "BLEU", "chrf": "chrF"}


def _checks(doc: Mapping[str, Any]) -> Iterable[Section]:
    checks = _dicts(doc.get("checks"))
    section = Section("Checks")
    ifeval = _dicts(checks.get("ifeval"))
    if ifeval:
        ordered = {k: ifeval[k] for k in IFEVAL_LABELS if k in ifeval}
        ordered.update({k: v for k, v in ifeval.items() if k not in ordered})
        rows = _rate_rows(ordered, IFEVAL_LABELS)
        if rows:
            section.blocks.append(Table("IFEval (share followed)", ["level", "n", "rate", "95% CI"], rows))
    items = _rate_rows(_dicts(checks.get("items")))
    if items:
        section.blocks.append(
            Table("Per-item checks (share passed)", ["check", "n", "rate", "95% CI"], items)
        )
    metrics = {k: v for k, v in _dicts(checks.get("metrics")).items() if isinstance(v, Mapping)}
    if metrics:
        rows = _rate_rows(metrics, METRIC_LABELS)
        note = checks.get("metrics", {}).get("note")
        notes = [str(note)] if note else []
        title = "Reference metrics: overlap with one reference"
        section.blocks.append(Table(title, ["metric", "n", "mean", "95% CI"], rows, notes=notes))
    yield section


def _method_names(methods: Mapping[str, Any]) -> list[str]:
    """Every method key, human first, then judges, then checks, then the rest."""
    seen: list[str] = []
    for per in methods.values():
        per = _dicts(per)
        for group in [_dicts(per.get("overall")), *map(_dicts, _dicts(per.get("by_category")).values())]:
            seen += [k for k in group if k not in seen]

    def rank(key: str) -> int:
        if key == "human":
            return 0
        if key.startswith("judge:"):
            return 1
        return 2 if key.startswith("check:") else 3

    return sorted(seen, key=lambda k: (rank(k), seen.index(k)))


def _unit(
    value: float | None, key: str, entry: Mapping[str, Any], criterion: Mapping[str, Any]
) -> float | None:
    """A methods value on 0–1 for the one chart: a likert mean rescaled from its scale,
    a rate as it is (checks are rates)."""
    if value is None:
        return None
    if "scale" in entry:
        scale = _scale(entry)
    elif key.startswith("check:") or criterion.get("kind") != "likert":
        scale = None
    else:
        scale = _scale(criterion)
    return value if scale is None else (value - scale[0]) / (scale[1] - scale[0])


def _methods(doc: Mapping[str, Any]) -> Iterable[Section]:
    methods = {k: v for k, v in _dicts(doc.get("methods")).items() if isinstance(v, Mapping)}
    section = Section("Methods side by side")
    if not methods:
        yield section
        return
    names = _method_names(methods)
    rows = []
    for criterion, per in methods.items():
        overall = _dicts(per.get("overall"))
        rows.append([criterion] + [_cell(overall.get(n)) for n in names])
        for category, group in _dicts(per.get("by_category")).items():
            group = _dicts(group)
            rows.append([f"  {category}"] + [_cell(group.get(n)) for n in names])
    section.blocks.append(
        Table(
            "Each method's estimate [95% CI] n",
            ["criterion / category", *names],
            rows,
            ["l"] * (len(names) + 1),
            _failure_notes(names, _failures(doc.get("judge_health"))),
        )
    )
    criteria = _dicts(doc.get("criteria"))
    labels, values, lows, highs, texts = [], [], [], [], []
    rescaled = False
    for criterion, per in methods.items():
        info = _dicts(criteria.get(criterion))
        for key, entry in _dicts(per.get("overall")).items():
            if not isinstance(entry, Mapping) or not enough(entry):
                continue
            value = _num(entry.get(value_key(entry)))
            if value is None:
                continue
            ci = entry.get("ci") if isinstance(entry.get("ci"), Sequence) else None
            low = _num(ci[0]) if ci and len(ci) == 2 else None
            high = _num(ci[1]) if ci and len(ci) == 2 else None
            unit = _unit(value, key, entry, info)
            rescaled = rescaled or unit != value
            labels.append(f"{criterion} · {key}")
            texts.append(fmt(value))
            values.append(unit)
            lows.append(_unit(low, key, entry, info))
            highs.append(_unit(high, key, entry, info))
    if labels:
        caption = "Overall estimates with 95% intervals"
        if rescaled:
            caption += (
                "; bars of likert means are drawn rescaled to 0–1 (scale minimum 0, maximum 1) "
                "to share the axis, their numbers as they are"
            )
        series = Series("estimate", values, lows, highs, texts)
        section.blocks.append(Chart("Methods side by side", labels, [series], caption=caption + "."))
    yield section


def _reliability(doc: Mapping[str, Any]) -> Iterable[Section]:
    rel = _dicts(doc.get("reliability"))
    section = Section("Reliability")
    if not rel:
        yield section
        return
    if "probes" in rel:
        section.blocks.append(
            Note(
                f"Rater reliability probes (items shown again to the same rater): {fmt_count(rel['probes'])}"
            )
        )
    rows = []
    for criterion, entry in _dicts(rel.get("test_retest")).items():
        if not isinstance(entry, Mapping):
            continue
        n = fmt_count(entry.get("n"))
        if not enough(entry):
            rows.append([criterion, n, TOO_SMALL, TOO_SMALL])
        else:
            rows.append(
                [criterion, n, fmt(entry.get("exact")), estimate(entry, "kappa", "kappa_ci", check_n=False)]
            )
    if rows:
        section.blocks.append(Table("Test-retest", ["criterion", "n", "exact", "κ [95% CI]"], rows))
    for criterion, entry in _dicts(rel.get("drift")).items():
        if not isinstance(entry, Mapping):
            continue
        first, last = _dicts(entry.get("first")), _dicts(entry.get("last"))
        shown = enough(first) and enough(last)
        difference = list(
            figure_cells(entry.get("difference"), entry.get("difference_ci"), shown=shown, signed=True)
        )
        rows = [
            ["first", fmt_count(first.get("n")), *_estimate_cells(first)],
            ["last", fmt_count(last.get("n")), *_estimate_cells(last)],
            ["last − first", "", *difference],
        ]
        split = f" ({entry['split']})" if entry.get("split") else ""
        title = f"Drift: {criterion}, the same rater early and late{split}"
        section.blocks.append(Table(title, ["", "n", "mean", "95% CI"], rows))
    yield section


_KAPPA = {
    "run": "on the items both raters labelled; quadratic weights on a scale, unweighted on yes/no",
    "comparison": "on the pairs both raters voted on; unweighted",
}


_RULE = {
    "run": "a strict majority on yes/no, the median on a scale (the lower one on a tie); disputed, and left "
    "out until adjudicated, without a majority or when a scale's labels are 2 or more apart",
    "comparison": "a strict majority of the votes on a pair (a, b, tie or both_bad); disputed, and left out, "
    "without one",
}
_ALPHA = {
    "run": "ordinal on a scale, nominal on yes/no; n: the items two or more raters labelled",
    "comparison": "nominal over a, b, tie and both_bad; n: the pairs two or more raters voted on",
}


def _raters(doc: Mapping[str, Any]) -> Iterable[Section]:
    """Several raters of one session or comparison (sessions/report/raters.py): an
    assignment's progress per rater, alpha across them, the kappa of each pair, each
    against the consensus of the others, and their labels; only the criteria someone
    labelled (a comparison's one criterion is its vote)."""
    raters = _dicts(doc.get("raters"))
    section = Section("Raters")
    progress = _dicts(raters.get("progress"))
    if progress:
        rows = [
            [str(name), fmt_count(_dicts(p).get("assigned")), fmt_count(_dicts(p).get("labelled"))]
            for name, p in progress.items()
        ]
        note = "labelled: assigned items with every required criterion labelled on the current answer"
        section.blocks.append(
            Table("Progress per rater (assignment)", ["rater", "assigned", "labelled"], rows, notes=[note])
        )
    names = [str(name) for name in raters.get("names") or []]
    labels = {name: _dicts(_dicts(raters.get("labels")).get(name)) for name in names}
    criteria = [c for c in _dicts(raters.get("alpha")) if any(of.get(c) for of in labels.values())]
    if len(names) < 2 or not criteria:
        yield section
        return
    of = "comparison" if doc.get("comparison") is not None else "run"
    section.blocks.append(
        Note(
            f"{len(names)} raters: {', '.join(names)}. Their consensus is the human "
            f"{'vote' if of == 'comparison' else 'label'} in every other number: {_RULE[of]}."
        )
    )
    rows = [[name, *(fmt_count(labels[name].get(c)) for c in criteria)] for name in names]
    title = (
        "Votes per rater (on pairs in force)"
        if of == "comparison"
        else "Labels per rater (on current answers)"
    )
    section.blocks.append(Table(title, ["rater", *criteria], rows))
    consensus = _dicts(raters.get("consensus"))
    statuses = ("agreed", "single", "disputed", "adjudicated")
    rows = [[c, *(fmt_count(_dicts(consensus.get(c)).get(s, 0)) for s in statuses)] for c in criteria]
    title = "Consensus per pair" if of == "comparison" else "Consensus per item"
    section.blocks.append(Table(title, ["criterion", *statuses], rows))
    alpha = _dicts(raters.get("alpha"))
    rows = [
        [c, fmt_count(_dicts(alpha.get(c)).get("n")), estimate(_dicts(alpha.get(c)), "alpha")]
        for c in criteria
    ]
    note = _ALPHA[of]
    section.blocks.append(
        Table("Krippendorff's α across all raters", ["criterion", "n", "α [95% CI]"], rows, notes=[note])
    )
    kappa = _dicts(raters.get("pairwise_kappa"))
    for c in criteria:
        pairs = _dicts(kappa.get(c))
        rows = [
            [pair.replace("|", " · "), fmt_count(_dicts(e).get("n")), estimate(_dicts(e), "kappa")]
            for pair, e in pairs.items()
        ]
        if rows:
            section.blocks.append(
                Table(
                    f"{c}: Cohen's κ per pair of raters",
                    ["pair", "n", "κ [95% CI]"],
                    rows,
                    notes=[_KAPPA[of]],
                )
            )
    versus = _dicts(raters.get("vs_consensus"))
    rows = [
        [
            name,
            c,
            fmt_count(_dicts(_dicts(versus.get(name)).get(c)).get("n")),
            estimate(_dicts(_dicts(versus.get(name)).get(c)), "agreement"),
        ]
        for name in names
        for c in criteria
    ]
    note = "each rater's label against the consensus of the other raters (leave-one-out), where they have one"
    section.blocks.append(
        Table(
            "Each rater against the others' consensus",
            ["rater", "criterion", "n", "agreement [95% CI]"],
            rows,
            notes=[note],
        )
    )
    yield section


def _estimate_cells(entry: Mapping[str, Any]) -> tuple[str, str]:
    """An aggregate as two cells, the estimate and its interval ("n too small", "")."""
    if not entry:
        return DASH, ""
    return figure_cells(entry.get(value_key(entry)), entry.get("ci"), shown=enough(entry))


def _runs(doc: Mapping[str, Any]) -> Iterable[Section]:
    runs = {k: _dicts(v) for k, v in _dicts(doc.get("runs")).items()}
    section = Section("Runs")
    if len(runs) > 1:
        keys: list[tuple[str, str]] = []
        cells: dict[tuple[str, str], dict[str, str]] = {}
        for run, data in runs.items():
            for criterion, info in _dicts(data.get("criteria")).items():
                info = _dicts(info)
                if info.get("kind") == "tags":
                    continue
                for source, agg in _sources(info):
                    key = (criterion, source)
                    if key not in keys:
                        keys.append(key)
                    cells.setdefault(key, {})[run] = _cell(agg)
        rows = [
            [criterion, source] + [cells[(criterion, source)].get(r, DASH) for r in runs]
            for criterion, source in keys
        ]
        sources = [source for _, source in keys]
        notes = [
            f"{run}: {note}"
            for run, data in runs.items()
            for note in _failure_notes(sources, _failures(data.get("judge_health")))
        ]
        if rows:
            section.blocks.append(
                Table(
                    "Each run's scores [95% CI] n",
                    ["criterion", "source", *runs],
                    rows,
                    ["l"] * (len(runs) + 2),
                    notes,
                )
            )
    paired = [p for p in doc.get("paired") or [] if isinstance(p, Mapping)]
    pairs: dict[tuple[str, str], list[list[str]]] = {}
    tests: dict[tuple[str, str], list[list[str]]] = {}
    for p in paired:
        shown = enough(p)
        key = (str(p.get("a", "")), str(p.get("b", "")))
        row = [str(p.get("criterion", "")), str(p.get("source", ""))]
        pairs.setdefault(key, []).append(
            [
                *row,
                fmt_count(p.get("n")),
                fmt(p.get("mean_a")) if shown else "",
                fmt(p.get("mean_b")) if shown else "",
                estimate(p, "difference", "ci", signed=True),
            ]
        )
        if shown and fmt_p(p.get("p")):
            tests.setdefault(key, []).append(
                [*row, fmt(p.get("difference"), signed=True), str(p.get("test") or ""), fmt_p(p.get("p"))]
            )
    for (a, b), rows in pairs.items():
        sources = [row[1] for row in rows]
        notes = [
            f"{run}: {note}"
            for run in (a, b)
            for note in _failure_notes(sources, _failures(runs.get(run, {}).get("judge_health")))
        ]
        section.blocks.append(
            Table(
                f"Paired differences {b} − {a} (over the items both answered)",
                ["criterion", "source", "n", a, b, "difference [95% CI]"],
                rows,
                ["l", "l", "r", "r", "r", "r"],
                notes,
            )
        )
        if (a, b) in tests:
            # A table of its own beside the differences: with the p as a seventh column
            # a long criterion name would wrap the intervals in an 80-column terminal.
            section.blocks.append(
                Table(
                    f"Paired tests {b} − {a} (two-sided, on the same items)",
                    ["criterion", "source", "difference", "test", "p"],
                    tests[(a, b)],
                    ["l", "l", "r", "l", "l"],
                    [PAIRED_TESTS_NOTE],
                )
            )
    yield section


def _comparison(doc: Mapping[str, Any]) -> Iterable[Section]:
    comp = _dicts(doc.get("comparison"))
    section = Section("Comparison")
    if not comp:
        yield section
        return
    names = [str(s) for s in comp.get("sessions") or []]
    if names:
        section.blocks.append(Note("Sessions compared: " + ", ".join(names)))
    if _num(comp.get("stale")):
        section.blocks.append(
            Note(f"{fmt_count(comp['stale'])} stale pairs (a source's answer changed since) left out.")
        )
    groups = [g for g in comp.get("groups") or [] if isinstance(g, Mapping)]
    sources = _dicts(comp.get("sources"))
    panels = {str(_dicts(panel).get("name")) for panel in comp.get("panels") or []}
    if sources and len(groups) <= 1:
        first = next((s for s in sources.values() if isinstance(s, Mapping)), {})
        a = str(first.get("a") or (names[0] if names else "A"))
        b = str(first.get("b") or (names[1] if len(names) > 1 else "B"))
        signs = _dicts(comp.get("sign_test"))
        section.blocks += _pair_blocks(a, b, sources, _dicts(comp.get("agreement")), signs, panels)
        section.blocks += ppi_blocks(f"{b} over {a}", comp, "win_rate_b", "win_rate_b_ci")
    else:
        for group in groups:
            section.blocks += _pair_blocks(
                str(group.get("a", "A")), str(group.get("b", "B")),
                _dicts(group.get("sources")), _dicts(group.get("agreement")), _dicts(group.get("sign_test")),
                panels,
            )  # fmt: skip
            pair = f"{group.get('b', 'B')} over {group.get('a', 'A')}"
            section.blocks += ppi_blocks(pair, group, "win_rate_b", "win_rate_b_ci")
    section.blocks += _category_tables(comp.get("by_category"))
    every = [_dicts(g.get("sources")) for g in groups] if groups else [sources]
    failures = _pair_failures(every)
    for source, ratings in _dicts(comp.get("ratings")).items():
        rows, notes = [], _failure_notes([source], failures)
        for r in ratings or []:
            if not isinstance(r, Mapping):
                continue
            n = fmt_count(r.get("n"))
            rating = fmt(r.get("rating"), 0)
            interval = f"[{fmt(r.get('ci_low'), 0)}, {fmt(r.get('ci_high'), 0)}]"
            if not enough(r):
                rating, interval = TOO_SMALL, ""
            rows.append([fmt_count(r.get("rank")), str(r.get("session", "")), rating, interval, n])
            if r.get("unbounded"):
                notes.append(
                    f"{r.get('session', '')}: unbounded (won or lost every comparison that links it "
                    "to the rest; only the order holds)"
                )
        if rows:
            section.blocks.append(
                Table(
                    f"Bradley-Terry ratings ({source}; Arena scale)",
                    ["rank", "session", "rating", "95% CI", "n"],
                    rows,
                    ["r", "l", "r", "r", "r"],
                    notes=notes,
                )
            )
    yield section


BIASES = {
    "flip_rate": "flip (both orders)",
    "first_position_rate": "first position",
    "prefer_longer_rate": "prefer longer",
}


def _bias_cells(entry: Mapping[str, Any], key: str) -> list[str]:
    """A bias rate's n, rate and interval; each rate has its own n (`KEY_n`)."""
    n = entry.get(f"{key}_n")
    shown = n is None or enough({"n": n})
    return [fmt_count(n), *figure_cells(entry.get(key), entry.get(f"{key}_ci"), shown=shown)]


def _pair_blocks(
    a: str,
    b: str,
    sources: Mapping[str, Any],
    agreement: Mapping[str, Any],
    signs: Mapping[str, Any],
    panels: set[str],
) -> list[Block]:
    """The win-rate table (under it each source's sign test of B's wins against A's; a panel
    named as one, without failures of its own), the biases, the chart and the agreement of
    one pair of sessions."""
    blocks: list[Block] = []
    rows, bias_rows, notes = [], [], []
    labels, values, lows, highs, texts = [], [], [], [], []
    failures = _pair_failures([sources])
    for name, s in sources.items():
        if not isinstance(s, Mapping):
            continue
        shown = enough(s)
        win = estimate(s, "win_rate_b", "win_rate_b_ci") if shown else TOO_SMALL
        lc = estimate(s, "lc_win_rate_b", "lc_win_rate_b_ci", check_n=False) if shown else TOO_SMALL
        if shown and _num(s.get("lc_win_rate_b")) is None:
            lc = DASH
        failed = DASH if name == "human" or name in panels else fmt_count(s.get("errors") or 0)
        rows.append(
            [_panel_label(name, panels), fmt_count(s.get("n")), fmt_count(s.get("wins_a")),
             fmt_count(s.get("wins_b")), fmt_count(s.get("ties")), failed, win, lc]
        )  # fmt: skip
        for key, label in BIASES.items():
            if _num(s.get(key)) is not None:
                bias_rows.append([name, label, *_bias_cells(s, key)])
        if s.get("lc_warning"):
            notes.append(f"{name}: {s['lc_warning']}")
        if shown and _num(s.get("win_rate_b")) is not None:
            ci = s.get("win_rate_b_ci")
            ok = isinstance(ci, Sequence) and len(ci) == 2
            labels.append(name)
            texts.append(fmt(s.get("win_rate_b")))
            values.append(_num(s.get("win_rate_b")))
            lows.append(_num(ci[0]) if ok else None)
            highs.append(_num(ci[1]) if ok else None)
    sign_texts = {name: sign_text(_dicts(signs.get(name))) for name in sources}
    tested = [f"{_panel_label(name, panels)} {text}" for name, text in sign_texts.items() if text != DASH]
    if tested:  # a note, not a column: the table stays within 80 characters
        notes.insert(0, "sign test of B's wins against A's, ties dropped: " + " · ".join(tested))
    if rows:
        blocks.append(
            Table(
                f"B = {b} vs A = {a}: win rate of B (ties count half)",
                ["source", "n", "A", "B", "tie", "failed", "win rate [95% CI]", "LC [95% CI]"],
                rows,
                notes=notes,
            )
        )
    if bias_rows:
        blocks.append(
            Table(
                f"B = {b} vs A = {a}: position and length biases",
                ["source", "measure", "n", "rate", "95% CI"],
                bias_rows,
                ["l", "l", "r", "r", "r"],
                notes=[
                    "flip: share of pairs whose two orders disagree; first position, prefer longer: "
                    "share of decisive verdicts that chose the answer shown first, or the longer one.",
                    *_failure_notes([row[0] for row in bias_rows], failures),
                ],
            )
        )
    if labels:
        blocks.append(
            Chart(
                f"Win rate of {b} over {a}",
                labels,
                [Series("win rate", values, lows, highs, texts)],
                reference=0.5,
                caption="Whiskers are 95% bootstrap intervals; 0.5 is a tie.",
            )
        )
    agree_rows = []
    for judge, g in agreement.items():
        if not isinstance(g, Mapping):
            continue
        n = fmt_count(g.get("n"))
        if not enough(g):
            agree_rows.append([judge, n, TOO_SMALL, TOO_SMALL])
            continue
        agree_rows.append(
            [
                judge,
                n,
                estimate(g, "agreement", "agreement_ci", check_n=False),
                estimate(g, "kappa", "kappa_ci", check_n=False),
            ]
        )
    if agree_rows:
        blocks.append(
            Table(
                f"B = {b} vs A = {a}: human vs judge on the pairs both decided",
                ["judge", "n", "agreement [95% CI]", "κ [95% CI]"],
                agree_rows,
                notes=_failure_notes([row[0] for row in agree_rows], failures),
            )
        )
    return blocks


# ---------------------------------------------------------------------------------------
# Public API.


# What json.dumps leaves raw with ensure_ascii=False that a terminal or a browser acts on:
# DEL, the C1 controls (0x9b is a CSI to some terminals) and the characters that reorder
# or hide text (bidi overrides, zero-width marks, line and paragraph separators).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def render_json(doc: Mapping[str, Any]) -> str:
    """The document itself, for scripts. allow_nan=False: the schema promises null, never
    NaN, and a NaN would make the output unreadable to strict JSON parsers. Every string is
    kept exactly (a script reads the real names), but written so that the text printed to
    a terminal is inert: json escapes the C0 controls (ESC as \\u001b) and the rest of
    what a terminal would obey is written as a \\uXXXX escape too (the same string to
    any JSON reader)."""
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
