"""Disagreement first: how far you and the judges differ on an item (review.disagreement),
the order it gives (most first, ties in prompt order), and the console's `d` key and
disagreement queue walking it. Items you have not fully scored, and judges you cannot
see, never count: the order of unscored items must not leak a hidden judge's scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftscope.scorers.rubric import DEFAULT_RUBRIC, Criterion, Rubric
from sftscope.sessions.core.events import Generated, ItemAdded, Judged, Scored
from sftscope.sessions.core.state import ItemState, fold
from sftscope.sessions.run import review

from tests.conftest import write_jsonl
from tests.console_helpers import make_app, settle, wait_until
from tests.fake_engine import FakeEngine

FULL = {"helpfulness": 4, "instruction_following": 4, "harmless": True, "format": True}


def item_state(
    human: dict[str, Any], judges: dict[str, dict[str, Any]], item: str = "q1", index: int = 0
) -> ItemState:
    """One answered item folded from real events: your labels, then each judge's verdict."""
    events = [
        ItemAdded(item, {"id": item, "turns": ["Question?"]}, index).to_record(),
        Generated(item, 0, "An answer.", "stop").to_record(),
    ]
    events += [Scored(item, name, value).to_record() for name, value in human.items()]
    events += [Judged(item, name, scores).to_record() for name, scores in judges.items()]
    return fold(events).items[item]


def test_likert_distance_is_scaled_and_yes_no_is_zero_or_one() -> None:
    two_apart = item_state(FULL, {"fj": {**FULL, "helpfulness": 2}})
    assert review.disagreement(two_apart, DEFAULT_RUBRIC, ["fj"]) == 0.5  # |4 - 2| / (5 - 1)
    opposite = item_state(FULL, {"fj": {**FULL, "harmless": False}})
    assert review.disagreement(opposite, DEFAULT_RUBRIC, ["fj"]) == 1.0
    same = item_state(FULL, {"fj": dict(FULL)})
    assert review.disagreement(same, DEFAULT_RUBRIC, ["fj"]) == 0.0


def test_the_largest_over_judges_and_criteria() -> None:
    state = item_state(
        FULL,
        {
            "near": {**FULL, "helpfulness": 5},  # 0.25
            "far": {**FULL, "instruction_following": 1},  # 0.75
        },
    )
    assert review.disagreement(state, DEFAULT_RUBRIC, ["near", "far"]) == 0.75
    assert review.disagreement(state, DEFAULT_RUBRIC, ["near"]) == 0.25  # only the judges given count


def test_nothing_to_compare_is_none() -> None:
    # Not fully scored: no disagreement, however far the judge is (never leak a hidden score).
    partial = item_state({"helpfulness": 1}, {"fj": {**FULL, "helpfulness": 5}})
    assert review.disagreement(partial, DEFAULT_RUBRIC, ["fj"]) is None
    no_verdict = item_state(FULL, {"fj": {}})
    assert review.disagreement(no_verdict, DEFAULT_RUBRIC, ["fj"]) is None
    assert review.disagreement(item_state(FULL, {}), DEFAULT_RUBRIC, ["fj"]) is None
    # A judge value off the scale (a parsed reply, not trusted) is not compared.
    off_scale = item_state(FULL, {"fj": {"helpfulness": 9}})
    assert review.disagreement(off_scale, DEFAULT_RUBRIC, ["fj"]) is None


def test_tags_and_notes_are_not_compared() -> None:
    rubric = Rubric(
        criteria=(
            Criterion("ok", "binary"),
            Criterion("issues", "tags", tags=("verbose", "wrong")),
            Criterion("why", "note"),
        )
    )
    state = item_state(
        {"ok": True, "issues": ["verbose"]}, {"fj": {"ok": True, "issues": ["wrong"], "why": "x"}}
    )
    assert review.disagreement(state, rubric, ["fj"]) == 0.0


def states_for(verdicts: list[dict[str, Any] | None], human: list[dict[str, Any]]) -> list[ItemState]:
    return [
        item_state(mine, {"fj": theirs} if theirs is not None else {}, f"q{n}", n)
        for n, (mine, theirs) in enumerate(zip(human, verdicts, strict=True))
    ]


def test_order_most_first_ties_in_prompt_order_agreeing_items_left_out() -> None:
    states = states_for(
        [
            dict(FULL),  # 0: agrees
            {**FULL, "helpfulness": 2},  # 1: 0.5
            {**FULL, "format": False},  # 2: 1.0
            {**FULL, "instruction_following": 2},  # 3: 0.5, after 1
            {**FULL, "harmless": False},  # 4: 1.0, after 2
            {**FULL, "helpfulness": 1},  # 5: not fully scored by you
        ],
        [FULL] * 5 + [{"helpfulness": 4}],
    )
    order = review.disagreement_order(states, DEFAULT_RUBRIC, ["fj"], lambda s: True)
    assert order == [2, 4, 1, 3]
    # Only items whose judges are visible count (here: item 2's are not).
    hidden = review.disagreement_order(states, DEFAULT_RUBRIC, ["fj"], lambda s: s.item.id != "q2")
    assert hidden == [4, 1, 3]


def test_next_disagreement_walks_on_from_its_place_and_wraps() -> None:
    states = states_for(
        [{**FULL, "format": False}, {**FULL, "helpfulness": 2}, {**FULL, "helpfulness": 3}],
        [FULL] * 3,
    )
    visible = lambda s: True  # noqa: E731
    first = review.next_disagreement(states, DEFAULT_RUBRIC, ["fj"], visible)
    assert first == (0, (1.0, 0))
    second = review.next_disagreement(states, DEFAULT_RUBRIC, ["fj"], visible, first[1])
    assert second is not None and second[0] == 1
    third = review.next_disagreement(states, DEFAULT_RUBRIC, ["fj"], visible, second[1])
    assert third is not None and third[0] == 2
    again = review.next_disagreement(states, DEFAULT_RUBRIC, ["fj"], visible, third[1])
    assert again is not None and again[0] == 0  # round to the most disagreeing
    # Item 1 re-scored to agree: from item 1's old place the walk goes on to item 2.
    states[1].actions.append({"type": "score", "criterion": "helpfulness", "value": 2})
    assert review.disagreement(states[1], DEFAULT_RUBRIC, ["fj"]) == 0.0
    on = review.next_disagreement(states, DEFAULT_RUBRIC, ["fj"], visible, second[1])
    assert on is not None and on[0] == 2
    agreeing = states_for([dict(FULL)], [FULL])
    assert review.next_disagreement(agreeing, DEFAULT_RUBRIC, ["fj"], visible) is None


# --- the console -------------------------------------------------------------------


def judged_session(tmp_path: Path) -> Any:
    prompts = write_jsonl(
        tmp_path / "p.jsonl", [{"id": f"q{i}", "prompt": f"Question number {i}?"} for i in range(1, 6)]
    )
    return make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts, ahead=5)


async def prepare(app: Any, pilot: Any) -> None:
    """q1 agrees; q2 0.5; q3 1.0; q4 0.25; q5 not fully scored though its judge is far off."""
    items = app.session.state.items
    await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in items.values()))
    verdicts = {
        "q1": dict(FULL),
        "q2": {**FULL, "helpfulness": 2},
        "q3": {**FULL, "harmless": False},
        "q4": {**FULL, "instruction_following": 5},
        "q5": {**FULL, "helpfulness": 1, "harmless": False},
    }
    for item, scores in verdicts.items():
        app.session.record(Judged(item, "fj", scores))
        labels = FULL if item != "q5" else {"helpfulness": 5}
        for name, value in labels.items():
            app.session.score(item, name, value)
    await pilot.pause()


def current(app: Any) -> str:
    return app.item_ids[app.index]


def status(app: Any) -> str:
    return str(app.screen.query_one("#status").render())


async def test_d_goes_to_the_most_disagreeing_scored_item_never_a_hidden_judge(tmp_path: Path) -> None:
    app = judged_session(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await prepare(app, pilot)
        await pilot.press("right", "right", "right", "right")
        assert current(app) == "q5"
        app.revealed_items.add("q5")  # revealed, but not fully scored: still never in the order
        seen = []
        for _ in range(4):
            await pilot.press("d")
            seen.append(current(app))
        assert seen == ["q3", "q2", "q4", "q3"]  # most first, then round again
        assert "q5" not in seen and "q1" not in seen
        await pilot.press("q")


async def test_d_with_no_disagreement_says_so(tmp_path: Path) -> None:
    app = judged_session(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        items = app.session.state.items
        await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in items.values()))
        app.session.record(Judged("q2", "fj", {**FULL, "helpfulness": 1}))  # you have not scored q2
        await pilot.press("d")
        assert current(app) == "q1"
        assert "no scored item where a judge and you differ" in status(app)
        await pilot.press("q")


async def test_disagreement_queue_walks_enter_and_auto_advance_in_order(tmp_path: Path) -> None:
    app = judged_session(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await prepare(app, pilot)
        assert "disagreement queue" not in status(app)
        await pilot.press("ctrl+p")
        await pilot.press(*"Disagreement queue")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.queue_mode)
        assert "disagreement queue" in status(app)
        await pilot.press("enter")
        assert current(app) == "q3"
        await pilot.press("enter")
        assert current(app) == "q2"  # you 4, the judge 2
        await settle(pilot, app)
        await pilot.press("2")  # revised to agree: auto-advance goes on in the queue
        assert current(app) == "q4"
        assert app.session.state.items["q2"].human["helpfulness"] == 2
        order = review.disagreement_order(
            app.session.state.ordered(), app.rubric, app.judge_names, app.judge_visible
        )
        assert [app.item_ids[i] for i in order] == ["q3", "q4"]  # q2 left the queue
        await pilot.press("enter")
        assert current(app) == "q3"  # round again
        app.action_toggle_queue()
        assert not app.queue_mode and "disagreement queue" not in status(app)
        await pilot.press("enter")  # back to next unscored: q5
        assert current(app) == "q5"
        await pilot.press("q")


def test_d_is_bound_unless_the_rubric_binds_it_to_an_action() -> None:
    from sftscope.scorers.rubric import DEFAULT_KEYS
    from sftscope.tui.console.keys import build_bindings, disagreement_key_free

    default = {b.key: b.action for b in build_bindings(DEFAULT_RUBRIC)}
    assert default["d"] == "app.next_disagreement" and disagreement_key_free(DEFAULT_RUBRIC)
    taken = Rubric(criteria=DEFAULT_RUBRIC.criteria, keys={**DEFAULT_KEYS, "flag": "d"})
    bound = [(b.key, b.action) for b in build_bindings(taken) if b.key == "d"]
    assert bound == [("d", "app.flag")]  # the rubric's own binding, once
    assert not disagreement_key_free(taken)
