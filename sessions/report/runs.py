"""One run session's report figures, from its fold: criteria, agreement, judge health,
checks, methods side by side and rater reliability.

Each figure is one of report_stats' typed aggregates (n, a 95% bootstrap interval,
`enough`); `RunFigures.to_dict()` is the part of the report's JSON document that
describes one run session (the report schema, docs/reports.md).

What counts, in one place:
- a human label is the label in force after undos (as ItemState.human); a judge's is the
  latest `judge` event on the current answer; only values the rubric accepts count (a
  judge's 7 on a 1-5 scale is left out, never clipped);
- an answer's length is the characters of all its turns' answers together (what the
  judge read);
- categories come from the prompt set; items without one are under "(none)" when other
  items have one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
from sftscope.scorers.panel import panels_in
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.aggregates import (
    Correlation,
    Drift,
    ItemResamples,
    Mean,
    MethodValue,
    PairedDifference,
    Rate,
    TagCounts,
    drift_of,
    finite,
    listed,
    mean_of,
    rate_of,
    ratio_of,
    spearman_of,
)
from sftscope.scorers.stats.agreement import AgreementStats, agreement_stats, percentile_interval
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.scorers.stats.panels import EffectiveJudges, effective_judges
from sftscope.sessions.compare.summary import excerpt
from sftscope.sessions.core.events import Probed, Scored
from sftscope.sessions.core.state import ItemState, SessionState

NO_CATEGORY = "(none)"
ERROR_KINDS = ("parse", "timeout", "http", "other")
METRICS_NOTE = "overlap with one reference answer; use with caution"
IFEVAL_KEYS = ("ifeval_strict", "ifeval_loose")
# An HTTP failure as engines word it ("HTTP 503: ...", "url: HTTP 429") or a bare 4xx/5xx
# status code ("502 Bad Gateway").
_HTTP = re.compile(r"\bHTTP\b|\b[45]\d\d\b", re.IGNORECASE)
HOUR = 3600.0


def error_kind(text: str) -> str:
    """A judge error's kind from its text: parse, timeout, http or other."""
    lowered = text.lower()
    if "parse error" in lowered:
        return "parse"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    if _HTTP.search(text):
        return "http"
    return "other"


def judge_source(name: str) -> str:
    """A judge's key among the methods and paired sources."""
    return f"judge:{name}"


# ---------------------------------------------------------------------------------------
# Typed results of one run.

Summary = Mean | Rate | TagCounts


@dataclass(frozen=True)
class CategoryFigures:
    human: Summary
    judges: dict[str, Summary]

    def to_dict(self) -> dict[str, Any]:
        return {"human": self.human.to_dict(), "judges": {k: v.to_dict() for k, v in self.judges.items()}}


@dataclass(frozen=True)
class CriterionFigures:
    """A criterion's labels from the human and each judge, overall and per category."""

    kind: str
    scale: tuple[int, int] | None
    human: Summary
    judges: dict[str, Summary]
    by_category: dict[str, CategoryFigures]
    off_scale: int = 0  # judge values the rubric does not accept, left out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.scale is not None:
            out["scale"] = list(self.scale)
        out["human"] = self.human.to_dict()
        out["judges"] = {k: v.to_dict() for k, v in self.judges.items()}
        out["by_category"] = {k: v.to_dict() for k, v in self.by_category.items()}
        if self.off_scale:
            out["off_scale"] = self.off_scale
        return out


@dataclass(frozen=True)
class TemplateAgreement:
    """Agreement with one judge on the items it judged with one template version."""

    judge: str
    template: str
    template_sha256: str | None
    stats: AgreementStats

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "template": self.template,
            "template_sha256": self.template_sha256,
            **self.stats.to_dict(),
        }


@dataclass(frozen=True)
class Revisions:
    """Human score events that changed a label while the judges' scores were shown, of
    every human score event (undone ones included): how often a reveal moved the rater."""

    n: int
    of_labels: int

    @property
    def rate(self) -> float | None:
        return self.n / self.of_labels if self.of_labels else None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "of_labels": self.of_labels, "rate": self.rate}


@dataclass(frozen=True)
class JudgeHealth:
    judged: int
    errors: int
    error_rate: Rate
    errors_by_kind: dict[str, int]
    length_spearman: dict[str, Correlation]
    human_length_spearman: dict[str, Correlation]
    revisions_after_reveal: Revisions

    def to_dict(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "errors": self.errors,
            "error_rate": self.error_rate.rate,
            "error_rate_ci": listed(self.error_rate.ci),
            "errors_by_kind": dict(self.errors_by_kind),
            "length_spearman": {k: v.to_dict() for k, v in self.length_spearman.items()},
            "human_length_spearman": {k: v.to_dict() for k, v in self.human_length_spearman.items()},
            "revisions_after_reveal": self.revisions_after_reveal.to_dict(),
            "enough": self.error_rate.enough,
        }


@dataclass(frozen=True)
class ChecksFigures:
    """IFEval at prompt and instruction level, per-item checks' pass rates, and reference
    metrics' means."""

    ifeval: dict[str, Rate]
    items: dict[str, Rate]
    metrics: dict[str, Mean]

    def to_dict(self) -> dict[str, Any]:
        metrics: dict[str, Any] = {"note": METRICS_NOTE} if self.metrics else {}
        metrics.update({k: v.to_dict() for k, v in self.metrics.items()})
        return {
            "ifeval": {k: v.to_dict() for k, v in self.ifeval.items()},
            "items": {k: v.to_dict() for k, v in self.items.items()},
            "metrics": metrics,
        }


@dataclass(frozen=True)
class MethodsFigures:
    """Every method's estimate of one criterion side by side: the human's, each judge's,
    and a related check's, overall and per category; nothing normalised."""

    overall: dict[str, MethodValue]
    by_category: dict[str, dict[str, MethodValue]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": {k: v.to_dict() for k, v in self.overall.items()},
            "by_category": {
                cat: {k: v.to_dict() for k, v in group.items()} for cat, group in self.by_category.items()
            },
        }


@dataclass(frozen=True)
class Reliability:
    probes: int
    test_retest: dict[str, AgreementStats]
    drift: dict[str, Drift]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probes": self.probes,
            "test_retest": {k: v.to_dict() for k, v in self.test_retest.items()},
            "drift": {k: v.to_dict() for k, v in self.drift.items()},
        }


@dataclass(frozen=True)
class RunFigures:
    """Everything the report says about one run session."""

    criteria: dict[str, CriterionFigures]
    agreement: dict[str, dict[str, AgreementStats]]
    agreement_by_template: dict[str, dict[str, TemplateAgreement]]
    judge_health: dict[str, JudgeHealth]
    checks: ChecksFigures
    methods: dict[str, MethodsFigures]
    reliability: Reliability
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    # Per criterion, the effective number of independent judges (3 or more with your labels).
    judges_effective: dict[str, EffectiveJudges] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": {k: v.to_dict() for k, v in self.criteria.items()},
            "judges_effective": {k: v.to_dict() for k, v in self.judges_effective.items()},
            "agreement": {c: {j: s.to_dict() for j, s in per.items()} for c, per in self.agreement.items()},
            "agreement_by_template": {
                c: {t: s.to_dict() for t, s in per.items()} for c, per in self.agreement_by_template.items()
            },
            "judge_health": {k: v.to_dict() for k, v in self.judge_health.items()},
            "checks": self.checks.to_dict(),
            "methods": {k: v.to_dict() for k, v in self.methods.items()},
            "reliability": self.reliability.to_dict(),
            "disagreements": [dict(d) for d in self.disagreements],
        }


# ---------------------------------------------------------------------------------------
# The values, read once from the fold.


@dataclass
class ItemValues:
    """Per source and criterion, item position -> accepted value; for the human's labels
    also when each was given (the `ts` of the score event in force)."""

    items: list[ItemState]
    categories: list[str | None]
    lengths: list[int | None]
    human: dict[str, dict[int, Any]] = field(default_factory=dict)
    given: dict[str, dict[int, float]] = field(default_factory=dict)
    judges: dict[str, dict[str, dict[int, Any]]] = field(default_factory=dict)
    off_scale: dict[str, int] = field(default_factory=dict)
    # Panel name -> its judges: sources derived from judges (sessions/core/panels.py).
    panels: dict[str, list[str]] = field(default_factory=dict)


def _acceptor(criterion: Criterion) -> Callable[[Any], bool]:
    """Criterion.accepts, as a set lookup for a scale or yes/no (it runs for every label
    of a 16,000-item session): the exact type first, since True == 1 to a set."""
    if criterion.kind in ("likert", "binary"):
        wanted = int if criterion.kind == "likert" else bool
        allowed = (
            frozenset(range(criterion.min, criterion.max + 1)) if wanted is int else frozenset((False, True))
        )
        return lambda value: type(value) is wanted and value in allowed
    return criterion.accepts


def item_values(state: SessionState, rubric: Rubric) -> ItemValues:
    """Every accepted label, by source, criterion and item position (prompt-set order)."""
    items = state.ordered()
    values = ItemValues(
        items=items,
        categories=[s.item.category for s in items],
        lengths=[sum(len(text) for text in s.answers) if s.turns else None for s in items],
    )
    accepts = {c.name: _acceptor(c) for c in rubric.criteria}
    human, given = values.human, values.given
    for name in accepts:
        human[name] = {}
        given[name] = {}
    for position, item in enumerate(items):
        in_force: dict[str, dict[str, Any]] = {}
        for action in item.actions:  # the labels in force: the latest score of each criterion
            if action["type"] == Scored.TYPE and item.is_current(action):  # not on an earlier answer
                in_force[action["criterion"]] = action
        for name, action in in_force.items():
            accept = accepts.get(name)
            if accept is not None and accept(action["value"]):
                human[name][position] = action["value"]
                ts = action.get("ts")
                if isinstance(ts, (int, float)):
                    given[name][position] = float(ts)
        for judge, event in item.judges.items():
            per = values.judges.get(judge)
            if per is None:
                per = values.judges[judge] = {name: {} for name in accepts}
                if "panel" in event:
                    values.panels[judge] = list(event["panel"])
            scores = event.get("scores")
            if event.get("error") or not isinstance(scores, dict):
                continue
            for name, value in scores.items():
                accept = accepts.get(name)
                if accept is None:
                    continue
                if accept(value):
                    per[name][position] = value
                else:
                    values.off_scale[name] = values.off_scale.get(name, 0) + 1
    return values


def _category_keys(categories: Sequence[str | None]) -> list[str]:
    named = list(dict.fromkeys(c for c in categories if c is not None))
    if named and any(c is None for c in categories):
        named.append(NO_CATEGORY)
    return named


def _in_category(categories: Sequence[str | None], key: str) -> set[int]:
    wanted = None if key == NO_CATEGORY else key
    return {position for position, category in enumerate(categories) if category == wanted}


def _by_category(
    got: dict[int, Any], keys: Sequence[str | None], wanted: Sequence[str]
) -> dict[str, list[Any]]:
    """A source's values split by the category key of each item (None: not reported)."""
    out: dict[str, list[Any]] = {key: [] for key in wanted}
    for position, value in got.items():
        key = keys[position]
        if key is not None:
            out[key].append(value)
    return out


def _scale(criterion: Criterion) -> tuple[int, int] | None:
    return (criterion.min, criterion.max) if criterion.kind == "likert" else None


def summarize_values(criterion: Criterion, values: Iterable[Any], resamples: int, seed: int) -> Summary:
    """A source's labels of one criterion: a mean with its distribution, a rate, or tag counts."""
    values = list(values)
    if criterion.kind == "likert":
        return mean_of(values, resamples, seed, scale=_scale(criterion))
    if criterion.kind == "binary":
        return rate_of(values, resamples, seed)
    counts = {tag: 0 for tag in criterion.tags}
    for value in values:
        for tag in value:
            counts[tag] = counts.get(tag, 0) + 1
    return TagCounts(len(values), counts)


# ---------------------------------------------------------------------------------------
# What was compared: the session's own description, read from its header and fold.

DISAGREEMENTS = 5  # items (or pairs) the text and Markdown reports show


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def answer_lengths(items: Iterable[ItemState]) -> dict[str, Any]:
    """Average answer length of the answered items, in characters (all turns, what the
    judge read) and in tokens (the engine's count, over the items whose every turn has
    one): AlpacaEval shows length beside every win rate, because judges prefer longer.
    One plain loop: it runs over every item of a 16,000-item session."""
    chars = tokens = answered = counted = 0
    for item in items:
        turns = item.turns
        if not turns:
            continue
        answered += 1
        whole, count = 0, 0
        for turn in turns:
            whole += len(turn["text"])
            got = turn.get("tokens")
            if type(got) is int and count is not None:
                count += got
            else:
                count = None
        chars += whole
        if count is not None:
            tokens += count
            counted += 1
    return {
        "n": answered,
        "chars": chars / answered if answered else None,
        "tokens": tokens / counted if counted else None,
        "tokens_n": counted,
    }


def run_context(header: dict[str, Any], state: SessionState) -> dict[str, Any]:
    """What a run session compared, from session.toml's header: the engine and model (with
    the model file's digest when the engine recorded one), the system message (None:
    none), the sampling parameters, the prompt set and its digest, the judges (model,
    template and its sha), when it ran; and its answers' average length."""
    engine = header.get("engine") if isinstance(header.get("engine"), dict) else {}
    prompts = header.get("prompts") if isinstance(header.get("prompts"), dict) else {}
    params = header.get("params") if isinstance(header.get("params"), dict) else {}
    judges = [
        {
            "name": j.get("name"),
            "model": j.get("model") or j.get("engine"),
            "template": j.get("template"),
            "template_sha256": j.get("template_sha256"),
        }
        for j in header.get("judges") or []
        if isinstance(j, dict)
    ]
    items = state.ordered()
    panels = [panel.to_dict() for panel in panels_in(header)]
    # Judges of an earlier run of the session, known only from their events (not panels).
    unlisted = set().union(*(item.judges.keys() for item in items)) - {j["name"] for j in judges}
    unlisted -= {panel["name"] for panel in panels}
    for item in items:
        if not unlisted:
            break
        for name in unlisted & item.judges.keys():
            event = item.judges[name]
            unlisted.discard(name)
            judges.append(
                {
                    "name": name,
                    "model": event.get("model"),
                    "template": event.get("template"),
                    "template_sha256": event.get("template_sha256"),
                }
            )
    system = header.get("system")
    return {
        "engine": engine.get("name") or _engine_kind(engine.get("requested")),
        "model": engine.get("model") or engine.get("requested"),
        "model_sha256": engine.get("sha256") or engine.get("fingerprint"),
        "system": system if isinstance(system, str) and system else None,
        "params": dict(params),
        "prompts": {k: prompts.get(k) for k in ("path", "sha256", "count")},
        "judges": judges,
        "panels": panels,
        "created": header.get("created"),
        "updated": header.get("updated"),
        "length": answer_lengths(items),
    }


def _engine_kind(requested: Any) -> str | None:
    """The engine named by a spec such as "openai:http://host#model" (its scheme)."""
    if not isinstance(requested, str) or not requested:
        return None
    return requested.split(":", 1)[0] if ":" in requested else requested


def _labels(got: dict[int, Any], positions: list[int]) -> np.ndarray:
    """The labels at `positions` as floats (yes/no as 1/0), fetched at C speed."""
    fetched = itemgetter(*positions)(got)
    return np.array(fetched if len(positions) > 1 else [fetched], dtype=float)


def disagreements(values: ItemValues, rubric: Rubric, count: int = DISAGREEMENTS) -> list[dict[str, Any]]:
    """The `count` items where the human and a judge disagree most: per item, the largest
    gap over the likert and binary criteria and the judges (a likert difference over the
    scale's span, 1 for a yes/no that differs), ties broken by the item's summed gap, then
    prompt-set order; items with no disagreement are left out. In numpy over the items
    both labelled: it runs on every item of a 16,000-item session."""
    size = len(values.items)
    best, total = np.zeros(size), np.zeros(size)
    source = np.full(size, -1)
    sources: list[tuple[str, str]] = []
    for criterion in rubric.criteria:
        if criterion.kind not in ("likert", "binary"):
            continue
        span = max(criterion.max - criterion.min, 1) if criterion.kind == "likert" else 1
        human = values.human[criterion.name]
        for judge, per in values.judges.items():
            got = per[criterion.name]
            common = list(human.keys() & got.keys())
            if not common:
                continue
            positions = np.array(common)
            gap = np.abs(_labels(human, common) - _labels(got, common)) / span
            total[positions] += gap
            wider = gap > best[positions]
            best[positions[wider]] = gap[wider]
            source[positions[wider]] = len(sources)
            sources.append((criterion.name, judge))
    found = np.flatnonzero(best > 0)
    ranked = found[np.lexsort((found, -total[found], -best[found]))][:count]
    out = []
    for position in ranked.tolist():
        criterion, judge = sources[source[position]]
        item = values.items[position]
        answers = item.answers
        out.append(
            {
                "item": item.item.id,
                "category": item.item.category,
                "criterion": criterion,
                "judge": judge,
                "human": values.human[criterion][position],
                "judge_value": values.judges[judge][criterion][position],
                "gap": float(best[position]),
                "total_gap": float(total[position]),
                "excerpt": excerpt(answers[-1] if answers else ""),
            }
        )
    return out


# ---------------------------------------------------------------------------------------
# The whole run.


def run_figures(
    state: SessionState,
    events: list[dict[str, Any]],
    rubric: Rubric,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    values: ItemValues | None = None,
) -> RunFigures:
    """Every figure of one run session. `events` is its log (for the `probe` events, which
    the fold keeps apart). The figures on continuous values are registered first, then
    resampled together (report_stats.ItemResamples), then read. `values`: item_values of
    the same state and rubric, when the caller has read them already (the report's PPI)."""
    values = item_values(state, rubric) if values is None else values
    scored = [c for c in rubric.criteria if c.kind in ("likert", "binary")]
    categories = _category_keys(values.categories)
    groups = {key: _in_category(values.categories, key) for key in categories}
    judges = list(values.judges)
    resampled = ItemResamples(len(values.items), resamples, seed)
    pending_health = _judge_health(values, scored, judges, resampled, resamples, seed)
    pending_checks = _checks(values, groups, resampled, resamples, seed)
    resampled.run()
    criteria = _criteria(values, rubric, categories, groups, judges, resamples, seed)
    agreement, by_template = _agreement(values, scored, judges, resamples, seed)
    reliability = _reliability(values, events, rubric, scored, resamples, seed)
    health = {name: build() for name, build in pending_health.items()}
    checks, ifeval_by_category = pending_checks()
    methods = _methods(criteria, scored, checks, ifeval_by_category)
    return RunFigures(
        criteria,
        agreement,
        by_template,
        health,
        checks,
        methods,
        reliability,
        disagreements(values, rubric),
        _judges_effective(values, scored),
    )


def _judges_effective(values: ItemValues, scored: list[Criterion]) -> dict[str, EffectiveJudges]:
    """Per criterion with 3 or more judges (panels not counted: they are their judges)
    that scored items you labelled: how many independent judges they are worth, from the
    correlation of their errors (judge − you) over the items all of them and you scored."""
    out: dict[str, EffectiveJudges] = {}
    for criterion in scored:
        human = values.human[criterion.name]
        got = {
            j: per[criterion.name]
            for j, per in values.judges.items()
            if j not in values.panels and any(p in human for p in per[criterion.name])
        }
        if len(got) < 3:
            continue
        common = [p for p in human if all(p in g for g in got.values())]
        out[criterion.name] = effective_judges(
            {j: [float(g[p]) - float(human[p]) for p in common] for j, g in got.items()}
        )
    return out


def _criteria(
    values: ItemValues,
    rubric: Rubric,
    categories: list[str],
    groups: dict[str, set[int]],
    judges: list[str],
    resamples: int,
    seed: int,
) -> dict[str, CriterionFigures]:
    """Each likert, binary or tags criterion: the human's and each judge's labels, overall
    and per category (notes are free text: no aggregate)."""
    keys: list[str | None] = [None] * len(values.items)
    for key, members in groups.items():
        for position in members:
            keys[position] = key
    criteria: dict[str, CriterionFigures] = {}
    for criterion in rubric.criteria:
        if criterion.kind not in ("likert", "binary", "tags"):
            continue
        name = criterion.name
        human = values.human[name]
        judged = {j: values.judges[j][name] for j in judges if values.judges[j][name]}
        human_split = _by_category(human, keys, categories)
        judge_split = {j: _by_category(got, keys, categories) for j, got in judged.items()}
        by_category = {
            key: CategoryFigures(
                summarize_values(criterion, human_split[key], resamples, seed),
                {
                    j: summarize_values(criterion, split[key], resamples, seed)
                    for j, split in judge_split.items()
                },
            )
            for key in categories
        }
        criteria[name] = CriterionFigures(
            criterion.kind,
            _scale(criterion),
            summarize_values(criterion, human.values(), resamples, seed),
            {j: summarize_values(criterion, got.values(), resamples, seed) for j, got in judged.items()},
            by_category,
            values.off_scale.get(name, 0),
        )
    return criteria


def _agreement(
    values: ItemValues, scored: list[Criterion], judges: list[str], resamples: int, seed: int
) -> tuple[dict[str, dict[str, AgreementStats]], dict[str, dict[str, TemplateAgreement]]]:
    """The human against each judge per criterion, and per judge template version (a
    judge that used one version throughout has the same figures under it)."""
    versions: dict[str, dict[int, tuple[str, str | None]]] = {}
    for judge in judges:
        versions[judge] = {}
        for position, item in enumerate(values.items):
            event = item.judges.get(judge)
            if event is not None:
                sha = event.get("template_sha256")
                versions[judge][position] = (
                    str(event.get("template") or "unknown"),
                    str(sha) if sha else None,
                )
    agreement: dict[str, dict[str, AgreementStats]] = {}
    by_template: dict[str, dict[str, TemplateAgreement]] = {}
    for criterion in scored:
        name = criterion.name
        human = values.human[name]
        per: dict[str, AgreementStats] = {}
        templates: dict[tuple[str, str, str | None], AgreementStats] = {}
        for judge in judges:
            got = values.judges[judge][name]
            if not got:
                continue
            common = [p for p in human if p in got]
            per[judge] = _stats(criterion, human, got, common, judge, resamples, seed)
            used = versions[judge]
            if len(set(used.values())) == 1:
                templates[(judge, *next(iter(used.values())))] = per[judge]
                continue
            split: dict[tuple[str, str | None], list[int]] = {}
            for position in common:
                split.setdefault(used[position], []).append(position)
            for version, positions in split.items():
                templates[(judge, *version)] = _stats(
                    criterion, human, got, positions, judge, resamples, seed
                )
        if per:
            agreement[name] = per
        keys = [f"{template}@{(sha or 'unknown')[:8]}" for _, template, sha in templates]
        entries: dict[str, TemplateAgreement] = {}
        for ((judge, template, sha), stats), key in zip(templates.items(), keys, strict=True):
            if keys.count(key) > 1:  # two judges with the same template: one entry each
                key = f"{key} ({judge})"
            entries[key] = TemplateAgreement(judge, template, sha, stats)
        if entries:
            by_template[name] = entries
    return agreement, by_template


def _stats(
    criterion: Criterion,
    human: dict[int, Any],
    got: dict[int, Any],
    positions: list[int],
    judge: str,
    resamples: int,
    seed: int,
) -> AgreementStats:
    return agreement_stats(
        [human[p] for p in positions],
        [got[p] for p in positions],
        criterion.kind,
        _scale(criterion),
        resamples=resamples,
        seed=seed,
        names=("the human", f"judge {judge}"),
    )


def _length_figure(
    resampled: ItemResamples, criterion: Criterion, got: dict[int, Any], lengths: Sequence[int | None]
) -> tuple[int, float | None, str | None, int | None]:
    """Spearman of a likert source against answer length: n, rho, why undefined, and the
    handle of its resampled values (None when undefined)."""
    positions = [p for p in got if lengths[p] is not None]
    scores = [got[p] for p in positions]
    answer_lengths = [lengths[p] for p in positions]
    rho, undefined = spearman_of(scores, answer_lengths, ("score", "answer length"))
    handle = None
    if rho is not None:
        handle = resampled.add_spearman(
            positions,
            [score - criterion.min for score in scores],
            criterion.max - criterion.min + 1,
            answer_lengths,
        )
    return len(positions), rho, undefined, handle


def _judge_health(
    values: ItemValues,
    scored: list[Criterion],
    judges: list[str],
    resampled: ItemResamples,
    resamples: int,
    seed: int,
) -> dict[str, Callable[[], JudgeHealth]]:
    """Per judge, a builder of its JudgeHealth, called once `resampled` has run."""
    likert = [c for c in scored if c.kind == "likert"]

    def finish(figure: tuple[int, float | None, str | None, int | None]) -> Correlation:
        n, rho, undefined, handle = figure
        drawn = None if handle is None else resampled.result(handle)
        ci = None if drawn is None else percentile_interval(drawn)
        return Correlation(n, rho, ci, undefined)

    human_figures = {
        c.name: _length_figure(resampled, c, values.human[c.name], values.lengths)
        for c in likert
        if values.human[c.name] and judges  # reported beside each judge's: none without one
    }
    history = [event for item in values.items for event in item.score_history if item.is_current(event)]
    revised = sum(1 for e in history if e.get("judge_visible") and e.get("previous") is not None)
    revisions = Revisions(revised, len(history))
    out: dict[str, Callable[[], JudgeHealth]] = {}
    for judge in judges:
        if judge in values.panels:  # a panel asks no model: no failures, no health of its own
            continue
        events = [item.judges[judge] for item in values.items if judge in item.judges]
        failed = [str(e.get("error")) for e in events if e.get("error")]
        kinds = dict.fromkeys(ERROR_KINDS, 0)
        for text in failed:
            kinds[error_kind(text)] += 1
        figures = {
            c.name: _length_figure(resampled, c, values.judges[judge][c.name], values.lengths)
            for c in likert
            if values.judges[judge][c.name]
        }
        error_rate = rate_of([bool(e.get("error")) for e in events], resamples, seed)

        def build(
            events: list[dict[str, Any]] = events,
            failed: list[str] = failed,
            kinds: dict[str, int] = kinds,
            figures: dict[str, Any] = figures,
            error_rate: Rate = error_rate,
        ) -> JudgeHealth:
            return JudgeHealth(
                judged=len(events),
                errors=len(failed),
                error_rate=error_rate,
                errors_by_kind=kinds,
                length_spearman={name: finish(f) for name, f in figures.items()},
                human_length_spearman={name: finish(f) for name, f in human_figures.items()},
                revisions_after_reveal=revisions,
            )

        out[judge] = build
    return out


def _checks(
    values: ItemValues,
    groups: dict[str, set[int]],
    resampled: ItemResamples,
    resamples: int,
    seed: int,
) -> Callable[[], tuple[ChecksFigures, dict[str, Rate]]]:
    """IFEval, per-item checks and reference metrics; returns a builder of (ChecksFigures,
    the IFEval strict prompt-level rate per category), called once `resampled` has run."""
    prompt: dict[str, list[bool]] = {key: [] for key in IFEVAL_KEYS}
    prompt_positions: list[int] = []
    followed: dict[str, tuple[list[int], list[int]]] = {"strict": ([], []), "loose": ([], [])}
    named: dict[str, list[bool]] = {}
    metric_rows: dict[int, dict[str, float]] = {}
    for position, item in enumerate(values.items):
        event = item.checks
        if not event:
            continue
        checks = event.get("checks") or {}
        instructions = list(item.item.instructions or [])
        if instructions and all(isinstance(checks.get(key), bool) for key in IFEVAL_KEYS):
            prompt_positions.append(position)
            for key in IFEVAL_KEYS:
                prompt[key].append(checks[key])
            strict = [checks[i] for i in instructions if isinstance(checks.get(i), bool)]
            detail = event.get("ifeval_loose_detail") or {}
            loose = [detail[i] for i in instructions if isinstance(detail.get(i), bool)]
            for level, results in (("strict", strict), ("loose", loose)):
                if results:
                    followed[level][0].append(sum(results))
                    followed[level][1].append(len(results))
        for name, passed in checks.items():
            if name in IFEVAL_KEYS or name in instructions or not isinstance(passed, bool):
                continue
            named.setdefault(name, []).append(passed)
        metrics = event.get("metrics") or {}
        kept = {
            k: float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and finite(v) is not None
        }
        if kept:
            metric_rows[position] = kept
    names = list(dict.fromkeys(k for row in metric_rows.values() for k in row))
    handles: dict[str, tuple[list[float], int]] = {}
    for metric in names:
        positions = [p for p, row in metric_rows.items() if metric in row]
        column = [metric_rows[p][metric] for p in positions]
        handles[metric] = (column, resampled.add_means(positions, np.asarray(column)))
    ifeval = {
        "prompt_strict": rate_of(prompt["ifeval_strict"], resamples, seed),
        "prompt_loose": rate_of(prompt["ifeval_loose"], resamples, seed),
        "instruction_strict": ratio_of(*followed["strict"], resamples, seed),
        "instruction_loose": ratio_of(*followed["loose"], resamples, seed),
    }
    by_category = {
        key: rate_of(
            [flag for p, flag in zip(prompt_positions, prompt["ifeval_strict"], strict=True) if p in members],
            resamples,
            seed,
        )
        for key, members in groups.items()
    }
    items = {name: rate_of(flags, resamples, seed) for name, flags in named.items()}

    def build() -> tuple[ChecksFigures, dict[str, Rate]]:
        metrics: dict[str, Mean] = {}
        for metric, (column, handle) in handles.items():
            drawn = resampled.result(handle)
            ci = None if drawn is None or len(column) < 2 else percentile_interval(drawn[:, 0])
            metrics[metric] = Mean(len(column), finite(np.mean(column)), ci)
        shown = ifeval if prompt_positions else {}
        return ChecksFigures(shown, items, metrics), by_category if prompt_positions else {}

    return build


def _methods(
    criteria: dict[str, CriterionFigures],
    scored: list[Criterion],
    checks: ChecksFigures,
    ifeval_by_category: dict[str, Rate],
) -> dict[str, MethodsFigures]:
    """The criteria's human and judge figures side by side, with the IFEval strict
    prompt-level rate next to an instruction-following criterion."""
    out: dict[str, MethodsFigures] = {}
    for criterion in scored:
        figures = criteria[criterion.name]
        scale = _scale(criterion)
        related = "instruction" in criterion.name.lower() and "prompt_strict" in checks.ifeval

        def side_by_side(
            human: Summary,
            judges: dict[str, Summary],
            check: Rate | None,
            scale: tuple[int, int] | None = scale,
        ) -> dict[str, MethodValue]:
            row: dict[str, MethodValue] = {}
            for key, figure in (("human", human), *((judge_source(j), v) for j, v in judges.items())):
                if isinstance(figure, (Mean, Rate)):
                    row[key] = MethodValue.of(figure, scale)
            if check is not None:
                row["check:ifeval_strict"] = MethodValue.of(check)
            return row

        overall = side_by_side(
            figures.human, figures.judges, checks.ifeval["prompt_strict"] if related else None
        )
        by_category = {
            key: side_by_side(group.human, group.judges, ifeval_by_category.get(key) if related else None)
            for key, group in figures.by_category.items()
        }
        out[criterion.name] = MethodsFigures(overall, by_category)
    return out


def _reliability(
    values: ItemValues,
    events: list[dict[str, Any]],
    rubric: Rubric,
    scored: list[Criterion],
    resamples: int,
    seed: int,
) -> Reliability:
    """Test-retest agreement of the rater with their own earlier labels (probe events),
    and drift: the labels in force given early against those given late."""
    states = {item.item.id: item for item in values.items}
    probes = [  # a probe given on an earlier answer of its item is stale, like a label
        e
        for e in events
        if e.get("type") == Probed.TYPE
        and (s := states.get(str(e.get("item")))) is not None
        and s.is_current(e)
    ]
    pairs: dict[str, tuple[list[Any], list[Any]]] = {}
    for event in probes:
        criterion = rubric.get(str(event.get("criterion")))
        if criterion is None or criterion.kind not in ("likert", "binary"):
            continue
        original, value = event.get("original"), event.get("value")
        if criterion.accepts(original) and criterion.accepts(value):
            first, again = pairs.setdefault(criterion.name, ([], []))
            first.append(original)
            again.append(value)
    test_retest = {
        c.name: agreement_stats(
            pairs[c.name][0],
            pairs[c.name][1],
            c.kind,
            _scale(c),
            resamples=resamples,
            seed=seed,
            names=("the original label", "the probe"),
        )
        for c in scored
        if c.name in pairs
    }
    return Reliability(len(probes), test_retest, _drift(values, scored, resamples, seed))


def _drift(values: ItemValues, scored: list[Criterion], resamples: int, seed: int) -> dict[str, Drift]:
    """Each label in force, timed by the score event that gave it. A session spanning two
    hours or more compares its first hour with its last; a shorter one, its first half with
    its second. Every criterion uses the same split (the session's first and last label)."""
    timed = {c.name: values.given[c.name] for c in scored if values.given[c.name]}
    stamps = [ts for given in timed.values() for ts in given.values()]
    if len(stamps) < 2 or max(stamps) == min(stamps):
        return {}
    start, end = min(stamps), max(stamps)
    if end - start >= 2 * HOUR:
        split, first_before, last_after = "first and last hour", start + HOUR, end - HOUR
    else:
        split = "first and second half"
        first_before = last_after = start + (end - start) / 2
    out: dict[str, Drift] = {}
    for criterion in scored:
        given = timed.get(criterion.name)
        if not given:
            continue
        labels = values.human[criterion.name]
        first = [_number(labels[p]) for p, ts in given.items() if ts < first_before]
        last = [_number(labels[p]) for p, ts in given.items() if ts >= last_after]
        binary = criterion.kind == "binary"
        out[criterion.name] = drift_of(
            first, last, split, resamples, seed, scale=_scale(criterion), proportion=binary
        )
    return out


def _number(value: Any) -> int:
    """A label as a number: a scale point, or 1/0 for yes/no."""
    return int(value)


# ---------------------------------------------------------------------------------------
# Two runs on the same items: what their paired tests are over, and the fixed JSON key.

CHECK_SOURCE = "check"


def check_values(values: ItemValues) -> dict[str, dict[int, bool]]:
    """Every per-item yes/no check of the current answers, by check name and item position:
    the named checks and IFEval's prompt-level results (an instruction's own result is
    part of those, not a check of its own), as the report's checks section counts them."""
    out: dict[str, dict[int, bool]] = {}
    for position, item in enumerate(values.items):
        event = item.checks
        if not event:
            continue
        instructions = set(item.item.instructions or [])
        for name, passed in (event.get("checks") or {}).items():
            if isinstance(passed, bool) and name not in instructions:
                out.setdefault(name, {})[position] = passed
    return out


def runs_paired(paired: Sequence[PairedDifference]) -> dict[str, dict[str, dict[str, Any]]]:
    """The report's `runs_paired[CRITERION][SOURCE] = {"n", "diff", "ci", "test", "p"}`
    for the first two run sessions (the first pair in `paired`, as the top-level keys
    describe the first run); every pair's test and p are also in its `paired` entry."""
    if not paired:
        return {}
    first = (paired[0].a, paired[0].b)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for p in paired:
        if (p.a, p.b) != first:
            continue
        out.setdefault(p.criterion, {})[p.source] = {
            "n": p.n,
            "diff": p.difference,
            "ci": listed(p.ci),
            "test": None if p.test is None else p.test.test,
            "p": None if p.test is None else p.test.p,
        }
    return out


__all__ = [
    "CHECK_SOURCE",
    "NO_CATEGORY",
    "CategoryFigures",
    "ChecksFigures",
    "CriterionFigures",
    "JudgeHealth",
    "MethodsFigures",
    "Reliability",
    "Revisions",
    "RunFigures",
    "TemplateAgreement",
    "answer_lengths",
    "check_values",
    "disagreements",
    "error_kind",
    "item_values",
    "judge_source",
    "run_context",
    "run_figures",
    "runs_paired",
    "summarize_values",
]
