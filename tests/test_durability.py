""""saved ✓" on screen means fsynced: checked at every frame the console paints.

`kill -9` cannot catch a label that was written but never fsynced (the page cache
outlives the process), so these tests watch the two ends directly:
- every `os.fsync` of the session's events.jsonl is recorded with the file's size
  at that moment (what the fsync made durable);
- every frame the real app paints under Pilot is read as text, and whenever it
  shows "saved ✓", every human action already in events.jsonl (score, undo,
  flag, comment) must lie within the last fsynced size.

Two negative tests prove the checker can fail: one where the events file is never
fsynced, one where it is fsynced only in background batches (at most once a
second, as non-human events are), both simulated at `os.fsync` so they do not
depend on how the store is written.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import prompts_file
from tests.console_helpers import make_app
from tests.fake_engine import FakeEngine

SAVED = "saved ✓"
SETTLE = 0.2  # past the console's 150 ms: keys typed ahead of an answer are not labels
HUMAN = {"score", "undo", "flag", "comment"}


@dataclass
class Check:
    """One painted frame that showed "saved ✓"."""

    human_lines: int  # human actions in events.jsonl when the frame was painted
    human_end: int  # byte offset just past the last of them
    synced: int  # bytes of events.jsonl covered by the last fsync


class DurabilityProbe:
    """Records what fsync made durable and checks it against what the screen shows."""

    def __init__(self, events_path: Path) -> None:
        self.path = events_path
        self.real_fsync = os.fsync
        self.synced = 0
        self.fsyncs = 0
        self.mode = "real"  # "drop": never fsync events.jsonl; "batch": at most once a second
        self._last_batch = 0.0
        self.checks: list[Check] = []
        self.frames = 0
        self.last_screen = ""

    # --- the disk -----------------------------------------------------------------
    def _is_events(self, fd: int) -> bool:
        try:
            mine = os.stat(self.path)
            theirs = os.fstat(fd)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

    def fsync(self, fd: int) -> None:
        if not self._is_events(fd):
            self.real_fsync(fd)
            return
        if self.mode == "drop":
            return  # the bug under test: a label that never reaches the disk
        if self.mode == "batch":
            now = time.monotonic()
            if now - self._last_batch < 1.0:
                return  # the bug under test: labels synced only with the background batch
            self._last_batch = now
        size = os.fstat(fd).st_size  # everything written before this call is made durable
        self.real_fsync(fd)
        self.synced = max(self.synced, size)
        self.fsyncs += 1

    def human_actions(self) -> tuple[int, int]:
        """(how many human actions are in the file, the byte offset just past the last)."""
        count = end = offset = 0
        data = self.path.read_bytes() if self.path.exists() else b""
        for raw in data.split(b"\n")[:-1]:  # a line without its newline is not written yet
            offset += len(raw) + 1
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("type") in HUMAN:
                count += 1
                end = offset
        return count, end

    # --- the screen ---------------------------------------------------------------
    def watch(self, app: Any) -> None:
        """Check every frame the app paints (Pilot runs headless: the frame is built,
        then dropped instead of written to a terminal)."""
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None and screen is app.screen:
                self.frame(screen_text(screen))

        app._display = display

    def frame(self, text: str) -> None:
        self.frames += 1
        self.last_screen = text
        if SAVED in text:
            count, end = self.human_actions()
            self.checks.append(Check(count, end, self.synced))

    def shown_saved_with(self, human_lines: int) -> bool:
        """Whether a frame showing "saved ✓" was painted once `human_lines` were in the file."""
        return any(c.human_lines >= human_lines for c in self.checks)

    def assert_saved_means_synced(self) -> None:
        late = [c for c in self.checks if c.synced < c.human_end]
        assert not late, (
            f"{len(late)} of {len(self.checks)} frames showed {SAVED!r} while a label was not fsynced: "
            f"first at {late[0].human_lines} labels, {late[0].human_end} bytes needed, "
            f"{late[0].synced} fsynced"
        )


def screen_text(screen: Any) -> str:
    return "\n".join(strip.text for strip in screen._compositor.render_strips())


async def wait_screen(pilot: Any, probe: DurabilityProbe, predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate(probe.last_screen):
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen never matched; last frame:\n{probe.last_screen}")
        await pilot.pause(0.02)


async def label(pilot: Any, probe: DurabilityProbe, key: str, expected_lines: int) -> None:
    """Press a labelling key and wait for the frame that shows it saved."""
    await pilot.press(key)
    deadline = time.monotonic() + 10
    while not probe.shown_saved_with(expected_lines):
        if time.monotonic() > deadline:
            count, _ = probe.human_actions()
            raise AssertionError(
                f"{key!r}: no frame showed {SAVED!r} with {expected_lines} labels in the file "
                f"({count} there); last frame:\n{probe.last_screen}"
            )
        await pilot.pause(0.01)


def idle(text: str) -> bool:
    """The console is up and nothing is generating (nothing but labels is appended now)."""
    return "scored" in text and "generating" not in text and "▶" in text


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DurabilityProbe:
    probe = DurabilityProbe(tmp_path / "s" / "events.jsonl")
    monkeypatch.setattr(os, "fsync", probe.fsync)
    return probe


async def test_saved_is_shown_only_once_the_label_is_fsynced(tmp_path: Path, probe: DurabilityProbe) -> None:
    # Answers stream (about 1.5 s each) while the operator labels: generation events are
    # appended and batch-fsynced around the labels.
    app = make_app(tmp_path / "s", engine=FakeEngine(delay=0.025, pieces=60), prompts=prompts_file(tmp_path))
    probe.watch(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, probe, lambda text: "streaming" in text and "▶" in text)
        await pilot.pause(SETTLE)  # a key earlier than this after the answer appears is not a label
        lines = 0
        # While q1 streams: two likert scores, a yes, a flag (each shows "saved ✓").
        for key in ("4", "3", "y", "f"):
            lines += 1
            await label(pilot, probe, key, lines)
        assert "streaming" in probe.last_screen or "generating" in probe.last_screen
        # Revisions once generation is over (format stays open: no auto-advance).
        await wait_screen(pilot, probe, idle)
        for key in ("tab", "5", "shift+tab", "n"):
            if key in ("tab", "shift+tab"):
                await pilot.press(key)
            else:
                lines += 1
                await label(pilot, probe, key, lines)
        await pilot.press("q")
    assert probe.fsyncs > 0
    assert len(probe.checks) >= lines
    probe.assert_saved_means_synced()
    count, _ = probe.human_actions()
    assert count == lines


@pytest.mark.parametrize("mode", ["drop", "batch"])
async def test_the_check_catches_a_label_shown_saved_before_fsync(
    tmp_path: Path, probe: DurabilityProbe, mode: str
) -> None:
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path))
    probe.watch(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, probe, idle)
        await pilot.pause(SETTLE)
        probe.mode = mode  # from here on, events.jsonl is not fsynced with each label
        for lines, key in enumerate(("4", "3", "y", "f", "f"), start=1):
            await label(pilot, probe, key, lines)
        await pilot.press("q")
    with pytest.raises(AssertionError, match="while a label was not fsynced"):
        probe.assert_saved_means_synced()
