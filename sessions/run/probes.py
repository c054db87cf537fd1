"""Rater reliability probes: an item the operator scored earlier comes back later, blind.

A human rater drifts over a long session and is never perfectly consistent with
themselves; the only way to measure it is to ask again without saying so
(test-retest). With `--probe-rate R`, a share R of the items the operator fully
scores is chosen, reproducibly from the session's seed and the item id (so a
resumed session chooses the same ones), and each chosen item comes back after
the operator has fully scored K more items (K from 10 to 30, also drawn from the
seed and the id, so probes do not arrive on a rhythm the operator could learn),
or at the end of the queue when fewer items than that remain.

A probe's answers are `probe` events (Session.probe), never `score` events: the
original label stays in force, and each answer carries it as `original`. The
probes are folded here from the session's own log (`ProbeBook.from_log`, then
every new event), so which items were already probed, and which are still due,
is recomputed on resume rather than kept anywhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sftscope.scorers.rubric import Rubric
from sftscope.sessions.core.events import Event, Probed, Record, Scored, from_record
from sftscope.sessions.core.state import ItemState, SessionState
from sftscope.sessions.run.review import fully_scored

if TYPE_CHECKING:
    from sftscope.sessions.core.session import Session

MIN_GAP = 10  # the fewest items fully scored between an item and its probe
MAX_GAP = 30  # the most (long enough to forget the first answer, short enough to come back)


def _unit(seed: int, item_id: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the seed, the item and what it is for: the same on every
    machine and every resume (Python's own hash() is salted per process)."""
    digest = hashlib.sha256(f"{seed}\0{item_id}\0{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class ProbePlan:
    """Which items come back as probes and how many fully scored items later."""

    rate: float = 0.0
    seed: int = 0
    min_gap: int = MIN_GAP
    max_gap: int = MAX_GAP

    def chosen(self, item_id: str) -> bool:
        """A share `rate` of the items, the same ones for the same seed."""
        return self.rate > 0 and _unit(self.seed, item_id, "probe") < self.rate

    def gap(self, item_id: str) -> int:
        """How many more items the operator fully scores before this one comes back."""
        span = self.max_gap - self.min_gap + 1
        return self.min_gap + min(span - 1, int(_unit(self.seed, item_id, "gap") * span))


@dataclass
class ProbeBook:
    """A session's probes, folded from its events: when each chosen item was first fully
    scored (counted in items fully scored), and the probe answers given so far."""

    plan: ProbePlan
    rubric: Rubric
    # How many distinct items have been fully scored so far (the clock probes wait on).
    completed: int = 0
    # Chosen items -> the value of `completed` just after each was first fully scored.
    waiting: dict[str, int] = field(default_factory=dict)
    # item -> criterion -> the latest probe answer.
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set aside by the operator in this run (a probe skipped): not offered again until a
    # resume recomputes the book. Nothing about it is written.
    set_aside: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def from_log(cls, plan: ProbePlan, rubric: Rubric, events: Iterable[Record]) -> ProbeBook:
        """The book of a session's log, in its order: which items were fully scored when,
        and which were probed already (so a resume neither repeats nor forgets one)."""
        book = cls(plan, rubric)
        if plan.rate <= 0:
            return book
        state = SessionState()
        for record in events:
            item = state.apply(record)
            event = from_record(record)
            if event is not None:
                book.apply(event, item)
        return book

    def attach(self, session: Session) -> None:
        """Follow a live Session: each new event, once it is folded into the session's state."""
        items = session.state.items

        def follow(event: Event) -> None:
            if isinstance(event, (Probed, Scored)):
                self.apply(event, items.get(str(event.item)))

        session.subscribe(follow)

    def apply(self, event: Event, state: ItemState | None) -> None:
        """One event, with the item's state after it (None when the event has no item)."""
        match event:
            case Probed(item=item, criterion=criterion, value=value):
                self.answers.setdefault(str(item), {})[str(criterion)] = value
            case Scored(item=item):  # only a score makes an item fully scored; the first time counts
                item_id = str(item)
                if state is None or item_id in self._seen or not fully_scored(state, self.rubric):
                    return
                self._seen.add(item_id)
                self.completed += 1
                if self.plan.chosen(item_id):
                    self.waiting[item_id] = self.completed

    def done(self, item_id: str) -> bool:
        """Every required criterion has a probe answer."""
        given = self.answers.get(item_id) or {}
        return all(c.name in given for c in self.rubric.criteria if c.required)

    @property
    def probed(self) -> list[str]:
        """Items whose probe is complete, in the order they were first scored."""
        return [item_id for item_id in self.waiting if self.done(item_id)]

    def due(self, states: Mapping[str, ItemState], remaining: int) -> list[str]:
        """Chosen items whose probe is due now, oldest first: their gap has passed, or no
        unfinished item is left (`remaining` == 0: the end of the queue). An item whose
        labels were undone since, or whose answer is gone, waits until it is whole again."""
        out = []
        for item_id, at in self.waiting.items():
            if item_id in self.set_aside or self.done(item_id):
                continue
            if remaining > 0 and self.completed - at < self.plan.gap(item_id):
                continue
            state = states.get(item_id)
            if state is None or state.status != "done" or not fully_scored(state, self.rubric):
                continue
            out.append(item_id)
        return out


def blind_view(state: ItemState, answers: Mapping[str, Any] | None = None) -> ItemState:
    """The item as a probe shows it: its answer, checks and judges (hidden by the caller)
    as they are, but none of the operator's own labels, flag or comment; only the probe's
    answers so far, as if they were the first labels of a fresh item."""
    actions = [Scored(state.item.id, name, value).to_record() for name, value in (answers or {}).items()]
    return ItemState(
        item=state.item,
        index=state.index,
        turns=state.turns,
        error=state.error,
        skipped=state.skipped,
        cancelled=state.cancelled,
        actions=actions,
        judges=state.judges,
        checks=state.checks,
    )
