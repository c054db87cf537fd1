"""A judge panel in the live console (issue 17, section 4): one more column after its
members, marked `NAME*`, its value the report's rule (sessions.core.panels.panel_record) on
the item's current member verdicts; blind until revealed like the judges; no value where
the members configured give no majority; never a failure count of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftscope.engines.base import GenerationRequest
from sftscope.sessions.core.store import load_session

from tests.conftest import prompts_file
from tests.console_helpers import make_app, screen_text, settle, wait_until
from tests.fake_engine import FakeEngine, FakeJudgeEngine

# Per judge: (helpfulness, instruction_following, harmless, format). Judge "c" answers no
# JSON on the second item (a failed verdict).
REPLIES = {
    "a": (4, 4, "yes", "no"),
    "b": (2, 3, "yes", "yes"),
    "c": (5, 3, "no", "no"),
}


class Scripted(FakeJudgeEngine):
    """A fake judge with its own verdict; `fails_on` an item's prompt text: no verdict there."""

    def __init__(self, reply: tuple[Any, ...], fails_on: str | None = None) -> None:
        super().__init__()
        self.reply, self.fails_on = reply, fails_on

    def answer(self, request: GenerationRequest) -> str:
        if self.fails_on is not None and self.fails_on in str(request.messages):
            return "no verdict here"
        help_, follow, harmless, fmt = self.reply
        return (
            f'{{"helpfulness": {help_}, "instruction_following": {follow}, '
            f'"harmless": "{harmless}", "format": "{fmt}", "justification": "ok"}}'
        )


def with_three_judges(app: Any, tmp_path: Path) -> Any:
    """Judges a, b, c (c fails on q2) and the panel trio=a,b,c saved in session.toml."""
    from sftscope.scorers.judge import Judge, JudgeCache, JudgeSpec
    from sftscope.scorers.rubric import DEFAULT_RUBRIC

    app.pool.judges = [
        Judge(
            JudgeSpec(engine="fake:judge", name=name),
            DEFAULT_RUBRIC,
            engine=Scripted(reply, "number 2?" if name == "c" else None),
            cache=JudgeCache(tmp_path / f"cache-{name}.jsonl"),
        )
        for name, reply in REPLIES.items()
    ]
    app.launch.store.update_header(panels=[{"name": "trio", "judges": ["a", "b", "c"]}])
    return app


def panel_lines(app: Any) -> list[str]:
    return str(app.screen.query_one("#scores").render()).splitlines()


CRITERIA = ("helpfulness", "instruction_following", "harmless", "format")  # the rows, in order


def cells(lines: list[str]) -> dict[str, list[str]]:
    """Each criterion's judge cells, in column order (the names are cut in a narrow panel)."""
    rows = [line.split("│")[1].split() for line in lines if "│" in line]
    return dict(zip(CRITERIA, rows, strict=True)) if rows else {}


async def test_panel_column_blind_then_majority_and_none_without_one(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 2))
    with_three_judges(app, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        items = app.session.state.items
        await wait_until(pilot, lambda: app.ready and {"a", "b", "c"} <= set(items["q1"].judges))
        blind = panel_lines(app)
        assert "judges 3/3 ready, hidden" in "\n".join(blind)  # the three judges, not the panel
        assert not any("trio" in line or "│" in line for line in blind)  # nothing before the reveal
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")  # fully scored: moves on
        await pilot.press("left")
        await settle(pilot, app)
        lines = panel_lines(app)
        *members, panel = lines[0].split()  # the panel after its members, marked (cut to its cell)
        assert members == ["a", "b", "c"] and panel.endswith("*") and "trio".startswith(panel[:-1])
        assert cells(lines) == {  # trio: the (lower) median of a scale, the majority of yes/no
            "helpfulness": ["4", "2✗", "5✗", "4"],
            "instruction_following": ["4✗", "3", "3", "3"],
            "harmless": ["y", "y", "n✗", "y"],
            "format": ["n", "y✗", "n", "n"],
        }
        assert any(line.startswith("trio* = a+b+c") for line in lines)  # the legend
        await pilot.press("right")
        await pilot.press("v")  # reveal q2 before scoring: the panel follows its members' verdicts
        await wait_until(pilot, lambda: cells(panel_lines(app)).get("harmless", [""])[-1] == "y")
        await wait_until(pilot, lambda: "c" in items["q2"].judges)
        await pilot.pause(0.1)
        q2 = cells(panel_lines(app))
        # c failed: format has one yes and one no of the 3 configured, no majority: no value.
        assert q2["format"] == ["n", "y", "err", "·"]
        assert q2["harmless"] == ["y", "y", "err", "y"]  # 2 of 3 is still a majority
        assert q2["helpfulness"][-1] == "2"  # the lower median of the two answers
        screen = screen_text(app)  # a failure is counted for the judge that failed, not its panel
        assert "judge c: 1 failed" in screen and "judge trio" not in screen and "judge tr" not in screen
        assert set(app.judge_failures) == {"a", "b", "c"} and app.judge_failures["c"] == {"q2"}
    _, events, _ = load_session(session)
    assert not any(e.get("judge") == "trio" for e in events)  # derived, never logged


async def test_no_panel_column_without_panels(tmp_path: Path) -> None:
    """The same judges without a saved panel: three columns, no legend."""
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 1))
    with_three_judges(app, tmp_path)
    app.launch.store.update_header(panels=[])
    async with app.run_test(size=(120, 30)) as pilot:
        items = app.session.state.items
        await wait_until(pilot, lambda: app.ready and {"a", "b", "c"} <= set(items["q1"].judges))
        await settle(pilot, app)
        await pilot.press("v")
        lines = panel_lines(app)
        assert lines[0].split() == ["a", "b", "c"] and not any("*" in line for line in lines)
