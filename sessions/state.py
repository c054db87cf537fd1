"""The fold: every state of a session is computed from its event log.

Nothing else keeps state that is not in `events.jsonl`. Resume, export, replay
and the console all call `fold` (or apply events one at a time with
`SessionState.apply`), so they can never disagree about what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sftscope.scorers.judge import JudgeInput
from sftscope.sessions.prompts import Item

FINISHED = ("stop", "length")


@dataclass
class ItemState:
    item: Item
    index: int
    # One generation event per answered turn (the latest wins after a regenerate).
    turns: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None
    cancelled: bool = False
    # The operator's actions (score, skip, flag, comment) still in force: `undo` pops one.
    actions: list[dict[str, Any]] = field(default_factory=list)
    # Every score event ever made, undone or not, for revision analysis.
    score_history: list[dict[str, Any]] = field(default_factory=list)
    # judge name -> its latest `judge` event for the current answer.
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The latest `checks` event (IFEval, per-item checks, reference metrics).
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def human(self) -> dict[str, Any]:
        """criterion -> value, after undos: the latest score of each criterion wins."""
        out: dict[str, Any] = {}
        for action in self.actions:
            if action["type"] == "score":
                out[action["criterion"]] = action["value"]
        return out

    # The properties below run for every item on every export and console start
    # (16,000 items): plain loops, the latest action found from the end.
    @property
    def flagged(self) -> bool:
        for action in reversed(self.actions):
            if action["type"] == "flag":
                return bool(action.get("on", True))
        return False

    @property
    def comment(self) -> str | None:
        for action in reversed(self.actions):
            if action["type"] == "comment":
                return action.get("text")
        return None

    @property
    def skipped_by_human(self) -> bool:
        for action in self.actions:  # noqa: SIM110 (a loop: twice as fast as any() here)
            if action["type"] == "skip":
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

    def apply(self, event: dict[str, Any]) -> ItemState | None:
        kind = event.get("type")
        key = event.get("item")
        if kind == "score":  # the most common event: most of a labelled session's log
            state = self.items.get(key if type(key) is str else str(key)) if key is not None else None
            if state is not None:
                state.actions.append(event)
                state.score_history.append(event)
            return state
        if kind == "item":
            state = ItemState(Item.from_dict(event["data"]), int(event.get("index", len(self.items))))
            self.items[str(key)] = state
            self._order = None
            return state
        state = self.items.get(key if type(key) is str else str(key)) if key is not None else None
        if state is None:
            return None
        if kind == "generation":
            turn = int(event.get("turn", 0))
            del state.turns[turn:]
            state.turns.append(event)
            state.judges.clear()  # verdicts on an earlier answer no longer apply
            state.checks = {}
            state.error = None
            state.skipped = None
            state.cancelled = event.get("finish_reason") == "cancelled"
        elif kind == "error":
            turn = int(event.get("turn", 0))
            del state.turns[turn:]
            state.error = str(event.get("error"))
        elif kind == "skip" and event.get("by") == "human":
            state.actions.append(event)
        elif kind == "skip":
            state.skipped = str(event.get("reason") or "skipped")
        elif kind in ("score", "flag", "comment"):
            state.actions.append(event)
            if kind == "score":
                state.score_history.append(event)
        elif kind == "judge":
            state.judges[str(event.get("judge"))] = event
        elif kind == "checks":
            state.checks = event
        elif kind == "undo":
            if state.actions:
                state.actions.pop()
        elif kind == "regenerate":
            # Earlier answers stay in the log; the item starts over from `turn`.
            del state.turns[int(event.get("turn", 0)) :]
            state.error = None
            state.cancelled = False
        return state


def fold(events: list[dict[str, Any]]) -> SessionState:
    state = SessionState()
    for event in events:
        state.apply(event)
    return state
