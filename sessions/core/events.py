"""The persisted event kinds of `events.jsonl`, and the check every read makes.

A log is the truth a session is folded from, so a line that has the right type
but wrong fields (a `score` without `criterion`, `turn: "second"`) must stop
the reader with the file and line, not crash the fold later with a traceback.
Event types this version does not know (written by a newer sftscope) are kept
in the file and skipped by the fold, with one warning.

Format 2 binds what judges an answer to the answer judged: every generation
attempt has an id, `gen`, drawn when it starts; `generation` (and `error`, an
engine `skip`) carry it, and so do `score`, `probe`, `judge` and `checks`, so
that a label or a verdict can never land on another answer than the one it was
given on (sessions/state.py decides which are current). Format-1 lines have no
`gen` and are read as before.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, ClassVar

ItemId = str | int
Value = str | int | float | bool | list[Any]  # a label: a scale point, yes/no, tags, a note


@dataclass(frozen=True)
class Event:
    """One line of events.jsonl. Each kind below is the one definition of its fields:
    writers build it, and readers check every line against the schema derived from it."""

    TYPE: ClassVar[str] = ""

    def to_record(self) -> dict[str, Any]:
        """The line's fields (without `v` and `ts`, which the store adds); unset optional
        fields are left out, and `extra` (judges' raw replies and timings) is spread in."""
        out: dict[str, Any] = {"type": self.TYPE}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                out.update(value)
            elif value is not None:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class ItemAdded(Event):
    """A prompt-set item registered in the log (once per session)."""

    TYPE: ClassVar[str] = "item"
    item: ItemId
    data: dict[str, Any]
    index: int | None = None


@dataclass(frozen=True)
class RunStarted(Event):
    TYPE: ClassVar[str] = "run_start"
    engine: str | None = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Generated(Event):
    """A finished turn: the final text and how it ended (stop, length, cancelled, or what
    the server said instead). Token chunks are never persisted one by one."""

    TYPE: ClassVar[str] = "generation"
    item: ItemId
    turn: int
    text: str
    finish_reason: str
    tokens: int | None = None
    prompt_tokens: int | None = None
    ttft: float | None = None
    seconds: float | None = None
    gen: str | None = None  # the attempt's id (format 2): what labels and verdicts bind to


@dataclass(frozen=True)
class Failed(Event):
    """An engine or server failure on this turn; the run went on."""

    TYPE: ClassVar[str] = "error"
    item: ItemId
    error: str
    turn: int | None = None
    gen: str | None = None  # the attempt that failed


@dataclass(frozen=True)
class Skipped(Event):
    """`skip` on disk means two things, told apart by `by` (kept for format 1): the engine
    skipped a turn (a prompt longer than the context window, `turn` set), or the operator
    skipped the item (`by = "human"`, a label that undo can take back)."""

    TYPE: ClassVar[str] = "skip"
    item: ItemId
    by: str | None = None
    reason: str | None = None
    turn: int | None = None
    pair: str | None = None  # in a comparison: the pair skipped
    gen: str | None = None  # an engine skip: the attempt it ends


@dataclass(frozen=True)
class Regenerated(Event):
    TYPE: ClassVar[str] = "regenerate"
    item: ItemId
    turn: int | None = None


@dataclass(frozen=True)
class Scored(Event):
    """A human label; `previous` holds the value it revises."""

    TYPE: ClassVar[str] = "score"
    item: ItemId
    criterion: str
    value: Value
    judge_visible: bool | None = None
    previous: Value | None = None
    gen: str | None = None  # the answer labelled (format 2; a format-1 label has none)


@dataclass(frozen=True)
class Probed(Event):
    """A rater reliability probe: an item scored earlier, shown again later unannounced
    and scored blind. Kept apart from `score`, so it never replaces the original label;
    `original` is the label in force when the probe was answered (test-retest pairs)."""

    TYPE: ClassVar[str] = "probe"
    item: ItemId
    criterion: str
    value: Value
    original: Value | None = None
    gen: str | None = None  # the answer the probe was answered on


@dataclass(frozen=True)
class Undone(Event):
    TYPE: ClassVar[str] = "undo"
    item: ItemId
    undoes: str | None = None
    pair: str | None = None  # in a comparison: the pair whose last action is undone


@dataclass(frozen=True)
class Flagged(Event):
    TYPE: ClassVar[str] = "flag"
    item: ItemId
    on: bool | None = None
    gen: str | None = None  # the answer on screen when flagged (on record; a flag stays on the item)


@dataclass(frozen=True)
class Commented(Event):
    TYPE: ClassVar[str] = "comment"
    item: ItemId
    text: str
    gen: str | None = None  # the answer on screen when written (on record; the comment stays)


@dataclass(frozen=True)
class Judged(Event):
    """A judge's verdict (or its error) on the answer `gen` (the one it was sent)."""

    TYPE: ClassVar[str] = "judge"
    item: ItemId
    judge: str
    scores: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # error, raw, model, latency, attempts, ...
    gen: str | None = None  # the answer the judge was sent


@dataclass(frozen=True)
class Checked(Event):
    """Deterministic checks and reference metrics on the answer `gen`."""

    TYPE: ClassVar[str] = "checks"
    item: ItemId
    checks: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    errors: list[Any] | None = None
    ifeval_loose_detail: dict[str, Any] | None = None  # which loose variant passed, per instruction
    gen: str | None = None  # the answer checked


@dataclass(frozen=True)
class Notice(Event):
    """Said once to the operator (e.g. concurrency lowered for a server)."""

    TYPE: ClassVar[str] = "notice"
    text: str


# --- a comparison session's own kinds (sessions/comparison.py) -----------------


@dataclass(frozen=True)
class PairAdded(Event):
    """Two sessions' answers to one item, put side by side. The answers are kept in
    the comparison itself, so it stays readable (and its pairs checkable for staleness)
    when a source session changes or moves. `first` is the side the operator sees
    first, drawn from the seed and the item id; `replaces` names the stale pair this
    one takes over from."""

    TYPE: ClassVar[str] = "pair"
    item: ItemId
    pair: str
    a: str
    b: str
    answers_a: list[Any]
    answers_b: list[Any]
    first: str
    index: int
    replaces: str | None = None


@dataclass(frozen=True)
class Preferred(Event):
    """The operator's vote on a pair: a, b, tie or both_bad (fsynced like every label)."""

    TYPE: ClassVar[str] = "preference"
    item: ItemId
    pair: str
    choice: str
    shown_first: str
    judges_visible: bool | None = None


@dataclass(frozen=True)
class PairJudged(Event):
    """A pairwise judge on a pair, both orders: `ab` with a's answer shown first, `ba`
    with b's, each as the session chosen; `verdict` a or b only when both agree."""

    TYPE: ClassVar[str] = "pair_judge"
    item: ItemId
    pair: str
    judge: str
    verdict: str
    ab: str | None = None
    ba: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # raw_ab, raw_ba, error, model, latency, ...


@dataclass(frozen=True)
class PairStale(Event):
    """A source session's answer changed since the pair was made: the pair is kept on
    record, left out of every number and export of preferences, and a new pair made."""

    TYPE: ClassVar[str] = "stale"
    item: ItemId
    pair: str
    reason: str


KINDS: tuple[type[Event], ...] = (
    ItemAdded, RunStarted, Generated, Failed, Skipped, Regenerated, Scored, Undone, Flagged,
    Commented, Judged, Checked, Notice, Probed, PairAdded, Preferred, PairJudged, PairStale,
)  # fmt: skip


def _accepted(hint: Any) -> tuple[tuple[type, ...], bool]:
    """The JSON types a field accepts, and whether it may be missing (None)."""
    if hint is Any:
        return (str, int, float, bool, list, dict), True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, UnionType):
        accepted: list[type] = []
        optional = False
        for part in typing.get_args(hint):
            if part is type(None):
                optional = True
                continue
            found, _ = _accepted(part)
            accepted += [t for t in found if t not in accepted]
        return tuple(accepted), optional
    if origin is not None:  # dict[...] , list[...]
        return (origin,), False
    if hint is float:
        return (int, float), False  # JSON writes 2.0 as 2.0 but a hand-edited log may say 2
    return (hint,), False


def _schema(kind: type[Event]) -> dict[str, tuple[tuple[type, ...], bool]]:
    hints = typing.get_type_hints(kind)
    out = {}
    for f in dataclasses.fields(kind):
        if f.name == "extra":
            continue
        accepted, optional = _accepted(hints[f.name])
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        out[f.name] = (accepted, not (optional or has_default))
    return out


# type -> {field: (accepted types, required)}, derived from the definitions above.
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {kind.TYPE: _schema(kind) for kind in KINDS}
KNOWN = frozenset(SCHEMA)


# Per type, the fields in check order: (name, the exact types a parsed JSON value has when
# it is accepted at once, the accepted types, required). Built once: `problem` runs on
# every line of every log read (112,000 times for a 16,000-item session).
_CHECKS: dict[str, tuple[tuple[str, frozenset[type], tuple[type, ...], bool], ...]] = {
    kind: tuple((name, frozenset(types), types, required) for name, (types, required) in fields.items())
    for kind, fields in SCHEMA.items()
}
_TURNED = ("generation", "error", "skip", "regenerate")
CHOICES = ("a", "b", "tie", "both_bad")  # a preference's votes (sessions/comparison.py)


def problem(event: dict[str, Any]) -> str | None:
    """What is wrong with a known event, or None. Unknown types are not checked here."""
    kind = event.get("type")
    checks = _CHECKS.get(kind if type(kind) is str else str(kind))
    if checks is None:
        return None
    for name, exact, types, required in checks:
        value = event.get(name)
        if value is None:
            if required:
                return f"{event['type']} event without {name!r}"
            continue
        if type(value) in exact:  # the common case: a value of exactly an accepted type
            continue
        if isinstance(value, bool) and bool not in types:
            return f"{event['type']} event with {name} {value!r} (expected {_names(types)})"
        if not isinstance(value, types):
            return f"{event['type']} event with {name} {value!r} (expected {_names(types)})"
    if kind == "item":
        data = event["data"]
        turns = data.get("turns")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            return "item event whose data has no list of turns"
        if not isinstance(data.get("id"), (str, int)):
            return "item event whose data has no id"
    elif kind in _TURNED and int(event.get("turn") or 0) < 0:
        return f"{event['type']} event with a negative turn"
    elif kind == "preference" and event["choice"] not in CHOICES:
        return f"preference event with choice {event['choice']!r} (expected one of {', '.join(CHOICES)})"
    return None


def _names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)
