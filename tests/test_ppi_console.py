"""Issue 17, section 2 in the console: the running prediction-powered estimate and when to stop.

The operator walks a shuffled session (its labels are the random sample) with a judge
revealed; once ten random labels are in, the focused criterion's PPI estimate, its
interval and "about N more labels for ±0.05" appear under the agreement line, and the
figures are those of scorers.stats.ppi on the labels saved on disk. Before ten, nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from sftscope.engines.base import GenerationRequest
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.scorers.stats.ppi import PPIEstimate, labels_needed, ppi_mean
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import load_session
from sftscope.sessions.run.review import running_agreement

from tests.conftest import prompts_file
from tests.console_helpers import make_app, settle, wait_until, with_judge
from tests.fake_engine import FakeEngine, FakeJudgeEngine

ITEMS = 14


class NumberJudge(FakeJudgeEngine):
    """A judge whose helpfulness follows the question's number (3, 4 or 5), so that its
    scores vary with the items and PPI gives it a weight (UI flow only: the numbers
    are checked against scorers.stats.ppi, not against a model)."""

    def answer(self, request: GenerationRequest) -> str:
        text = " ".join(m["content"] for m in request.messages)
        number = int(re.search(r"Question number (\d+)", text).group(1))  # type: ignore[union-attr]
        return (
            f'{{"helpfulness": {3 + number % 3}, "instruction_following": 4, "harmless": "yes", '
            '"format": "yes", "justification": "ok"}'
        )


def mine(item_id: str) -> str:
    """The operator's helpfulness on an item: the judge's, off by one on every fourth."""
    number = int(item_id[1:])
    value = 3 + number % 3
    return str(value if number % 4 else min(5, value + 1))


def panel_text(app: object) -> str:
    return str(app.screen.query_one("#scores").render())  # type: ignore[attr-defined]


async def test_the_ppi_line_appears_at_ten_random_labels_with_the_figures_of_scorers_stats(
    tmp_path: Path,
) -> None:
    session = tmp_path / "s"
    prompts = prompts_file(tmp_path, ITEMS)
    app = make_app(session, engine=FakeEngine(), prompts=prompts, order="shuffled", seed=3)
    with_judge(app, tmp_path, NumberJudge())
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        walk = list(app.item_ids)
        for count, item_id in enumerate(walk[:10], 1):
            assert app.item_ids[app.index] == item_id  # walking the order: auto-advance
            state = app.session.state.items[item_id]
            await wait_until(pilot, lambda state=state: "fj" in state.judges)
            await settle(pilot, app)
            await pilot.press(mine(item_id), "4", "y", "y")  # fully scored: moves on
            await wait_until(pilot, lambda state=state: state.sampled("helpfulness") is True)
            if count == 9:  # back on the ninth (a jump: the label below would be chosen)
                await pilot.press("left")
                await settle(pilot, app)
                await wait_until(pilot, lambda: app.agreement.get("helpfulness") is not None)
                await wait_until(pilot, lambda: app.agreement["helpfulness"].n_random == 9)
                assert "PPI" not in panel_text(app)  # nine random labels: too few to say
                await pilot.press("right")
        await wait_until(pilot, lambda: app.item_ids[app.index] == walk[10])
        await wait_until(pilot, lambda: "fj" in app.session.state.items[walk[10]].judges)
        await pilot.press("left")  # an item you scored: the judge is revealed there
        await settle(pilot, app)
        await wait_until(pilot, lambda: app.agreement.get("helpfulness") is not None)
        await wait_until(pilot, lambda: app.agreement["helpfulness"].n_random == 10)
        await wait_until(pilot, lambda: "PPI mean" in panel_text(app))
        shown = next(line for line in panel_text(app).splitlines() if "PPI mean" in line)
        await pilot.press("q")

    _, records, _ = load_session(session)
    state = fold(records)
    labels, judge_on, rest = [], [], []
    for item in state.ordered():
        judged = item.judges["fj"]["scores"]["helpfulness"] if "fj" in item.judges else None
        if item.sampled("helpfulness") is True:
            labels.append(float(item.human["helpfulness"]))
            judge_on.append(float(judged))
        elif judged is not None:
            rest.append(float(judged))
    assert len(labels) == 10
    expected = ppi_mean(labels, judge_on, rest)
    assert isinstance(expected, PPIEstimate) and expected.lam > 0  # the judge carries weight
    low, high = expected.ci
    assert f"PPI mean {expected.estimate:.2f} [{low:.2f}, {high:.2f}] n=10" in shown
    # 14 items on a 3-5 scale: labelling all of them would not reach ±0.05, and it says so.
    more = labels_needed(expected)
    assert more is None and "±0.05 out of reach here" in shown
    # The same figures from the function the console calls, on the folded session.
    running = running_agreement(state.ordered(), DEFAULT_RUBRIC, "fj")["helpfulness"]
    assert running.ppi == expected and running.more == more


def test_chosen_labels_never_enter_the_running_estimate(tmp_path: Path) -> None:
    """Negative case: the same labels, given after jumps (chosen), give no PPI at all."""
    from sftscope.sessions.core import events as ev

    records = []
    for n in range(1, ITEMS + 1):
        item_id = f"q{n}"
        records += [
            ev.ItemAdded(item_id, {"id": item_id, "turns": [f"Question number {n}?"]}, n - 1).to_record(),
            ev.Generated(item_id, 0, "answer", "stop", gen=f"g{n}").to_record(),
            ev.Judged(item_id, "fj", {"helpfulness": 3 + n % 3}, gen=f"g{n}").to_record(),
            ev.Scored(item_id, "helpfulness", int(mine(item_id)), gen=f"g{n}", sample="chosen").to_record(),
        ]
    state = fold(records)
    running = running_agreement(state.ordered(), DEFAULT_RUBRIC, "fj")["helpfulness"]
    assert running.n == ITEMS and running.n_random == 0 and running.ppi is None and running.more is None


def test_about_n_more_labels_is_what_labels_needed_says_for_the_focused_criterion() -> None:
    """2,000 judged items, 40 random labels: the panel says how many more reach ±0.05, and
    after that many more labels (same variances) the interval is there."""
    from sftscope.sessions.core import events as ev
    from sftscope.tui.console.widgets import ScorePanel

    records = []
    for n in range(1, 2001):
        item_id = f"q{n}"
        value = int(mine(item_id))
        records += [
            ev.ItemAdded(item_id, {"id": item_id, "turns": [f"Question number {n}?"]}, n - 1).to_record(),
            ev.Generated(item_id, 0, "answer", "stop", gen=f"g{n}").to_record(),
            ev.Judged(item_id, "fj", {"helpfulness": 3 + n % 3}, gen=f"g{n}").to_record(),
        ]
        if n <= 40:
            records.append(ev.Scored(item_id, "helpfulness", value, gen=f"g{n}", sample="random").to_record())
    state = fold(records)
    running = running_agreement(state.ordered(), DEFAULT_RUBRIC, "fj")
    found = running["helpfulness"]
    assert found.n_random == 40 and isinstance(found.ppi, PPIEstimate)
    assert found.more is not None and found.more > 0 and found.more == labels_needed(found.ppi)
    panel = ScorePanel()
    panel.rubric, panel.agreement, panel.focus_index = DEFAULT_RUBRIC, running, 0
    line = panel.ppi_line(120)
    assert line is not None and f"about {found.more} more labels for ±0.05" in line.plain
    assert f"worth {found.ppi.n_effective:.0f} labels" in line.plain
    panel.focus_index = 2  # harmless: no random labels there, no line
    assert panel.ppi_line(120) is None
