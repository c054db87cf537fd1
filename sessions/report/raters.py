"""The report's raters section (issue 18 §3): how far several raters of one session agree.

Per yes/no or scale criterion: Krippendorff's alpha across all raters (missing labels
allowed) with its bootstrap interval over items; Cohen's kappa of every pair of raters on
the items both labelled (quadratic weights on a scale, as every kappa of the report); each
rater against the consensus of the OTHERS on the items they labelled (leave-one-out: a
rater's own label never votes for itself, so a rater who disagrees with everyone is not
flattered by their own vote; an adjudication is left out too, as it was made after seeing
that rater's label); and how many labels each rater gave. Only labels on each item's
current answer count, as everywhere. Built only when two or more raters labelled.

A comparison's raters get the same block with their pairwise votes as its one criterion,
VOTE: nominal alpha and unweighted kappa over a, b, tie and both_bad, the bootstrap over
pairs, each rater against the others' strict majority (`comparison_rater_figures`). A run
session with an `[assignment]` adds each assigned rater's progress (`progress`), and has the
block for it even before a second rater labelled.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.agreement import AgreementStats, RatersAlpha, agreement_stats, raters_alpha
from sftscope.scorers.stats.intervals import RESAMPLES, SEED, proportion_interval
from sftscope.sessions.compare.comparison import CHOICES, votes_by_rater
from sftscope.sessions.core.assignment import RaterProgress, assignment_progress
from sftscope.sessions.core.consensus import DISPUTED, Panel, decide
from sftscope.sessions.core.events import Record

VOTE = "vote"  # a comparison's one criterion in the raters block: the pairwise vote

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
    progress: dict[str, RaterProgress] = dataclasses.field(default_factory=dict)  # an [assignment]'s

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
            "progress": {
                name: {"assigned": p.assigned, "labelled": p.labelled} for name, p in self.progress.items()
            },
        }


def rater_figures(
    events: list[Record],
    ratings: dict[str, list[Record]],
    rubric: Rubric,
    *,
    header: dict[str, Any] | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> RaterFigures | None:
    """Every raters' figure of one run session; None with fewer than two raters (checked
    before any fold: one rater's session, the usual one, costs nothing here). `header`: the
    session's, for its `[assignment]`'s progress per rater; with an assignment the block is
    there whatever the number of raters so far (a team's first day: one rater labelled, the
    others have not started)."""
    progress = assignment_progress(header, events, ratings, rubric) if header else {}
    figures = _run_agreement(events, ratings, rubric, resamples, seed) if len(ratings) > 1 else None
    if not progress:
        return figures
    if figures is None:
        names = tuple(Panel.read(events, ratings, rubric).names)
        figures = RaterFigures(names, {}, {}, {name: {} for name in names}, {}, {})
    return dataclasses.replace(figures, progress=progress)


def _run_agreement(
    events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric, resamples: int, seed: int
) -> RaterFigures | None:
    panel = Panel.read(events, ratings, rubric)
    names = tuple(panel.names)
    if len(names) < 2:
        return None
    writer = panel.views[names[0]]  # every view has the writer's items and answers
    items = [key for key, _ in sorted(writer.items.items(), key=lambda kv: kv[1].index)]
    scored = [c for c in rubric.criteria if c.kind in ("likert", "binary")]
    table = {c.name: [panel.labels(key, c.name) for key in items] for c in scored}
    figures = _figures(
        names, [(c.name, c.kind, _scale(c), c, table[c.name]) for c in scored], resamples, seed
    )
    consensus: dict[str, dict[str, int]] = {}
    for criterion in scored:
        counts: dict[str, int] = {}
        for key in items:
            found = panel.consensus(key, criterion.name, writer.items[key])
            if found is not None:
                counts[found.status] = counts.get(found.status, 0) + 1
        consensus[criterion.name] = dict(sorted(counts.items()))
    return dataclasses.replace(figures, consensus=consensus)


def comparison_rater_figures(
    events: list[Record],
    ratings: dict[str, list[Record]],
    pairs: Sequence[str],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> RaterFigures | None:
    """A comparison's raters block: its votes (`votes_by_rater`, each rater's vote in force)
    on `pairs` (the pairs the report counts: in force and not stale) as the one criterion
    VOTE, nominal over CHOICES; None with fewer than two raters who voted."""
    if len(ratings) < 2:
        return None
    votes = votes_by_rater(events, ratings)
    names = tuple(name for name in ratings if any(name in of for of in votes.values()))
    if len(names) < 2:
        return None
    rows = [votes[pair] for pair in pairs if pair in votes]
    figures = _figures(names, [(VOTE, "nominal", CHOICES, None, rows)], resamples, seed)
    counts: dict[str, int] = {}
    for row in rows:
        found = decide(row, None)
        if found is not None:
            counts[found.status] = counts.get(found.status, 0) + 1
    return dataclasses.replace(figures, consensus={VOTE: dict(sorted(counts.items()))})


_Rows = tuple[str, str, Sequence[Any] | None, Criterion | None, list[dict[str, Any]]]


def _figures(names: tuple[str, ...], criteria: list[_Rows], resamples: int, seed: int) -> RaterFigures:
    """Alpha, pairwise kappa, each rater against the others and labels per rater, for each
    (name, kind, scale, criterion, rows) where rows hold one {rater: label} per item."""
    alpha, pairwise, versus = {}, {}, {name: {} for name in names}
    labels: dict[str, dict[str, int]] = {name: {} for name in names}
    for label, kind, scale, criterion, rows in criteria:
        alpha[label] = raters_alpha(
            [list(row.values()) for row in rows], kind, scale, resamples=resamples, seed=seed
        )
        pairs = {}
        for a, b in itertools.combinations(names, 2):
            both = [row for row in rows if a in row and b in row]
            pairs[(a, b)] = agreement_stats(
                [row[a] for row in both], [row[b] for row in both], kind, scale,
                resamples=resamples, seed=seed, names=(a, b),
            )  # fmt: skip
        pairwise[label] = pairs
        for name in names:
            versus[name][label] = _versus_others(name, rows, criterion)
            labels[name][label] = sum(1 for row in rows if name in row)
    return RaterFigures(names, alpha, pairwise, versus, labels, {})


def _versus_others(name: str, rows: list[dict[str, Any]], criterion: Criterion | None) -> VersusOthers:
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
