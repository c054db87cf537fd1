"""Helpers for console tests: build an app on a real session with a chosen engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sftscope.sessions.run.config import RunConfig
from sftscope.sessions.run.launch import open_run
from sftscope.tui.console.app import SftscopeApp


def make_app(
    session: Path,
    *,
    engine: Any = None,
    prompts: Path | None = None,
    rubric: Path | None = None,
    ahead: int = 3,
    **overrides: Any,
) -> SftscopeApp:
    flags = {"session": str(session), "prompts": str(prompts) if prompts else None, **overrides}
    if not (session / "session.toml").exists():
        flags.setdefault("order", "file")  # walked in the prompt set's order (shuffled: test_audit_order)
    if rubric:
        flags["rubric"] = str(rubric)
    launch = open_run(RunConfig.build(flags=flags), engine=engine)
    return SftscopeApp(launch, ahead=ahead)


def with_judge(app: SftscopeApp, tmp_path: Path, engine: Any, name: str = "fj") -> SftscopeApp:
    """The app with one local judge, `name`, answering through `engine` (a FakeJudgeEngine),
    its cache in `tmp_path`: what a run with `--judge` sets up, without a model."""
    from sftscope.scorers.judge import Judge, JudgeCache, JudgeSpec
    from sftscope.scorers.rubric import DEFAULT_RUBRIC

    spec = JudgeSpec(engine="fake:judge", name=name)
    app.pool.judges = [Judge(spec, DEFAULT_RUBRIC, engine=engine, cache=JudgeCache(tmp_path / "cache.jsonl"))]
    return app


async def wait_until(pilot: Any, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll instead of sleeping a fixed time (oterm's helper)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)
    await pilot.pause()


def screen_text(app: Any) -> str:
    """The screen as plain text, row by row (what the operator reads)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True, legacy_windows=False
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def screen_lines(app: Any) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    return screen_text(app).splitlines()


async def settle(pilot: Any, app: Any, timeout: float = 30.0) -> None:
    """Wait until the answer on screen has been there long enough for keys to label it
    (typed-ahead keys are dropped: app.SETTLE)."""
    from sftscope.tui.base.app import SETTLE

    await wait_until(pilot, lambda: app.answer_since is not None, timeout)
    left = app.answer_since + SETTLE + 0.02 - time.monotonic()
    if left > 0:
        await pilot.pause(left)
