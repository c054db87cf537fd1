"""Progress: what happens during a run that is shown but never written.

A separate, typed, in-memory channel beside the Session's persisted events, so
a piece of streaming text can never be mistaken for the record, and a display
knows exactly which messages it may get.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Started:
    """The engine was asked for this turn."""

    item: str
    turn: int


@dataclass(frozen=True)
class Text:
    """New text of the answer streaming for this turn (`tokens` of it)."""

    item: str
    turn: int
    text: str
    tokens: int


@dataclass(frozen=True)
class Restart:
    """The engine asks again from the start (a cut stream): what was shown is void."""

    item: str
    turn: int


@dataclass(frozen=True)
class Replayed:
    """A saved answer played again (a Playback) has ended; nothing was written: a display
    shows the item as recorded."""

    item: str


@dataclass(frozen=True)
class WriteFailed:
    """The log refused a write (disk full, read-only): generation pauses."""

    error: str


@dataclass(frozen=True)
class WriteOk:
    """Writes succeed again: what waited is on disk, generation goes on."""


Progress = Started | Text | Restart | Replayed | WriteFailed | WriteOk


@dataclass
class LiveAnswer:
    """The answer streaming now for one item: the Generator keeps it, a display reads it
    (no display keeps a mirror of the generator's state)."""

    turn: int
    started: float
    first: float | None = None  # monotonic time of the first text
    tokens: int = 0
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)
