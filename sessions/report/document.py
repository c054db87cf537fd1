"""The report's data: one JSON document for one or more session directories.

`build_report(directories)` reads each session (without locking it: a running session
can be reported on), and returns a typed `Report`; `Report.to_dict()` is the document
`sftscope report --format json` prints and every other format renders
(the report schema, docs/reports.md). Three cases:

- one run session: its criteria, agreement, judge health, checks, methods side by side
  and rater reliability at the top level (sessions/report_run.py);
- several run sessions over the same prompts: the first one's figures at the top level,
  each one's under "runs", and under "paired" each source's B minus A difference on the
  items both sessions share, for every pair of sessions in the order given;
- one comparison session: "comparison", compare_stats' summary of its pairs.

Bad input is a ReportError: one line naming the path (not a session, a comparison mixed
with run sessions, run sessions with no item in common).

The statistics (numpy, scipy, scikit-learn, krippendorff) are imported by this module
and its report_* neighbours: the command line imports it only when it reports.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sftscope.scorers.panel import panels_in
from sftscope.scorers.rubric import DEFAULT_RUBRIC, Rubric, RubricError
from sftscope.scorers.stats.aggregates import PairedDifference, finite, level_means
from sftscope.scorers.stats.agreement import percentile_interval
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.scorers.stats.paired import paired_test
from sftscope.scorers.stats.pairwise import ComparisonSummary, PairRecord, summarize
from sftscope.sessions.compare.comparison import (
    ComparisonState,
    check_sources,
    read_comparison,
    same_prompt,
    source_names,
)
from sftscope.sessions.compare.summary import (
    apply_pair_panels,
    category_groups,
    compared_sides,
    pair_disagreements,
    pair_records,
    sign_tests,
)
from sftscope.sessions.core.assignment import AssignmentError
from sftscope.sessions.core.consensus import reading_state
from sftscope.sessions.core.panels import apply_panels
from sftscope.sessions.core.raters import read_ratings, writer_lines
from sftscope.sessions.core.state import SessionState
from sftscope.sessions.core.store import SessionError, load_session, paused_gc
from sftscope.sessions.core.version import VERSION
from sftscope.sessions.report.items import comparison_pairs, run_items
from sftscope.sessions.report.ppi import (
    SamplePPI,
    comparison_ppi,
    criteria_with_ppi,
    groups_with_ppi,
    run_ppi,
)
from sftscope.sessions.report.raters import RaterFigures, comparison_rater_figures, rater_figures
from sftscope.sessions.report.runs import (
    CHECK_SOURCE,
    DISAGREEMENTS,
    RunFigures,
    check_values,
    item_values,
    judge_source,
    run_context,
    run_figures,
    runs_paired,
)


class ReportError(Exception):
    """Directories that cannot be reported on: one line naming the path."""


@dataclass(frozen=True)
class SessionInfo:
    """One directory given: what it is and how far it got."""

    name: str
    path: str
    kind: str  # "run" | "comparison"
    model: str | None
    items: int
    answered: int  # a run: items answered in full; a comparison: pairs in force
    labelled: int  # a run: items with a human label; a comparison: pairs voted on
    status: str | None
    context: dict[str, Any] | None = None  # a run: what it compared (runs.run_context)

    def to_dict(self) -> dict[str, Any]:
        context = {} if self.context is None else {"context": self.context}
        return {
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "model": self.model,
            "items": self.items,
            "answered": self.answered,
            "labelled": self.labelled,
            "status": self.status,
            **context,
        }


@dataclass(frozen=True)
class Report:
    """The whole report. `run` describes the first run session (None for a comparison);
    `runs` every run session by name when there are several; `paired` their paired
    differences; `comparison` a comparison session's summary."""

    resamples: int
    seed: int
    sessions: tuple[SessionInfo, ...]
    run: RunFigures | None = None
    runs: dict[str, RunFigures] | None = None
    paired: tuple[PairedDifference, ...] = ()
    comparison: ComparisonSummary | None = None
    warnings: tuple[str, ...] = ()
    version: str = VERSION
    # A comparison's sides, per-category win rates and largest disagreements (_compared).
    compared: dict[str, Any] | None = None
    # "items" (a run) or "pairs" (a comparison) for the HTML viewer (sessions/report/items.py):
    # only when build_report(..., items=True) asks; already JSON-safe (read from the log).
    views: dict[str, list[dict[str, Any]]] | None = None
    # Prediction-powered estimates (sessions/report/ppi.py): per run session by name, its
    # criteria's; for a comparison, per pair of sessions (a, b).
    ppi: dict[str, dict[str, SamplePPI]] | None = None
    comparison_ppi: dict[tuple[str, str], SamplePPI] | None = None
    # The first run session's or the comparison's raters (sessions/report/raters.py): with 2+
    # raters, or a run session's [assignment] (its progress per rater).
    raters: RaterFigures | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: the schema's fixed keys always present (empty where they do
        not apply), JSON-safe (no NaN, no tuples, no numpy numbers)."""
        out: dict[str, Any] = {
            "sftscope_version": self.version,
            "resamples": self.resamples,
            "seed": self.seed,
            "sessions": [s.to_dict() for s in self.sessions],
        }
        ppi = self.ppi or {}
        if self.run is not None:
            out.update(self.run.to_dict())
            first = ppi.get(self.sessions[0].name) if self.sessions else None
            out["criteria"] = criteria_with_ppi(out["criteria"], first or {})
        else:
            out.update(criteria={}, agreement={}, judge_health={}, checks={})
        if self.runs is not None:
            out["runs"] = {name: figures.to_dict() for name, figures in self.runs.items()}
            for name, run in out["runs"].items():
                run["criteria"] = criteria_with_ppi(run["criteria"], ppi.get(name, {}))
            out["paired"] = [p.to_dict() for p in self.paired]
            out["runs_paired"] = runs_paired(self.paired)
        out["comparison"] = (
            None if self.comparison is None else _comparison_dict(self.comparison, self.comparison_ppi)
        )
        if out["comparison"] is not None and self.compared:
            out["comparison"].update(self.compared)
        if self.raters is not None:
            out["raters"] = self.raters.to_dict()
        out["warnings"] = list(self.warnings)
        return {**_json_safe(out), **(self.views or {})}


def _comparison_dict(
    summary: ComparisonSummary, ppi: dict[tuple[str, str], SamplePPI] | None = None
) -> dict[str, Any]:
    """compare_stats' summary, with the first pair of sessions' sources, agreement and
    prediction-powered win rates at the top (a comparison of two sessions has exactly one
    pair)."""
    data = summary.to_dict()
    groups = groups_with_ppi(data["groups"], ppi or {})
    for group, of in zip(groups, summary.groups, strict=True):  # each source's sign test of B against A
        group["sign_test"] = sign_tests(of.sources)
    first = groups[0] if groups else {"sources": {}, "agreement": {}, "sign_test": {}}
    sample = {key: first[key] for key in ("n_random", "ppi", "ppi_note") if key in first}
    return {
        "sessions": data["sessions"],
        "sources": first["sources"],
        "agreement": first["agreement"],
        "sign_test": first["sign_test"],
        **sample,
        "groups": groups,
        "ratings": data["ratings"],
        "stale": data["stale"],
    }


def _json_safe(value: Any) -> Any:
    """Tuples as lists, numpy numbers as Python's, and a non-finite float as None: the
    figures are built never to be NaN, this is the last guard of `allow_nan=False`."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# ---------------------------------------------------------------------------------------
# Reading the directories.


@dataclass
class _Loaded:
    name: str
    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[str]
    ratings: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def comparison(self) -> bool:
        return self.header.get("kind") == "comparison"

    def state(self) -> SessionState:
        """The run session as its numbers read it: the one rater's labels, or with 2+
        raters their consensus (sessions/core/consensus.py), its panels' verdicts added."""
        return apply_panels(reading_state(self.events, self.ratings, _rubric(self)), self.header)

    def rated(self) -> list[dict[str, Any]]:
        """The writer's log and every rater's records, the labels of a session written before
        raters once (they are in both): the probes the report reads."""
        return writer_lines(self.events) + [r for records in self.ratings.values() for r in records]


def _load(directory: Path, name: str) -> _Loaded:
    path = Path(directory)
    if not path.is_dir():
        why = "not a directory" if path.exists() else "no such directory"
        raise ReportError(f"{path}: not a session directory ({why})")
    if not (path / "session.toml").exists():
        raise ReportError(f"{path}: not a session (no session.toml)")
    try:
        with paused_gc():
            header, events, warnings = load_session(path)
            ratings = read_ratings(path, header, events)  # a comparison's votes too
    except SessionError as exc:
        raise ReportError(str(exc).splitlines()[0]) from None
    return _Loaded(name, path.resolve(), header, events, warnings, ratings)


def _rubric(loaded: _Loaded) -> Rubric:
    raw = loaded.header.get("rubric")
    if not raw:
        return DEFAULT_RUBRIC
    try:
        return Rubric.from_dict(raw)
    except RubricError as exc:
        raise ReportError(f"{loaded.path}: the rubric in session.toml cannot be read ({exc})") from None


def _model(header: dict[str, Any]) -> str | None:
    engine = header.get("engine")
    if not isinstance(engine, dict):
        return None
    model = engine.get("model") or engine.get("requested")
    return str(model) if model else None


def build_report(
    directories: Sequence[Path | str], *, resamples: int = RESAMPLES, seed: int = SEED, items: bool = False
) -> Report:
    """The report of `directories`: one or more run sessions, or one comparison session.

    Every interval is a 95% bootstrap interval of `resamples` resamples seeded by `seed`:
    the same sessions give the same document. Raises ReportError (one line naming the
    path) for a directory that is not a session, a comparison given with other sessions,
    or run sessions that share no item with the first. `items`: the document also carries
    every item (the first run session's) or pair, for the HTML viewer."""
    if not directories:
        raise ReportError("no session directory given")
    paths = [Path(d) for d in directories]
    names = source_names([str(p) for p in paths])
    loaded = [_load(path, name) for path, name in zip(paths, names, strict=True)]
    warnings = tuple(w for session in loaded for w in session.warnings)
    comparisons = [s for s in loaded if s.comparison]
    if comparisons:
        if len(loaded) > 1:
            other = next(s for s in loaded if s is not comparisons[0])
            what = "another comparison" if other.comparison else "a run session"
            raise ReportError(
                f"{comparisons[0].path}: is a comparison, given with {what} ({other.path}); "
                "report a comparison on its own"
            )
        report = _comparison_report(comparisons[0], resamples, seed, warnings)
    else:
        report = _runs_report(loaded, resamples, seed, warnings)
    return _with_views(report, loaded[0]) if items else report


def _with_views(report: Report, loaded: _Loaded) -> Report:
    """The report with its items or pairs (the fold again: it is quick beside the figures)."""
    with paused_gc():
        if loaded.comparison:
            voted = read_comparison(loaded.path, loaded.header, loaded.events)
            state = apply_pair_panels(voted, loaded.header)
            views = {"pairs": comparison_pairs(state)}
        else:
            views = {"items": run_items(loaded.state(), loaded.header)}
    return dataclasses.replace(report, views=views)


def _comparison_report(loaded: _Loaded, resamples: int, seed: int, warnings: tuple[str, ...]) -> Report:
    with paused_gc():
        state = apply_pair_panels(read_comparison(loaded.path, loaded.header, loaded.events), loaded.header)
    # Pairs whose source answer changed since are left out, and the report says so.
    warnings = (*warnings, *check_sources(state, loaded.header, loaded.path))
    records = pair_records(state)
    summary = summarize(records, resamples=resamples, seed=seed)
    pairs = state.ordered()
    info = SessionInfo(
        name=loaded.name,
        path=str(loaded.path),
        kind="comparison",
        model=None,
        items=len(state.items),
        answered=len(pairs),
        labelled=sum(1 for p in pairs if p.human is not None),
        status=loaded.header.get("status"),
    )
    compared = _compared(loaded, state, records, resamples, seed)
    with paused_gc():
        raters = comparison_rater_figures(
            loaded.events, loaded.ratings, [p.pair for p in pairs], resamples=resamples, seed=seed
        )
    return Report(
        resamples,
        seed,
        (info,),
        comparison=summary,
        warnings=warnings,
        compared=compared,
        comparison_ppi=comparison_ppi(state),
        raters=raters,
    )


def _compared(
    loaded: _Loaded, state: ComparisonState, records: list[PairRecord], resamples: int, seed: int
) -> dict[str, Any]:
    """What a comparison compared (each side's engine, model, system message and average
    length), its win rates per category, and the pairs where you and the judges differ most."""
    groups = category_groups(state, records, resamples=resamples, seed=seed)
    return {
        "sides": compared_sides(loaded.header, state),
        "by_category": [group.to_dict() for group in groups],
        "disagreements": pair_disagreements(state, DISAGREEMENTS),
        "panels": [panel.to_dict() for panel in panels_in(loaded.header)],  # sources like judges
    }


def _run_info(loaded: _Loaded, state: SessionState) -> SessionInfo:
    items = state.ordered()
    return SessionInfo(
        name=loaded.name,
        path=str(loaded.path),
        kind="run",
        model=_model(loaded.header),
        items=len(items),
        answered=sum(1 for s in items if s.status == "done"),
        labelled=sum(1 for s in items if s.human),
        status=loaded.header.get("status"),
        context=run_context(loaded.header, state),
    )


def _runs_report(loaded: list[_Loaded], resamples: int, seed: int, warnings: tuple[str, ...]) -> Report:
    # The folds and figures are many small objects without cycles, built over a log of a
    # hundred thousand events: the cyclic collector would only walk them again and again.
    with paused_gc():
        return _runs_figures(loaded, resamples, seed, warnings)


def _runs_figures(loaded: list[_Loaded], resamples: int, seed: int, warnings: tuple[str, ...]) -> Report:
    states = [session.state() for session in loaded]
    rubrics = [_rubric(session) for session in loaded]
    first = states[0]
    for session, state in zip(loaded[1:], states[1:], strict=True):
        _check_common(loaded[0], first, session, state)
    values = [item_values(state, rubric) for state, rubric in zip(states, rubrics, strict=True)]
    figures = [
        run_figures(state, session.rated(), rubric, resamples=resamples, seed=seed, values=got)
        for session, state, rubric, got in zip(loaded, states, rubrics, values, strict=True)
    ]
    ppi = {
        session.name: run_ppi(state, rubric, got.human, got.judges)
        for session, state, rubric, got in zip(loaded, states, rubrics, values, strict=True)
    }
    infos = tuple(_run_info(session, state) for session, state in zip(loaded, states, strict=True))
    head = loaded[0]
    try:
        raters = rater_figures(
            head.events, head.ratings, rubrics[0], header=head.header, resamples=resamples, seed=seed
        )
    except AssignmentError as exc:
        raise ReportError(f"{head.path}: {exc}") from None
    if len(loaded) == 1:
        return Report(resamples, seed, infos, run=figures[0], warnings=warnings, ppi=ppi, raters=raters)
    paired: list[PairedDifference] = []
    for i, j in itertools.combinations(range(len(loaded)), 2):
        paired += _paired(
            (loaded[i].name, states[i], rubrics[i]), (loaded[j].name, states[j], rubrics[j]), resamples, seed
        )
    runs = {session.name: f for session, f in zip(loaded, figures, strict=True)}
    return Report(
        resamples, seed, infos, figures[0], runs, tuple(paired), warnings=warnings, ppi=ppi, raters=raters
    )


def _check_common(first: _Loaded, first_state: SessionState, other: _Loaded, state: SessionState) -> None:
    """A later run session must share items with the first, each the same prompt."""
    common = [item_id for item_id in state.items if item_id in first_state.items]
    if not common:
        raise ReportError(f"{other.path}: no item in common with {first.path}")
    for item_id in common:
        if not same_prompt(first_state.items[item_id].item, state.items[item_id].item):
            raise ReportError(f"{other.path}: item {item_id}'s prompt differs from {first.path}'s")


def _paired(
    a: tuple[str, SessionState, Rubric], b: tuple[str, SessionState, Rubric], resamples: int, seed: int
) -> list[PairedDifference]:
    """Per criterion (likert and binary, the same kind and scale in both rubrics) and per
    source (the human, each judge both sessions have), then per per-item check both ran
    (source "check"), B minus A on the items both have a value for, with a paired
    bootstrap interval (items resampled, both values together) and the paired test."""
    name_a, state_a, rubric_a = a
    name_b, state_b, rubric_b = b
    values_a, values_b = item_values(state_a, rubric_a), item_values(state_b, rubric_b)
    ids_a = {s.item.id: p for p, s in enumerate(values_a.items)}
    ids_b = {s.item.id: p for p, s in enumerate(values_b.items)}
    common = [(ids_a[i], ids_b[i]) for i in ids_a if i in ids_b]
    judges = [j for j in values_a.judges if j in values_b.judges]
    out: list[PairedDifference] = []
    for criterion in rubric_a.criteria:
        other = rubric_b.get(criterion.name)
        if criterion.kind not in ("likert", "binary") or other is None:
            continue
        if (other.kind, other.min, other.max) != (criterion.kind, criterion.min, criterion.max):
            continue
        sources = [("human", values_a.human, values_b.human)]
        sources += [(judge_source(j), values_a.judges[j], values_b.judges[j]) for j in judges]
        for source, got_a, got_b in sources:
            both = _both(got_a[criterion.name], got_b[criterion.name], common)
            if not both and source != "human":
                continue
            out.append(
                _difference(name_a, name_b, criterion.name, source, criterion.kind, both, resamples, seed)
            )
    checks_a, checks_b = check_values(values_a), check_values(values_b)
    for check, in_a in checks_a.items():
        both = _both(in_a, checks_b.get(check, {}), common)
        if both:
            out.append(_difference(name_a, name_b, check, CHECK_SOURCE, "binary", both, resamples, seed))
    return out


def _both(in_a: dict[int, Any], in_b: dict[int, Any], common: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (A, B) values of the items in common that both have, as numbers (yes/no as 1/0)."""
    return [(int(in_a[p]), int(in_b[q])) for p, q in common if p in in_a and q in in_b]


def _difference(
    a: str,
    b: str,
    criterion: str,
    source: str,
    kind: str,
    both: list[tuple[int, int]],
    resamples: int,
    seed: int,
) -> PairedDifference:
    test = paired_test(kind, [x for x, _ in both], [y for _, y in both])
    if not both:
        return PairedDifference(a, b, criterion, source, kind, 0, None, None, None, None, test)
    first = np.array([x for x, _ in both], dtype=float)
    second = np.array([y for _, y in both], dtype=float)
    differences = second - first
    drawn = level_means(differences.tolist(), resamples, seed)
    return PairedDifference(
        a, b, criterion, source, kind, len(both),
        finite(np.mean(first)), finite(np.mean(second)), finite(np.mean(differences)),
        None if drawn is None else percentile_interval(drawn), test,
    )  # fmt: skip
