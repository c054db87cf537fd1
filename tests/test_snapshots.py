"""Snapshots of the console at 60x20 (a tmux split), 80x24 (the SSH default) and 120x40
(wide layout), blind and with a judge's scores revealed.

Generated with the fake engine, whose answers and timings are fixed, so the
pictures do not depend on the machine. Update with `pytest --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write_jsonl
from tests.console_helpers import make_app, settle, wait_until, with_judge
from tests.fake_engine import FakeEngine


def build(tmp_path: Path, judge: bool = False) -> Any:
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "haiku", "category": "writing", "prompt": "Write a haiku about rain."},
            {"id": "math", "category": "reasoning", "prompt": "What is 6 times 7?"},
            {"id": "json", "category": "format", "prompt": "Give a JSON object with a name."},
        ],
    )
    app = make_app(tmp_path / "session", engine=FakeEngine(), prompts=prompts, ahead=5)
    if judge:
        from tests.fake_engine import FakeJudgeEngine

        with_judge(app, tmp_path, FakeJudgeEngine())
    return app


async def ready(app: Any, pilot: Any) -> None:
    states = app.session.state.items.values
    await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in states()))
    if app.pool.judges:
        await wait_until(pilot, lambda: all(s.judges for s in states()))
    await settle(pilot, app)  # keys typed ahead of an answer label nothing
    await pilot.press("4", "y")  # helpfulness 4, then instruction_following is not binary: bell
    await pilot.press("3")
    await pilot.pause(0.2)


def test_console_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: ready(app, pilot))


def test_console_120x40(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=lambda pilot: ready(app, pilot))


def test_help_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path)

    async def before(pilot: Any) -> None:
        await ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_console_60x20(snap_compare: Any, tmp_path: Path) -> None:
    """A tmux split of a 120-column window: every criterion on one line, q quit in the footer."""
    app = build(tmp_path)
    assert snap_compare(app, terminal_size=(60, 20), run_before=lambda pilot: ready(app, pilot))


async def revealed(app: Any, pilot: Any) -> None:
    await ready(app, pilot)
    await pilot.press("y", "v")  # harmless yes, then reveal the judge before format
    await pilot.pause(0.2)


def test_judge_revealed_60x20(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path, judge=True)
    assert snap_compare(app, terminal_size=(60, 20), run_before=lambda pilot: revealed(app, pilot))


def test_judge_revealed_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path, judge=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: revealed(app, pilot))


def test_help_60x20(snap_compare: Any, tmp_path: Path) -> None:
    app = build(tmp_path)

    async def before(pilot: Any) -> None:
        await ready(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(60, 20), run_before=before)
