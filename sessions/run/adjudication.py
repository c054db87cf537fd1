"""The adjudication queue (issue 18 §4): a session's disputed items, settled by one person.

Which item and criterion is disputed is the consensus module's rule, never restated here
(sessions/core/consensus.py: no strict majority on yes/no, a spread of 2 or more on a
scale, and not adjudicated yet). This module turns its list into the queue the adjudicate
console walks, item by item with each disputed criterion and every rater's label by name,
and writes each decision through the adjudicator's own Session: an `adjudicate` event in
`ratings/NAME.jsonl` (fsynced before it returns, under that rater's lock, so a second
console of the same name is refused), bound to the answer on screen. The raters' files
are only read: their labels stay on record as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.scorers.rubric import Criterion, Rubric, load_rubric
from sftscope.sessions.core.consensus import Panel, disputed_items
from sftscope.sessions.core.events import Event
from sftscope.sessions.core.raters import rater_path, read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import ItemState
from sftscope.sessions.core.store import SessionError, SessionStore, load_session

MIN_RATERS = 2  # with fewer there is nobody to disagree with


class AdjudicationError(SessionError):
    """A session that cannot be adjudicated (not a run session, fewer than 2 raters): one line."""


@dataclass(frozen=True)
class Decision:
    """A final label given in this console (the latest for its criterion)."""

    value: Any
    reason: str | None


@dataclass
class Dispute:
    """One disputed criterion of an item: every rater's label by name, and the decision
    made here, if any (a decision made before this console opened took it off the queue)."""

    criterion: Criterion
    labels: dict[str, Any]
    decision: Decision | None = None


@dataclass
class Case:
    """One item of the queue: its state in the adjudicator's fold (the prompt, the answer
    on screen and its gen) and its disputed criteria in the rubric's order."""

    state: ItemState
    disputes: list[Dispute] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.state.item.id

    @property
    def decided(self) -> bool:
        return all(dispute.decision is not None for dispute in self.disputes)

    def own_labels(self) -> dict[str, Any]:
        """The adjudicator's own labels on this item's answer ({criterion: value}, from
        their fold): not empty means they labelled the item they now settle (a warning)."""
        return dict(self.state.human)


@dataclass
class Queue:
    """What `disputed` found, before anything is locked: the raters and the cases."""

    directory: Path
    header: dict[str, Any]
    rubric: Rubric
    raters: list[str]
    found: list[tuple[str, Criterion, dict[str, Any]]]  # (item, criterion, labels by rater)


def disputed(directory: Path) -> Queue:
    """Read a run session and every rater's file (nothing locked) and list what is disputed.
    A comparison, a session that is not one, or fewer than MIN_RATERS raters who labelled is
    an AdjudicationError or a SessionError: one line naming the directory."""
    directory = Path(directory)
    header, events, _warnings = load_session(directory)
    if header.get("kind") == "comparison":
        raise AdjudicationError(f"{directory}: a comparison; adjudicate takes a run session")
    rubric = Rubric.from_dict(header["rubric"]) if header.get("rubric") else load_rubric(None)
    ratings = read_ratings(directory, header, events)
    raters = Panel.read(events, ratings, rubric).names
    if len(raters) < MIN_RATERS:
        who = f" (only {', '.join(raters)})" if raters else ""
        raise AdjudicationError(
            f"{directory}: {len(raters)} rater{'s' if len(raters) != 1 else ''} labelled it{who}; "
            f"adjudication needs {MIN_RATERS} or more (--rater NAME on run or replay)"
        )
    found = []
    for item, name, consensus in disputed_items(events, ratings, rubric):
        criterion = rubric.get(name)
        if criterion is not None:  # a criterion the rubric no longer has cannot be labelled
            found.append((item, criterion, dict(consensus.labels)))
    return Queue(directory, header, rubric, raters, found)


class Adjudication:
    """The queue opened for one adjudicator: their Session (their file locked; events.jsonl
    followed read-only, a writer may still be generating) and the cases in prompt-set order."""

    def __init__(self, queue: Queue, rater: str) -> None:
        self.queue = queue
        self.directory = queue.directory
        self.rubric = queue.rubric
        self.raters = queue.raters
        self.rater = rater
        store = SessionStore(queue.directory)
        store.open(follow=True)
        try:
            # Refused when this rater is busy elsewhere; an adjudicator never claims the labels
            # of a session written before raters (they stay the legacy rater's).
            self.session = Session(store, rater=rater, claim=False)
        except BaseException:
            store.close()
            raise
        self.read_only = self.session.raters is not None and self.session.raters.read_only
        self.cases: list[Case] = []
        by_item: dict[str, Case] = {}
        for item, criterion, labels in queue.found:
            state = self.session.state.items.get(item)
            if state is None:
                continue
            case = by_item.get(item)
            if case is None:
                case = by_item[item] = Case(state)
                self.cases.append(case)
            case.disputes.append(Dispute(criterion, labels))

    @property
    def file(self) -> Path:
        """The adjudicator's file, where the decisions go."""
        return rater_path(self.directory, self.rater)

    @property
    def system(self) -> str | None:
        system = self.queue.header.get("system")
        return str(system) if system else None

    def decide(self, case: Case, dispute: Dispute, value: Any, reason: str | None = None) -> Event:
        """Write the final label (fsynced before it returns; SessionWriteError when it could
        not be) and note it on the dispute. A later decision on the same criterion replaces it."""
        event = self.session.adjudicate(case.id, dispute.criterion.name, value, reason=reason)
        dispute.decision = Decision(value, reason)
        return event

    def close(self) -> list[str]:
        """Release the adjudicator's lock; nothing else was written."""
        self.session.close_rater()
        return self.session.store.close()


def open_adjudication(directory: Path, rater: str) -> Adjudication | Queue:
    """The Adjudication, or the Queue itself when nothing is disputed (nothing is locked)."""
    queue = disputed(Path(directory))
    if not queue.found:
        return queue
    return Adjudication(queue, rater)
