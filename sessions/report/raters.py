"""The report's raters section (issue 18 §3): how far several raters of one session agree.

Per yes/no or scale criterion: Krippendorff's alpha across all raters (missing labels
allowed) with its bootstrap interval over items; Cohen's kappa of every pair of raters on
the items both labelled (quadratic weights on a scale, as every kappa of the report); each
rater against the consensus of the OTHERS on the items they labelled (leave-one-out: a
rater's own label never votes for itself, so a rater who disagrees with everyone is not
flattered by their own vote; an adjudication is left out too, as it was made after seeing
that rater's label); and how many labels each rater gave. Only labels on each item's
current answer count, as everywhere. Built only when two or more raters labelled.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.agreement import AgreementStats, RatersAlpha, agreement_stats, raters_alpha
from sftscope.scorers.stats.intervals import RESAMPLES, SEED, proportion_interval
from sftscope.sessions.core.consensus import DISPUTED, Panel, decide
from sftscope.sessions.core.events import Record

Interval = tuple[float, float]


@dataclass(frozen=True)
class VersusOthers:
    """One rater's labels against the consensus of the others, on the items where the
    others have one (not disputed): `agreement` the share equal, with Wilson's interval."""

    n: int
    agreement: float | None
    ci: Interval | None

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "agreement": self.agreement, "ci": None if self.ci is None else list(self.ci)}


@dataclass(frozen=True)
class RaterFigures:
    names: tuple[str, ...]
    alpha: dict[str, RatersAlpha]
    pairwise: dict[str, dict[tuple[str, str], AgreementStats]]
    vs_consensus: dict[str, dict[str, VersusOthers]]
    labels: dict[str, dict[str, int]]  # rater -> criterion -> labels in force on current answers
    consensus: dict[str, dict[str, int]]  # criterion -> status -> items

    def to_dict(self) -> dict[str, Any]:
        """The report's `raters` block (docs/reports.md)."""
        return {
            "names": list(self.names),
            "alpha": {name: figure.to_dict() for name, figure in self.alpha.items()},
            "pairwise_kappa": {
                criterion: {
                    f"{a}|{b}": {
                        "n": s.n,
                        "kappa": s.kappa,
                        "ci": None if s.kappa_ci is None else list(s.kappa_ci),
                    }
                    for (a, b), s in pairs.items()
                }
                for criterion, pairs in self.pairwise.items()
            },
            "vs_consensus": {
                name: {criterion: v.to_dict() for criterion, v in of.items()}
                for name, of in self.vs_consensus.items()
            },
            "labels": self.labels,
            "consensus": self.consensus,
        }


def rater_figures(
    events: list[Record],
    ratings: dict[str, list[Record]],
    rubric: Rubric,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> RaterFigures | None:
    """Every raters' figure of one run session; None with fewer than two raters (checked
    before any fold: one rater's session, the usual one, costs nothing here)."""
    if len(ratings) < 2:
        return None
    panel = Panel.read(events, ratings, rubric)
    names = tuple(panel.names)
    if len(names) < 2:
        return None
    writer = panel.views[names[0]]  # every view has the writer's items and answers
    items = [key for key, _ in sorted(writer.items.items(), key=lambda kv: kv[1].index)]
    scored = [c for c in rubric.criteria if c.kind in ("likert", "binary")]
    table = {c.name: [panel.labels(key, c.name) for key in items] for c in scored}
    alpha, pairwise, versus = {}, {}, {name: {} for name in names}
    for criterion in scored:
        rows = table[criterion.name]
        scale = _scale(criterion)
        alpha[criterion.name] = raters_alpha(
            [list(row.values()) for row in rows], criterion.kind, scale, resamples=resamples, seed=seed
        )
        pairs = {}
        for a, b in itertools.combinations(names, 2):
            both = [row for row in rows if a in row and b in row]
            pairs[(a, b)] = agreement_stats(
                [row[a] for row in both], [row[b] for row in both], criterion.kind, scale,
                resamples=resamples, seed=seed, names=(a, b),
            )  # fmt: skip
        pairwise[criterion.name] = pairs
        for name in names:
            versus[name][criterion.name] = _versus_others(name, rows, criterion)
    labels = {
        name: {c.name: sum(1 for row in table[c.name] if name in row) for c in scored} for name in names
    }
    consensus: dict[str, dict[str, int]] = {}
    for criterion in scored:
        counts: dict[str, int] = {}
        for key in items:
            found = panel.consensus(key, criterion.name, writer.items[key])
            if found is not None:
                counts[found.status] = counts.get(found.status, 0) + 1
        consensus[criterion.name] = dict(sorted(counts.items()))
    return RaterFigures(names, alpha, pairwise, versus, labels, consensus)


def _versus_others(name: str, rows: list[dict[str, Any]], criterion: Criterion) -> VersusOthers:
    same = []
    for row in rows:
        if name not in row:
            continue
        others = decide({k: v for k, v in row.items() if k != name}, criterion)
        if others is not None and others.status != DISPUTED:
            same.append(row[name] == others.value)
    n = len(same)
    if not n:
        return VersusOthers(0, None, None)
    share = sum(same) / n
    return VersusOthers(n, share, proportion_interval(share, n, None))


def _scale(criterion: Criterion) -> tuple[int, int] | None:
    return (criterion.min, criterion.max) if criterion.kind == "likert" else None
