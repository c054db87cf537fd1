"""Issue 14 in the A/B console: what is shown is what the sessions wrote, model output is
inert, and a vote is a vote on an answer someone read.

Pilot tests on real run sessions and a real comparison on disk; the terminal-level
checks (a screen-clearing answer, keys typed ahead of the console) run the real
`sftscope compare` in a tmux pane of its own.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core.events import Generated
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.tui.compare import app as compare_app
from sftscope.tui.compare.app import KEY_SETTLE, TYPED_AHEAD, CompareApp
from sftscope.tui.compare.view import ending_text, endings_summary, verdict_text
from textual import events as textual_events

from tests.compare_helpers import write_run_session
from tests.conftest import run_cli, write_jsonl
from tests.console_helpers import screen_lines, wait_until
from tests.test_compare_console import on_screen, preferences, shows, widget_text
from tests.tmux_helpers import Terminal, wait_gone

HAIKU = "An old silent pond.\nA frog jumps into the pond.\nSplash! Silence again."
ATTACK = "\x1b[2J\x1b[H\x1b[31mFAKE: saved ✓ all items scored\x1b[0m\x1b]0;pwned-title\x07"


def run_session(
    directory: Path,
    answers: dict[str, str],
    *,
    finish: dict[str, tuple[str, int]] | None = None,
    system: str | None = None,
    prefix: dict[str, list[dict[str, str]]] | None = None,
) -> Path:
    """A finished run session written through the real Session, with a chosen finish
    reason and token count per item (default: stop)."""
    finish = finish or {}
    prefix = prefix or {}
    header: dict[str, Any] = {
        "format_version": 1,
        "engine": {"requested": "openai:http://127.0.0.1:1#m", "model": "m"},
        "params": {"temperature": 0.0},
        "prompts": {"path": "test.jsonl", "sha256": "x", "count": len(answers)},
        "status": "complete",
    }
    if system:
        header["system"] = system
    items = [Item(id=i, turns=[f"question {i}"], prefix=prefix.get(i, [])) for i in answers]
    store = SessionStore(directory)
    store.open(header=header)
    session = Session(store)
    session.add_items(items)
    for item in items:
        reason, tokens = finish.get(item.id, ("stop", 5))
        session.record(Generated(item.id, 0, answers[item.id], reason, tokens=tokens))
    store.close(status="complete")
    return directory


def compare(tmp_path: Path, a: Path, b: Path) -> Any:
    """Walked in the order the pairs were made (shuffled: test_audit_order_ab.py)."""
    config = CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "cmp"), order="file")
    return open_comparison(config)


def pane_of(pair: Any, side: str) -> str:
    """The selector of the pane a session side is shown in."""
    return "#answer-1" if pair.side(1) == side else "#answer-2"


# --- 1. the answer on screen is the answer the model wrote ------------------------------


async def test_line_breaks_are_kept_and_m_shows_the_raw_characters(tmp_path: Path) -> None:
    a = run_session(tmp_path / "runA", {"q0": HAIKU})
    b = run_session(tmp_path / "runB", {"q0": "Some **bold** words\n- one\n- two"})
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app)
        haiku = widget_text(app, pane_of(pair, "a"))
        rows = [row.strip(" │") for row in haiku.splitlines()]
        # Each line of the haiku on a row of its own (Markdown joined them into one paragraph).
        for line in HAIKU.splitlines():
            assert line in rows, haiku
        other = widget_text(app, pane_of(pair, "b"))
        assert "bold" in other and "**" not in other  # Markdown still renders
        assert "raw" not in widget_text(app, "#status")
        await pilot.press("m")
        raw = await shows(pilot, app, "**bold**", pane_of(pair, "b"))
        assert "- one" in raw and "- two" in raw  # exactly the saved characters
        assert " raw " in widget_text(app, "#status")
        assert HAIKU.splitlines()[1] in widget_text(app, pane_of(pair, "a"))
        await pilot.press("m")  # back to Markdown
        await wait_until(pilot, lambda: "**" not in widget_text(app, pane_of(pair, "b")))
        await pilot.press("q")


async def test_an_answer_cut_at_the_token_limit_says_so_under_it(tmp_path: Path) -> None:
    a = run_session(
        tmp_path / "runA", {"q0": "It goes on and on and", "q1": "fine"}, finish={"q0": ("length", 64)}
    )
    b = run_session(tmp_path / "runB", {"q0": "A short whole answer.", "q1": "fine too"})
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        assert "cut at 64 tokens" in widget_text(app, pane_of(pair, "a"))
        assert "cut at" not in widget_text(app, pane_of(pair, "b"))  # it stopped by itself
        await pilot.press("right")
        await on_screen(pilot, app, 1)
        assert "cut at" not in widget_text(app, "#answers")
        await pilot.press("q")


def test_finish_reasons_in_words() -> None:
    assert ending_text(("length", 64)) == "cut at 64 tokens"
    assert ending_text(("length", None)) == "cut at the token limit"
    assert ending_text(("content_filter", 12)) == "ended: content_filter"
    assert ending_text(("\x1b[2Jodd", 1)) == "ended: ␛[2Jodd"
    assert ending_text(("stop", 9)) is None and ending_text(None) is None
    assert endings_summary([("stop", 3), ("length", 64)]) == "turn 2 cut at 64 tokens"
    assert endings_summary([("stop", 3), ("stop", 4)]) is None and endings_summary(None) is None


async def test_the_system_message_is_shown_each_sides_when_they_differ(tmp_path: Path) -> None:
    a = run_session(tmp_path / "runA", {"q0": "x", "q1": "y"})
    b = run_session(tmp_path / "runB", {"q0": "z", "q1": "w"}, system="Be kind.")
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        prompt = widget_text(app, "#prompt")
        kind = 1 if pair.side(1) == "b" else 2
        assert f"system {kind}: Be kind." in prompt
        assert f"system {3 - kind}: (none)" in prompt
        assert "question q0" in prompt
        await pilot.press("q")


async def test_one_system_line_when_the_sessions_agree_none_when_the_item_has_its_own(tmp_path: Path) -> None:
    own = {"q1": [{"role": "system", "content": "Answer in French."}]}
    a = run_session(tmp_path / "runA", {"q0": "x", "q1": "y"}, system="Be brief.", prefix=own)
    b = run_session(tmp_path / "runB", {"q0": "z", "q1": "w"}, system="Be brief.", prefix=own)
    app = CompareApp(compare(tmp_path, a, b))
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        prompt = widget_text(app, "#prompt")
        assert "system: Be brief." in prompt and "system 1" not in prompt
        await pilot.press("right")
        await on_screen(pilot, app, 1)
        prompt = widget_text(app, "#prompt")
        # The prompt set's own system message was sent instead of --system.
        assert "system: Answer in French." in prompt and "Be brief" not in prompt
        await pilot.press("q")


# --- 2. model output cannot drive the terminal ---------------------------------------------


async def test_control_characters_from_models_and_files_are_shown_inert(tmp_path: Path) -> None:
    a = run_session(tmp_path / "runA", {"q\nevil\x1b[2J": ATTACK})
    b = run_session(tmp_path / "runB", {"q\nevil\x1b[2J": "plain"})
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        shown = widget_text(app, pane_of(pair, "a"))
        assert "␛[2J␛[H␛[31mFAKE: saved ✓ all items scored" in shown
        assert "␛]0;pwned-title␇" in shown
        rows = screen_lines(app)
        assert "pair 1/1" in rows[0]  # the header is where it was
        assert "prompt · q␊evil␛[2J" in rows[1]  # an id with a newline keeps its row
        for number in (1, 2):
            text = app.main.query_one(f"#answer-{number}-text").render()
            assert "\x1b" not in str(getattr(text, "plain", text))
        await pilot.press("m")
        await shows(pilot, app, "␛[2J", pane_of(pair, "a"))
        await pilot.press("q")


def test_judge_names_and_errors_are_inert(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {"q0": "x"})
    b = write_run_session(tmp_path / "runB", {"q0": "y"})
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    comparison.close("stopped")
    failed = {"verdict": "error", "error": "bad reply \x1b]0;t\x07 from judge"}
    line = verdict_text(pair, "j\x1b[2J", failed).plain
    assert line == "j␛[2J: error · bad reply ␛]0;t␇ from judge"
    assert "\x1b" not in verdict_text(pair, "j\x1b", {"verdict": "a", "ab": "a", "ba": "a"}).plain


# --- 3. a vote is a vote on an answer someone read ----------------------------------------


def key_arriving(key: str, at: float) -> textual_events.Key:
    """A key event as the terminal driver makes it, read at monotonic time `at`."""
    event = textual_events.Key(key, key)
    event.time = at
    return event


async def test_keys_typed_ahead_are_dropped_keys_after_the_pair_appeared_vote(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"A{i}" for i in range(3)})
    b = write_run_session(tmp_path / "runB", {f"q{i}": f"B{i}" for i in range(3)})
    comparison = compare(tmp_path, a, b)
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        painted = app.painted_at
        # Nine `t`s that arrived within 0.15 s of the pair appearing, however late they
        # are handled: none is a vote.
        for n in range(9):
            app.post_message(key_arriving("t", painted + 0.01 * n))
        await shows(pilot, app, TYPED_AHEAD)
        await pilot.pause(0.3)
        assert not preferences(tmp_path) and pairs[0].human is None
        assert "voted 0" in widget_text(app, "#status")
        # The same key, arriving once the pair had been on screen for 0.15 s, is a vote.
        app.post_message(key_arriving("t", painted + KEY_SETTLE + 0.01))
        await wait_until(pilot, lambda: pairs[0].human == "tie")
        await shows(pilot, app, "saved ✓")
        # A real key press right after the next pair appears: dropped too.
        await wait_until(pilot, lambda: app.index == 1 and app.on_screen == pairs[1].pair, timeout=10)
        await pilot.press("1")
        if time.monotonic() - app.painted_at < KEY_SETTLE:  # it was handled in time to check
            await shows(pilot, app, TYPED_AHEAD)
            assert pairs[1].human is None
        await pilot.press("q")
    assert [e["choice"] for e in preferences(tmp_path)][:1] == ["tie"]


async def test_skip_typed_ahead_is_dropped_too(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {"q0": "A", "q1": "A1"})
    b = write_run_session(tmp_path / "runB", {"q0": "B", "q1": "B1"})
    comparison = compare(tmp_path, a, b)
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        app.post_message(key_arriving("s", app.painted_at + 0.05))
        await shows(pilot, app, TYPED_AHEAD)
        assert not pairs[0].skipped
        app.post_message(key_arriving("s", app.painted_at + KEY_SETTLE + 0.05))
        await wait_until(pilot, lambda: pairs[0].skipped)
        await pilot.press("q")


async def test_no_vote_while_the_names_are_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare_app, "REVEAL_SECONDS", 2.0)
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"A{i}" for i in range(3)})
    b = write_run_session(tmp_path / "runB", {f"q{i}": f"B{i}" for i in range(3)})
    comparison = compare(tmp_path, a, b)
    pairs = comparison.state.ordered()
    app = CompareApp(comparison)
    async with app.run_test(size=(80, 24)) as pilot:
        await on_screen(pilot, app, 0)
        await pilot.press("1")
        await shows(pilot, app, "1 = run")  # the names are shown
        await pilot.press("2")
        await shows(pilot, app, "no vote while the names are shown")
        await pilot.press("t", "b", "s")
        assert [e["choice"] for e in preferences(tmp_path)] == [pairs[0].side(1)]
        assert pairs[0].human == pairs[0].side(1) and not pairs[0].skipped
        # Once it has moved on, the next pair takes a vote as before.
        await on_screen(pilot, app, 1)
        await pilot.press("2")
        await wait_until(pilot, lambda: pairs[1].human == pairs[1].side(2))
        # u during the reveal is not a vote: it undoes the one just made.
        await pilot.press("u")
        await wait_until(pilot, lambda: pairs[1].human is None)
        await pilot.press("q")
    written = preferences(tmp_path)
    assert len(written) == 2 and all(e["judges_visible"] is False for e in written)


# --- in a real terminal ---------------------------------------------------------------------

tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def compare_command(a: Path, b: Path, target: Path) -> list[str]:
    compare = ["compare", str(a), str(b), "--session", str(target), "--order", "file"]  # pairs as made
    return [sys.executable, "-m", "sftscope.tui.cli", *compare]


def pane_title(term: Terminal) -> str:
    return term.tmux("display-message", "-p", "-t", term.name, "#{pane_title}").strip()


@tmux
@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_an_escape_sequence_in_an_answer_stays_text_in_a_real_terminal(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    a = run_session(tmp_path / "runA", {"q1": "Alpha " + ATTACK})
    b = run_session(tmp_path / "runB", {"q1": "Beta answer."})
    term = Terminal(compare_command(a, b, tmp_path / "cmp"), size=size)
    try:
        before = pane_title(term)
        screen = term.wait_for(lambda s: "Beta answer." in s and "Alpha" in s)
        time.sleep(0.5)
        screen = term.screen()
        rows = screen.splitlines()
        assert "pair 1/1" in rows[0]  # not cleared, nothing drawn over the header
        assert not rows[0].lstrip().startswith("FAKE")
        assert "␛[2J" in screen and "FAKE: saved ✓" in screen
        assert max(len(row) for row in rows) <= size[0]
        assert pane_title(term) == before and "pwned" not in pane_title(term)
        term.keys("q")
        wait_gone(term.pid)
    finally:
        term.close()


@tmux
def test_the_tmux_check_sees_a_raw_escape_sequence(tmp_path: Path) -> None:
    """The negative case: the same bytes printed raw do retitle the pane, so the test
    above would see it if the console let them through."""
    script = tmp_path / "raw.py"
    script.write_text(f"import sys, time\nsys.stdout.write({ATTACK!r})\nsys.stdout.flush()\ntime.sleep(30)\n")
    term = Terminal([sys.executable, str(script)])
    try:
        term.wait_for(lambda s: "FAKE" in s, timeout=10)
        deadline = time.monotonic() + 5
        while "pwned" not in pane_title(term) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pane_title(term) == "pwned-title"
        assert term.screen().splitlines()[0].startswith("FAKE")  # drawn at the top left
    finally:
        term.close()


@tmux
def test_keys_typed_before_the_console_is_up_are_not_votes(tmp_path: Path) -> None:
    """Keys piled up while the console loads (a slow link): the pair appears, the keys
    arrive with it, none is a vote; a key pressed once the pair is read votes."""
    words = {"q1": "one", "q2": "two"}
    a = write_run_session(tmp_path / "runA", {i: f"Alpha answer {w}." for i, w in words.items()})
    b = write_run_session(tmp_path / "runB", {i: f"Beta answer {w}." for i, w in words.items()})
    target = tmp_path / "cmp"
    term = Terminal(compare_command(a, b, target))
    try:
        term.keys(*["t"] * 9)  # typed while it starts
        screen = term.wait_for(lambda s: "Beta answer one." in s and "Alpha answer one." in s)
        screen = term.wait_for(lambda s: "pair 1/2" in s)
        time.sleep(1.0)
        screen = term.screen()
        assert "voted 0" in screen and "saved ✓" not in screen
        assert "key ignored: " in screen  # before or just after the pair was painted
        time.sleep(KEY_SETTLE)
        term.keys("t")  # read, then voted
        term.wait_for(lambda s: "saved ✓" in s and "voted 1" in s)
        term.keys("q")
        wait_gone(term.pid)
    finally:
        term.close()
    written = [  # votes go to the rater's own file (issue 18), none to events.jsonl
        json.loads(line)
        for path in [target / "events.jsonl", *sorted((target / "ratings").glob("*.jsonl"))]
        for line in path.read_text().splitlines()
        if '"preference"' in line
    ]
    assert [e["choice"] for e in written] == ["tie"]
    rows = [json.loads(line) for line in run_cli("export", str(target)).stdout.splitlines()]
    assert [r["human"] for r in rows if r.get("human")] == ["tie"]


# --- 6. the running line's intervals are the report's ---------------------------------------


def report_interval(directory: Path, *extra: str) -> str:
    """runB's win rate and interval as `sftscope report --format json` gives them."""
    result = run_cli("report", str(directory), "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    human = json.loads(result.stdout)["comparison"]["groups"][0]["sources"]["human"]
    low, high = human["win_rate_b_ci"]
    return f"{human['win_rate_b']:.2f} [{low:.2f}, {high:.2f}]"


def mixed_votes(tmp_path: Path) -> Any:
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"A{i}" for i in range(20)})
    b = write_run_session(tmp_path / "runB", {f"q{i}": f"B{i}" for i in range(20)})
    comparison = compare(tmp_path, a, b)
    for n, pair in enumerate(comparison.state.ordered()):
        comparison.session.prefer(pair.pair, ("b", "a", "b", "tie")[n % 4])
    return comparison


async def test_the_running_line_shows_the_reports_interval(tmp_path: Path) -> None:
    app = CompareApp(mixed_votes(tmp_path))
    async with app.run_test(size=(120, 30)) as pilot:
        await on_screen(pilot, app)
        tally = await shows(pilot, app, "n=20", "#tally")
        await pilot.press("q")
    line = next(row for row in tally.splitlines() if "runB  W" in row)
    assert report_interval(tmp_path / "cmp") in line and "resamples" not in line
    # The check can tell: 200 resamples (the console's count before) give another interval.
    assert report_interval(tmp_path / "cmp", "--resamples", "200") not in line


async def test_fewer_resamples_on_a_large_comparison_are_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compare_app, "TALLY_BUDGET", 20 * 500)  # as if 20 pairs were many
    app = CompareApp(mixed_votes(tmp_path))
    async with app.run_test(size=(120, 30)) as pilot:
        await on_screen(pilot, app)
        tally = await shows(pilot, app, "n=20", "#tally")
        await pilot.press("q")
    line = next(row for row in tally.splitlines() if "runB  W" in row)
    interval = report_interval(tmp_path / "cmp", "--resamples", "500")
    assert f"{interval} (500 resamples; report: 2000) n=20" in line


def test_the_running_line_uses_the_reports_resamples_up_to_a_thousand_pairs() -> None:
    assert compare_app.tally_resamples(1000) == 2000
    assert compare_app.tally_resamples(5000) == 400 and compare_app.tally_resamples(10**6) == 200


# --- 12. quitting says what comes next, with this session's path ---------------------------


def as_command(line: str) -> list[str]:
    """A printed `sftscope …` line as the real command (this interpreter, this checkout)."""
    words = shlex.split(line, comments=True)
    assert words[0] == "sftscope", line
    return [sys.executable, "-m", "sftscope.tui.cli", *words[1:]]


def run_printed(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*as_command(line)[3:], cwd=cwd)


def printed_steps(term: Terminal) -> tuple[str, dict[str, str]]:
    """What the pane shows once the console has ended (wrapped lines joined), and the
    next-step commands by name."""
    text = term.tmux("capture-pane", "-p", "-J", "-S", "-60", "-t", term.name)
    found = re.findall(r"^  (resume|report|export|DPO):\s+(sftscope .*)$", text, re.MULTILINE)
    return text, dict(found)


def quit_and_read(term: Terminal) -> tuple[str, dict[str, str]]:
    term.keys("q")
    wait_gone(term.pid)
    deadline = time.monotonic() + 10  # the process is gone; tmux may still be drawing its last lines
    while "export" not in printed_steps(term)[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    return printed_steps(term)


@tmux
def test_quitting_the_ab_console_prints_commands_that_work(tmp_path: Path) -> None:
    words = {"q1": "one", "q2": "two", "q3": "three"}
    a = write_run_session(tmp_path / "runA", {i: f"Alpha answer {w}." for i, w in words.items()})
    b = write_run_session(tmp_path / "runB", {i: f"Beta answer {w}." for i, w in words.items()})
    target = tmp_path / "my runs" / "cmp"  # a space: the printed path must be quoted
    term = Terminal(compare_command(a, b, target), size=(60, 20))
    term.tmux("set-option", "-t", term.name, "remain-on-exit", "on")  # keep what it printed
    try:
        term.wait_for(lambda s: "pair 1/3" in s and "Beta answer one." in s)
        time.sleep(KEY_SETTLE + 0.3)
        term.keys("1")
        term.wait_for(lambda s: "pair 2/3" in s)
        text, steps = quit_and_read(term)
    finally:
        term.close()
    quoted = shlex.quote(str(target))
    assert f"sftscope: comparison saved in {target}" in text
    assert steps["resume"] == f"sftscope compare --session {quoted}"
    assert steps["report"] == f"sftscope report {quoted}"
    assert steps["export"] == f"sftscope export {quoted} --format csv -o pairs.csv"
    assert steps["DPO"] == f"sftscope export {quoted} --format dpo -o dpo.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    report = run_printed(steps["report"], work)
    assert report.returncode == 0 and "runA" in report.stdout, report.stderr
    assert run_printed(steps["export"], work).returncode == 0
    assert len((work / "pairs.csv").read_text().splitlines()) == 4  # a header and three pairs
    assert run_printed(steps["DPO"], work).returncode == 0
    assert len((work / "dpo.jsonl").read_text().splitlines()) == 1  # the one vote
    # The run console's form would not resume it: the printed one is the one that does.
    wrong = run_cli("run", "--session", str(target), "--headless")
    assert wrong.returncode == 2 and "is a comparison" in wrong.stderr
    again = Terminal(as_command(steps["resume"]))
    try:
        again.wait_for(lambda s: "voted 1" in s and "pair 2/3" in s)
        again.keys("q")
        wait_gone(again.pid)
    finally:
        again.close()


def test_the_dpo_step_names_a_system_message_when_the_sessions_differ(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {"q0": "x", "q1": "y"})
    b = write_run_session(tmp_path / "runB", {"q0": "z", "q1": "w"}, system="Be kind.")
    comparison = compare(tmp_path, a, b)
    for pair in comparison.state.ordered():
        comparison.session.prefer(pair.pair, "b")
    steps = CompareApp(comparison).next_steps()
    comparison.close("stopped")
    dpo = next(line for line in steps if line.startswith("  DPO:")).split(":", 1)[1].strip()
    assert "--dpo-system none" in dpo
    assert run_printed(dpo, tmp_path).returncode == 0
    assert len((tmp_path / "dpo.jsonl").read_text().splitlines()) == 2
    # Without the flag the same export is refused: the printed line must carry it.
    bare = run_cli("export", str(tmp_path / "cmp"), "--format", "dpo")
    assert bare.returncode == 2 and "--dpo-system" in bare.stderr
    # Sessions with the same system message need no flag.
    same = CompareApp(make_same(tmp_path)).next_steps()
    assert not any("--dpo-system" in line for line in same)


def make_same(tmp_path: Path) -> Any:
    a = write_run_session(tmp_path / "sameA", {"q0": "x"}, system="S")
    b = write_run_session(tmp_path / "sameB", {"q0": "y"}, system="S")
    config = CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "cmp2"), order="file")
    return open_comparison(config)


@tmux
def test_quitting_the_run_console_prints_commands_that_work(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"i{n}", "prompt": f"Say {n}."} for n in range(2)])
    session = tmp_path / "run one"
    command = [sys.executable, "-m", "sftscope.tui.cli", "run", "--session", str(session)]
    command += ["--prompts", str(prompts), "--engine", f"openai:{server_url}#m"]
    term = Terminal(command, size=(80, 24))
    term.tmux("set-option", "-t", term.name, "remain-on-exit", "on")
    try:
        term.wait_for(lambda s: "A steady scripted answer." in s)
        text, steps = quit_and_read(term)
    finally:
        term.close()
    quoted = shlex.quote(str(session))
    assert f"sftscope: session saved in {session}" in text
    assert steps["resume"] == f"sftscope run --session {quoted}"
    assert steps["report"] == f"sftscope report {quoted}"
    assert steps["export"] == f"sftscope export {quoted} --format csv -o export.csv"
    assert "DPO" not in steps
    work = tmp_path / "work"
    work.mkdir()
    assert run_printed(steps["report"], work).returncode == 0
    assert run_printed(steps["export"], work).returncode == 0
    assert "i0" in (work / "export.csv").read_text()
    resumed = run_cli(*as_command(steps["resume"])[3:], "--headless", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    assert str(session) in resumed.stderr
    # A comparison's resume command does not open a run session.
    wrong = run_cli("compare", "--session", str(session))
    assert wrong.returncode == 2 and "run session" in wrong.stderr


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_system_lines_and_the_cut_note_fit_small_terminals(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    a = run_session(tmp_path / "runA", {"q0": HAIKU}, finish={"q0": ("length", 64)})
    b = run_session(tmp_path / "runB", {"q0": "Short."}, system="Be kind.")
    comparison = compare(tmp_path, a, b)
    pair = comparison.state.ordered()[0]
    app = CompareApp(comparison)
    async with app.run_test(size=size) as pilot:
        await on_screen(pilot, app)
        rows = screen_lines(app)
        assert len(rows) == size[1] and max(len(row) for row in rows) <= size[0]
        prompt = widget_text(app, "#prompt")
        assert "system 1:" in prompt and "system 2:" in prompt and "question q0" in prompt
        cut = widget_text(app, pane_of(pair, "a"))
        # On the pane's border: seen without scrolling, however small the pane.
        assert "cut at 64 tokens" in cut.splitlines()[-1] and HAIKU.splitlines()[0] in cut
        assert "cut at" not in widget_text(app, pane_of(pair, "b"))
        assert "1/2" in rows[-1] and "q quit" in rows[-1]
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "raw text" in "\n".join(screen_lines(app)))
        await pilot.press("escape")
        await pilot.press("q")
