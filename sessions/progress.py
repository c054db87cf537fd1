"""Progress: what happens during a run that is shown but never written.

A separate, typed, in-memory channel beside the Session's persisted events, so
a piece of streaming text can never be mistaken for the record, and a display
knows exactly which messages it may get.
"""

from __future__ import annotations

from dataclasses import dataclass


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
class WriteFailed:
    """The log refused a write (disk full, read-only): generation pauses."""

    error: str


@dataclass(frozen=True)
class WriteOk:
    """Writes succeed again: what waited is on disk, generation goes on."""


Progress = Started | Text | Restart | WriteFailed | WriteOk
