"""The report's items and pairs: what the HTML viewer shows beside the numbers.

`run_items` turns a run session's fold (sessions/core/state.py ItemState) into one typed
`ItemView` per item, `comparison_pairs` a comparison's fold (PairState) into one
`PairView` per pair, stale pairs included and marked. The report document carries them
under "items" and "pairs" (docs/reports.md) when `build_report(..., items=True)` asks:
the HTML page draws them; the text and Markdown renderers never read them.

Every string is kept as written (the page escapes it where it draws it). Keys with
nothing to say are left out of each item's dict: a 16,000-item page is mostly answers,
and empty keys would only add to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sftscope.sessions.compare.comparison import ComparisonState, PairState
from sftscope.sessions.core.state import ItemState, SessionState


@dataclass(frozen=True)
class JudgeView:
    """One judge's verdict on an item's current answer: its scores, or its error, with
    its reasoning and raw reply as it wrote them."""

    scores: dict[str, Any] | None
    error: str | None = None
    reasoning: str | None = None
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scores": self.scores}
        for key in ("error", "reasoning", "raw"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class ItemView:
    """One item of a run session as the viewer shows it. `human` holds the labels in
    force on the current answer; `stale` those given on an earlier answer (kept on
    record, out of every number: the viewer says so and never shows them as labels)."""

    id: str
    category: str | None
    status: str
    system: str | None
    turns: tuple[str, ...]
    answers: tuple[str, ...]
    human: dict[str, Any] = field(default_factory=dict)
    stale: dict[str, Any] = field(default_factory=dict)
    judges: dict[str, JudgeView] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    check_errors: tuple[str, ...] = ()
    flagged: bool = False
    comment: str | None = None
    error: str | None = None
    ended: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "category": self.category,
            "status": self.status,
            "turns": list(self.turns),
            "answers": list(self.answers),
        }
        if self.system:
            out["system"] = self.system
        for key in ("human", "stale", "checks", "metrics"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.judges:
            out["judges"] = {name: judge.to_dict() for name, judge in self.judges.items()}
        if self.check_errors:
            out["check_errors"] = list(self.check_errors)
        if self.flagged:
            out["flagged"] = True
        for key in ("comment", "error", "ended"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class PairJudgeView:
    """One pairwise judge on a pair: its verdict, each order's choice (`ab`: a's answer
    shown first) and each order's raw reply."""

    verdict: str | None
    ab: str | None
    ba: str | None
    raw_ab: str | None = None
    raw_ba: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict, "ab": self.ab, "ba": self.ba}
        for key in ("raw_ab", "raw_ba", "error"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class PairView:
    """One pair as you saw it: `first` the side ("a" or "b") shown as answer 1."""

    pair: str
    item: str
    category: str | None
    turns: tuple[str, ...]
    a: str
    b: str
    answer_a: str
    answer_b: str
    first: str
    human: str | None
    skipped: bool
    judges: dict[str, PairJudgeView]
    stale: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pair": self.pair,
            "item": self.item,
            "category": self.category,
            "turns": list(self.turns),
            "a": self.a,
            "b": self.b,
            "answer_a": self.answer_a,
            "answer_b": self.answer_b,
            "first": self.first,
            "human": self.human,
            "judges": {name: judge.to_dict() for name, judge in self.judges.items()},
        }
        if self.skipped:
            out["skipped"] = True
        if self.stale:
            out["stale"] = self.stale
        return out


def _text(value: Any) -> str | None:
    """A reply or reason as text: a list (a judge's reply in two orders) joined."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return "\n\n".join(str(v) for v in value if v) or None
    return str(value)


def _system(header_system: Any, state: ItemState) -> str | None:
    """The system message the item was answered under: its own (a `messages` item's
    system turn) or the session's."""
    for message in state.item.prefix:
        if message.get("role") == "system":
            return str(message.get("content") or "")
    return str(header_system) if header_system else None


def item_view(state: ItemState, header_system: Any = None) -> ItemView:
    """One item's view, from its fold."""
    checked = state.checks
    judges = {
        name: JudgeView(
            scores=event.get("scores"),
            error=_text(event.get("error")),
            reasoning=_text(event.get("justification") or event.get("reasoning")),
            raw=_text(event.get("raw")),
        )
        for name, event in state.judges.items()
    }
    return ItemView(
        id=state.item.id,
        category=state.item.category,
        status=state.status,
        system=_system(header_system, state),
        turns=tuple(state.item.turns),
        answers=tuple(state.answers),
        human=state.human,
        stale=state.stale_labels,
        judges=judges,
        checks=dict(checked.get("checks") or {}),
        metrics=dict(checked.get("metrics") or {}),
        check_errors=tuple(str(e) for e in checked.get("errors") or ()),
        flagged=state.flagged,
        comment=state.comment,
        error=state.error,
        ended=state.ended,
    )


def run_items(state: SessionState, header: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a run session in prompt-set order, as the document's "items"."""
    system = header.get("system")
    return [item_view(s, system).to_dict() for s in state.ordered()]


def pair_view(pair: PairState) -> PairView:
    judges = {
        name: PairJudgeView(
            verdict=event.get("verdict"),
            ab=event.get("ab"),
            ba=event.get("ba"),
            raw_ab=_text(event.get("raw_ab")),
            raw_ba=_text(event.get("raw_ba")),
            error=_text(event.get("error")),
        )
        for name, event in pair.judges.items()
    }
    return PairView(
        pair=pair.pair,
        item=pair.item.id,
        category=pair.item.category,
        turns=tuple(pair.item.turns),
        a=pair.a,
        b=pair.b,
        answer_a=pair.answer_a,
        answer_b=pair.answer_b,
        first=pair.first,
        human=pair.human,
        skipped=pair.skipped,
        judges=judges,
        stale=pair.stale,
    )


def comparison_pairs(state: ComparisonState) -> list[dict[str, Any]]:
    """Every pair ever made, stale ones too (marked), in the order they were made, as
    the document's "pairs"."""
    return [pair_view(p).to_dict() for p in sorted(state.pairs.values(), key=lambda p: p.index)]
