"""The console on narrow terminals (60x20, a tmux split of a 120-column window, and 80x24),
and the score panel: every criterion on one line, judges' scores in your rows, and an
agreement that says "n too small" instead of a kappa on a handful of items.

What is checked is what the terminal shows: the screen is exported as text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sftscope.engines.base import GenerationRequest
from sftscope.scorers.stats.agreement import agreement_stats
from sftscope.scorers.stats.intervals import MIN_N

from tests.conftest import prompts_file
from tests.console_helpers import make_app, screen_lines, wait_until, with_judge
from tests.fake_engine import FakeEngine, FakeJudgeEngine

CRITERIA = ("helpfulness", "instruction_following", "harmless", "format")
LIKERT = re.compile(r"1\s*2\s*3\s*4\s*5")


class VaryingJudge(FakeJudgeEngine):
    """Scores helpfulness by the question's number, so agreement has something to measure."""

    def answer(self, request: GenerationRequest) -> str:
        number = int(re.findall(r"Question number (\d+)", request.messages[-1]["content"])[0])
        helpful = number % 5 + 1
        return (
            f'{{"helpfulness": {helpful}, "instruction_following": 4, "harmless": "yes", '
            f'"format": "{"yes" if number % 2 else "no"}", "justification": "ok"}}'
        )


def judged_app(tmp_path: Path, count: int = 3) -> Any:
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path, count), ahead=count)
    return with_judge(app, tmp_path, VaryingJudge())


async def all_judged(app: Any, pilot: Any) -> None:
    items = app.session.state.items
    await wait_until(pilot, lambda: app.ready and all("fj" in s.judges for s in items.values()))


def panel_rows(app: Any) -> list[str]:
    return str(app.screen.query_one("#scores").render()).splitlines()


def criterion_rows(lines: list[str]) -> dict[str, str]:
    """Criterion name (as shown, perhaps cut with …) -> its screen row."""
    out = {}
    for line in lines:
        for name in CRITERIA:
            for shown in (name, *(name[:n] + "…" for n in range(3, len(name)))):
                if re.search(rf"(^|\s){re.escape(shown)}\s", line) and name not in out:
                    out[name] = line
    return out


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_footer_keeps_score_help_and_quit(tmp_path: Path, size: tuple[int, int]) -> None:
    """Regression: at 60 columns the footer ended in "q ▏^p palette" (quit cut off)."""
    app = judged_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await all_judged(app, pilot)
        footer = screen_lines(app)[-1]
        for shown in ("1-5 y/n score", "? help", "q quit"):
            assert shown in footer, footer
        await pilot.press("q")


async def test_no_criterion_row_wraps_at_60x20(tmp_path: Path) -> None:
    """Regression: the likert row wrapped its "5" onto the next line at 60x20."""
    app = judged_app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await all_judged(app, pilot)
        await pilot.pause(0.2)  # keys typed ahead of an answer's first paint label nothing
        await pilot.press("4", "3")
        await pilot.pause(0.1)
        panel = app.screen.query_one("#scores")
        lines = panel_rows(app)
        assert all(len(line) <= panel.content_size.width for line in lines), lines
        # criteria + the focused one's description + "saved ✓" + the blind judges line
        assert len(lines) == len(CRITERIA) + 3
        assert panel.content_size.height == len(lines)  # nothing wrapped onto another line
        rows = criterion_rows(screen_lines(app))
        assert set(rows) == set(CRITERIA)
        assert LIKERT.search(rows["helpfulness"]) and LIKERT.search(rows["instruction_following"])
        assert re.search(r"y\s+n", rows["harmless"]) and re.search(r"y\s+n", rows["format"])
        assert "hidden (v reveals)" in "\n".join(screen_lines(app))
        await pilot.press("q")


async def test_revealed_judge_scores_sit_in_your_rows_at_60x20(tmp_path: Path) -> None:
    """Regression: at 80x24 revealed scores wrapped as prose ("instruction_ 1 ... format\\n y")."""
    app = judged_app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await all_judged(app, pilot)
        await pilot.pause(0.2)  # keys typed ahead of an answer's first paint label nothing
        await pilot.press("4", "3", "y", "v")  # q1: the judge says 2, 4, yes, yes
        await pilot.pause(0.1)
        screen = screen_lines(app)
        headers = [line for line in screen if line.split()[-1:] == ["fj"]]
        assert len(headers) == 1, screen  # the judge's name above its column
        header = headers[0]
        rows = criterion_rows(screen)
        # One column per judge, under its name, in the same row as your score:
        column = header.rindex("fj") + 1  # a judge's values end under its name
        for name, theirs in (("helpfulness", "2✗"), ("instruction_following", "4✗"), ("harmless", "y")):
            row = rows[name].rstrip()
            assert row.endswith(theirs) and row[column] == theirs[0], row
        assert rows["format"].rstrip().endswith("y")  # not scored by you: no ✗
        panel = app.screen.query_one("#scores")
        lines = panel_rows(app)
        assert all(len(line) <= panel.content_size.width for line in lines), lines
        # header + criteria + description + "saved ✓" + agreement
        assert len(lines) == 1 + len(CRITERIA) + 3 == panel.content_size.height
        assert "you vs fj: n=1 · n too small for κ" in lines
        assert not any("κ" in line and "0.00" in line for line in screen)
        await pilot.press("q")


async def test_agreement_says_n_too_small_below_ten_then_shows_kappa_with_n(tmp_path: Path) -> None:
    app = judged_app(tmp_path, count=MIN_N + 2)
    async with app.run_test(size=(80, 24)) as pilot:
        await all_judged(app, pilot)
        for number in range(1, MIN_N):  # agree with the judge on all but the first item
            item = f"q{number}"
            helpful = number % 5 + 1 if number > 1 else 5
            app.session.score(item, "helpfulness", helpful)
            app.session.score(item, "harmless", True)
        app.refresh_scores()
        await pilot.press("v")
        await pilot.pause(0.1)
        lines = panel_rows(app)
        assert f"you vs fj: n={MIN_N - 1} · n too small for κ" in lines
        assert not any("κ" in line for line in lines[:1])  # no kappa column yet
        for number in (MIN_N, MIN_N + 1):
            app.session.score(f"q{number}", "helpfulness", number % 5 + 1)
            app.session.score(f"q{number}", "harmless", True)
        app.refresh_scores()
        await pilot.pause(0.1)
        lines = panel_rows(app)
        assert lines[0].split() == ["fj", "κ"]
        mine = [5 if n == 1 else n % 5 + 1 for n in range(1, MIN_N + 2)]
        stats = agreement_stats(mine, [n % 5 + 1 for n in range(1, MIN_N + 2)], "likert", (1, 5))
        rows = criterion_rows(lines)
        assert rows["helpfulness"].split()[-1] == f"{stats.kappa:+.2f}"
        assert rows["harmless"].split()[-1] == "–"  # yes on every item: kappa undefined
        assert rows["format"].split()[-1] == "·"  # never scored by you
        assert any(line.startswith(f"you vs fj: n={MIN_N + 1} · exact") for line in lines), lines
        await pilot.press("q")


def test_agreement_line_below_and_above_ten() -> None:
    from sftscope.sessions.run.review import RunningAgreement
    from sftscope.tui.console.widgets import kappa_text

    few = RunningAgreement("likert", 1, 1.0)
    assert not few.enough and kappa_text(few) == "n too small"
    enough = RunningAgreement("likert", MIN_N, 1.0, 1.0, (1.0, 1.0))
    assert enough.enough and kappa_text(enough) == "+1.00"
    assert kappa_text(RunningAgreement("likert", MIN_N, 1.0, None)) == "–"  # undefined


async def test_help_shows_its_text_literally(tmp_path: Path) -> None:
    """Regression: "remap them under [keys]" lost "[keys]" to Rich markup."""
    app = judged_app(tmp_path)
    async with app.run_test(size=(60, 20)) as pilot:
        await all_judged(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        screen = "\n".join(screen_lines(app))
        assert "remap them under [keys] in the rubric" in screen
        await pilot.press("escape")
        await pilot.press("q")
