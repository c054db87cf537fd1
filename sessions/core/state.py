"""The fold: every state of a session is computed from its event log.

Nothing else keeps state that is not in `events.jsonl`. Resume, export, replay
and the console all call `fold` (or apply events one at a time with
`SessionState.apply`), so they can never disagree about what happened.

Binding (format 2, sessions/events.py): every answer has a `gen`, and every
label, judge verdict and check names the `gen` it judged. A label is current
while its `gen` is one of the item's current turns (or the answer streaming
now); otherwise it is stale: kept on record (`stale_labels`, the log), out of
`human` and so out of every number, and the item is unscored again. A verdict
or check on an earlier answer is kept out of `judges` and `checks`.

Format-1 lines have no `gen`. A generation gets a stand-in id (`v1:N`, its
order among the item's generations), and a verdict or check the gen of the
answer current when it was written (verdicts always came after their answer).
A format-1 label stays bound to whatever answer is current, as it always did:
its log cannot say which answer it was given on (a label given while the
answer streamed is written before that answer), so binding it after the fact
would unscore old sessions that are fine.

The fold dispatches on the kind of each line (`events.kind_of`, a class) and keeps the
line itself (`events.Record`, with its `ts`) as the item's history: `turns`, `actions`,
`judges`, `checks`. It is not given typed events because it folds every line of a log
on each export, replay and console start (112,000 for 16,000 items): building an event
per line doubles the fold's time (0.13 s more on this machine, measured). Its readers
(the exports, the report, the consoles) read those records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sftscope.scorers.judge import JudgeInput
from sftscope.sessions.core import events as ev
from sftscope.sessions.core.events import BY_TYPE, Record
from sftscope.sessions.core.item import Item

FINISHED = ("stop", "length")
_KIND = BY_TYPE.get


@dataclass
class ItemState:
    item: Item
    index: int
    # One generation event per answered turn (the latest wins after a regenerate).
    turns: list[Record] = field(default_factory=list)
    # The `gen` of each of `turns` (a format-1 generation's stand-in included).
    gens: list[str] = field(default_factory=list)
    # The attempt streaming now, set by the Session (never from the log): a label
    # given while an answer streams is bound to it.
    streaming: str | None = None
    generations: int = 0  # generation events seen (the stand-in ids of format 1)
    error: str | None = None
    skipped: str | None = None
    cancelled: bool = False
    # The operator's actions (score, skip, flag, comment) still in force: `undo` pops one.
    actions: list[Record] = field(default_factory=list)
    # Every score event ever made, undone or not, for revision analysis.
    score_history: list[Record] = field(default_factory=list)
    # judge name -> its latest `judge` event for the current answer.
    judges: dict[str, Record] = field(default_factory=dict)
    # The latest `checks` event (IFEval, per-item checks, reference metrics) on the current answer.
    checks: Record = field(default_factory=dict)
    # The gen each of `judges` and `checks` is bound to (None: a format-1 verdict on no answer).
    _judge_gens: dict[str, str | None] = field(default_factory=dict, repr=False)
    _checks_gen: str | None = field(default=None, repr=False)

    @property
    def gen(self) -> str | None:
        """The gen of the current answer (its last turn), None without one."""
        return self.gens[-1] if self.gens else None

    @property
    def label_gen(self) -> str | None:
        """What a label given now is bound to: the answer streaming, else the current one."""
        return self.streaming or self.gen

    def is_current(self, event: Record) -> bool:
        """Whether a label event (`score`, `probe`) is bound to one of the current answers:
        a current turn, or the one streaming now. A format-1 label (no gen) always is."""
        gen = event.get("gen")
        return gen is None or gen in self.gens or gen == self.streaming

    @property
    def human(self) -> dict[str, Any]:
        """criterion -> value, after undos: the latest current score of each criterion wins.
        Labels given on an earlier answer are left out (`stale_labels`)."""
        out: dict[str, Any] = {}
        gens, streaming, score = self.gens, self.streaming, ev.Scored.TYPE
        for action in self.actions:
            if action["type"] == score:
                gen = action.get("gen")
                if gen is None or gen in gens or gen == streaming:
                    out[action["criterion"]] = action["value"]
        return out

    def sampled(self, criterion: str) -> bool | None:
        """Whether the item is in the random sample for `criterion` (True), a chosen label
        (False), or neither (None: no current label, or one written before issue 17).

        Decided by the FIRST current label in force for the criterion: a later revision
        changes the value, never the membership. Otherwise labelling an item while walking
        the random order and revising it after `d` (the disagreement queue) would drop
        exactly the disagreements from the sample, and bias every estimate built on it."""
        gens, streaming, score = self.gens, self.streaming, ev.Scored.TYPE
        for action in self.actions:
            if action["type"] == score and action["criterion"] == criterion:
                gen = action.get("gen")
                if gen is None or gen in gens or gen == streaming:
                    return ev.sampled(action)
        return None

    @property
    def stale_labels(self) -> dict[str, Any]:
        """criterion -> the latest label in force (after undos) that was given on an earlier
        answer of this item: kept on record, out of every number."""
        out: dict[str, Any] = {}
        gens, streaming, score = self.gens, self.streaming, ev.Scored.TYPE
        for action in self.actions:
            if action["type"] == score:
                gen = action.get("gen")
                if not (gen is None or gen in gens or gen == streaming):
                    out[action["criterion"]] = action["value"]
        return out

    @property
    def answer_changed(self) -> bool:
        """ "answer changed since you scored": labels were given on an earlier answer and
        none on this one yet."""
        return bool(self.stale_labels) and not self.human

    # The properties below run for every item on every export and console start
    # (16,000 items): plain loops, the latest action found from the end. The records'
    # kinds are named by their class (`Flagged.TYPE`), never by a string of their own.
    @property
    def flagged(self) -> bool:
        for action in reversed(self.actions):
            if action["type"] == ev.Flagged.TYPE:
                return bool(action.get("on", True))
        return False

    @property
    def comment(self) -> str | None:
        for action in reversed(self.actions):
            if action["type"] == ev.Commented.TYPE:
                return action.get("text")
        return None

    @property
    def skipped_by_human(self) -> bool:
        skip = ev.Skipped.TYPE
        for action in self.actions:  # noqa: SIM110 (a loop: twice as fast as any() here)
            if action["type"] == skip:
                return True
        return False

    @property
    def answers(self) -> list[str]:
        return [t["text"] for t in self.turns]

    @property
    def complete(self) -> bool:
        """All turns answered: never generated again on resume."""
        if len(self.turns) != len(self.item.turns):
            return False
        for turn in self.turns:  # noqa: SIM110 (a loop: twice as fast as all() here)
            if turn.get("finish_reason") not in FINISHED:
                return False
        return True

    @property
    def ended(self) -> str | None:
        """The finish reason when the server ended the last answer neither finished nor
        cancelled (content_filter, tool_calls, ...): recorded as it is, not retried."""
        if not self.turns:
            return None
        reason = self.turns[-1].get("finish_reason")
        return None if reason in (*FINISHED, "cancelled") else str(reason)

    @property
    def status(self) -> str:
        """skipped | done | error | cancelled | incomplete | partial | pending."""
        if self.skipped is not None or self.skipped_by_human:
            return "skipped"
        if self.complete:
            return "done"
        if self.error is not None:
            return "error"
        if self.cancelled:
            return "cancelled"
        if self.ended is not None:
            return "incomplete"
        if self.turns:
            return "partial"
        return "pending"

    @property
    def next_turn(self) -> int:
        """The first turn still to generate (finished turns are kept)."""
        done = 0
        for turn in self.turns:
            if turn.get("finish_reason") not in FINISHED:
                break
            done += 1
        return done

    @property
    def response(self) -> str:
        return self.turns[-1]["text"] if self.turns else ""

    @property
    def tokens(self) -> int:
        return sum(int(t.get("tokens") or 0) for t in self.turns)

    @property
    def seconds(self) -> float:
        return round(sum(float(t.get("seconds") or 0.0) for t in self.turns), 4)

    @property
    def ttft(self) -> float | None:
        return self.turns[0].get("ttft") if self.turns else None

    def judge_input(self) -> JudgeInput:
        """What a judge sees of this item (scorers know nothing of sessions)."""
        return JudgeInput(
            item=self.item.id,
            turns=tuple(self.item.turns),
            answers=tuple(self.answers),
            reference=self.item.reference,
        )

    def transcript(self, system: str | None = None) -> list[dict[str, str]]:
        return self.item.transcript(self.answers, system)


@dataclass
class SessionState:
    items: dict[str, ItemState] = field(default_factory=dict)
    # Prompt-set order, computed once per change of the item list: the console and
    # the generator ask for it on every key press and every item of a large set.
    _order: list[ItemState] | None = field(default=None, repr=False)
    _position: dict[str, int] = field(default_factory=dict, repr=False)

    def ordered(self) -> list[ItemState]:
        if self._order is None:
            self._order = sorted(self.items.values(), key=lambda s: s.index)
            self._position = {s.item.id: n for n, s in enumerate(self._order)}
        return self._order

    def position(self, item_id: str) -> int | None:
        """Where an item stands in prompt-set order."""
        self.ordered()
        return self._position.get(item_id)

    def apply(self, event: Record) -> ItemState | None:
        """Fold one line in (kept as it is); the item it changed, None for none."""
        kind = event.get("type")  # events.kind_of, inlined: it runs on every line of a log
        kind = _KIND(kind) if type(kind) is str else None
        key = event.get("item")
        if kind is ev.Scored:  # the most common event: most of a labelled session's log
            state = self.items.get(key if type(key) is str else str(key)) if key is not None else None
            if state is not None:
                state.actions.append(event)
                state.score_history.append(event)
            return state
        if kind is ev.ItemAdded:
            state = ItemState(Item.from_dict(event["data"]), int(event.get("index", len(self.items))))
            self.items[str(key)] = state
            self._order = None
            return state
        state = self.items.get(key if type(key) is str else str(key)) if key is not None else None
        if state is None:
            return None
        match kind:
            case ev.Generated:
                turn = int(event.get("turn", 0))
                gen = event.get("gen")
                if not isinstance(gen, str):
                    gen = f"v1:{state.generations}"  # format 1: a stand-in, the same on every fold
                state.generations += 1
                del state.turns[turn:]
                del state.gens[turn:]
                state.turns.append(event)
                state.gens.append(gen)
                _attempt_ended(state, event)
                _unbind(state)  # verdicts on an earlier answer no longer apply
                state.error = None
                state.skipped = None
                state.cancelled = event.get("finish_reason") == "cancelled"
            case ev.Failed:
                turn = int(event.get("turn", 0))
                del state.turns[turn:]
                del state.gens[turn:]
                _attempt_ended(state, event)
                _unbind(state)
                state.error = str(event.get("error"))
            case ev.Skipped if event.get("by") == "human":
                state.actions.append(event)
            case ev.Skipped:
                _attempt_ended(state, event)
                state.skipped = str(event.get("reason") or "skipped")
            case ev.Flagged | ev.Commented:
                state.actions.append(event)
            case ev.Judged:
                gen = _verdict_gen(state, event)
                if gen is None or gen in state.gens:
                    name = str(event.get("judge"))
                    state.judges[name] = event
                    state._judge_gens[name] = gen
            case ev.Checked:
                gen = _verdict_gen(state, event)
                if gen is None or gen in state.gens:
                    state.checks = event
                    state._checks_gen = gen
            case ev.Undone:
                if state.actions:
                    state.actions.pop()
            case ev.Regenerated:
                # Earlier answers stay in the log; the item starts over from `turn`.
                turn = int(event.get("turn", 0))
                del state.turns[turn:]
                del state.gens[turn:]
                _unbind(state)
                state.error = None
                state.cancelled = False
        return state


def _verdict_gen(state: ItemState, event: Record) -> str | None:
    """The answer a verdict or check judged: its own `gen`, or (format 1) the answer
    current when it was written."""
    gen = event.get("gen")
    return gen if isinstance(gen, str) else state.gen


def _unbind(state: ItemState) -> None:
    """The answers changed: verdicts and checks bound to an answer no longer current leave
    `judges` and `checks` (they stay in the log)."""
    gens = state.gens
    for name, gen in list(state._judge_gens.items()):
        if gen not in gens:
            del state._judge_gens[name]
            state.judges.pop(name, None)
    if state.checks and state._checks_gen not in gens:
        state.checks = {}
        state._checks_gen = None


def _attempt_ended(state: ItemState, event: Record) -> None:
    """An answer, its error or its engine skip was written: the attempt streaming ends."""
    gen = event.get("gen")
    if gen is None or gen == state.streaming:
        state.streaming = None


def audit_order(ids: Iterable[str], seed: int) -> list[str]:
    """The seeded random order a session's items (or a comparison's pairs) are walked in:
    each id sorted by the sha256 of the seed and the id. The same on every resume and
    replay; an id added later (a pair made again) takes its place without moving the
    others, which a shuffle of the whole list would reorder. Labels given while walking it
    are the random sample that estimates need (`ItemState.sampled`)."""
    return sorted(ids, key=lambda item: hashlib.sha256(f"{seed}\0{item}".encode()).digest())


def fold(events: list[Record]) -> SessionState:
    state = SessionState()
    for event in events:
        state.apply(event)
    return state
