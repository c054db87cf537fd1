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

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

FORMAT_VERSION = 1
HEADER = "session.toml"
EVENTS = "events.jsonl"
LOCK = "session.lock"
# Non-human events are fsynced at most this often (they are flushed at once).
FSYNC_INTERVAL = 1.0


class SessionError(Exception):
    """A session cannot be opened or written: one clear line for the user."""


@dataclass
class LoadResult:
    events: list[dict[str, Any]]
    warnings: list[str]


def read_events(path: Path, *, repair: bool = False) -> LoadResult:
    """Read an event log, dropping a torn final line.

    With `repair`, the torn tail is also cut off the file so the next append
    starts on a clean line. A malformed line anywhere else raises SessionError
    naming the line number.
    """
    warnings: list[str] = []
    if not path.exists():
        return LoadResult([], warnings)
    data = path.read_bytes()
    events: list[dict[str, Any]] = []
    offset = 0
    lines = data.split(b"\n")
    # A file that ends with "\n" splits into a trailing empty element.
    complete = lines[:-1]
    tail = lines[-1]
    for number, raw in enumerate(complete, start=1):
        start = offset
        offset += len(raw) + 1
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError("not an event object")
        except ValueError as exc:
            if number == len(complete) and not tail:
                # The last complete line is unreadable: a torn write whose newline
                # made it to disk. Treat it like a torn tail.
                warnings.append(_torn(path, start))
                if repair:
                    _truncate(path, start)
                return LoadResult(events, warnings)
            raise SessionError(f"{path}:{number}: corrupt event line ({exc})") from None
        events.append(event)
    if tail.strip():
        try:
            event = json.loads(tail)
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError
            # A complete event missing only its newline: keep it, add the newline.
            events.append(event)
            if repair:
                with open(path, "ab") as handle:
                    handle.write(b"\n")
        except ValueError:
            warnings.append(_torn(path, offset))
            if repair:
                _truncate(path, offset)
    return LoadResult(events, warnings)


def _torn(path: Path, offset: int) -> str:
    return f"{path}: dropped a torn final line at byte {offset} (an interrupted write)"


def _truncate(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(offset)
        handle.flush()
        os.fsync(handle.fileno())


def read_header(directory: Path) -> dict[str, Any]:
    path = directory / HEADER
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SessionError(f"{path}: not a session (no {HEADER})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SessionError(f"{path}: {exc}") from None


def write_toml_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write TOML so that a crash leaves either the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        tomli_w.dump(_toml_safe(data), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
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
    """An exclusive `flock` on session.lock, with pid and host written for the message."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK
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
            raise SessionError(f"{self.path.parent}: session is in use by another sftscope{who}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


class SessionStore:
    """The single writer of a session directory. Only the runner holds one."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.events_path = self.directory / EVENTS
        self.header_path = self.directory / HEADER
        self._lock = SessionLock(self.directory)
        self._handle: Any = None
        self._last_fsync = 0.0
        self._dirty = False
        self.header: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    @property
    def exists(self) -> bool:
        return self.header_path.exists()

    def open(self, header: dict[str, Any] | None = None, *, create: bool = False) -> None:
        """Lock the directory, load what is there, and open the log for appending.

        `header` is written when the session is new; an existing header is kept.
        With `create`, a new session may start with no header yet (the caller
        writes it with `update_header` once the engine has loaded).
        """
        if self.directory.exists() and not self.directory.is_dir():
            raise SessionError(f"{self.directory}: not a directory")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SessionError(f"{self.directory}: cannot create session ({exc.strerror})") from None
        self._lock.acquire()
        try:
            if self.header_path.exists():
                self.header = read_header(self.directory)
                version = self.header.get("format_version", FORMAT_VERSION)
                if version > FORMAT_VERSION:
                    raise SessionError(
                        f"{self.header_path}: format version {version} is newer than this "
                        f"sftscope understands ({FORMAT_VERSION}); upgrade sftscope"
                    )
            elif header is not None:
                self.header = dict(header)
                self.header.setdefault("format_version", FORMAT_VERSION)
                write_toml_atomic(self.header_path, self.header)
            elif not create:
                raise SessionError(f"{self.directory}: not a session (no {HEADER})")
            loaded = read_events(self.events_path, repair=True)
            self.events = loaded.events
            self.warnings = loaded.warnings
            self._handle = open(self.events_path, "ab")  # noqa: SIM115 - held until close()
        except BaseException:
            self._lock.release()
            raise

    def update_header(self, **changes: Any) -> None:
        self.header.update(changes)
        write_toml_atomic(self.header_path, self.header)

    def append(self, event: dict[str, Any], *, durable: bool = False) -> dict[str, Any]:
        """Append one event. `durable` (human actions) fsyncs before returning."""
        if self._handle is None:
            raise SessionError(f"{self.directory}: session is not open for writing")
        event = {"v": FORMAT_VERSION, "ts": round(time.time(), 3), **event}
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()
        self._dirty = True
        now = time.monotonic()
        if durable or now - self._last_fsync >= FSYNC_INTERVAL:
            os.fsync(self._handle.fileno())
            self._last_fsync = now
            self._dirty = False
        self.events.append(event)
        return event

    def sync(self) -> None:
        if self._handle is not None and self._dirty:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._dirty = False
            self._last_fsync = time.monotonic()

    def close(self, status: str | None = None) -> None:
        if self._handle is None:
            return
        try:
            self.sync()
            self._handle.close()
            self._handle = None
            if status is not None:
                self.update_header(status=status, updated=_now_iso())
        finally:
            self._lock.release()

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
    return header, loaded.events, loaded.warnings
