"""The consoles' common parts (issue 15): a replay is a source the run console plays like a
live Generator (a Playback of the Session's own fold), the background recompute both
consoles use, and the words both use for how an answer ended."""

from __future__ import annotations

import asyncio
import re
import time
from functools import partial
from pathlib import Path

from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.core import progress
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.run.launch import open_replay
from sftscope.sessions.run.replay import Playback
from sftscope.tui.base.app import ConsoleApp, Recompute
from sftscope.tui.compare.view import ending_text
from sftscope.tui.render.answer_text import finish_note

from tests.console_helpers import make_app, wait_until
from tests.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[1]


def two_turn_session(directory: Path, seconds: float = 0.1) -> None:
    """A finished session: item `a` answered in two turns, item `b` in one."""
    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "stopped",
            "engine": {"requested": "fake", "spec": "fake:", "model": "m"},
            "params": {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": 0},
            "prompts": {"path": "test", "sha256": "0", "count": 2},
            "rubric": DEFAULT_RUBRIC.to_dict(),
        }
    )
    for index, (item_id, answers) in enumerate((("a", ["first answer", "second answer"]), ("b", ["only"]))):
        item = Item(id=item_id, turns=[f"question {n}?" for n in range(len(answers))], line=index + 1)
        store.append({"type": "item", "item": item_id, "index": index, "data": item.to_dict()})
        for turn, text in enumerate(answers):
            store.append(
                {"type": "generation", "item": item_id, "turn": turn, "text": text, "tokens": 3,
                 "ttft": 0.0, "seconds": seconds, "finish_reason": "stop"}
            )  # fmt: skip
    store.close()


async def test_a_replay_plays_the_sessions_fold_as_a_generator_would_and_writes_nothing(
    tmp_path: Path,
) -> None:
    two_turn_session(tmp_path / "s")
    log = (tmp_path / "s" / "events.jsonl").read_bytes()
    launch = open_replay(tmp_path / "s", 0.0)
    try:
        playback = launch.source
        assert isinstance(playback, Playback) and launch.playback is playback
        assert not launch.regenerates and launch.badge == "replay" and launch.probe_rate == 0.0
        seen: list[progress.Progress] = []
        launch.session.subscribe_progress(seen.append)
        playback.focus("a", 3)
        assert "a" in playback.live and playback.live["a"].turn == 0  # streaming from now on
        deadline = time.monotonic() + 5
        while not any(isinstance(m, progress.Replayed) for m in seen):
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.01)
        texts = [(m.turn, m.text) for m in seen if isinstance(m, progress.Text)]
        assert "".join(t for turn, t in texts if turn == 0) == "first answer"
        assert "".join(t for turn, t in texts if turn == 1) == "second answer"
        assert progress.Started("a", 1) in seen and seen[-1] == progress.Replayed("a")
        assert not playback.live
    finally:
        launch.stop()
        launch.store.close()
    assert (tmp_path / "s" / "events.jsonl").read_bytes() == log  # display only


async def test_moving_on_stops_the_item_playing_and_shows_it_as_recorded(tmp_path: Path) -> None:
    two_turn_session(tmp_path / "s", seconds=30.0)  # 30 s an answer at speed 1: still playing
    launch = open_replay(tmp_path / "s", 1.0)
    try:
        playback = launch.source
        seen: list[progress.Progress] = []
        launch.session.subscribe_progress(seen.append)
        playback.focus("a", 3)
        await asyncio.sleep(0.05)
        playback.focus("b", 3)
        assert progress.Replayed("a") in seen and "a" not in playback.live and "b" in playback.live
    finally:
        launch.stop()
        launch.store.close()
    assert not playback.live


def test_a_live_run_plays_its_generator(tmp_path: Path) -> None:
    from tests.conftest import prompts_file

    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path))
    try:
        assert app.source is app.launch.generator and app.launch.playback is None
        assert app.launch.regenerates and app.launch.badge == ""
    finally:
        app.launch.store.close()


def test_the_run_console_never_asks_what_it_plays() -> None:
    """The console plays `launch.source`: no replay flag, no replay source driven by hand."""
    for path in (ROOT / "tui" / "console").glob("*.py"):
        code = path.read_text(encoding="utf-8")
        found = re.findall(r"replay_speed|ReplaySource|Playback|isinstance\([^)]*source", code)
        assert not found, (path.name, found)


class Bare(ConsoleApp):
    """A console with nothing on screen, to drive a Recompute."""

    def set_status(self) -> None:
        pass

    async def shutdown(self, status: str | None = None) -> None:
        self._session_closed = True

    def close_now(self, status: str) -> None:
        self._session_closed = True


async def test_a_recompute_runs_one_at_a_time_and_ends_on_the_latest_inputs() -> None:
    app = Bare()
    inputs = [0]
    started: list[int] = []
    applied: list[int | None] = []

    def work(value: int) -> None:
        started.append(value)
        time.sleep(0.05)
        job.deliver(value * 10)

    job: Recompute[int] = Recompute(
        app, "test figures", lambda: partial(work, inputs[0]), applied.append, rate=1000.0, burst=1000
    )

    def apply(result: int | None) -> None:
        applied.append(result)
        job.request()  # what came in meanwhile

    job.apply = apply
    async with app.run_test() as pilot:
        for value in range(1, 21):  # twenty changes while the first computation runs
            inputs[0] = value
            job.mark()
            job.request()
            await pilot.pause(0.005)
        await wait_until(pilot, lambda: not job.running and not job.stale and applied[-1:] == [200])
        assert len(started) < 20, started  # not one computation per change
        assert started == sorted(started) and started[-1] == 20
        await pilot.press("ctrl+c")


def test_both_consoles_word_how_an_answer_ended_the_same() -> None:
    for reason, tokens in (("length", 64), ("length", None), ("cancelled", 5), ("content_filter", 1)):
        assert ending_text((reason, tokens)) == finish_note({"finish_reason": reason, "tokens": tokens})
    assert finish_note({"finish_reason": "length"}) == "cut at the token limit"
    assert ending_text(("stop", 3)) is None and finish_note({"finish_reason": "stop"}) is None


def test_both_help_screens_are_the_one_keys_screen() -> None:
    from sftscope.tui.base.help import KeysScreen
    from sftscope.tui.compare.app import CompareHelpScreen
    from sftscope.tui.console.screens import HelpScreen

    assert issubclass(HelpScreen, KeysScreen) and issubclass(CompareHelpScreen, KeysScreen)
    assert HelpScreen(DEFAULT_RUBRIC).rows and CompareHelpScreen().rows
