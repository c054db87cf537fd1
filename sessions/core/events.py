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

Every part above the log works on the typed kinds: `Session.record` publishes the
event read back from the line it wrote (`from_record`), the folds and displays
`match` on the class, and a group of kinds is a marker base class (`Turned`,
`Label`, `Verdict`, `Judgment`), never a tuple of type strings. The dict of a line
(`Record`) is what the store reads and writes, what `problem` checks, and what the
fold keeps as the history of an item (its `ts` says when a label was given).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from types import UnionType
from typing import TYPE_CHECKING, Any, ClassVar

ItemId = str | int
Record = dict[str, Any]  # one line of events.jsonl as read (with `v` and `ts`) or written
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


# --- groups of kinds: marker bases, so a display or a fold asks `isinstance`, and a kind
# added to a group is added in one place (its class line) -------------------------------


@dataclass(frozen=True)
class OfItem(Event):
    """About one item, as every kind of the groups below is. Each kind declares `item`
    as its own first field; it is told here to the type checker only, so that a display
    reads `event.item` of any `Turned` without asking which kind it is."""

    if TYPE_CHECKING:
        item: ItemId


@dataclass(frozen=True)
class Turned(OfItem):
    """Ends or resets a turn of an item's answer (`turn` set): a generation, an engine
    error or skip, a regenerate. A display redraws the answer; `turn` is never negative."""


@dataclass(frozen=True)
class Label(OfItem):
    """The operator's own action on an item of a run (fsynced; `undo` takes one back):
    checked against the session's rubric and item list on every read (store.check_labels)."""


@dataclass(frozen=True)
class Verdict(OfItem):
    """What judges an answer, bound to it by `gen`: a judge's verdict or the checks."""


@dataclass(frozen=True)
class Judgment(OfItem):
    """A judge's reply on an item or a pair (its error included): what judging counts."""


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
class Generated(Turned):
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
class Failed(Turned):
    """An engine or server failure on this turn; the run went on."""

    TYPE: ClassVar[str] = "error"
    item: ItemId
    error: str
    turn: int | None = None
    gen: str | None = None  # the attempt that failed


@dataclass(frozen=True)
class Skipped(Turned, Label):
    """`skip` on disk means two things, told apart by `by` (kept for format 1): the engine
    skipped a turn (a prompt longer than the context window, `turn` set), or the operator
    skipped the item (`by = "human"`, a label that undo can take back). Hence both a
    `Turned` and a `Label`; `by_human` tells which this one is."""

    TYPE: ClassVar[str] = "skip"
    item: ItemId
    by: str | None = None
    reason: str | None = None
    turn: int | None = None
    pair: str | None = None  # in a comparison: the pair skipped
    gen: str | None = None  # an engine skip: the attempt it ends
    rater: str | None = None  # who skipped (a human skip in a rater's file, sessions/core/raters.py)

    @property
    def by_human(self) -> bool:
        return self.by == "human"


@dataclass(frozen=True)
class Regenerated(Turned):
    TYPE: ClassVar[str] = "regenerate"
    item: ItemId
    turn: int | None = None


@dataclass(frozen=True)
class Scored(Label):
    """A human label; `previous` holds the value it revises."""

    TYPE: ClassVar[str] = "score"
    item: ItemId
    criterion: str
    value: Value
    judge_visible: bool | None = None
    previous: Value | None = None
    gen: str | None = None  # the answer labelled (format 2; a format-1 label has none)
    # "random": given while walking the session's seeded random order (start, next, enter,
    # auto-advance); "chosen": after a jump (d, palette, item list, going back) or in a
    # session in file order. Absent on labels written before issue 17.
    sample: str | None = None
    rater: str | None = None  # who gave it (issue 18); absent on labels written before


@dataclass(frozen=True)
class Probed(Label):
    """A rater reliability probe: an item scored earlier, shown again later unannounced
    and scored blind. Kept apart from `score`, so it never replaces the original label;
    `original` is the label in force when the probe was answered (test-retest pairs)."""

    TYPE: ClassVar[str] = "probe"
    item: ItemId
    criterion: str
    value: Value
    original: Value | None = None
    gen: str | None = None  # the answer the probe was answered on
    rater: str | None = None


@dataclass(frozen=True)
class Undone(Label):
    TYPE: ClassVar[str] = "undo"
    item: ItemId
    undoes: str | None = None
    pair: str | None = None  # in a comparison: the pair whose last action is undone
    rater: str | None = None  # whose last action (a rater only ever undoes their own)


@dataclass(frozen=True)
class Flagged(Label):
    TYPE: ClassVar[str] = "flag"
    item: ItemId
    on: bool | None = None
    gen: str | None = None  # the answer on screen when flagged (on record; a flag stays on the item)
    rater: str | None = None


@dataclass(frozen=True)
class Commented(Label):
    TYPE: ClassVar[str] = "comment"
    item: ItemId
    text: str
    gen: str | None = None  # the answer on screen when written (on record; the comment stays)
    rater: str | None = None


@dataclass(frozen=True)
class Adjudicated(OfItem):
    """An adjudicator's final label for one criterion of a disputed item (issue 18 §4), in
    the adjudicator's own ratings file. Deliberately not a `Label`: the fold never puts it
    among a rater's `actions`, so no rater's `undo` (the adjudicator's own included) can take
    it back; a later `adjudicate` on the same item and criterion replaces it. The raters'
    original labels stay on record beside it; the consensus (sessions/core/consensus.py)
    lets it win. `gen` is the answer it was decided on, `rater` the adjudicator."""

    TYPE: ClassVar[str] = "adjudicate"
    item: ItemId
    criterion: str
    value: Value
    reason: str | None = None
    gen: str | None = None
    rater: str | None = None


@dataclass(frozen=True)
class Judged(Verdict, Judgment):
    """A judge's verdict (or its error) on the answer `gen` (the one it was sent)."""

    TYPE: ClassVar[str] = "judge"
    item: ItemId
    judge: str
    scores: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # error, raw, model, latency, attempts, ...
    gen: str | None = None  # the answer the judge was sent


@dataclass(frozen=True)
class Checked(Verdict):
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
    sample: str | None = None  # "random" or "chosen", as a `score`'s (absent before issue 17)
    rater: str | None = None  # who voted (issue 18); absent on votes written before


@dataclass(frozen=True)
class PairJudged(Judgment):
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
    Adjudicated,
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
BY_TYPE: dict[str, type[Event]] = {kind.TYPE: kind for kind in KINDS}
TURNED = frozenset(kind.TYPE for kind in KINDS if issubclass(kind, Turned))
LABELS = frozenset(kind.TYPE for kind in KINDS if issubclass(kind, Label))
_SAMPLED = frozenset((Scored.TYPE, Preferred.TYPE))  # the kinds that say how the label was reached
# A rater's name (issue 18): it names their file, ratings/NAME.jsonl (sessions/core/raters.py).
RATER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
RATER_RULE = "a letter or digit, then up to 63 letters, digits, '.', '_' or '-'"
CHOICES = ("a", "b", "tie", "both_bad")  # a preference's votes (sessions/comparison.py)
# How a label was reached (`score` and `preference` events): walking the session's random
# order (its labels form the random sample that estimates need) or by a jump.
RANDOM, CHOSEN = "random", "chosen"
SAMPLES = (RANDOM, CHOSEN)


def sampled(record: Record) -> bool | None:
    """A label line's membership of the random sample: True for "random", False for
    "chosen", None for a line without `sample` (written before issue 17)."""
    sample = record.get("sample")
    return None if sample is None else sample == RANDOM


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
    elif kind in TURNED and int(event.get("turn") or 0) < 0:
        return f"{event['type']} event with a negative turn"
    elif kind == "preference" and event["choice"] not in CHOICES:
        return f"preference event with choice {event['choice']!r} (expected one of {', '.join(CHOICES)})"
    if kind in _SAMPLED and event.get("sample") not in (None, *SAMPLES):
        return f"{kind} event with sample {event['sample']!r} (expected one of {', '.join(SAMPLES)})"
    rater = event.get("rater")
    if rater is not None and RATER_NAME.fullmatch(rater) is None:
        return f"{kind} event with rater {rater!r} (not a rater name: {RATER_RULE})"
    return None


def _names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def kind_of(record: Record) -> type[Event] | None:
    """The kind of a line, None for a type this version does not know. The folds dispatch
    on it (`match kind_of(record): case events.Scored: ...`) and read the fields from the
    record they keep: no event is built per line of a bulk load (see `from_record`)."""
    kind = record.get("type")
    return BY_TYPE.get(kind) if type(kind) is str else None


# --- records into typed events ------------------------------------------------------
# Per kind: (field, default) in order, whether it has `extra`, and the keys that are not
# extra. Built once: `from_record` runs on every line of a log folded (112,000 for a
# 16,000-item session).
_NOT_EXTRA = ("v", "ts", "type")


def _defaults(kind: type[Event]) -> tuple[tuple[str, Any], ...]:
    return tuple(
        (f.name, None if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(kind)
        if f.name != "extra"
    )


_READ: dict[str, tuple[type[Event], tuple[tuple[str, Any], ...], frozenset[str] | None]] = {
    kind.TYPE: (
        kind,
        _defaults(kind),
        frozenset((*_NOT_EXTRA, *(f.name for f in dataclasses.fields(kind))))
        if any(f.name == "extra" for f in dataclasses.fields(kind))
        else None,
    )
    for kind in KINDS
}


def from_record(record: Record) -> Event | None:
    """The typed event of a line (one the store read, so checked by `problem`), or None
    for a type this version does not know (kept in the file, skipped by every fold).

    Built without `__init__`: a frozen dataclass sets each field through
    `object.__setattr__`, three times slower, and the line was checked on read. The keys
    a kind has no field for go into its `extra` (a judge's raw reply, its timings); the keys
    of a kind without `extra` that it has no field for (a newer sftscope's) stay in the
    record, which is what the fold keeps and the file is never rewritten from."""
    kind = record.get("type")
    read = _READ.get(kind) if type(kind) is str else None
    if read is None:
        return None
    cls, defaults, not_extra = read
    event = object.__new__(cls)
    values = event.__dict__
    get = record.get
    for name, default in defaults:
        values[name] = get(name, default)
    if not_extra is not None:
        values["extra"] = {key: value for key, value in record.items() if key not in not_extra}
    return event
