"""A comparison: two or more saved sessions' answers, pair by pair, as a session of its own.

`sftscope compare A B` opens (or resumes) a directory whose `session.toml` says
`kind = "comparison"` and names each source session with the sha256 of the
answers it compares, and whose `events.jsonl` holds the items in common, the
`pair`s (both answers kept in the pair itself), the operator's `preference`s
(fsynced like every label), the judges' `pair_judge` verdicts in both orders,
`undo`, `skip` and `stale`. It goes through the same Session writer as a run,
so it resumes, replays and survives kill -9 exactly as a run does.

A pair is stale when a source's answer changed after the pair was made (an item
regenerated): the pair stays on record, out of every number, and a fresh pair
of the current answers takes its place.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.engines.base import EngineError
from sftscope.sessions.core import events as ev
from sftscope.sessions.core.events import (
    BY_TYPE,
    Event,
    ItemAdded,
    PairAdded,
    PairStale,
    Preferred,
    Record,
    Skipped,
    Undone,
)
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.raters import fold_into, read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import SessionState, audit_order, fold
from sftscope.sessions.core.store import SessionError, SessionStore, load_session, lock_holder, read_header
from sftscope.sessions.core.version import VERSION

CHOICES = ("a", "b", "tie", "both_bad")
REFERENCE = "reference"
# How the A/B console presents the pairs (the header's `order`): "shuffled", the seeded random
# audit order whose votes form the random sample, or "file", the order the pairs were made in.
ORDERS = ("shuffled", "file")


class CompareError(Exception):
    """Sources that cannot be compared: one line naming the path, item or flag."""


@dataclass(frozen=True)
class CompareConfig:
    """Everything `sftscope compare` was asked for (typed, from the command line)."""

    sources: tuple[str, ...] = ()
    session: str | None = None
    judges: tuple[Any, ...] = ()  # JudgeSpec
    baseline: str | None = None
    seed: int = 0
    reference: bool = False
    headless: bool = False
    new: bool = False  # --new: never reopen a comparison of the same sessions
    # --order: "shuffled" or "file"; None: shuffled for a new comparison, a saved one its own.
    order: str | None = None
    judge_panels: tuple[str, ...] = ()  # --judge-panel NAME=JUDGE,...: checked before anything is made
    # --rater NAME (issue 18): whose votes these are (ratings/NAME.jsonl), per process, never
    # saved; None: votes go to events.jsonl as before raters (headless votes none).
    rater: str | None = None


@dataclass
class Source:
    """One compared session: its answers to every item it finished."""

    name: str
    path: str
    answers: dict[str, tuple[str, ...]]  # item id -> the answer to every turn
    items: dict[str, Item]
    system: str | None = None
    model: str | None = None
    reference: bool = False
    # item id -> (finish reason, tokens) of every turn: the A/B console says "cut at 64 tokens"
    finishes: dict[str, tuple[tuple[str, int | None], ...]] = field(default_factory=dict)

    def sha256(self, item_ids: list[str]) -> str:
        """The hash of the answers compared: a changed answer changes it."""
        blob = json.dumps([[i, list(self.answers[i])] for i in item_ids], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_header(self, item_ids: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "path": self.path,
            "answers_sha256": self.sha256(item_ids),
            "reference": self.reference,
        }
        if self.system:
            out["system"] = self.system
        if self.model:
            out["model"] = self.model
        return out


def load_source(path: str) -> tuple[dict[str, Any], SessionState]:
    """A run session's header and fold, read without locking (it may be running)."""
    directory = Path(path)
    if not directory.is_dir():
        raise CompareError(f"{path}: no such session directory")
    if not (directory / "session.toml").exists():
        raise CompareError(f"{path}: not a session (no session.toml)")
    try:
        header, events, _ = load_session(directory)
    except SessionError as exc:
        raise CompareError(str(exc)) from None
    if header.get("kind") == "comparison":
        raise CompareError(f"{path}: is a comparison, not a run session; compare the sessions it compares")
    return header, fold(events)


def run_source(path: str, name: str) -> Source:
    header, state = load_source(path)
    answers = {s.item.id: tuple(s.answers) for s in state.ordered() if s.status == "done"}
    finishes = {
        s.item.id: tuple((str(t.get("finish_reason")), t.get("tokens")) for t in s.turns)
        for s in state.ordered()
        if s.item.id in answers
    }
    items = {s.item.id: s.item for s in state.ordered()}
    engine = header.get("engine") or {}
    return Source(
        name=name,
        path=str(Path(path).resolve()),
        answers=answers,
        items=items,
        system=header.get("system"),
        model=engine.get("model") or engine.get("requested"),
        finishes=finishes,
    )


def reference_source(of: Source) -> Source:
    """The reference answers the prompt set carries (Alpaca `output`, a chat set's final
    assistant message, a `reference` field): AlpacaEval's baseline side, never regenerated."""
    answers: dict[str, tuple[str, ...]] = {}
    for item_id, item in of.items.items():
        ref = item.reference
        if isinstance(ref, str) and ref.strip() and len(item.turns) == 1:
            answers[item_id] = (ref,)
        elif (
            isinstance(ref, list)
            and len(ref) == len(item.turns)
            and all(isinstance(r, str) and r.strip() for r in ref)
        ):
            answers[item_id] = tuple(ref)
    return Source(name=REFERENCE, path="", answers=answers, items=of.items, reference=True)


def source_names(paths: list[str]) -> list[str]:
    """Each session's directory name; the parent joins in where two names clash."""
    resolved = [Path(p).resolve() for p in paths]
    names = [p.name for p in resolved]
    for index, name in enumerate(names):
        if names.count(name) > 1:
            names[index] = f"{resolved[index].parent.name}/{name}"
    return names


def same_prompt(x: Item, y: Item) -> bool:
    return x.turns == y.turns and x.prefix == y.prefix


NO_REFERENCE = "no reference answer"
SOME_SESSIONS = "answered in only some sessions"
NOT_ANSWERED = "not answered in the session"


@dataclass
class Matching:
    items: list[Item]  # in the first source's order
    left_out: int  # items not compared, for every reason
    reasons: dict[str, int] = field(default_factory=dict)  # why, with how many items each


def match_items(sources: list[Source]) -> Matching:
    """Items matched by id; an id whose prompt differs between sessions is an error."""
    first = sources[0]
    for other in sources[1:]:
        if other.reference:
            continue
        for item_id, item in other.items.items():
            mine = first.items.get(item_id)
            if mine is not None and not same_prompt(mine, item):
                raise CompareError(
                    f"item {item_id}: its prompt differs between {first.path} and {other.path}"
                )
    every = set(first.items)
    for other in sources[1:]:
        every |= set(other.items)
    common = [i for i in first.items if all(i in s.answers for s in sources)]
    if not common:
        names = ", ".join(s.path or s.name for s in sources)
        raise CompareError(f"{names}: no answered item in common")
    reasons: dict[str, int] = {}
    chosen = set(common)
    for item_id in every:
        if item_id in chosen:
            continue
        # An item every session answered, missing only on the reference side, lacks a
        # reference answer: saying "answered in only some sessions" sent users looking
        # for a session that never finished.
        runs_answered = all(item_id in s.answers for s in sources if not s.reference)
        if any(s.reference for s in sources):
            reason = NO_REFERENCE if runs_answered else NOT_ANSWERED
        else:
            reason = SOME_SESSIONS
        reasons[reason] = reasons.get(reason, 0) + 1
    ordered = {r: reasons[r] for r in (NO_REFERENCE, NOT_ANSWERED, SOME_SESSIONS) if r in reasons}
    return Matching([first.items[i] for i in common], sum(ordered.values()), ordered)


def session_pairs(names: list[str], baseline: str | None) -> list[tuple[str, str]]:
    """Two sessions: one pair; more: every pair, or each against the baseline."""
    if baseline is not None:
        return [(baseline, name) for name in names if name != baseline]
    return list(itertools.combinations(names, 2))


def shown_first(seed: int, item: str, a: str, b: str) -> str:
    """Which side the operator sees first: shuffled per item, reproducible from the seed."""
    digest = hashlib.sha256(f"{seed}\0{item}\0{a}\0{b}".encode()).digest()
    return "a" if digest[0] % 2 == 0 else "b"


_ID_SPECIALS = str.maketrans({"%": "%25", ":": "%3A", "|": "%7C", "#": "%23"})


def pair_id(item: str, a: str, b: str, revision: int = 1) -> str:
    """`ITEM:A|B` (`#N` for a pair made again): each part with `%`, `:`, `|` and `#`
    percent-encoded, so no two (item, a, b, revision) share an id whatever the names
    (`y|z` against `x|y` made the same id as `y` against `z|x|y`, and one pair vanished).
    Names without those characters keep the ids earlier versions wrote."""
    item, a, b = (part.translate(_ID_SPECIALS) for part in (item, a, b))
    base = f"{item}:{a}|{b}"
    return base if revision == 1 else f"{base}#{revision}"


# --- the fold ----------------------------------------------------------------------


@dataclass
class PairState:
    pair: str
    item: Item
    index: int
    a: str
    b: str
    answers_a: list[str]
    answers_b: list[str]
    first: str
    replaces: str | None = None
    stale: str | None = None
    actions: list[Record] = field(default_factory=list)  # preference and skip, undo pops
    judges: dict[str, Record] = field(default_factory=dict)  # judge -> its pair_judge event

    @property
    def answer_a(self) -> str:
        return self.answers_a[-1] if self.answers_a else ""

    @property
    def answer_b(self) -> str:
        return self.answers_b[-1] if self.answers_b else ""

    @property
    def human(self) -> str | None:
        """The operator's vote in force (a, b, tie, both_bad), or None."""
        for action in reversed(self.actions):
            if action["type"] == Preferred.TYPE:
                return str(action["choice"])
            return None  # skipped last
        return None

    @property
    def sampled(self) -> bool | None:
        """Whether the pair is in the random sample (True), chosen (False), or neither (None:
        no vote in force, or one written before issue 17): decided by the first vote in
        force, as `ItemState.sampled` is, so a revision never changes membership."""
        if self.human is None:
            return None
        for action in self.actions:
            if action["type"] == Preferred.TYPE:
                return ev.sampled(action)
        return None

    @property
    def skipped(self) -> bool:
        return bool(self.actions) and self.actions[-1]["type"] == Skipped.TYPE

    @property
    def voted(self) -> bool:
        return self.human is not None or self.skipped

    def side(self, shown: int) -> str:
        """The session side ("a" or "b") shown as answer 1 or 2."""
        if shown == 1:
            return self.first
        return "b" if self.first == "a" else "a"

    def name(self, side: str) -> str:
        return self.a if side == "a" else self.b


@dataclass
class ComparisonState:
    items: dict[str, Item] = field(default_factory=dict)
    pairs: dict[str, PairState] = field(default_factory=dict)
    _order: list[PairState] | None = field(default=None, repr=False)

    def ordered(self) -> list[PairState]:
        """Pairs still in force (not stale), in the order they were made."""
        if self._order is None:
            self._order = sorted((p for p in self.pairs.values() if p.stale is None), key=lambda p: p.index)
        return self._order

    def apply(self, event: Record) -> PairState | None:
        """Fold one line in (kept as it is), dispatched on its kind as a run's fold is
        (sessions/core/state.py says why on records); the pair it changed, or None."""
        kind = event.get("type")
        kind = BY_TYPE.get(kind) if type(kind) is str else None
        if kind is ItemAdded:
            self.items[str(event["item"])] = Item.from_dict(event["data"])
            return None
        key = event.get("pair")
        if kind is PairAdded:
            item = self.items.get(str(event["item"])) or Item(id=str(event["item"]), turns=["?"])
            state = PairState(
                pair=str(key),
                item=item,
                index=int(event["index"]),
                a=str(event["a"]),
                b=str(event["b"]),
                answers_a=[str(x) for x in event["answers_a"]],
                answers_b=[str(x) for x in event["answers_b"]],
                first=str(event.get("first", "a")),
                replaces=event.get("replaces"),
            )
            self.pairs[state.pair] = state
            self._order = None
            return state
        state = self.pairs.get(str(key)) if key is not None else None
        if state is None:
            return None
        match kind:
            case ev.Preferred | ev.Skipped:
                state.actions.append(event)
            case ev.Undone:
                if state.actions:
                    state.actions.pop()
            case ev.PairJudged:
                state.judges[str(event.get("judge"))] = event
            case ev.PairStale:
                state.stale = str(event.get("reason") or "stale")
                self._order = None
        return state


def fold_comparison(events: list[Record]) -> ComparisonState:
    state = ComparisonState()
    for event in events:
        state.apply(event)
    return state


# --- several raters (issue 18) ----------------------------------------------------------


def fold_comparison_for(
    events: list[Record], ratings: dict[str, list[Record]], rater: str
) -> ComparisonState:
    """One rater's view of a comparison: its pairs and the judges' verdicts, then this
    rater's votes only (what that rater's A/B console shows). `ratings`: the run side's
    `sessions.core.raters.read_ratings(directory)`, which reads a comparison the same way
    (each ratings/NAME.jsonl; the votes events.jsonl holds from before raters as one rater,
    the header's `rater`, else "operator")."""
    state = ComparisonState()
    fold_into(state, events, ratings.get(rater, ()))
    return state


def read_comparison(directory: Path | str, header: dict[str, Any], events: list[Record]) -> ComparisonState:
    """A comparison as every reader of its votes takes it (report, export, replay --headless):
    the pairs and verdicts of events.jsonl with the human votes of its raters (`read_ratings`:
    each ratings/NAME.jsonl, the votes from before raters as one rater). No rater: no votes;
    one: theirs; two or more: the consensus, a strict majority of the votes in force on each
    pair (sessions.core.consensus.decide), a pair without one left unvoted."""
    from sftscope.sessions.core.consensus import decide

    ratings = read_ratings(Path(directory), header, events)
    if len(ratings) <= 1:
        return fold_comparison_for(events, ratings, next(iter(ratings), ""))
    state = fold_comparison_for(events, {}, "")
    for pair_id, votes in votes_by_rater(events, ratings).items():
        decided = decide(votes, None)
        pair = state.pairs[pair_id]
        if decided is not None and decided.value is not None:
            pair.actions.append(
                {"type": Preferred.TYPE, "item": pair.item.id, "pair": pair_id, "choice": decided.value,
                 "first": pair.first, "judges_visible": False}
            )  # fmt: skip
    return state


def votes_by_rater(events: list[Record], ratings: dict[str, list[Record]]) -> dict[str, dict[str, str]]:
    """pair id -> {rater: the vote in force (a, b, tie, both_bad)} over the pairs in force (a
    skip or an undone vote is no vote): what a consensus of votes is decided on."""
    out: dict[str, dict[str, str]] = {}
    for name in ratings:
        for pair in fold_comparison_for(events, ratings, name).ordered():
            if pair.human is not None:
                out.setdefault(pair.pair, {})[name] = pair.human
    return out


def check_sources(state: ComparisonState, header: dict[str, Any], directory: Path | str) -> list[str]:
    """Leave out the pairs whose answers a source session no longer has, and say so.

    Only `compare --session` writes the stale marks and makes new pairs; every other
    reader (report, export, replay) must not use a pair whose answer was regenerated
    since, or it reports and trains on an answer that no longer exists. The pairs are
    marked stale in `state` (in memory, nothing is written); a source that cannot be
    read is said once and its pairs are used as saved (they hold their answers).
    Returns the lines to show."""
    current: dict[str, Source] = {}
    notes: list[str] = []
    for entry in header.get("sources", []):
        if not isinstance(entry, dict) or entry.get("reference") or not entry.get("path"):
            continue
        name = str(entry.get("name"))
        try:
            current[name] = run_source(str(entry["path"]), name)
        except CompareError as exc:
            notes.append(f"source {name} cannot be read ({exc}); its pairs are used as saved")
    changed = 0
    for pair in list(state.ordered()):
        for side, saved in (("a", pair.answers_a), ("b", pair.answers_b)):
            source = current.get(pair.name(side))
            if source is None:
                continue
            now = source.answers.get(pair.item.id)
            if now is None or tuple(now) != tuple(saved):
                what = "no longer answers this item" if now is None else "changed its answer"
                pair.stale = f"{source.name} {what}"
                state._order = None
                changed += 1
                break
    if changed:
        notes.append(
            f"{changed} pairs left out: a source's answer changed since they were made "
            f"(sftscope compare --session {directory} makes new pairs)"
        )
    return notes


class ComparisonSession(Session):
    """The Session of a comparison: the same writer, with the A/B label API. With a `rater`
    the votes, skips and undos go to ratings/NAME.jsonl and the fold is that rater's alone
    (Session says how); the pairs and the judges' verdicts stay in events.jsonl."""

    state: ComparisonState

    def __init__(self, store: SessionStore, *, rater: str | None = None) -> None:
        super().__init__(store, ComparisonState(), rater=rater)

    def prefer(
        self, pair: str, choice: str, *, judges_visible: bool = False, sample: str | None = None
    ) -> Event:
        """The operator's vote, fsynced before it returns (SessionWriteError if not);
        `sample` says how the pair was reached ("random" or "chosen", events.Preferred)."""
        if choice not in CHOICES:
            raise ValueError(f"choice {choice!r}: one of {CHOICES}")
        state = self.state.pairs[pair]
        event = Preferred(state.item.id, pair, choice, state.first, judges_visible, sample)
        return self.record(event, durable=True)

    def skip_pair(self, pair: str) -> Event:
        state = self.state.pairs[pair]
        return self.record(
            Skipped(state.item.id, by="human", reason="skipped by the operator", pair=pair), durable=True
        )

    def undo_pair(self, pair: str) -> Event | None:
        state = self.state.pairs[pair]
        if not state.actions:
            return None
        return self.record(Undone(state.item.id, state.actions[-1]["type"], pair=pair), durable=True)


# --- opening -------------------------------------------------------------------------


@dataclass
class Comparison:
    """An open comparison: the session, its sources (when readable) and its judges."""

    store: SessionStore
    session: ComparisonSession
    directory: Path
    header: dict[str, Any]
    sources: list[Source]
    judges: list[Any]
    left_out: int = 0
    created: bool = False
    stale_marked: int = 0
    left_out_reasons: dict[str, int] = field(default_factory=dict)
    # Found in the sessions folder by `compare A B` (not named by --session): said on opening.
    reopened: bool = False
    # Saved sources that could not be read again (moved, deleted): one line each.
    notes: list[str] = field(default_factory=list)
    # Another sftscope holds the comparison ("pid N on HOST"): this one only votes, as a rater,
    # following the pairs and verdicts it writes (store.open(follow=True), Session.poll).
    writer: str | None = None

    @property
    def state(self) -> ComparisonState:
        return self.session.state

    @property
    def order(self) -> str:
        """How the pairs are presented: "shuffled" or "file", as saved in the header; a
        comparison written before issue 17 has no key and was walked in file order."""
        return header_order(self.header)

    def walk(self) -> list[PairState]:
        """The pairs in force in the order the A/B console presents them: a shuffled
        comparison's seeded random order (its --seed; a pair made later takes its place and
        moves no other), else the order they were made in. Reports and exports keep that."""
        pairs = self.state.ordered()
        if self.order != "shuffled":
            return list(pairs)
        by_id = {pair.pair: pair for pair in pairs}
        seed = self.header.get("seed", 0)
        return [by_id[pair] for pair in audit_order(by_id, seed if isinstance(seed, int) else 0)]

    @property
    def rater(self) -> str | None:
        return self.session.rater

    def close(self, status: str) -> list[str]:
        self.session.detach()
        self.session.close_rater()
        return self.store.close(status=status)


def header_order(header: dict[str, Any]) -> str:
    """A comparison header's order; without the key (or with one this version does not
    know) "file": such a comparison has no random sample."""
    order = header.get("order", "file")
    return order if order in ORDERS else "file"


SESSIONS_DIR = Path("sftscope-sessions")  # where `compare` makes (and looks for) comparisons


def default_comparison_dir(names: list[str]) -> Path:
    """A new `compare-STAMP-A-vs-B` folder in the sessions folder; `-2`, `-3` when one
    of that name exists already (`--new` twice in one second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = "-vs-".join(re.sub(r"[^A-Za-z0-9._-]+", "-", n).strip("-")[:30] or "s" for n in names[:3])
    if len(names) > 3:
        slug += f"-and-{len(names) - 3}-more"
    base = SESSIONS_DIR / f"compare-{stamp}-{slug}"
    directory, number = base, 1
    while directory.exists():
        number += 1
        directory = base.with_name(f"{base.name}-{number}")
    return directory


def is_comparison(directory: Path) -> bool:
    try:
        return read_header(Path(directory)).get("kind") == "comparison"
    except SessionError:
        return False


def saved_paths(header: dict[str, Any]) -> list[str]:
    """The run sessions a comparison's header names, in order (not the reference side)."""
    return [str(s.get("path")) for s in header.get("sources", []) if not s.get("reference")]


def find_comparisons(
    paths: list[str], *, reference: bool, seed: int, baseline: str | None, order: str | None = None
) -> list[Path]:
    """The comparisons in the sessions folder of exactly these sessions (the same paths in
    the same order, the same reference side, seed and baseline, and the same --order when
    one is given), most recently written first: `compare A B` reopens one instead of
    judging every pair again."""
    wanted = [str(Path(p).resolve()) for p in paths]
    found: list[tuple[float, Path]] = []
    for directory in SESSIONS_DIR.glob("compare-*") if SESSIONS_DIR.is_dir() else ():
        try:
            header = read_header(directory)
        except SessionError:
            continue  # not a session (or a damaged one): never reopened by guess
        sources = header.get("sources")
        if header.get("kind") != "comparison" or not isinstance(sources, list):
            continue
        if not all(isinstance(s, dict) for s in sources) or saved_paths(header) != wanted:
            continue
        if any(s.get("reference") for s in sources) != reference or header.get("seed", 0) != seed:
            continue
        if header.get("baseline") != baseline or order not in (None, header_order(header)):
            continue
        log = directory / "events.jsonl"
        found.append((log.stat().st_mtime if log.exists() else 0.0, directory))
    return [directory for _, directory in sorted(found, key=lambda x: x[0], reverse=True)]


def _unchanged(header: dict[str, Any], sources: list[Source]) -> bool:
    """Whether each source's answers hash as the header recorded them (nothing regenerated)."""
    if len(sources) != len(header.get("sources", [])):
        return False
    try:
        matching = match_items(sources)
    except CompareError:
        return False
    ids = [i.id for i in matching.items]
    return [s.sha256(ids) for s in sources] == [s.get("answers_sha256") for s in header["sources"]]


def _new_settings(config: CompareConfig) -> tuple[list[str], list[str], str | None]:
    """A new comparison's sessions checked, their names and the baseline's name."""
    paths = list(config.sources)
    if not paths:
        raise CompareError("compare: give two or more sessions (or one with --reference)")
    if config.reference and len(paths) != 1:
        raise CompareError("--reference: compare one session with its prompt set's references")
    if not config.reference and len(paths) < 2:
        raise CompareError(f"{paths[0]}: give a second session to compare with (or --reference)")
    resolved = [Path(p).resolve() for p in paths]
    for index, path in enumerate(resolved):
        if path in resolved[:index]:
            raise CompareError(f"{paths[index]}: the same session is given twice")
    names = source_names(paths)
    baseline = None
    if config.baseline is not None:
        matches = [n for n, p in zip(names, paths, strict=True) if config.baseline in (n, p)]
        if not matches:
            raise CompareError(f"--baseline {config.baseline}: not one of the sessions ({', '.join(names)})")
        baseline = matches[0]
    return paths, names, baseline


def _read_sources(
    paths: list[str], names: list[str], *, tolerant: bool, cache: dict[str, Source]
) -> tuple[list[Source], list[str]]:
    """Each source read (from `cache` when read already); a saved comparison (`tolerant`)
    goes on without one that cannot be read, and says which and why."""
    sources: list[Source] = []
    notes: list[str] = []
    for path, name in zip(paths, names, strict=True):
        try:
            known = cache.get(str(Path(path).resolve()))
            sources.append(known if known is not None and known.name == name else run_source(path, name))
        except CompareError as exc:
            if not tolerant:
                raise
            if not Path(path).exists():
                notes.append(f"source {name} moved ({path} not found): pairs kept, no new pairs")
            else:
                notes.append(f"source {name} cannot be read ({exc}): pairs kept, no new pairs")
    return sources, notes


def _choose(found: list[Path], paths: list[str], names: list[str], cache: dict[str, Source]) -> Path:
    """Of several comparisons of the same sessions, the one whose answers are still those
    it compared, else the most recently written. The sources read go to `cache`."""
    if len(found) == 1:
        return found[0]
    sources, notes = _read_sources(paths, names, tolerant=True, cache=cache)
    cache.update({s.path: s for s in sources})
    if notes:
        return found[0]
    for directory in found:
        header = read_header(directory)
        referenced = any(s.get("reference") for s in header["sources"])
        if _unchanged(header, [reference_source(sources[0]), *sources] if referenced else sources):
            return directory
    return found[0]


def open_comparison(config: CompareConfig, *, read_only: bool = False, revisit: bool = False) -> Comparison:
    """Validate, read the sources, lock, and bring the pairs up to date with the sources.

    A new comparison needs its sources; a saved one (`--session DIR`, no sources)
    reads the sources its header names, and goes on without those that moved (its
    pairs hold their answers, and `notes` says which). Without --session (and without
    --new), a comparison of exactly these sessions in the sessions folder is reopened.
    `revisit` (replay) opens it with no judges at work."""
    from sftscope.scorers.judge import Judge
    from sftscope.scorers.rubric import load_rubric

    directory = Path(config.session) if config.session else None
    saved: dict[str, Any] | None = None
    if directory is not None and (directory / "session.toml").exists():
        try:
            saved = read_header(directory)
        except SessionError as exc:
            raise CompareError(str(exc)) from None
        if saved.get("kind") != "comparison":
            raise CompareError(f"--session {directory}: is a run session, not a comparison")
        if config.new:
            raise CompareError(f"--new: {directory} is a comparison already; name a new --session DIR")
    elif read_only:
        raise CompareError(f"{directory}: not a comparison (no session.toml)")

    if config.order not in (None, *ORDERS):
        raise CompareError(f"--order {config.order}: shuffled or file")
    if saved is not None and config.order not in (None, header_order(saved)):
        raise CompareError(
            f"--order {config.order}: comparison {directory} was made with order {header_order(saved)}; "
            "start another with --new"
        )

    paths = list(config.sources)
    cache: dict[str, Source] = {}
    reopened = False
    if saved is None:
        paths, names, baseline = _new_settings(config)
        if directory is None and not config.new:
            found = find_comparisons(
                paths, reference=config.reference, seed=config.seed, baseline=baseline, order=config.order
            )
            if found:
                directory = _choose(found, paths, names, cache)
                saved, reopened = read_header(directory), True
    if saved is not None:
        paths = [str(Path(p).resolve()) for p in paths]
        if paths and paths != saved_paths(saved):
            raise CompareError(
                f"--session {directory}: compares {', '.join(saved_paths(saved))}; "
                "give the same sessions or none"
            )
        reference = any(s.get("reference") for s in saved["sources"])
        paths = saved_paths(saved)
        names = [s["name"] for s in saved["sources"] if not s.get("reference")]
        seed = int(saved.get("seed", 0))
        baseline = saved.get("baseline")
    else:
        reference = config.reference
        seed = config.seed

    # A rater's console on a comparison another sftscope holds (an A/B console, or one judging
    # it): this one only votes, following the pairs and verdicts that writer appends.
    writer = None
    if saved is not None and config.rater and not (config.headless or read_only):
        writer = lock_holder(directory)
    if writer is not None and (config.judges or config.judge_panels):
        flag = "--judge" if config.judges else "--judge-panel"
        raise CompareError(
            f"{flag}: {directory} is open in another sftscope ({writer}), which judges it; "
            "vote without judges, or judge once it has ended"
        )

    sources, notes = _read_sources(paths, names, tolerant=saved is not None, cache=cache)
    if reference and sources:
        sources.insert(0, reference_source(sources[0]))  # a = the reference, b = the model

    rubric = load_rubric(None)
    judges = [Judge(spec, rubric) for spec in config.judges]
    if not judges and saved is not None and not (read_only or revisit or writer):
        from sftscope.scorers.judge import JudgeSpec

        judges = [Judge(JudgeSpec.from_dict(s), rubric) for s in saved.get("judges", [])]
    _check_panels(config, judges, saved)
    for judge in judges:
        try:
            judge.prepare()
        except EngineError as exc:
            reason = str(exc).removeprefix(f"--engine {judge.spec.engine!r}: ")
            raise CompareError(f"--judge {judge.spec.engine}: {reason}") from None
        if not judge.pairwise:
            raise CompareError(
                f"--judge-template {judge.spec.template}: judge {judge.spec.name} needs a pairwise "
                'template (mt-bench-pair, a FastChat pair-* prompt, or a TOML file with protocol = "pair")'
            )

    matching: Matching | None = None
    if saved is None or len(sources) == len(saved["sources"]):
        matching = match_items(sources) if len(sources) >= 2 else None
    if saved is None:
        assert matching is not None
        if directory is None:
            directory = default_comparison_dir([s.name for s in sources])
        if directory.exists() and any(directory.iterdir()):
            raise CompareError(f"--session {directory}: exists and is not a comparison")
    assert directory is not None

    store = SessionStore(directory)
    created = not directory.exists()
    try:
        if writer is not None:
            store.open(follow=True)
        else:
            store.open(create=True, read_only=read_only)
    except SessionError as exc:
        raise CompareError(str(exc)) from None
    try:  # a rater's file locked: the same rater's second console is refused here
        session = ComparisonSession(store, rater=config.rater)
    except SessionError as exc:
        store.close()
        raise CompareError(str(exc)) from None
    comparison = Comparison(
        store=store,
        session=session,
        directory=directory,
        header=saved or {},
        sources=sources,
        judges=judges,
        left_out=matching.left_out if matching else 0,
        created=created,
        left_out_reasons=dict(matching.reasons) if matching else {},
        reopened=reopened,
        notes=notes,
        writer=writer,
    )
    if read_only or writer is not None:
        return comparison
    # A new comparison is walked in the seeded random order unless --order file; a saved one
    # keeps its own, and one made before the order existed stays without the key (file order).
    order = saved.get("order") if saved is not None else (config.order or "shuffled")
    try:
        _bring_up_to_date(comparison, matching, seed, baseline, order)
    except BaseException:
        store.close()
        raise
    return comparison


def _check_panels(config: CompareConfig, judges: list[Any], saved: dict[str, Any] | None) -> None:
    """The --judge-panel flags against this opening's judges and those the comparison was run
    with, before its directory is made (the console's caller saves them once it is open)."""
    from sftscope.scorers.panel import PanelError, header_judges, panels_in, session_panels

    known = [judge.spec.name for judge in judges] + header_judges(saved)
    try:
        session_panels(panels_in(saved or {}), config.judge_panels, known)
    except PanelError as exc:
        raise CompareError(str(exc)) from None


def _bring_up_to_date(
    comparison: Comparison, matching: Matching | None, seed: int, baseline: str | None, order: str | None
) -> None:
    """Write the header (with `order` unless None), the items and the pairs; mark pairs
    whose answers changed stale."""
    session, store = comparison.session, comparison.store
    sources = {s.name: s for s in comparison.sources}
    item_ids = [i.id for i in matching.items] if matching else []
    header = {
        "format_version": 1,
        "kind": "comparison",
        "sftscope_version": VERSION,
        "created": comparison.header.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "running",
        "seed": seed,
        "prompts": {
            "count": len(item_ids) or comparison.header.get("prompts", {}).get("count", 0),
            "left_out": comparison.left_out,
        },
        "sources": [s.to_header(item_ids) for s in comparison.sources]
        if matching
        else comparison.header["sources"],
        # The judges of this opening, else those it was run with (a revisit asks none).
        "judges": [j.spec.to_dict() for j in comparison.judges] or comparison.header.get("judges", []),
    }
    if baseline:
        header["baseline"] = baseline
    if order is not None:
        header["order"] = order
    store.update_header(**header)
    comparison.header = store.header
    if matching is None:
        return
    for index, item in enumerate(matching.items):
        if item.id not in session.state.items:
            session.record(ItemAdded(item.id, item.to_dict(), index))
    names = [s.name for s in comparison.sources]
    wanted = session_pairs(names, baseline)
    existing: dict[tuple[str, str, str], PairState] = {}
    for pair in session.state.pairs.values():
        if pair.stale is None:
            existing[(pair.item.id, pair.a, pair.b)] = pair
    revisions: dict[tuple[str, str, str], int] = {}
    for pair in session.state.pairs.values():
        key = (pair.item.id, pair.a, pair.b)
        revisions[key] = revisions.get(key, 0) + 1
    next_index = len(session.state.pairs)
    for item in matching.items:
        for a, b in wanted:
            answers_a, answers_b = sources[a].answers[item.id], sources[b].answers[item.id]
            key = (item.id, a, b)
            old = existing.get(key)
            replaces = None
            if old is not None:
                if tuple(old.answers_a) == answers_a and tuple(old.answers_b) == answers_b:
                    continue
                changed = a if tuple(old.answers_a) != answers_a else b
                session.record(PairStale(item.id, old.pair, f"the answer of {changed} changed"))
                comparison.stale_marked += 1
                replaces = old.pair
            revision = revisions.get(key, 0) + 1
            # An id an older version wrote (its ids were ambiguous) is never reused.
            while pair_id(item.id, a, b, revision) in session.state.pairs:
                revision += 1
            revisions[key] = revision
            session.record(
                PairAdded(
                    item=item.id,
                    pair=pair_id(item.id, a, b, revision),
                    a=a,
                    b=b,
                    answers_a=list(answers_a),
                    answers_b=list(answers_b),
                    first=shown_first(seed, item.id, a, b),
                    index=next_index,
                    replaces=replaces,
                )
            )
            next_index += 1
    # Pairs whose item a source no longer answers are stale too.
    live = set(itertools.product([i.id for i in matching.items], wanted))
    for pair in list(session.state.ordered()):
        if (pair.item.id, (pair.a, pair.b)) not in live:
            session.record(PairStale(pair.item.id, pair.pair, "a source no longer answers this item"))
            comparison.stale_marked += 1
