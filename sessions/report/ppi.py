"""The report's prediction-powered estimates: per criterion and judge (a run), per judge and
pair of sessions (a comparison), your labels on the random sample combined with the
judge's labels on every item it judged, by scorers.stats.ppi (PPI++).

Why here and not in the figures of runs.py: PPI needs what the other figures ignore,
whether each label was given while walking the seeded random order (`ItemState.sampled`,
`PairState.sampled`), and only those labels may enter it: a label chosen after a jump (the
disagreement queue, above all) is not a random sample, and the rectifier measured on it
would move the estimate. Chosen labels are left out; their items count as unlabelled.

The population is the judge's judged items: the labelled pairs are the random-sample items
the judge also scored (`n_random`), the unlabelled ones every other item it scored
(`n_judged` counts both). Yes/no labels are 1 and 0, scales their number; a comparison's
votes are B's share of the win as the report's win rate counts it
(scorers.stats.pairwise: B 1, A 0, a tie or the human's "both bad" 0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Rubric
from sftscope.scorers.stats.intervals import enough
from sftscope.scorers.stats.ppi import NoPPI, PPIEstimate, sample_ppi
from sftscope.sessions.compare.comparison import ComparisonState, PairState
from sftscope.sessions.core.state import SessionState

# What the report says when a criterion (or a comparison) has no random sample, and why.
NO_SAMPLE_OLD = (
    "no random sample: these labels were written before sftscope recorded whether each was "
    "given in the seeded random order (issue 17), so no prediction-powered estimate"
)
NO_SAMPLE_CHOSEN = (
    "no random sample: every label was chosen (after a jump, or in a session with --order file), "
    "so no prediction-powered estimate"
)
WHY_NONE = {
    "too_few_labels": "fewer than 2 random-sample labels on items this judge scored",
    "no_variance": "every random-sample label the same: no interval to give",
}


@dataclass(frozen=True)
class SourcePPI:
    """One judge's prediction-powered estimate (or why there is none)."""

    n_random: int  # random-sample labels on items the judge scored: the labelled pairs
    n_judged: int  # items (pairs) the judge scored, the random sample included
    result: PPIEstimate | NoPPI

    def to_dict(self, value_key: str, ci_key: str = "ci") -> dict[str, Any]:
        """The report's fixed keys; a NoPPI gives nulls and its reason, never NaN."""
        est = self.result if isinstance(self.result, PPIEstimate) else None
        out: dict[str, Any] = {
            "n_random": self.n_random,
            "n_judged": self.n_judged,
            value_key: None if est is None else est.estimate,
            ci_key: None if est is None else list(est.ci),
            "lambda": None if est is None else est.lam,
            "n_effective": None if est is None else est.n_effective,
            "enough": enough(self.n_random),
        }
        if isinstance(self.result, NoPPI):
            out["reason"] = WHY_NONE[self.result.reason]
        return out


@dataclass(frozen=True)
class SamplePPI:
    """A criterion's (or a pair of sessions') random sample and every judge's estimate."""

    n_random: int
    note: str | None  # why there is no random sample, when there is none
    judges: dict[str, SourcePPI]

    def to_dict(self, value_key: str, ci_key: str = "ci") -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_random": self.n_random,
            "ppi": {j: s.to_dict(value_key, ci_key) for j, s in self.judges.items()},
        }
        if self.note:
            out["ppi_note"] = self.note
        return out


def _sample_ppi(
    labels: Mapping[int, float],
    sampled: Mapping[int, bool | None],
    judges: Mapping[str, Mapping[int, float]],
) -> SamplePPI:
    """`labels`: key -> your value; `sampled`: key -> its `sampled` flag; `judges`: judge ->
    key -> its value. The keys are item positions or pair ids."""
    random = [key for key, value in sampled.items() if value is True and key in labels]
    note = None
    if not random:
        if not labels:
            note = None  # nothing labelled: nothing to say about a sample
        elif all(value is None for value in sampled.values()):
            note = NO_SAMPLE_OLD
        else:
            note = NO_SAMPLE_CHOSEN
        return SamplePPI(0, note, {})
    out: dict[str, SourcePPI] = {}
    for judge, scored in judges.items():
        if not scored:
            continue
        n_random, result = sample_ppi(labels, random, scored)
        out[judge] = SourcePPI(n_random, len(scored), result)
    return SamplePPI(len(random), None, out)


def _number(value: Any) -> float:
    """A label as PPI reads it: yes 1, no 0, a scale's value."""
    return float(value)


def run_ppi(
    state: SessionState,
    rubric: Rubric,
    human: Mapping[str, Mapping[int, Any]],
    judges: Mapping[str, Mapping[str, Mapping[int, Any]]],
) -> dict[str, SamplePPI]:
    """Per yes/no or scale criterion: its random sample and each judge's PPI estimate.
    `human` and `judges` are the report's accepted values by criterion (and judge) and item
    position in `state.ordered()` (runs.item_values), so PPI reads exactly the labels every
    other figure reads."""
    items = state.ordered()
    out: dict[str, SamplePPI] = {}
    for criterion in rubric.criteria:
        if criterion.kind not in ("likert", "binary"):
            continue
        name = criterion.name
        labels = {p: _number(v) for p, v in human.get(name, {}).items()}
        sampled = {p: items[p].sampled(name) for p in labels}
        per_judge = {j: {p: _number(v) for p, v in per.get(name, {}).items()} for j, per in judges.items()}
        out[name] = _sample_ppi(labels, sampled, per_judge)
    return out


def _win_share(verdict: Any) -> float | None:
    """B's share of the win, as scorers.stats.pairwise counts it (None: no verdict)."""
    if verdict not in ("a", "b", "tie", "both_bad"):
        return None
    return {"b": 1.0, "a": 0.0}.get(verdict, 0.5)


def comparison_ppi(state: ComparisonState) -> dict[tuple[str, str], SamplePPI]:
    """Per pair of sessions (a, b), in the order first seen: B's win rate from your votes on
    the random sample and each judge's verdicts on every pair it judged. Stale pairs (an
    answer changed since) are left out, as from every other number."""
    groups: dict[tuple[str, str], list[PairState]] = {}
    for pair in state.ordered():
        if not pair.stale:
            groups.setdefault((pair.a, pair.b), []).append(pair)
    out: dict[tuple[str, str], SamplePPI] = {}
    for key, pairs in groups.items():
        labels: dict[int, float] = {}
        sampled: dict[int, bool | None] = {}
        judges: dict[str, dict[int, float]] = {}
        for at, pair in enumerate(pairs):
            share = _win_share(pair.human)
            if share is not None:
                labels[at] = share
                sampled[at] = pair.sampled
            for judge, event in pair.judges.items():
                verdict = event.get("verdict")
                value = _win_share(verdict) if verdict != "both_bad" else None
                if value is not None:
                    judges.setdefault(judge, {})[at] = value
        out[key] = _sample_ppi(labels, sampled, judges)
    return out


def criteria_with_ppi(criteria: Mapping[str, Any], ppi: Mapping[str, SamplePPI]) -> dict[str, Any]:
    """The report's `criteria` with each yes/no or scale criterion's `n_random` and `ppi`
    (its judges' estimates under "rate" for yes/no, "mean" for a scale)."""
    out = dict(criteria)
    for name, sample in ppi.items():
        entry = out.get(name)
        if isinstance(entry, dict):
            key = "rate" if entry.get("kind") == "binary" else "mean"
            out[name] = {**entry, **sample.to_dict(key)}
    return out


def groups_with_ppi(
    groups: Iterable[Mapping[str, Any]], ppi: Mapping[tuple[str, str], SamplePPI]
) -> list[Any]:
    """The comparison's `groups` with each pair of sessions' `n_random` and `ppi` (B's win
    rate under "win_rate_b" and "win_rate_b_ci")."""
    out = []
    for group in groups:
        sample = ppi.get((str(group.get("a")), str(group.get("b"))))
        out.append({**group, **sample.to_dict("win_rate_b", "win_rate_b_ci")} if sample else dict(group))
    return out
