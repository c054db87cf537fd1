"""Raters: several people label one session, each in a file of their own (issue 18).

A rater's labels (every `Label` kind of sessions/core/events.py, a comparison's
`preference` votes and an adjudicator's `adjudicate`) go to `ratings/NAME.jsonl` inside
the session, each with `rater = NAME`. The file is append-only and written through the
store's one write path (`store.append_line`: fsynced before a label shows as saved, a
failed write cut off and refused), under its own `flock` on `ratings/NAME.lock`: a second
console of the same rater on the same session is refused, other raters never wait.
events.jsonl keeps what one process writes (items, generations, judges, checks), under
the session's writer lock (store.SessionLock); a console that only labels follows it
read-only (`SessionStore.open(follow=True)`, `poll`).

Raters are blind to each other: a console folds events.jsonl plus its own rater's file
(`fold_for`). Labels of a session written before raters existed stay in events.jsonl and
read as one rater (`legacy_rater`): the header's `rater` when set, else the first rater
who opens the session with a name claims them (`rater = NAME` is written into
session.toml then), else "operator".
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sftscope.sessions.core.events import (
    LABELS,
    RATER_NAME,
    RATER_RULE,
    Adjudicated,
    ItemAdded,
    Preferred,
    Record,
    Skipped,
)
from sftscope.sessions.core.state import SessionState
from sftscope.sessions.core.store import (
    HEADER,
    SessionError,
    SessionLock,
    SessionWriteError,
    append_line,
    check_labels,
    describe_os_error,
    read_events,
    read_header,
    write_toml_atomic,
)

RATINGS = "ratings"  # the folder of the raters' files, inside the session
ENV = "SFTSCOPE_RATER"
LEGACY = "operator"  # who the labels of a session written before raters read as, unnamed
# The kinds a rater writes: labels, votes, adjudications (an engine `skip` is not one).
RATED = LABELS | {Adjudicated.TYPE, Preferred.TYPE}


class RaterError(ValueError):
    """A rater name that cannot be used: one line naming where it came from."""


def check_rater(name: str, source: str) -> str:
    """`name` when it is a rater name (it names a file), else RaterError naming `source`
    (the flag `--rater` or the variable `$SFTSCOPE_RATER`)."""
    if RATER_NAME.fullmatch(name) is None:
        raise RaterError(f"{source} {name!r}: not a rater name ({RATER_RULE})")
    return name


def default_rater() -> str:
    """The rater when no --rater is given: $SFTSCOPE_RATER (checked), else the login name
    made into a rater name (a login name is not chosen for sftscope: never refused), else
    "operator"."""
    env = os.environ.get(ENV)
    if env is not None:
        return check_rater(env, f"${ENV}")
    with contextlib.suppress(Exception):
        login = "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "-" for c in getpass.getuser())
        login = login.lstrip("._-")[:64]
        if RATER_NAME.fullmatch(login):
            return login
    return LEGACY


def resolve_rater(flag: str | None) -> str:
    """`--rater` when given (checked), else `default_rater()`."""
    return check_rater(flag, "--rater") if flag is not None else default_rater()


def rated(record: Record) -> bool:
    """Whether a line is a rater's (a label, a vote, an adjudication), not the writer's."""
    kind = record.get("type")
    return kind in RATED and not (kind == Skipped.TYPE and record.get("by") != "human")


def writer_lines(events: Iterable[Record]) -> list[Record]:
    """The lines of a log that are the writer's (not `rated`), in order: `rated` inlined,
    as this runs on every line of a 16,000-item log."""
    skip = Skipped.TYPE
    return [r for r in events if (k := r.get("type")) not in RATED or (k == skip and r.get("by") != "human")]


def rated_lines(events: Iterable[Record]) -> list[Record]:
    """The lines of a log that are a rater's (`rated`), in order: a session written before
    raters keeps its labels there."""
    skip = Skipped.TYPE
    return [r for r in events if (k := r.get("type")) in RATED and (k != skip or r.get("by") == "human")]


def rater_path(directory: Path, name: str) -> Path:
    return Path(directory) / RATINGS / f"{name}.jsonl"


def legacy_rater(header: dict[str, Any]) -> str | None:
    """Who the labels in events.jsonl are (a session written before raters): the header's
    `rater`, None when no rater has claimed them yet."""
    name = header.get("rater")
    return name if isinstance(name, str) and RATER_NAME.fullmatch(name) else None


def claim_legacy(directory: Path, name: str) -> str:
    """Make `name` the rater of the labels in events.jsonl unless someone already is (the
    first rater who resumes a session written before raters), and return who is. Written
    into session.toml under a short lock (ratings/.legacy.lock: no rater's name starts
    with a dot), so two consoles opening at once agree; on a read-only disk the claim
    holds for this process only."""
    directory = Path(directory)
    try:
        (directory / RATINGS).mkdir(exist_ok=True)
        fd = os.open(directory / RATINGS / ".legacy.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return legacy_rater(read_header(directory)) or name
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        header = read_header(directory)
        claimed = legacy_rater(header)
        if claimed is not None:
            return claimed
        with contextlib.suppress(SessionWriteError):
            write_toml_atomic(directory / HEADER, {**header, "rater": name})
        return name
    finally:
        os.close(fd)


class RaterStore:
    """One rater's file of one session, `ratings/NAME.jsonl`: read and checked on open (a
    torn last line repaired as events.jsonl's is), locked for this rater only, appended to
    with every label fsynced. `read_only`: nothing locked or written (a session on a
    read-only disk), every append refused."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = Path(directory)
        self.name = check_rater(name, "rater")
        self.path = rater_path(self.directory, name)
        self._lock = SessionLock(
            self.directory,
            path=self.path.with_suffix(".lock"),
            busy=f"{self.directory}: rater {name} is already labelling this session in another console",
        )
        self._fd: int | None = None
        self._size = 0
        self.read_only = False
        self.records: list[Record] = []
        self.warnings: list[str] = []

    def open(self, header: dict[str, Any], items: Iterable[str], *, read_only: bool | None = None) -> None:
        """Lock, read and check the file (its labels against the session's rubric and
        `items`, the ids of events.jsonl), and open it for appending. `read_only` None:
        decided by whether the session directory can be written."""
        if read_only is None:
            read_only = not _writable(self.directory, self.path)
        if read_only:
            self.records, self.warnings = _read_rater(self.path, self.name, header, items)
            self.read_only = True
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            self._lock.acquire()
        except OSError as exc:
            raise SessionError(f"{self.path}: cannot write ({describe_os_error(exc)})") from None
        try:
            self.records, self.warnings = _read_rater(self.path, self.name, header, items, repair=True)
            if self.path.exists():  # else made by the first label: a console left unused leaves none
                self._open_file()
        except OSError as exc:
            self._lock.release()
            raise SessionError(f"{self.path}: cannot write ({describe_os_error(exc)})") from None
        except BaseException:
            self._lock.release()
            raise

    def append(self, event: dict[str, Any]) -> Record:
        """Append one of this rater's events (`rater` set here), fsynced before it returns."""
        if self.read_only:
            raise SessionWriteError(f"{self.directory}: not saved (the session is open read-only)")
        if self._fd is None:
            if not self._lock.held:
                raise SessionError(f"{self.path}: not open for writing")
            try:
                self._open_file()
            except OSError as exc:
                raise SessionWriteError(f"not saved: {describe_os_error(exc)}", exc.errno) from None
        assert self._fd is not None
        record, size = append_line(self._fd, self._size, {**event, "rater": self.name}, fsync=True)
        self._size += size
        self.records.append(record)
        return record

    def _open_file(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._lock.release()
        self.read_only = False


def _writable(directory: Path, path: Path) -> bool:
    if path.exists():
        return os.access(path, os.W_OK)
    folder = path.parent if path.parent.exists() else directory
    return os.access(folder, os.W_OK)


def _read_rater(
    path: Path, name: str, header: dict[str, Any], items: Iterable[str], *, repair: bool = False
) -> tuple[list[Record], list[str]]:
    """A rater's file read and checked: each line a rater's kind, by this rater, and (on a
    run session) a label its rubric accepts on an item of events.jsonl. Errors name the
    file and line, as read_events' and check_labels' do."""
    loaded = read_events(path, repair=repair)
    for number, record in enumerate(loaded.events, start=1):
        if not rated(record):
            raise SessionError(f"{path}:{number}: a {record['type']} event in a rater's file")
        if record.get("rater", name) != name:
            raise SessionError(f"{path}:{number}: a label by {record['rater']!r} in {name}'s file")
    check_labels(header, loaded.events, path, items=items)
    return loaded.events, loaded.warnings


def read_ratings(
    directory: Path, header: dict[str, Any] | None = None, events: list[Record] | None = None
) -> dict[str, list[Record]]:
    """Every rater's records, checked (file:line errors), by name in name order: each
    rater's file, after (for the legacy rater) the labels events.jsonl holds from before
    raters. `header` and `events`: the session already read (else read here)."""
    directory = Path(directory)
    if header is None:
        header = read_header(directory)
    if events is None:
        events = read_events(directory / "events.jsonl").events
    legacy = rated_lines(events)
    out: dict[str, list[Record]] = {}
    if legacy:
        out[legacy_rater(header) or LEGACY] = legacy
    folder = directory / RATINGS
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    added = ItemAdded.TYPE  # the item ids, only when there is a rater's file to check
    items = [str(record["item"]) for record in events if record.get("type") == added] if files else []
    for path in files:
        name = path.stem
        if RATER_NAME.fullmatch(name) is None:
            raise SessionError(f"{path}: not a rater's file (a rater name is {RATER_RULE})")
        records, _warnings = _read_rater(path, name, header, items)
        if records:  # a console opened and left without a label makes no rater
            out[name] = out.get(name, []) + records
    return dict(sorted(out.items()))


def fold_for(events: list[Record], ratings: dict[str, list[Record]], rater: str) -> SessionState:
    """One rater's view of a session: events.jsonl without any rater's labels, then this
    rater's records (`read_ratings`, the legacy labels included when they are this
    rater's). What that rater's console shows; blind to every other rater."""
    state = SessionState()
    fold_into(state, events, ratings.get(rater, ()))
    return state


def fold_into(state: Any, events: Iterable[Record], mine: Iterable[Record]) -> None:
    """Fold the writer's lines of `events` (no rater's labels), then `mine` into `state`."""
    apply = state.apply
    for record in writer_lines(events):
        apply(record)
    for record in mine:
        apply(record)
