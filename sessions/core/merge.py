"""Merging copies of one session labelled on different machines (issue 18 §5).

`sftscope merge A B ... -o OUT`: the copies must hold the same generations (every item's
current answers, their text and the gen ids the labels are bound to, compared by digest);
otherwise nothing is written and the first item that differs is named with the two
directories. The result is a new session directory:

- session.toml: the first copy's, byte for byte (the others' differences, beyond status
  and updated, are said and left out);
- events.jsonl: the first copy's writer lines (items, generations, judges, checks); the
  labels it holds from before raters move to their rater's file, like every copy's;
- ratings/NAME.jsonl: the union of NAME's records from every copy, in timestamp order, a
  line found in several copies written once. The union is that rater's actions as if on
  one machine, so where the copies disagree on an item and criterion the later label is
  in force; each such conflict is reported (`Conflict`), with the value kept.

Written into a hidden directory beside OUT, read back as a session, then renamed: an
interrupted merge leaves no half-written OUT.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.sessions.core.events import Record, Scored
from sftscope.sessions.core.raters import RATINGS, fold_for, rated, read_ratings
from sftscope.sessions.core.state import ItemState, SessionState
from sftscope.sessions.core.store import (
    EVENTS,
    HEADER,
    SessionError,
    _fsync_dir,
    describe_os_error,
    finite_json,
    read_events,
    read_header,
)

IGNORED = ("status", "updated")  # header keys copies may differ in without a word


class MergeError(SessionError):
    """Copies that cannot be merged, or an output that cannot be written: one line."""


@dataclass(frozen=True)
class Conflict:
    """One rater, two different labels in force on one item and criterion in two copies."""

    rater: str
    item: str
    criterion: str
    labels: tuple[tuple[str, Any, float], ...]  # (copy, value, ts) of each copy's label
    kept: Any  # the value in force after the merge: the later label, unless an undo took it back


@dataclass
class MergeResult:
    output: Path
    labels: dict[str, int] = field(default_factory=dict)  # rater -> lines in their file
    duplicates: int = 0  # lines found in more than one copy, written once
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was kept where the copies differ


@dataclass
class Copy:
    directory: Path
    header: dict[str, Any]
    events: list[Record]
    ratings: dict[str, list[Record]]

    @classmethod
    def read(cls, directory: Path) -> Copy:
        header = read_header(directory)
        if header.get("kind") == "comparison":
            raise MergeError(f"{directory}: a comparison; merge takes copies of a run session")
        events = read_events(directory / EVENTS).events
        return cls(directory, header, events, read_ratings(directory, header, events))

    def writer_state(self) -> SessionState:
        """The items and answers (no rater's labels)."""
        return fold_for(self.events, {}, "")


def merge_sessions(sources: Sequence[Path], output: Path) -> MergeResult:
    """Merge `sources` (copies of one session) into the new directory `output`."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise MergeError(f"-o {output}: exists and is not empty; name a new directory")
    seen: dict[Path, Path] = {}
    for source in map(Path, sources):
        if source.resolve() in seen:
            raise MergeError(f"{source}: the same directory as {seen[source.resolve()]}")
        seen[source.resolve()] = source
    copies = [Copy.read(Path(source)) for source in sources]
    states = [copy.writer_state() for copy in copies]
    same_generations(copies, states)
    result = MergeResult(output)
    result.notes += header_notes(copies) + events_notes(copies)
    merged: dict[str, list[Record]] = {}
    keys: dict[str, set[str]] = {}
    for copy in copies:
        for name, records in copy.ratings.items():
            bucket, known = merged.setdefault(name, []), keys.setdefault(name, set())
            for record in records:
                line = {**record, "rater": name}  # a label from before raters: its rater's now
                key = json.dumps(line, sort_keys=True, ensure_ascii=False, default=str)
                if key in known:
                    result.duplicates += 1
                    continue
                known.add(key)
                bucket.append(line)
    for name, records in merged.items():
        records.sort(key=lambda record: float(record.get("ts") or 0.0))  # stable: copy order on ties
        result.labels[name] = len(records)
    result.conflicts = conflicts(copies, merged)
    write_merged(copies[0], merged, output)
    return result


def answer_digest(state: ItemState) -> str:
    """The item's current answers as labels see them: each turn's text and gen id."""
    turns = [[gen, turn.get("text")] for gen, turn in zip(state.gens, state.turns, strict=False)]
    return hashlib.sha256(json.dumps(turns, ensure_ascii=False).encode()).hexdigest()


def same_generations(copies: Sequence[Copy], states: Sequence[SessionState]) -> None:
    """MergeError naming the first item whose answers differ between the first copy and
    another (or that only one of them has), and the two directories."""
    first, base = copies[0], states[0]
    digests = {s.item.id: answer_digest(s) for s in base.ordered()}
    for copy, state in zip(copies[1:], states[1:], strict=True):
        other = {s.item.id: answer_digest(s) for s in state.ordered()}
        for item, digest in digests.items():
            if item not in other:
                raise MergeError(f"item {item}: in {first.directory}, not in {copy.directory}")
            if other[item] != digest:
                raise MergeError(
                    f"item {item}: the answers differ between {first.directory} and {copy.directory} "
                    "(merge takes copies of one session with the same generations)"
                )
        extra = next((item for item in other if item not in digests), None)
        if extra is not None:
            raise MergeError(f"item {extra}: in {copy.directory}, not in {first.directory}")


def header_notes(copies: Sequence[Copy]) -> list[str]:
    first = copies[0]
    notes = []
    for copy in copies[1:]:
        keys = sorted(
            key
            for key in set(first.header) | set(copy.header)
            if key not in IGNORED and first.header.get(key) != copy.header.get(key)
        )
        if keys:
            notes.append(
                f"session.toml: {copy.directory} differs in {', '.join(keys)}; {first.directory}'s is kept"
            )
    return notes


def events_notes(copies: Sequence[Copy]) -> list[str]:
    """What of the other copies' writer lines (judges, checks run there) is left out."""
    first = {_line(record) for record in copies[0].events if not rated(record)}
    notes = []
    for copy in copies[1:]:
        extra = sum(1 for record in copy.events if not rated(record) and _line(record) not in first)
        if extra:
            notes.append(
                f"events.jsonl: {copies[0].directory}'s is kept; {extra} line(s) of {copy.directory} "
                "not in it (judges, checks run there) are left out"
            )
    return notes


def in_force(state: ItemState) -> dict[str, tuple[Any, float]]:
    """criterion -> (value, ts) of the score in force on the current answer (after undos)."""
    out: dict[str, tuple[Any, float]] = {}
    for action in state.actions:
        if action["type"] == Scored.TYPE and state.is_current(action):
            out[action["criterion"]] = (action["value"], float(action.get("ts") or 0.0))
    return out


def conflicts(copies: Sequence[Copy], merged: dict[str, list[Record]]) -> list[Conflict]:
    """Each (rater, item, criterion) where two copies hold different labels in force."""
    out = []
    for name, records in merged.items():
        holders = [copy for copy in copies if copy.ratings.get(name)]
        if len(holders) < 2:
            continue
        views = [(copy, fold_for(copy.events, copy.ratings, name)) for copy in holders]
        after = fold_for(copies[0].events, {name: records}, name)
        for item in after.ordered():
            labels: dict[str, list[tuple[str, Any, float]]] = {}
            for copy, view in views:
                state = view.items.get(item.item.id)
                for criterion, (value, ts) in (in_force(state) if state else {}).items():
                    labels.setdefault(criterion, []).append((str(copy.directory), value, ts))
            for criterion in sorted(set(labels) | set(item.human)):
                given = labels.get(criterion, [])
                kept = item.human.get(criterion)
                later = max(given, key=lambda label: label[2])[1] if given else None
                # Two values, or an undo replayed in time order took back another label
                # than in its own copy: either way the rater is told what is in force.
                if len({_key(value) for _, value, _ in given}) > 1 or _key(kept) != _key(later):
                    out.append(Conflict(name, item.item.id, criterion, tuple(given), kept))
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def write_merged(first: Copy, merged: dict[str, list[Record]], output: Path) -> None:
    """Write the merged session beside `output`, read it back, then rename it into place."""
    temporary = output.parent / f".{output.name}.merge-{os.getpid()}.tmp"
    try:
        (temporary / RATINGS).mkdir(parents=True)
        shutil.copyfile(first.directory / HEADER, temporary / HEADER)
        _write_lines(temporary / EVENTS, [record for record in first.events if not rated(record)])
        for name, records in merged.items():
            _write_lines(temporary / RATINGS / f"{name}.jsonl", records)
        _fsync_dir(temporary / RATINGS)
        _fsync_dir(temporary)
        header = read_header(temporary)  # it reads as a session, or nothing is left
        read_ratings(temporary, header, read_events(temporary / EVENTS).events)
        os.rename(temporary, output)  # an empty `output` directory is replaced
        _fsync_dir(output.parent)
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        raise MergeError(f"-o {output}: cannot write ({describe_os_error(exc)})") from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _line(record: Record) -> str:
    """One record as a line of a log, as the store writes it."""
    try:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or an infinity read from an old line: null, as the store writes
        return json.dumps(finite_json(record), ensure_ascii=False, separators=(",", ":"))


def _write_lines(path: Path, records: list[Record]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(_line(record) + "\n" for record in records)
        handle.flush()
        os.fsync(handle.fileno())


def when(ts: float) -> str:
    """A label's time as a conflict line shows it (UTC, to the millisecond the log keeps)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{round(ts * 1000) % 1000:03d}Z"
