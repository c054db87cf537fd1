"""Snapshots of the console at 80x24 (the SSH default) and 120x40 (wide layout).

Generated with the fake engine, whose answers and timings are fixed, so the
pictures do not depend on the machine. Update with `pytest --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write_jsonl
from tests.console_helpers import make_app, wait_until
from tests.fake_engine import FakeEngine


def build(tmp_path: Path) -> Any:
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": "haiku", "category": "writing", "prompt": "Write a haiku about rain."},
            {"id": "math", "category": "reasoning", "prompt": "What is 6 times 7?"},
            {"id": "json", "category": "format", "prompt": "Give a JSON object with a name."},
        ],
    )
    return make_app(tmp_path / "session", engine=FakeEngine(), prompts=prompts, ahead=5)


async def ready(app: Any, pilot: Any) -> None:
    states = app.runner.state.items.values
    await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in states()))
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
