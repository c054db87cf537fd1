"""The Session: the one writer of a session directory.

It appends every event to the log, folds it into the state and publishes it to
subscribers, and it owns the operator's label API (score, undo, skip, flag,
comment), fsynced before it returns. Generation (`Generator`) and judging
(`JudgePool`) write through it. Progress that is not kept (a stream started,
a piece of text, a write that failed) goes out on a second, in-memory channel,
so nothing ephemeral is mistaken for the record.

What subscribers get is the typed event read back from the line written
(`events.from_record`: exactly what is on disk, a NaN written as null included),
so every display dispatches on its class (`match event: case Generated(): ...`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sftscope.sessions.core.events import (
    Adjudicated,
    Commented,
    Event,
    Flagged,
    ItemAdded,
    Label,
    Notice,
    Preferred,
    Probed,
    Record,
    Scored,
    Skipped,
    Undone,
    from_record,
)
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.progress import Progress, WriteFailed, WriteOk
from sftscope.sessions.core.raters import RaterStore, claim_legacy, fold_into, legacy_rater, rated
from sftscope.sessions.core.state import SessionState
from sftscope.sessions.core.store import SessionError, SessionStore, SessionWriteError

Subscriber = Callable[[Event], None]
ProgressSubscriber = Callable[[Progress], None]


@dataclass
class RunSummary:
    done: int = 0
    skipped: int = 0
    errors: int = 0
    cancelled: int = 0
    incomplete: int = 0
    tokens: int = 0
    seconds: float = 0.0


def _rater_kind(event: Event) -> bool:
    """Whether an event is a rater's (their file), not the writer's: a label (an engine
    skip is not one), a vote, an adjudication."""
    if isinstance(event, Skipped):
        return event.by_human
    return isinstance(event, (Label, Preferred, Adjudicated))


def new_gen() -> str:
    """A generation attempt's id: 12 hex digits, unique within any session."""
    return os.urandom(6).hex()


class Session:
    """Store, fold, publish, and the label API.

    With a `rater` (issue 18, sessions/core/raters.py) the labels go to that rater's file,
    `ratings/NAME.jsonl`, each with `rater` set, and the fold is events.jsonl without any
    rater's labels plus this rater's file (plus the labels events.jsonl holds from before
    raters, when this rater is their rater: `legacy_rater`, claimed by the first). Without
    one, every event goes to events.jsonl as it always did (tests, `sftscope judge`)."""

    def __init__(
        self, store: SessionStore, state: Any = None, *, rater: str | None = None, claim: bool = True
    ) -> None:
        self.store = store
        # A run's fold, or another with the same `apply` (a comparison's, sessions/comparison.py).
        self.state = SessionState() if state is None else state
        self.raters: RaterStore | None = None
        self.legacy: str | None = None  # whose the labels in events.jsonl are (a rater's console)
        self.warnings: list[str] = []  # a rater's file repaired on open (a torn last line)
        if rater is None:
            for event in store.events:
                self.state.apply(event)
        else:
            self._fold_rater(rater, claim=claim)
        self._subscribers: list[Subscriber] = []
        self._listeners: list[Subscriber] = []  # the core's own (JudgePool): errors surface
        self._progress: list[ProgressSubscriber] = []
        self._closed = False
        # A write that failed (disk full, read-only): generation waits until a write
        # succeeds again; events that could not be written wait here, in order.
        self.write_error: str | None = None
        self.unwritten: list[Event] = []
        self.writable = asyncio.Event()
        self.writable.set()
        # Called with each event written late (after a failure), once it is on disk.
        self.late_writes: list[Subscriber] = []
        self.notices: list[str] = list(store.header.get("notices", []))

    @property
    def rater(self) -> str | None:
        return self.raters.name if self.raters is not None else None

    def attach_rater(self, name: str) -> None:
        """Label as `name` from now on (a console that asks the name after it started):
        the rater's file is locked and read, and the fold rebuilt in place as theirs (the
        same state object, so call it before anything keeps an item's state). Refused
        (SessionError, one line) when that rater labels this session elsewhere."""
        if self.rater == name:
            return
        if self.raters is not None:
            raise SessionError(f"{self.store.directory}: this console labels as {self.rater} already")
        fresh = type(self.state)()
        previous, self.state = self.state, fresh
        try:
            self._fold_rater(name)
        except BaseException:
            self.state = previous
            raise
        vars(previous).clear()
        vars(previous).update(vars(fresh))
        self.state = previous

    def _fold_rater(self, name: str, *, claim: bool = True) -> None:
        """Open `name`'s file and fold this rater's view into `self.state` (empty). With
        `claim` False (an adjudicator: they judge the raters' labels, never take them over),
        unclaimed labels of a session written before raters stay the legacy rater's."""
        store = self.store
        items = [str(event["item"]) for event in store.events if event.get("type") == ItemAdded.TYPE]
        raters = RaterStore(store.directory, name)
        raters.open(store.header, items)
        legacy = legacy_rater(store.header)
        if legacy is None and claim and any(rated(event) for event in store.events):
            if not store.read_only:  # the writer: its header is the one written
                with contextlib.suppress(SessionWriteError):
                    store.update_header(rater=name)
                legacy = legacy_rater(store.header) or name
            else:
                legacy = claim_legacy(store.directory, name)
                store.header["rater"] = legacy
        mine = [event for event in store.events if rated(event)] if legacy == name else []
        fold_into(self.state, store.events, [*mine, *raters.records])
        self.raters, self.legacy = raters, legacy
        self.warnings = list(raters.warnings)

    def poll(self) -> list[Event]:
        """What the writer (another process) appended to events.jsonl since the last poll,
        folded in and published like this process's own events: a labelling console calls
        it about once a second. Nothing when this process is the writer."""
        out: list[Event] = []
        if self._closed:
            return out
        for record in self.store.poll():
            if self.raters is not None and rated(record):
                continue  # a label an older sftscope wrote there: not this rater's
            self.state.apply(record)
            event = from_record(record)
            if event is not None:
                self.publish(event)
                out.append(event)
        return out

    def close_rater(self) -> None:
        """Release this rater's file (its lock): at exit."""
        if self.raters is not None:
            self.raters.close()

    def add_items(self, items: list[Item]) -> None:
        """Register the prompt set in the log (once); a resumed session already has it."""
        for index, item in enumerate(items):
            if item.id not in self.state.items:
                self.record(ItemAdded(item.id, item.to_dict(), index))

    def subscribe(self, callback: Subscriber) -> None:
        """Every persisted event, once it is on disk and folded in."""
        self._subscribers.append(callback)

    def listen(self, callback: Subscriber) -> None:
        """Like `subscribe`, for the core's own parts: called first, and a failure is a bug
        that must surface, never be swallowed the way a display's is."""
        self._listeners.append(callback)

    def subscribe_progress(self, callback: ProgressSubscriber) -> None:
        """Progress that is never persisted (sessions/progress.py)."""
        self._progress.append(callback)

    def detach(self) -> None:
        """Stop writing (the session was closed under us, e.g. on SIGHUP): later
        generation events are dropped and regenerated on resume."""
        self._closed = True
        self._subscribers.clear()
        self._progress.clear()

    @property
    def closed(self) -> bool:
        return self._closed or not self.store.is_open

    def record(self, typed: Event, *, durable: bool = False) -> Event:
        """Append to the log, fold into the state, and tell every subscriber.

        A human action (`durable`) that cannot be written raises SessionWriteError
        to the caller, who shows "not saved". Any other event that cannot be
        written is kept in memory, generation pauses, and the events are written
        in order as soon as a write succeeds again (`retry_writes`). Returns the event
        as written (read back from its line), or as given when it was not written.
        """
        if self.closed:
            return typed
        if self.raters is not None and _rater_kind(typed):
            # A rater's label: their own file, always fsynced; a failure is the caller's.
            saved = self.raters.append(dataclasses.replace(typed, rater=self.raters.name).to_record())
            return self._written(saved)
        if self.store.following:
            return typed  # a labelling console writes nothing else (the writer does)
        if not durable and self.unwritten:
            self.unwritten.append(typed)  # keep the order of what happened
            return typed
        try:
            saved = self.store.append(typed.to_record(), durable=durable)
        except SessionWriteError as exc:
            self._write_failed(str(exc))
            if durable:
                raise
            self.unwritten.append(typed)
            return typed
        self._write_ok()
        return self._written(saved)

    def _written(self, saved: Record) -> Event:
        """A line is on disk: fold it in (the state keeps the line) and publish its event."""
        self.state.apply(saved)
        event = from_record(saved)
        assert event is not None  # written from a kind this version knows
        self.publish(event)
        return event

    def _write_failed(self, reason: str) -> None:
        first = self.write_error is None
        self.write_error = reason
        self.writable.clear()
        if first:
            self.progress(WriteFailed(reason))

    def _write_ok(self) -> None:
        if self.write_error is not None and not self.unwritten:
            self.write_error = None
            self.writable.set()
            self.progress(WriteOk())

    def retry_writes(self) -> bool:
        """Write what is waiting; True once everything is on disk."""
        while self.unwritten and not self.closed:
            try:
                saved = self.store.append(self.unwritten[0].to_record())
            except SessionWriteError as exc:
                self.write_error = str(exc)
                return False
            self.unwritten.pop(0)
            event = self._written(saved)
            for callback in list(self.late_writes):
                callback(event)
        self._write_ok()
        return not self.unwritten

    async def wait_writable(self, stopping: Callable[[], bool]) -> None:
        """Wait while the disk refuses writes, trying again every second."""
        while self.write_error is not None and not self.closed and not stopping():
            if self.retry_writes():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.writable.wait(), timeout=1.0)

    def notice(self, text: str) -> None:
        """Something the operator should read once: in the log, the header and on screen."""
        if text in self.notices:
            return
        self.notices.append(text)
        self.record(Notice(text))
        with contextlib.suppress(SessionWriteError):
            if self.store.has_header:
                self.store.update_header(notices=list(self.notices))

    def publish(self, event: Event) -> None:
        """Tell every subscriber. A failing subscriber (a display bug) never stops
        generation or loses an event: the event is already on disk."""
        for listener in list(self._listeners):
            listener(event)
        for callback in list(self._subscribers):
            with contextlib.suppress(Exception):
                callback(event)

    def progress(self, message: Progress) -> None:
        for callback in list(self._progress):
            with contextlib.suppress(Exception):
                callback(message)

    # --- generation attempts (the Generator asks; labels bind to them) ------------
    def begin_attempt(self, item_id: str) -> str:
        """A new answer of `item_id` starts streaming: its `gen`, the id its `generation`
        (or `error`) event will carry. Until that event is written, a label given on the
        item is bound to this attempt, not to the answer before it."""
        gen = new_gen()
        state = self.state.items.get(item_id)
        if state is not None:
            state.streaming = gen
        return gen

    def end_attempt(self, item_id: str, gen: str) -> None:
        """The attempt `gen` ended without its event being written (the task cancelled,
        the session closed): labels bound to it are stale, as its answer is not on record."""
        state = self.state.items.get(item_id)
        if state is not None and state.streaming == gen:
            state.streaming = None

    # --- the operator's labels (fsynced before they are shown as saved) ---------
    def score(
        self,
        item_id: str,
        criterion: str,
        value: Any,
        *,
        judge_visible: bool = False,
        sample: str | None = None,
    ) -> Event:
        """A label on the answer on screen: the one streaming, else the current one (its
        `gen` is stamped here, so it can never land on a later answer). `sample` says how
        the item was reached ("random" or "chosen", events.Scored)."""
        state = self.state.items[item_id]
        previous = state.human.get(criterion)
        event = Scored(item_id, criterion, value, judge_visible, previous, gen=state.label_gen, sample=sample)
        return self.record(event, durable=True)

    def probe(self, item_id: str, criterion: str, value: Any, *, original: Any = None) -> Event:
        """A rater reliability probe's answer (sessions/probes.py): its own event kind, never
        a `score`, so the original label stays in force; `original` is that label, kept
        beside the answer for test-retest agreement. Fsynced like every label, and bound
        to the answer it was given on like a score."""
        gen = self.state.items[item_id].label_gen
        return self.record(Probed(item_id, criterion, value, original, gen=gen), durable=True)

    def undo(self, item_id: str) -> Event | None:
        state = self.state.items[item_id]
        if not state.actions:
            return None
        return self.record(Undone(item_id, state.actions[-1]["type"]), durable=True)  # the kind undone

    def skip(self, item_id: str) -> Event:
        return self.record(Skipped(item_id, by="human", reason="skipped by the operator"), durable=True)

    # A flag and a comment are about the item, not bound to one answer: a flag asks for a
    # second look (more needed, not less, once the answer changed) and a comment is free
    # text that may speak of the prompt. They stay in force across answers; the `gen` on
    # screen when they were made is kept on record.
    def flag(self, item_id: str) -> Event:
        state = self.state.items[item_id]
        return self.record(Flagged(item_id, not state.flagged, gen=state.label_gen), durable=True)

    def comment(self, item_id: str, text: str) -> Event:
        gen = self.state.items[item_id].label_gen
        return self.record(Commented(item_id, text, gen=gen), durable=True)

    def adjudicate(self, item_id: str, criterion: str, value: Any, *, reason: str | None = None) -> Event:
        """An adjudicator's final label (events.Adjudicated), in their own file; bound to the
        answer on screen like a score. Needs a rater."""
        if self.raters is None:
            raise SessionError(f"{self.store.directory}: adjudicating needs a rater (--rater)")
        gen = self.state.items[item_id].label_gen
        return self.record(Adjudicated(item_id, criterion, value, reason, gen=gen), durable=True)

    def summary(self) -> RunSummary:
        out = RunSummary()
        for state in self.state.items.values():
            status = state.status
            if status == "done":
                out.done += 1
            elif status == "skipped":
                out.skipped += 1
            elif status == "error":
                out.errors += 1
            elif status == "cancelled":
                out.cancelled += 1
            elif status == "incomplete":
                out.incomplete += 1
            out.tokens += state.tokens
            out.seconds += state.seconds
        return out
