"""The A/B console with Pilot, on real run sessions and a real comparison on disk.

What a vote means is checked where it lands: the preference events in events.jsonl,
mapped through the pair's own `first` (which session was shown as answer 1). Judges
are real pairwise judges asking a scripted OpenAI-compatible server.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sftscope.scorers.judge import JudgeSpec
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.tui.compare import app as compare_app
from sftscope.tui.compare.app import KEY_SETTLE, REVEAL_SECONDS, CompareApp

from tests.compare_helpers import write_run_session
from tests.conftest import ScriptedServer
from tests.console_helpers import screen_lines, wait_until


def make_comparison(tmp_path: Path, count: int = 4, **config: Any) -> Any:
    """Two finished run sessions (runA, runB) over the same items, compared in tmp_path/cmp,
    walked in the order the pairs were made (shuffled: test_audit_order_ab.py)."""
    config.setdefault("order", "file")
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"Answer from A to {i}." for i in range(count)})
    b = write_run_session(
        tmp_path / "runB",
        {f"q{i}": f"B says something else about {i}." for i in range(count)},
        system="Be kind.",
    )
    return open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "cmp"), **config))


def events(tmp_path: Path) -> list[dict[str, Any]]:
    text = (tmp_path / "cmp" / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def preferences(tmp_path: Path) -> list[dict[str, Any]]:
    return [e for e in events(tmp_path) if e["type"] == "preference"]


def header_status(tmp_path: Path) -> str:
    import tomllib

    return str(tomllib.loads((tmp_path / "cmp" / "session.toml").read_text())["status"])


def note(app: CompareApp) -> str:
    """The note line under the answers, as text."""
    return widget_text(app, "#note")


def widget_text(app: CompareApp, selector: str) -> str:
    """What the terminal shows where the widget is (lines joined with newlines)."""
    region = app.main.query_one(selector).region
    rows = screen_lines(app)[region.y : region.bottom]
    return "\n".join(row[region.x : region.right] for row in rows)


async def shows(pilot: Any, app: CompareApp, text: str, selector: str = "#note") -> str:
    """Wait until the terminal shows `text` in the widget; its text then."""
    await wait_until(pilot, lambda: text in widget_text(app, selector), timeout=10)
    return widget_text(app, selector)


async def on_screen(pilot: Any, app: CompareApp, index: int | None = None) -> None:
    """Wait until a pair (the current one, or the one at `index`) has its answers painted
    and has been on screen long enough (KEY_SETTLE) for a key to count as read, not typed
    ahead."""

    def painted() -> bool:
        current = app.current
        return current is not None and app.on_screen == current.pair and (index is None or app.index == index)

    await wait_until(pilot, painted, timeout=10)
    await wait_until(pilot, lambda: time.monotonic() - app.painted_at >= KEY_SETTLE, timeout=10)


async def test_votes_land_on_the_session_shown_with_that_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pilot's key presses wait for the process to go idle; a longer moment keeps the
    # reveal on screen long enough to be read on a busy machine.
    monkeypatch.setattr(compare_app, "REVEAL_SECONDS", 2.0)
    comparison = make_comparison(tmp_path)
    pairs = comparison.state.ordered()
    # The data set is one where 1 is session a on some pairs and session b on others.
    assert {p.first for p in pairs} == {"a", "b"}
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        for index, key in enumerate(("1", "2", "t", "b")):
            await on_screen(pilot, app, index)
            pair = pairs[index]
            # What is on screen as answer 1 is the session pair.first names.
            shown_1 = widget_text(app, "#answer-1")
            assert (pair.answer_a if pair.first == "a" else pair.answer_b) in shown_1
            await pilot.press(key)
            await wait_until(pilot, lambda p=pair: p.human is not None)
            # For a moment the names are shown, blind no more: 1 = the session shown first.
            reveal = f"1 = {pair.name(pair.side(1))} · 2 = {pair.name(pair.side(2))}"
            assert "saved ✓" in await shows(pilot, app, reveal)
            if index < 3:
                started = time.monotonic()
                await on_screen(pilot, app, index + 1)  # then it moves on by itself
                assert time.monotonic() - started > 0.5
                assert "runA" not in note(app) and "runB" not in note(app)
        await shows(pilot, app, "every pair is voted")
        await pilot.press("q")
    written = preferences(tmp_path)
    assert [e["pair"] for e in written] == [p.pair for p in pairs]
    expected = [pairs[0].side(1), pairs[1].side(2), "tie", "both_bad"]
    assert [e["choice"] for e in written] == expected
    assert [e["shown_first"] for e in written] == [p.first for p in pairs]  # kept with the vote
    assert all(e["judges_visible"] is False for e in written)
    assert header_status(tmp_path) == "complete"


async def test_a_key_during_the_reveal_is_not_blocked(tmp_path: Path) -> None:
    app = CompareApp(make_comparison(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await pilot.press("1")
        await pilot.press("right", "right")  # straight on, not after the reveal
        assert app.index == 2
        await pilot.pause(REVEAL_SECONDS + 0.2)
        assert app.index == 2  # the pending move was dropped
        await pilot.press("q")
    assert header_status(tmp_path) == "stopped"


async def test_undo_skip_and_enter(tmp_path: Path) -> None:
    comparison = make_comparison(tmp_path)
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await pilot.press("2")
        await on_screen(pilot, app, 1)  # moved on
        await pilot.press("u")  # nothing voted here: back to the last vote, undone
        assert app.index == 0 and pairs[0].human is None
        await shows(pilot, app, "undid the vote ✓")
        await on_screen(pilot, app, 0)
        await pilot.press("s")  # skipped: on to the next pair not voted
        assert pairs[0].skipped and app.index == 1
        await on_screen(pilot, app, 1)
        await pilot.press("right", "right")
        await on_screen(pilot, app, 3)
        await pilot.press("t")
        await wait_until(pilot, lambda: pairs[3].human == "tie")
        await on_screen(pilot, app, 1)  # the next unvoted, round the end (0 is skipped)
        await pilot.press("left")
        await on_screen(pilot, app, 0)
        await pilot.press("enter")
        assert app.index == 1
        await pilot.press("enter")
        assert app.index == 2
        await pilot.press("enter")
        assert app.index == 1
        await pilot.press("q")
    kinds = [
        (e["type"], e.get("pair")) for e in events(tmp_path) if e["type"] in ("preference", "undo", "skip")
    ]
    assert kinds == [
        ("preference", pairs[0].pair),
        ("undo", pairs[0].pair),
        ("skip", pairs[0].pair),
        ("preference", pairs[3].pair),
    ]
    assert header_status(tmp_path) == "stopped"


async def test_a_key_before_the_answers_are_on_screen_does_nothing(tmp_path: Path) -> None:
    app = CompareApp(make_comparison(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        app.show(2)  # the next pair is set, not yet painted
        app.action_vote("1")
        app.action_skip()
        assert not preferences(tmp_path) and not app.current.voted
        await shows(pilot, app, "not on screen")
        await on_screen(pilot, app, 2)
        await pilot.press("1")
        assert len(preferences(tmp_path)) == 1
        await pilot.press("q")


async def test_judges_verdicts_only_after_a_vote_and_v(
    tmp_path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the judge cache stays here
    server.default = {"text": "My verdict: [[A]]"}  # always the answer shown first
    judge = JudgeSpec(engine=f"openai:{server.url}#judge-model", name="gpt", template="mt-bench-pair")
    comparison = make_comparison(tmp_path, judges=(judge,))
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: all("gpt" in p.judges for p in pairs), timeout=20)
        await on_screen(pilot, app, 0)
        await shows(pilot, app, "gpt 4/4", "#status")
        await pilot.press("v")  # not voted: says so, shows nothing
        assert "gpt:" not in await shows(pilot, app, "vote first")
        await pilot.press("1")
        assert "gpt:" not in await shows(pilot, app, "saved ✓")
        await pilot.press("v")  # during the reveal: stays on this pair, verdicts shown
        shown = await shows(pilot, app, "gpt: tie")
        # Both orders picked the answer shown first: a tie, with each order's choice.
        orders = "1, then 2" if pairs[0].first == "a" else "2, then 1"
        assert f"gpt: tie (the orders disagree: {orders})" in shown
        await pilot.pause(REVEAL_SECONDS + 0.2)
        assert app.index == 0 and "gpt: tie" in note(app)
        await pilot.press("2")  # the names are still shown: no vote
        await shows(pilot, app, "no vote while the names are shown")
        assert len(preferences(tmp_path)) == 1
        await pilot.press("right", "left")  # away and back: the names are hidden
        await on_screen(pilot, app, 0)
        await pilot.press("2")  # a vote changed after the verdicts were seen says so
        await shows(pilot, app, "saved ✓")
        await pilot.press("v")
        await wait_until(pilot, lambda: "gpt:" not in note(app))
        await shows(pilot, app, "you vs gpt", "#tally")
        await pilot.press("q")
    written = preferences(tmp_path)
    assert [e["judges_visible"] for e in written] == [False, True]
    judged = [e for e in events(tmp_path) if e["type"] == "pair_judge"]
    assert len(judged) == 4 and {e["verdict"] for e in judged} == {"tie"}
    assert len(server.requests) == 8  # each pair in both orders


async def test_the_running_line_counts_votes_and_gives_an_interval_from_ten(tmp_path: Path) -> None:
    comparison = make_comparison(tmp_path, count=12)
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await shows(pilot, app, "no votes yet", "#tally")
        # Votes from anywhere (here the Session API) reach the running line as events.
        for pair in pairs[:3]:
            comparison.session.prefer(pair.pair, "b")
        await shows(pilot, app, "runB  W3 T0 L0 · n too small (n=3)", "#tally")
        for pair in pairs[3:9]:
            comparison.session.prefer(pair.pair, "b")
        comparison.session.prefer(pairs[9].pair, "tie")
        tally = await shows(pilot, app, "n=10", "#tally")
        assert "runA  W0 T1 L9 · 0.05 [" in tally and "runB  W9 T1 L0 · 0.95 [" in tally
        await shows(pilot, app, "voted 10", "#status")
        await pilot.press("q")


@pytest.mark.parametrize(("size", "side_by_side"), [((120, 30), True), ((80, 24), False), ((60, 20), False)])
async def test_layout_side_by_side_when_wide_stacked_when_narrow(
    tmp_path: Path, size: tuple[int, int], side_by_side: bool
) -> None:
    comparison = make_comparison(tmp_path)
    app = CompareApp(comparison)
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app, 0)
        one = app.main.query_one("#answer-1").region
        two = app.main.query_one("#answer-2").region
        prompt = app.main.query_one("#prompt").region
        assert prompt.bottom <= min(one.y, two.y)  # the prompt first
        if side_by_side:
            assert one.y == two.y and one.right <= two.x
            assert abs(one.width - two.width) <= 1 and one.height == two.height
        else:
            assert one.x == two.x and one.bottom <= two.y and one.width == two.width
            assert abs(one.height - two.height) <= 1  # neither position is favoured
            assert min(one.height, two.height) >= 4  # each shows text and scrolls
        rows = screen_lines(app)
        assert len(rows) == size[1]
        footer = rows[-1]
        for words in ("1/2", "tie", "both bad", "? help", "q quit"):
            assert words in footer, footer
        assert "pair 1/4" in rows[0]
        assert "1" in app.main.query_one("#answer-1").border_title
        assert "▶" in str(app.main.query_one("#answer-1").border_title)  # the focused one is marked
        await pilot.press("tab")
        assert "▶" in str(app.main.query_one("#answer-2").border_title)
        assert "▶" not in str(app.main.query_one("#answer-1").border_title)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "sftscope compare keys" in "\n".join(screen_lines(app)))
        await pilot.press("escape")
        await pilot.press("1")
        await shows(pilot, app, "saved ✓")
        await pilot.press("q")


async def test_a_long_answer_scrolls_in_its_own_pane(tmp_path: Path) -> None:
    long = "\n\n".join(f"Paragraph {n} of a long answer." for n in range(60))
    a = write_run_session(tmp_path / "runA", {"q0": long, "q1": "short"})
    b = write_run_session(tmp_path / "runB", {"q0": "short", "q1": "short too"})
    comparison = open_comparison(
        CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "cmp"), order="file")
    )
    pair = comparison.state.ordered()[0]
    long_pane = "#answer-1" if pair.first == "a" else "#answer-2"
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        pane = app.main.query_one(long_pane)
        pane.focus()
        await pilot.pause()
        assert pane.scroll_y == 0 and pane.max_scroll_y > 0
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: pane.scroll_y > 0)
        await pilot.press("q")


async def test_ctrl_c_marks_the_comparison_interrupted(tmp_path: Path) -> None:
    app = CompareApp(make_comparison(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await pilot.press("b")
        await shows(pilot, app, "saved ✓")
        await pilot.press("ctrl+c")
    assert header_status(tmp_path) == "interrupted"
    assert [e["choice"] for e in preferences(tmp_path)] == ["both_bad"]
    assert app.return_code == 130


async def test_a_vote_that_cannot_be_written_says_not_saved(tmp_path: Path) -> None:
    """A saved comparison replayed read-only: the vote is refused by the writer, and the
    screen says so instead of "saved ✓"."""
    make_comparison(tmp_path).close("stopped")
    comparison = open_comparison(CompareConfig(session=str(tmp_path / "cmp")), read_only=True)
    comparison.judges = []
    app = CompareApp(comparison, revisit=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await shows(pilot, app, "replay", "#status")
        await pilot.press("1")
        shown = await shows(pilot, app, "not saved")
        assert "✗" in shown and "not saved" in shown and "saved ✓" not in shown
        await pilot.pause(REVEAL_SECONDS + 0.2)
        assert app.index == 0  # nothing saved: no reveal, no moving on
        await pilot.press("q")
    assert not preferences(tmp_path)
    assert header_status(tmp_path) == "stopped"


async def test_a_judge_that_cannot_start_ends_the_console_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # No model named and nothing listening: the judge's engine cannot list the models.
    judge = JudgeSpec(
        engine="openai:http://127.0.0.1:9/v1", name="nobody", template="mt-bench-pair", retries=0
    )
    app = CompareApp(make_comparison(tmp_path, judges=(judge,)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.return_code is not None, timeout=20)
    assert app.error_message.startswith("judge nobody: ")
    assert "\n" not in app.error_message
    assert app.return_code == 2
    assert header_status(tmp_path) == "stopped"  # closed and unlocked all the same


def test_verdicts_and_write_errors_in_the_operators_terms(tmp_path: Path) -> None:
    """A judge's verdict is said by the number the session was shown as, never its name."""
    from sftscope.tui.compare.view import not_saved, verdict_text

    comparison = make_comparison(tmp_path)
    pair = next(p for p in comparison.state.ordered() if p.first == "b")  # b is shown as 1
    comparison.close("stopped")
    decisive = {"verdict": "b", "ab": "b", "ba": "b"}
    assert verdict_text(pair, "gpt", decisive).plain == "gpt: 1 better (both orders)"
    pair.actions.append({"type": "preference", "choice": "a"})  # you chose 2
    assert verdict_text(pair, "gpt", decisive).plain.endswith("· differs from you")
    flipped = {"verdict": "tie", "ab": "a", "ba": "b"}
    assert verdict_text(pair, "gpt", flipped).plain.startswith("gpt: tie (the orders disagree: 2, then 1)")
    failed = {"verdict": "error", "error": "judge failed (a first): timed out\nmore"}
    assert verdict_text(pair, "gpt", failed).plain == "gpt: error · judge failed (a first): timed out"
    assert verdict_text(pair, "gpt", None).plain == "gpt: not judged yet"
    assert "runA" not in verdict_text(pair, "gpt", decisive).plain
    assert not_saved("/x/cmp: not saved (the session is open read-only)") == (
        "not saved (the session is open read-only) · /x/cmp"
    )
    assert not_saved("not saved: No space left on device") == "not saved: No space left on device"
