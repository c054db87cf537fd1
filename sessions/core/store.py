"""The session directory: `session.toml` (the header) and `events.jsonl` (the truth).

Durability rules (DESIGN.md §1):
- every human action is appended, flushed and fsynced before the caller returns,
  so a label the screen shows as saved survives `kill -9`;
- other events (generations, progress) are flushed at once and fsynced in batches;
- on open, a torn final line (a crash mid-write) is dropped with a warning naming
  its byte offset and truncated before the next append; a bad line in the middle
  is an error naming the line, since silently skipping it would lose data;
- a lock file (pid, host), held with `flock`, stops a second writer; the kernel
  drops the flock when its holder dies, so a stale lock can never block a resume;
- the header is written to a temp file, fsynced, then `os.replace`d.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import tomli_w
from sftscope.engines.toml import tomllib
from sftscope.sessions.core.events import (
    KNOWN,
    LABELS,
    Adjudicated,
    ItemAdded,
    Probed,
    Scored,
    Skipped,
    problem,
)

# 2: answers carry `gen`, and labels, verdicts and checks the `gen` they judged
# (sessions/events.py). Format 1 is read as before.
FORMAT_VERSION = 2
HEADER = "session.toml"
EVENTS = "events.jsonl"
LOCK = "session.lock"
# Non-human events are fsynced at most this often (they are flushed at once).
FSYNC_INTERVAL = 1.0


class SessionError(Exception):
    """A session cannot be opened or written: one clear line for the user."""


class SessionWriteError(SessionError):
    """An append or header write failed (disk full, read-only, I/O error).

    Nothing of the failed event is left in the file, and it is not folded into
    the state: what is on screen as saved is exactly what is on disk.
    """

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def describe_os_error(exc: OSError) -> str:
    """'disk full', 'read-only', ... : the words an operator needs, not an errno."""
    import errno

    words = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EIO: "I/O error",
    }
    return words.get(exc.errno or 0, exc.strerror or type(exc).__name__)


@dataclass
class LoadResult:
    events: list[dict[str, Any]]
    warnings: list[str]
    # The byte offset after the last complete line read (a torn tail starts there), and
    # whether the last event kept lacked its newline: where a follower goes on reading.
    end: int = 0
    unterminated: bool = False


def read_events(path: Path, *, repair: bool = False) -> LoadResult:
    """Read an event log, dropping a torn final line.

    With `repair`, the torn tail is also cut off the file so the next append
    starts on a clean line. A malformed line anywhere else raises SessionError
    naming the line number.

    The log is read a megabyte of lines at a time (never held whole in memory), each
    line parsed with orjson; a line orjson refuses or might read otherwise goes through
    the json module, so values only it reads (NaN, integers past 64 bits, lone
    surrogates) and its error messages are kept.
    """
    warnings: list[str] = []
    unknown: dict[str, int] = {}
    if not path.exists():
        return LoadResult([], warnings)
    events: list[dict[str, Any]] = []
    append, loads, digits, long_number = events.append, orjson.loads, _DIGITS, _LONG_NUMBER
    torn_at: int | None = None  # a complete last line that does not parse
    tail, tail_number, tail_start = b"", 0, 0  # a last line without its newline
    try:
        with paused_gc(), open(path, "rb") as handle:
            number = offset = 0  # lines and bytes before this chunk
            while lines := handle.readlines(_CHUNK):
                if lines[-1][-1:] != b"\n":  # the end of the file, without a newline
                    tail = lines.pop()
                    tail_number, tail_start = number + len(lines) + 1, offset + sum(map(len, lines))
                try:
                    parsed = list(map(loads, lines))
                except ValueError:  # some line is not JSON: find it line by line
                    parsed = [_orjson_or_none(raw) for raw in lines]
                first = number
                for raw, event in zip(lines, parsed, strict=True):
                    number += 1
                    if type(event) is not dict or "type" not in event or long_number in raw.translate(digits):
                        if not raw.strip():
                            continue
                        try:
                            event = _event(raw[:-1])  # without its newline, as errors name it
                        except ValueError as exc:
                            if not tail and number == first + len(lines) and not handle.read(1):
                                # The last complete line is unreadable: a torn write whose
                                # newline made it to disk. Treat it like a torn tail.
                                torn_at = offset + sum(map(len, lines[: number - first - 1]))
                                break
                            raise SessionError(f"{path}:{number}: corrupt event line ({exc})") from None
                        _check(event, path, number, unknown)
                    else:  # orjson read it: it refuses NaN and infinities itself
                        _check(event, path, number, unknown, finite=True)
                    append(event)
                if torn_at is not None:
                    break
                offset += sum(map(len, lines))
    except OSError as exc:
        raise SessionError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    if torn_at is not None:
        warnings.append(_torn(path, torn_at))
        if repair:
            _truncate(path, torn_at)
        return LoadResult(events, warnings, end=torn_at)
    end, unterminated = offset, False
    if tail.strip():
        try:
            event = _event(tail)
        except ValueError:
            warnings.append(_torn(path, tail_start))
            if repair:
                _truncate(path, tail_start)
        else:
            # A complete event missing only its newline: keep it, add the newline.
            _check(event, path, tail_number, unknown)
            events.append(event)
            unterminated = True
            if repair:
                with open(path, "ab") as handle:
                    handle.write(b"\n")
    for kind, count in unknown.items():
        warnings.append(
            f"{path}: {count} event(s) of type {kind!r} from a newer sftscope were kept and skipped"
        )
    return LoadResult(events, warnings, end=end, unterminated=unterminated)


def read_lines(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The complete lines appended to `path` from byte `offset` on (a follower's poll of a log
    another process writes), checked like `read_events`, and the offset after them. A line
    still being written (no newline yet) is left for the next call; a complete line that
    does not parse is an error naming its line."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    except OSError as exc:
        raise SessionError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    cut = data.rfind(b"\n") + 1
    out: list[dict[str, Any]] = []
    unknown: dict[str, int] = {}
    start = offset
    for raw in data[:cut].splitlines(keepends=True):
        if raw.strip():
            number = _line_at(path, start)
            try:
                event = _event(raw[:-1])
            except ValueError as exc:
                raise SessionError(f"{path}:{number}: corrupt event line ({exc})") from None
            _check(event, path, number, unknown)
            out.append(event)
        start += len(raw)
    return out, offset + cut


def _line_at(path: Path, offset: int) -> int:
    """The number of the line starting at byte `offset` (counted only when a line is read
    by a follower, and cheaply: newlines counted a megabyte at a time)."""
    count, left = 1, offset
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        while left > 0 and (chunk := handle.read(min(left, _CHUNK))):
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


_CHUNK = 1 << 20  # bytes of lines parsed at a time


def _orjson_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Build many objects (the events of a log, the rows of an export) without the cyclic
    collector walking all of them again and again as they pile up: a third of the time of
    reading a 112,000-event log. They hold no cycles, so nothing waits to be freed.

    Afterwards what was built goes straight to the oldest generation (freeze, then
    unfreeze: two list splices), where a young collection would otherwise walk all of
    it once more only to find it alive: 0.1 s of an export. Skipped when something else
    froze objects (a server before fork), which unfreeze would thaw."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


# orjson reads an integer past 64 bits as a float; json keeps it exact. Such a number has
# at least 19 digits: a line with a run of 19 digits goes through json. (translate maps
# every digit to "0" and every other byte to " ": 4x faster than a regular expression.)
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def _event(raw: bytes) -> dict[str, Any]:
    """One line read by the json module: what orjson refused (or found not to be an event)."""
    event = json.loads(raw)
    if not isinstance(event, dict) or "type" not in event:
        raise ValueError("not an event object")
    return event


def _check(
    event: dict[str, Any], path: Path, number: int, unknown: dict[str, int], *, finite: bool = False
) -> None:
    """Refuse a malformed event with its file and line. `finite`: the line is known to hold
    no NaN or infinity (orjson refuses them), so its numbers need no walk."""
    if not finite:
        bad = _non_finite(event)
        if bad is not None:
            kind = event.get("type")
            raise SessionError(f"{path}:{number}: a non-finite number ({bad}) in a {kind!r} event")
    kind = str(event["type"])
    if kind not in KNOWN:
        unknown[kind] = unknown.get(kind, 0) + 1
        return
    wrong = problem(event)
    if wrong is not None:
        raise SessionError(f"{path}:{number}: {wrong}")


def _non_finite(value: Any) -> str | None:
    """The first NaN or infinity in a parsed value (the json module reads NaN, Infinity and
    1e400): no count, mean or interval can be made from one, and no strict JSON holds it."""
    stack = [value]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                return repr(value)
        elif kind is dict:
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
    return None


def finite_json(value: Any) -> Any:
    """`value` with every NaN and infinity replaced by None (JSON's null): what is written
    (the log, exports) is strict JSON, which has no such numbers. Only called when
    json.dumps(allow_nan=False) refused the value."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict or isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def check_labels(
    header: dict[str, Any], events: list[dict[str, Any]], path: Path, *, items: Iterable[str] = ()
) -> None:
    """Refuse a run session's log whose labels its own rubric (session.toml) does not
    accept: a value off its criterion's scale (99 on 1-5, "maybe" on yes/no), a criterion
    the rubric does not have, or a label on an item the log never registered. Such a
    label was never given through sftscope; counting it, or dropping it quietly, would
    both misreport. A comparison's votes are checked per line (events.problem).
    `items`: ids registered elsewhere (a rater's file, sessions/core/raters.py, holds labels
    on the items of events.jsonl). An adjudicated label is checked like a score."""
    if header.get("kind") == "comparison":
        return
    from sftscope.scorers.rubric import Rubric, RubricError, load_rubric

    try:
        rubric = Rubric.from_dict(header["rubric"]) if header.get("rubric") else load_rubric(None)
    except (RubricError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise SessionError(f"{path.parent / HEADER}: rubric: {exc}") from None
    criteria = {c.name: c for c in rubric.criteria}
    accepts = {c.name: _acceptor(c) for c in rubric.criteria}
    known: set[str] = set(items)
    # The records, not typed events: this runs on every line of a log opened (112,000 in a
    # 16,000-item session: kept lean), the kinds named by their class.
    labels, added, skip, score, probe = LABELS, ItemAdded.TYPE, Skipped.TYPE, Scored.TYPE, Probed.TYPE
    decided = Adjudicated.TYPE
    labels |= {decided}
    for index, event in enumerate(events):
        kind = event["type"]
        if type(kind) is not str or kind not in labels:  # (a newer sftscope's type may be anything)
            if kind == added:
                known.add(str(event["item"]))
            continue
        item = event["item"]
        if (item if type(item) is str else str(item)) not in known:
            if kind == skip and event.get("by") != "human":
                continue
            wrong = f"a {kind} on item {item!r}, which this session does not have"
        elif kind in (score, probe, decided):
            name = event["criterion"]
            accept = accepts.get(name)
            if accept is None:
                wrong = f"a {kind} for criterion {name!r}, which the session's rubric does not have"
            else:
                value = event["value"]
                earlier = None if kind == decided else event.get("previous" if kind == score else "original")
                if accept(value) and (earlier is None or accept(earlier)):
                    continue
                bad = value if not accept(value) else earlier
                wrong = f"a {kind} of {bad!r} for {name!r}, outside its {_scale(criteria[name])}"
        else:
            continue
        raise SessionError(f"{path}:{_line_of(path, index)}: {wrong}")


def _acceptor(criterion: Any) -> Any:
    """Criterion.accepts, as a set lookup for a scale or yes/no (the exact type first:
    True == 1 to a set)."""
    if criterion.kind == "likert":
        points = frozenset(range(criterion.min, criterion.max + 1))
        return lambda value: type(value) is int and value in points
    if criterion.kind == "binary":
        return lambda value: type(value) is bool
    return criterion.accepts


def _scale(criterion: Any) -> str:
    if criterion.kind == "likert":
        return f"scale {criterion.min}-{criterion.max}"
    if criterion.kind == "binary":
        return "yes/no (true or false)"
    if criterion.kind == "tags":
        return f"tags ({', '.join(criterion.tags)})"
    return "text"


def _line_of(path: Path, index: int) -> int:
    """The line of the `index`-th event read from `path` (blank lines are skipped when
    reading): looked up only to name a line in an error."""
    seen = -1
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                seen += 1
                if seen == index:
                    return number
    return index + 1


def check_log(header: dict[str, Any], events: list[dict[str, Any]], directory: Path) -> None:
    """Refuse a log that is missing or shorter than its header says (a deleted or
    damaged events.jsonl), rather than treating the session as empty or complete."""
    expected = (header.get("prompts") or {}).get("count")
    if not isinstance(expected, int) or expected <= 0:
        return
    have = sum(1 for event in events if event.get("type") == ItemAdded.TYPE)
    if have >= expected:
        return
    path = Path(directory) / EVENTS
    what = "is missing" if not path.exists() else f"holds {have} of the {expected} items its header lists"
    raise SessionError(
        f"{path} {what}; the session cannot be used as it is "
        "(restore the file, or move the directory aside and start a new --session)"
    )


def _version(header: dict[str, Any]) -> int:
    version = header.get("format_version")
    return version if isinstance(version, int) else FORMAT_VERSION


def _torn(path: Path, offset: int) -> str:
    return f"{path}: dropped a torn final line at byte {offset} (an interrupted write)"


def _truncate(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(offset)
        handle.flush()
        os.fsync(handle.fileno())


# A header without these was not written by sftscope or was cut short. A comparison
# (`kind = "comparison"`) names its source sessions instead of an engine.
REQUIRED_HEADER = ("format_version", "engine", "prompts")
REQUIRED_COMPARISON = ("format_version", "kind", "sources", "prompts")


def required_keys(header: dict[str, Any]) -> tuple[str, ...]:
    return REQUIRED_COMPARISON if header.get("kind") == "comparison" else REQUIRED_HEADER


def read_header(directory: Path) -> dict[str, Any]:
    path = directory / HEADER
    try:
        with open(path, "rb") as handle:
            header = tomllib.load(handle)
    except FileNotFoundError:
        raise SessionError(f"{path}: not a session (no {HEADER})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SessionError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise SessionError(f"{path}: not valid UTF-8") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    missing = [key for key in required_keys(header) if key not in header]
    if missing:
        raise SessionError(
            f"{path}: incomplete header (no {', '.join(missing)}); it was not written by sftscope "
            "or was cut short: start a new --session"
        )
    if header.get("kind") == "comparison":
        if not isinstance(header.get("sources"), list) or not isinstance(header.get("prompts"), dict):
            raise SessionError(f"{path}: malformed header (sources must be a list, prompts a table)")
    elif not isinstance(header.get("engine"), dict) or not isinstance(header.get("prompts"), dict):
        raise SessionError(f"{path}: malformed header (engine and prompts must be tables)")
    return header


def write_toml_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write TOML so that a crash leaves either the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            tomli_w.dump(_toml_safe(data), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SessionWriteError(f"{path}: not saved ({describe_os_error(exc)})", exc.errno) from None
    _fsync_dir(path.parent)


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop None values rather than inventing a stand-in."""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_safe(v) for v in value if v is not None]
    return value


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SessionLock:
    """An exclusive `flock` on session.lock, with pid and host written for the message.
    `path` and `busy` serve other locks of a session (a rater's, sessions/core/raters.py):
    `busy` is the refusal, said before the holder."""

    def __init__(self, directory: Path, *, path: Path | None = None, busy: str | None = None) -> None:
        self.path = path or directory / LOCK
        self.busy = busy or f"{directory}: session is in use by another sftscope"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            try:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
            who = f" ({holder})" if holder else ""
            raise SessionError(f"{self.busy}{who}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def append_line(fd: int, size: int, event: dict[str, Any], *, fsync: bool) -> tuple[dict[str, Any], int]:
    """Append one event (stamped with `v` and `ts`) as one line to the log open on `fd`, of
    `size` bytes so far; fsync it when asked. Returns the event as written and its bytes.

    The one write path of every log (events.jsonl, a rater's file): on a failed write the
    partial line is cut off again and SessionWriteError says why."""
    event = {"v": FORMAT_VERSION, "ts": round(time.time(), 3), **event}
    try:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or infinity (a judge's reply, a metric): never written, null
        event = finite_json(event)
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    data = (text + "\n").encode("utf-8")
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)  # no torn line left behind
        raise SessionWriteError(f"not saved: {describe_os_error(exc)}", exc.errno) from None
    return event, len(data)


def lock_holder(directory: Path) -> str | None:
    """Who holds the session's writer lock ("pid N on HOST"), None when no process does:
    a console that only labels asks, to follow a session another sftscope generates."""
    try:
        fd = os.open(Path(directory) / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 200).decode("utf-8", "replace").strip() or "another sftscope"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class SessionStore:
    """The single writer of a session directory. Only the Session holds one.

    Appends go straight to the file descriptor (no userspace buffer), so a
    failed write (ENOSPC, EROFS, EIO) is known at once; the partial line is cut
    off again and `SessionWriteError` raised, and the event is not kept. With
    `read_only`, a session is opened without a lock or a write handle (replay
    and export of a session on a read-only disk); every write is refused.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.events_path = self.directory / EVENTS
        self.header_path = self.directory / HEADER
        self._lock = SessionLock(self.directory)
        self._fd: int | None = None
        self._size = 0
        self._last_fsync = 0.0
        self._dirty = False
        self.read_only = False
        # A follower (`open(follow=True)`): read-only, reading on (`poll`) what the writer appends.
        self.following = False
        self._offset = 0
        self.header: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    @property
    def is_open(self) -> bool:
        return self._fd is not None or self.read_only

    @property
    def exists(self) -> bool:
        return self.header_path.exists()

    def open(
        self,
        header: dict[str, Any] | None = None,
        *,
        create: bool = False,
        read_only: bool = False,
        follow: bool = False,
    ) -> None:
        """Lock the directory, load what is there, and open the log for appending.

        `header` is written when the session is new; an existing header is kept.
        With `create`, a new session may start with no header yet (the caller
        writes it with `update_header` once the engine has loaded). With
        `read_only`, nothing is locked or written. With `follow` (read-only too), the log
        another process is writing is read on by `poll`: a line it is still writing is
        neither dropped nor warned about, only left for the next poll.
        """
        if self.directory.exists() and not self.directory.is_dir():
            raise SessionError(f"{self.directory}: not a directory")
        if read_only or follow:
            self.header = read_header(self.directory)
            self._check_version()
            loaded = read_events(self.events_path)
            if follow:
                if loaded.unterminated:  # the writer's line in progress: read when complete
                    loaded.events.pop()
                loaded.warnings = [w for w in loaded.warnings if "torn final line" not in w]
            check_log(self.header, loaded.events, self.directory)
            check_labels(self.header, loaded.events, self.events_path)
            self.events, self.warnings = loaded.events, loaded.warnings
            self.read_only, self.following, self._offset = True, follow, loaded.end
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as exc:
            raise SessionError(
                f"{self.directory}: cannot write to this session ({describe_os_error(exc)})"
            ) from None
        try:
            existing = self.header_path.exists()
            if existing:
                self.header = read_header(self.directory)
                self._check_version()
            elif header is not None:
                self.header = {**header, "format_version": FORMAT_VERSION}
                write_toml_atomic(self.header_path, self.header)
            elif not create:
                raise SessionError(f"{self.directory}: not a session (no {HEADER})")
            loaded = read_events(self.events_path, repair=True)
            if existing:
                check_log(self.header, loaded.events, self.directory)  # before creating a log
                check_labels(self.header, loaded.events, self.events_path)
            self.events = loaded.events
            self.warnings = loaded.warnings
            self._fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            self._lock.release()
            raise SessionError(
                f"{self.directory}: cannot write to this session ({describe_os_error(exc)})"
            ) from None
        except BaseException:
            self._lock.release()
            raise

    def _check_version(self) -> None:
        version = self.header.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SessionError(
                f"{self.header_path}: format version {version} is newer than this "
                f"sftscope understands ({FORMAT_VERSION}); upgrade sftscope"
            )

    @property
    def has_header(self) -> bool:
        """Whether a complete header was written (a session whose model never loaded has none)."""
        return all(key in self.header for key in required_keys(self.header))

    def update_header(self, **changes: Any) -> None:
        if self.read_only:
            raise SessionWriteError(f"{self.header_path}: not saved (the session is open read-only)")
        merged = {**self.header, **changes}
        if "rater" not in merged:  # claimed by a rater's console meanwhile (sessions/core/raters.py)
            with contextlib.suppress(SessionError):
                if (claimed := read_header(self.directory).get("rater")) is not None:
                    merged["rater"] = claimed
        # What this sftscope appends is format FORMAT_VERSION: a format-1 session it
        # resumed says so, and an older sftscope refuses it rather than misread it.
        merged["format_version"] = max(_version(merged), FORMAT_VERSION)
        write_toml_atomic(self.header_path, merged)  # raises before anything changes
        self.header = merged

    def append(self, event: dict[str, Any], *, durable: bool = False) -> dict[str, Any]:
        """Append one event. `durable` (human actions) fsyncs before returning.

        On a failed write nothing is kept (the partial line is cut off) and
        SessionWriteError says why; a later append may succeed once space frees.
        """
        if self.read_only:
            raise SessionWriteError(f"{self.directory}: not saved (the session is open read-only)")
        if self._fd is None:
            raise SessionError(f"{self.directory}: session is not open for writing")
        now = time.monotonic()
        fsync = durable or now - self._last_fsync >= FSYNC_INTERVAL
        event, size = append_line(self._fd, self._size, event, fsync=fsync)
        self._dirty = not fsync
        if fsync:
            self._last_fsync = now
        self._size += size
        self.events.append(event)
        return event

    def poll(self) -> list[dict[str, Any]]:
        """The events another process appended since the last call (a follower only: a
        console that labels while another sftscope generates, `open(follow=True)`), added
        to `events` and returned; nothing for a store that is not following."""
        if not self.following:
            return []
        new, self._offset = read_lines(self.events_path, self._offset)
        self.events.extend(new)
        return new

    def sync(self) -> None:
        if self._fd is not None and self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise SessionWriteError(f"not saved: {describe_os_error(exc)}", exc.errno) from None
            self._dirty = False
            self._last_fsync = time.monotonic()

    def close(self, status: str | None = None) -> list[str]:
        """Sync, write the status into the header, unlock. Never raises for a write that
        fails now (disk full at exit): what failed is returned as lines to show."""
        problems: list[str] = []
        if self.read_only:
            self.read_only = self.following = False
            return problems
        if self._fd is None:
            return problems
        try:
            try:
                self.sync()
            except SessionWriteError as exc:
                problems.append(f"{self.events_path}: {exc}")
            os.close(self._fd)
            self._fd = None
            # A header is written completely or not at all: a session whose model never
            # loaded has none, and gets no half header holding only a status.
            if status is not None and self.has_header:
                try:
                    self.update_header(status=status, updated=_now_iso())
                except SessionWriteError as exc:
                    problems.append(str(exc))
        finally:
            self._lock.release()
        return problems

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load_session(directory: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Read a session without locking it (export, replay, reports)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SessionError(f"{directory}: no such session directory")
    header = read_header(directory)
    loaded = read_events(directory / EVENTS)
    check_log(header, loaded.events, directory)
    check_labels(header, loaded.events, directory / EVENTS)
    return header, loaded.events, loaded.warnings
