"""Review policy: the evaluation rules, in the core, so every front end applies the same ones.

The console, headless runs and exports all ask here what counts as scored, when a
judge's scores may be shown (blind until the operator has scored, or reveals them),
which item is next, which labels pair up for agreement, and what a session's status
means. None of this is display code: a second front end gets it for free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.agreement import kappa_interval
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.scorers.stats.intervals import enough as is_enough
from sftscope.scorers.stats.ppi import NoPPI, PPIEstimate, labels_needed, sample_ppi
from sftscope.sessions.core.state import ItemState

# A session's status, one meaning everywhere (session.toml, headless, the console):
RUNNING = "running"  # a run holds the session now
COMPLETE = "complete"  # every item has an answer and every criterion a label (or is skipped)
STOPPED = "stopped"  # the run ended (quit, or generation done) before that
INTERRUPTED = "interrupted"  # Ctrl+C or a signal (SIGINT, SIGTERM, SIGHUP) ended it
STATUSES = (RUNNING, COMPLETE, STOPPED, INTERRUPTED)

AGREED_KINDS = ("likert", "binary")  # the kinds compared with a judge (agreement, disagreement)


def fully_scored(state: ItemState, rubric: Rubric) -> bool:
    """Every required criterion (all but notes) has a label."""
    human = state.human
    return all(c.name in human for c in rubric.criteria if c.required)


def is_finished(state: ItemState, rubric: Rubric) -> bool:
    """Nothing is left to do on this item: skipped, or answered and fully scored."""
    return state.status == "skipped" or (state.complete and fully_scored(state, rubric))


def is_scored(state: ItemState, rubric: Rubric) -> bool:
    """Counted as scored: answered and fully labelled on its current answer, and not
    skipped. A skipped item is finished (nothing left to do) but was not scored, and an
    item whose answer changed since it was labelled is unscored again."""
    return state.status == "done" and fully_scored(state, rubric)


@dataclass(frozen=True)
class LabelCounts:
    """How far the labelling is: the numbers every front end shows ("12/40 scored")."""

    total: int
    scored: int  # is_scored: skipped items are not among them
    skipped: int
    answer_changed: int  # labelled on an earlier answer, not on the current one yet

    @property
    def finished(self) -> int:
        """Nothing left to do: scored or skipped."""
        return self.scored + self.skipped


def label_counts(states: Iterable[ItemState], rubric: Rubric) -> LabelCounts:
    total = scored = skipped = changed = 0
    for state in states:
        total += 1
        if state.status == "skipped":
            skipped += 1
        elif is_scored(state, rubric):
            scored += 1
        elif state.answer_changed:
            changed += 1
    return LabelCounts(total, scored, skipped, changed)


def judge_visible(state: ItemState, rubric: Rubric, *, revealed: bool = False) -> bool:
    """Blind, then reveal: a judge's scores show once the operator has scored every
    criterion of the item, or asked to see them (recorded on each label as
    `judge_visible`, so anchoring can be measured)."""
    return revealed or fully_scored(state, rubric)


def next_unfinished(states: list[ItemState], rubric: Rubric, after: int) -> int | None:
    """The index of the next item not finished, after `after`, wrapping around."""
    count = len(states)
    for step in range(1, count + 1):
        index = (after + step) % count
        if not is_finished(states[index], rubric):
            return index
    return None


def disagreement(state: ItemState, rubric: Rubric, judges: Iterable[str]) -> float | None:
    """How far the operator and the `judges` (those whose scores are visible on this item)
    differ on it, from 0 (the same everywhere) to 1 (opposite ends of a scale).

    Per criterion both scored: |human - judge| / (max - min) on a likert scale, 0 or 1 on
    a yes/no; the largest over judges and criteria, since one wide miss is what a second
    look is for. None when there is nothing to compare, and always None for an item the
    operator has not fully scored: otherwise the order of unscored items would leak
    scores the operator must not see yet.
    """
    if not fully_scored(state, rubric):
        return None
    human = state.human
    worst: float | None = None
    for name in judges:
        theirs = (state.judges.get(name) or {}).get("scores") or {}
        for criterion in rubric.criteria:
            if criterion.name not in human or criterion.name not in theirs:
                continue
            gap = _gap(criterion, human[criterion.name], theirs[criterion.name])
            if gap is not None and (worst is None or gap > worst):
                worst = gap
    return worst


def _gap(criterion: Criterion, mine: Any, theirs: Any) -> float | None:
    """One criterion's distance in [0, 1]; None for kinds without one (tags, notes) or a
    value off the rubric's scale (a judge's reply is parsed, not trusted)."""
    if criterion.kind not in AGREED_KINDS or not (criterion.accepts(mine) and criterion.accepts(theirs)):
        return None
    if criterion.kind == "binary" or criterion.max == criterion.min:
        return float(mine != theirs)
    return abs(mine - theirs) / (criterion.max - criterion.min)


def disagreement_order(
    states: Sequence[ItemState],
    rubric: Rubric,
    judges: Iterable[str],
    visible: Callable[[ItemState], bool],
) -> list[int]:
    """Indices of the items where a judge and the operator differ (disagreement above 0),
    most disagreement first, ties in prompt order. Only items whose judges are `visible`
    count (judge_visible, with the operator's reveals); items that agree, or that have
    nothing to compare, are left out: there is nothing to look at twice."""
    return [index for _, index in _places(states, rubric, judges, visible)]


def _places(
    states: Sequence[ItemState], rubric: Rubric, judges: Iterable[str], visible: Callable[[ItemState], bool]
) -> list[tuple[float, int]]:
    """(-disagreement, index) of every item that differs, sorted: the walk's order."""
    names = list(judges)
    places = []
    for index, state in enumerate(states):
        if not visible(state):
            continue
        value = disagreement(state, rubric, names)
        if value:
            places.append((-value, index))
    places.sort()
    return places


def next_disagreement(
    states: Sequence[ItemState],
    rubric: Rubric,
    judges: Iterable[str],
    visible: Callable[[ItemState], bool],
    after: tuple[float, int] | None = None,
) -> tuple[int, tuple[float, int]] | None:
    """The next item in disagreement order after the place `after` (a disagreement and an
    index, as returned here), wrapping round to the most disagreeing; None when no item
    differs. Returns the item's index and its place. The place, not the item, is what the
    walk remembers: an item re-scored on the way leaves the order, and the walk goes on
    from where it was instead of starting over."""
    places = _places(states, rubric, judges, visible)
    if not places:
        return None
    chosen = places[0]
    if after is not None:
        key = (-after[0], after[1])
        chosen = next((place for place in places if place > key), places[0])
    return chosen[1], (-chosen[0], chosen[1])


def agreement_pairs(states: Iterable[ItemState], judge: str, criteria: Iterable[str]) -> dict[str, list[Any]]:
    """(human, judge) value pairs per criterion, over every item both have scored."""
    pairs: dict[str, list[tuple[Any, Any]]] = {name: [] for name in criteria}
    for state in states:
        theirs = (state.judges.get(judge) or {}).get("scores") or {}
        if not theirs:
            continue
        human = state.human
        for name, found in pairs.items():
            if name in human and name in theirs:
                found.append((human[name], theirs[name]))
    return pairs


@dataclass(frozen=True)
class RunningAgreement:
    """The operator against one judge on one criterion, over every item both have scored.

    From MIN_N items on, Cohen's kappa (quadratic weights on a likert scale, none on yes/no)
    and its 95% bootstrap interval; below that the count is all there is to say ("n too
    small"). `kappa` is None when it is undefined (one side gave every item the same label)
    or not computed (n < MIN_N)."""

    kind: str
    n: int
    exact: float | None
    kappa: float | None = None
    kappa_ci: tuple[float, float] | None = None
    # The prediction-powered estimate of your mean (a rate on yes/no) from your labels on
    # the random sample and this judge's scores on every item it judged (scorers.stats.ppi,
    # as the report computes it), once the sample has MIN_N labels; `more`: about how many
    # more random labels would bring its interval to ±0.05 (None: not reachable here).
    n_random: int = 0
    ppi: PPIEstimate | None = None
    more: int | None = None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)


def running_agreement(
    states: Iterable[ItemState], rubric: Rubric, judge: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, RunningAgreement]:
    """You against `judge`, per likert/binary criterion, as the console shows it while you
    score. Pairs whose judge value is off the rubric's scale (a reply is parsed, not
    trusted) are left out. The console calls it off its UI thread, a few times a second.

    The kappa and its interval are the report's (scorers.stats.agreement.agreement_stats): the
    same contingency table, the same seeded multinomial resampling of it and the same
    percentile interval, through the same module's `kappa_interval` (checked there
    against scikit-learn's cohen_kappa_score). Only the kappa is computed: numpy alone is
    loaded (0.1 s), not scikit-learn, scipy and krippendorff (over a second) for figures
    the console does not show."""
    criteria = [c for c in rubric.criteria if c.kind in AGREED_KINDS]
    pairs = agreement_pairs(states, judge, [c.name for c in criteria])
    out = {}
    for criterion in criteria:
        found = [(a, b) for a, b in pairs[criterion.name] if criterion.accepts(a) and criterion.accepts(b)]
        n = len(found)
        exact = sum(1 for a, b in found if a == b) / n if n else None
        kappa: float | None = None
        interval: tuple[float, float] | None = None
        if is_enough(n):
            scale = (criterion.min, criterion.max) if criterion.kind == "likert" else None
            mine, theirs = [a for a, _ in found], [b for _, b in found]
            kappa, interval = kappa_interval(
                mine, theirs, criterion.kind, scale, resamples=resamples, seed=seed
            )
        n_random, ppi, more = running_ppi(states, criterion, judge)
        out[criterion.name] = RunningAgreement(criterion.kind, n, exact, kappa, interval, n_random, ppi, more)
    return out


def running_ppi(
    states: Iterable[ItemState], criterion: Criterion, judge: str
) -> tuple[int, PPIEstimate | None, int | None]:
    """(random-sample labels, the PPI estimate, labels needed for ±0.05) on one criterion.

    The same split as the report's (sessions/report/ppi.py): your labels count only on items
    whose first label for the criterion was given walking the random order
    (`ItemState.sampled`); the judge's scores on every other item it judged are the
    unlabelled part. No estimate below MIN_N random labels: the console says nothing it
    would have to take back."""
    name = criterion.name
    labels: dict[str, float] = {}
    judged: dict[str, float] = {}
    for state in states:
        key = state.item.id
        value = ((state.judges.get(judge) or {}).get("scores") or {}).get(name)
        if value is not None and criterion.accepts(value):
            judged[key] = float(value)
        mine = state.human.get(name)
        if mine is not None and criterion.accepts(mine) and state.sampled(name) is True:
            labels[key] = float(mine)
    n_labelled, found = sample_ppi(labels, list(labels), judged)
    if not is_enough(n_labelled) or isinstance(found, NoPPI):
        return len(labels), None, None
    return len(labels), found, labels_needed(found)


def final_status(states: Iterable[ItemState], rubric: Rubric, *, interrupted: bool = False) -> str:
    """The status a run leaves in session.toml."""
    if interrupted:
        return INTERRUPTED
    items = list(states)
    if items and all(is_finished(state, rubric) for state in items):
        return COMPLETE
    return STOPPED
