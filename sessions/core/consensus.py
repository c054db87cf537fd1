"""The consensus of several raters on one item and criterion (issue 18 §3).

Each rater's labels are their own fold (`raters.fold_for`): only labels on the item's
current answer count, after that rater's undos. The rule, per item and criterion:

- **adjudicated**: an `adjudicate` record on the current answer is in force (the latest
  one, by time, wins, whoever wrote it); its value is the consensus, whatever the raters said.
- **single**: one rater labelled it; their value.
- a scale (likert): the raters' **median**, the lower of the two middle values on an even
  count so that it stays a point of the scale. **Disputed** when the labels spread over 2
  or more points (max - min >= 2): the raters disagree about more than a neighbouring step
  and the median would hide it; the consensus value is then None until adjudicated.
  Otherwise **agreed**.
- yes/no, tags (compared as sets), notes and a comparison's votes: **agreed** on the value
  a strict majority of the raters who labelled it gave (more than half); else **disputed**
  (a 1-1 split, three raters with three answers), value None until adjudicated.

`disputed_items` lists exactly the disputed pairs (the adjudicate console's queue), and
`consensus_state` is the session as the reports and exports read it when it has 2+
raters: the writer's events folded with synthetic labels carrying the consensus, never
written anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.panels import majority, median_verdict
from sftscope.sessions.core import events as ev
from sftscope.sessions.core.events import Record
from sftscope.sessions.core.raters import fold_for, fold_into
from sftscope.sessions.core.state import ItemState, SessionState

ADJUDICATED, AGREED, DISPUTED, SINGLE = "adjudicated", "agreed", "disputed", "single"
STATUSES = (ADJUDICATED, AGREED, DISPUTED, SINGLE)
SPREAD = 2  # a scale's labels this many points apart (or more) are a dispute


@dataclass(frozen=True)
class Consensus:
    """One item and criterion: the value the raters settle on (None when disputed),
    how (`status`, one of STATUSES) and every rater's label by name (`labels`)."""

    value: Any
    status: str
    labels: Mapping[str, Any]


def decide(
    labels: Mapping[str, Any], criterion: Criterion | None, adjudication: Record | None = None
) -> Consensus | None:
    """The consensus of `labels` ({rater: value}, raters who did not label it left out)
    under `criterion` (None: a comparison's vote, nominal). `adjudication`: the
    `adjudicate` record in force on the current answer, if any. None when nobody labelled
    it and nothing was adjudicated."""
    labels = dict(sorted(labels.items()))
    if adjudication is not None:
        return Consensus(adjudication.get("value"), ADJUDICATED, labels)
    if not labels:
        return None
    values = list(labels.values())
    if len(values) == 1:
        return Consensus(values[0], SINGLE, labels)
    if criterion is not None and criterion.kind == "likert":
        if max(values) - min(values) >= SPREAD:
            return Consensus(None, DISPUTED, labels)
        return Consensus(median_verdict(values, len(values)), AGREED, labels)
    first = {_key(value): value for value in reversed(values)}  # a tag list as the first rater gave it
    vote = majority([_key(value) for value in values], len(values))
    return Consensus(None, DISPUTED, labels) if vote is None else Consensus(first[vote], AGREED, labels)


def _key(value: Any) -> Any:
    """A label as a vote: tags as the set chosen (their order on screen is no choice)."""
    return ("tags", tuple(sorted(value))) if isinstance(value, list) else value


def adjudications(ratings: Mapping[str, list[Record]]) -> dict[tuple[str, str], list[Record]]:
    """(item, criterion) -> every `adjudicate` record on it, oldest first (by time, then
    by adjudicator's name for a tie)."""
    kind = ev.Adjudicated.TYPE
    found = [record for records in ratings.values() for record in records if record.get("type") == kind]
    found.sort(key=lambda r: (float(r.get("ts") or 0), str(r.get("rater") or "")))
    out: dict[tuple[str, str], list[Record]] = {}
    for record in found:
        out.setdefault((str(record["item"]), str(record["criterion"])), []).append(record)
    return out


def in_force(records: Iterable[Record], state: ItemState) -> Record | None:
    """The latest adjudication on the item's current answer (one on an earlier answer
    is on record only, as a stale label is)."""
    current = [r for r in records if state.is_current(r)]
    return current[-1] if current else None


@dataclass
class Panel:
    """Every rater's view of one session, read once: the folds the consensus is made of."""

    events: list[Record]
    ratings: dict[str, list[Record]]
    rubric: Rubric
    views: dict[str, SessionState]
    adjudicated: dict[tuple[str, str], list[Record]]

    @classmethod
    def read(cls, events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric) -> Panel:
        views = {name: fold_for(events, ratings, name) for name in ratings}
        return cls(events, ratings, rubric, views, adjudications(ratings))

    @property
    def names(self) -> list[str]:
        """The raters who labelled (an adjudicator with only adjudications is not one)."""
        return [name for name, records in self.ratings.items() if any(_labels(records))]

    def labels(self, item: str, criterion: str) -> dict[str, Any]:
        """{rater: their label in force on the item's current answer}."""
        out: dict[str, Any] = {}
        for name in self.names:
            state = self.views[name].items.get(item)
            if state is not None and criterion in (human := state.human):
                out[name] = human[criterion]
        return out

    def consensus(self, item: str, criterion: str, state: ItemState) -> Consensus | None:
        ruling = in_force(self.adjudicated.get((item, criterion), ()), state)
        return decide(self.labels(item, criterion), self.rubric.get(criterion), ruling)

    def criteria(self, item: str) -> list[str]:
        """The criteria labelled or adjudicated on an item: the rubric's first, then others."""
        seen = {c for name in self.names if (s := self.views[name].items.get(item)) for c in s.human}
        seen |= {criterion for (key, criterion) in self.adjudicated if key == item}
        order = [c.name for c in self.rubric.criteria]
        return [c for c in order if c in seen] + sorted(seen - set(order))


def _labels(records: Iterable[Record]) -> Iterable[Record]:
    return (r for r in records if r.get("type") != ev.Adjudicated.TYPE)


def consensus_state(events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric) -> SessionState:
    """The session as the reports and exports read it with several raters: events.jsonl's
    items, answers, judges and checks, and as its human labels the consensus (a disputed
    criterion has none). Built through the fold from synthetic records, never written:
    a `score` per agreed, single or adjudicated criterion, on the current answer's gen,
    `sample` "random" only when every rater's first label of it was random ("chosen" when
    any was chosen; absent when none recorded it, or when adjudicated); a flag when any
    rater's flag is on; the raters' comments as "NAME: text" lines; a human skip when every
    rater who acted on the item skipped it and nothing was adjudicated."""
    panel = Panel.read(events, ratings, rubric)
    state = SessionState()
    fold_into(state, events, ())
    for key, item in state.items.items():
        for record in synthetic(panel, key, item):
            state.apply(record)
    return state


def synthetic(panel: Panel, key: str, item: ItemState) -> list[Record]:
    """The records that give `item` (of the writer's fold) its consensus labels."""
    out: list[Record] = []
    views = [(name, v) for name in panel.names if (v := panel.views[name].items.get(key)) is not None]
    for criterion in panel.criteria(key):
        found = panel.consensus(key, criterion, item)
        if found is None or found.status == DISPUTED:
            continue
        record: Record = {"type": ev.Scored.TYPE, "item": key, "criterion": criterion, "value": found.value}
        if item.gen is not None:
            record["gen"] = item.gen
        if found.status != ADJUDICATED:
            marks = [v.sampled(criterion) for name, v in views if name in found.labels]
            if marks and all(marks):
                record["sample"] = ev.RANDOM
            elif any(mark is False for mark in marks):
                record["sample"] = ev.CHOSEN
        out.append(record)
    acted = [v for _, v in views if v.actions]
    if acted and not out and all(v.skipped_by_human for v in acted):
        out.append({"type": ev.Skipped.TYPE, "item": key, "by": "human"})
    if any(v.flagged for _, v in views):
        out.append({"type": ev.Flagged.TYPE, "item": key, "on": True})
    comments = [f"{name}: {v.comment}" for name, v in views if v.comment]
    if comments:
        out.append({"type": ev.Commented.TYPE, "item": key, "text": "\n".join(comments)})
    return out


def reading_state(events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric) -> SessionState:
    """The session as every reader of its labels (report, export) takes it: the plain fold
    when nobody labelled, the one rater's fold (their file, or the labels of a session
    written before raters) when one did, and `consensus_state` with two or more."""
    state = SessionState()
    if not ratings:  # not read (read_ratings puts a log's own labels under its legacy rater)
        for record in events:
            state.apply(record)
        return state
    names = Panel.read(events, ratings, rubric).names if len(ratings) > 1 else list(ratings)
    if len(names) > 1:
        return consensus_state(events, ratings, rubric)
    fold_into(state, events, ratings.get(names[0], ()) if names else ())
    return state


def disputed_items(
    events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric
) -> list[tuple[str, str, Consensus]]:
    """Every (item, criterion, consensus) that is disputed, in prompt-set order then the
    rubric's: the adjudicate console's queue. An adjudicated one leaves it."""
    panel = Panel.read(events, ratings, rubric)
    state = SessionState()
    fold_into(state, events, ())
    out: list[tuple[str, str, Consensus]] = []
    for key, item in sorted(state.items.items(), key=lambda kv: kv[1].index):
        for criterion in panel.criteria(key):
            found = panel.consensus(key, criterion, item)
            if found is not None and found.status == DISPUTED:
                out.append((key, criterion, found))
    return out
