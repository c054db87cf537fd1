"""Raters on comparisons and the header that says who labels (issue 18 §1): each rater's A/B
votes in ratings/NAME.jsonl, blind to the others', a second console of the same rater
refused, another rater following the writer; a comparison written before raters reads as
one rater; the run console's and the A/B console's headers name the rater and the writer."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.compare.comparison import (
    CompareConfig,
    CompareError,
    fold_comparison,
    fold_comparison_for,
    open_comparison,
    votes_by_rater,
)
from sftscope.sessions.core.events import PairJudged
from sftscope.sessions.core.raters import LEGACY, read_ratings
from sftscope.sessions.core.store import SessionStore, load_session, read_header
from sftscope.tui.cli.main import main
from sftscope.tui.compare.app import CompareApp

from tests.conftest import run_cli
from tests.console_helpers import screen_text, wait_until
from tests.test_compare_console import make_comparison, on_screen, widget_text

DATA = Path(__file__).parent / "data"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _writer_is_me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


async def test_a_second_rater_votes_blind_while_the_first_holds_the_comparison(tmp_path: Path) -> None:
    """alice's comparison holds the writer lock (pairs, verdicts); bob's A/B console follows it
    read-only: his header names him and the writer, alice's vote never shows, his vote goes to
    his file, a verdict alice's process writes reaches his console by following the log."""
    alice = make_comparison(tmp_path, rater="alice")
    first = alice.walk()[0]
    alice.session.prefer(first.pair, "a")
    bob = open_comparison(CompareConfig(session=str(tmp_path / "cmp"), rater="bob"))
    assert bob.writer is not None and bob.rater == "bob" and bob.store.following
    assert bob.state.pairs[first.pair].human is None  # blind: alice's vote is not in his fold
    app = CompareApp(bob)
    async with app.run_test(size=(160, 24)) as pilot:
        await on_screen(pilot, app, 0)
        header = widget_text(app, "#status")
        assert "rater bob" in header and "voting only: pairs and verdicts come from pid" in header
        assert "your vote" not in widget_text(app, "#note")
        await pilot.press("2")  # answer 2 of the first pair
        await wait_until(pilot, lambda: first.pair in app.voted, timeout=10)
        alice.session.record(PairJudged(first.item.id, first.pair, "fj", "a", ab="a", ba="a"))
        await wait_until(pilot, lambda: "fj" in app.judge_names, timeout=10)  # followed
        await pilot.press("q")
    alice.close("stopped")
    mine = _lines(tmp_path / "cmp" / "ratings" / "bob.jsonl")
    assert [(r["type"], r["pair"], r["rater"]) for r in mine] == [("preference", first.pair, "bob")]
    assert mine[0]["choice"] == first.side(2)
    theirs = _lines(tmp_path / "cmp" / "ratings" / "alice.jsonl")
    assert [(r["pair"], r["choice"], r["rater"]) for r in theirs] == [(first.pair, "a", "alice")]
    header, events, _ = load_session(tmp_path / "cmp")
    assert not [e for e in events if e["type"] == "preference"]  # votes live in the raters' files
    ratings = read_ratings(tmp_path / "cmp", header, events)
    assert sorted(ratings) == ["alice", "bob"]
    assert votes_by_rater(events, ratings) == {first.pair: {"alice": "a", "bob": first.side(2)}}
    assert fold_comparison_for(events, ratings, "alice").pairs[first.pair].judges  # the writer's verdict


def test_the_same_rater_twice_is_refused_another_is_not(tmp_path: Path) -> None:
    alice = make_comparison(tmp_path, rater="alice")
    directory = str(tmp_path / "cmp")
    with pytest.raises(CompareError, match="rater alice is already labelling this session"):
        open_comparison(CompareConfig(session=directory, rater="alice"))
    with pytest.raises(CompareError, match=r"--judge-panel: .* is open in another sftscope"):
        open_comparison(CompareConfig(session=directory, rater="carol", judge_panels=("p=a,b",)))
    bob = open_comparison(CompareConfig(session=directory, rater="bob"))
    assert bob.writer == _writer_is_me()
    with pytest.raises(CompareError, match="rater bob is already labelling"):
        open_comparison(CompareConfig(session=directory, rater="bob"))
    bob.close("stopped")
    alice.close("stopped")
    # Once the writer has gone, a rater opens it as the writer again (no follower).
    again = open_comparison(CompareConfig(session=directory, rater="bob"))
    assert again.writer is None and not again.store.following
    again.close("stopped")


def test_compare_refuses_the_same_rater_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line: a second A/B console of alice is one line and exit 2, and so is a
    bad --rater; nothing is written to alice's file by either."""
    alice = make_comparison(tmp_path, rater="alice")
    directory = str(tmp_path / "cmp")
    assert main(["compare", "--session", directory, "--rater", "alice"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "rater alice is already labelling" in err
    assert main(["compare", "--session", directory, "--rater", "a/b"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--rater 'a/b'" in err
    alice.close("stopped")
    assert not (tmp_path / "cmp" / "ratings" / "alice.jsonl").exists()  # no vote, no file


def test_a_comparison_written_before_raters_reads_as_one_rater(tmp_path: Path) -> None:
    """The checked-in comparison: its votes in events.jsonl read as one rater ("operator",
    then whoever claims them first); a second rater sees none of them; it still exports as
    written after the claim (test_v1_session checks replay and export on the untouched copy)."""
    directory = tmp_path / "compare-session"
    shutil.copytree(DATA / "compare-session", directory)
    before = (directory / "events.jsonl").read_bytes()
    header, events, _ = load_session(directory)
    ratings = read_ratings(directory, header, events)
    assert list(ratings) == [LEGACY] and len(ratings[LEGACY]) == 7
    plain = fold_comparison(events)
    as_one = fold_comparison_for(events, ratings, LEGACY)
    shown = [(p.pair, p.human, p.skipped) for p in plain.ordered()]
    assert shown == [(p.pair, p.human, p.skipped) for p in as_one.ordered()]
    assert len(votes_by_rater(events, ratings)) == 4

    alice = open_comparison(CompareConfig(session=str(directory), rater="alice"), revisit=True)
    assert [p.human for p in alice.state.ordered()] == [p.human for p in plain.ordered()]
    bob = open_comparison(CompareConfig(session=str(directory), rater="bob"), revisit=True)
    assert all(p.human is None and not p.skipped for p in bob.state.ordered())  # blind
    bob.close("stopped")
    alice.close("stopped")
    assert read_header(directory)["rater"] == "alice"  # the claim
    assert list(read_ratings(directory)) == ["alice"]
    assert (directory / "events.jsonl").read_bytes() == before
    result = run_cli("export", str(directory), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (DATA / "compare-export.jsonl").read_text()


async def test_the_run_console_names_its_rater_and_the_writer(tmp_path: Path) -> None:
    """`run --rater B` on a session another process generates opens a labelling console: its
    header says who labels and where the answers come from, inside the console; once the
    writer has gone, the second part goes."""
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.console.app import SftscopeApp

    from tests.compare_helpers import write_run_session

    directory = write_run_session(tmp_path / "run", {"q1": "one", "q2": "two"})
    writer = SessionStore(directory)
    writer.open()
    app = SftscopeApp(open_replay(directory, 0.0, rater="bob"))
    async with app.run_test(size=(200, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        await wait_until(
            pilot, lambda: f"answers come from {_writer_is_me()}" in screen_text(app), timeout=10
        )
        assert "rater bob" in screen_text(app)
        writer.close()
        await wait_until(pilot, lambda: "answers come from" not in screen_text(app), timeout=10)
        assert "rater bob" in screen_text(app)
        await pilot.press("q")


def test_reports_and_exports_read_the_raters_votes(tmp_path: Path) -> None:
    """One rater: their votes; two or more: a strict majority per pair, none without one
    (read_comparison, what report, export and replay --headless read)."""
    from sftscope.sessions.compare.comparison import read_comparison

    alice = make_comparison(tmp_path, rater="alice")
    one, two = (pair.pair for pair in alice.walk()[:2])
    alice.session.prefer(one, "a")
    alice.session.prefer(two, "b")
    alice.close("stopped")
    directory = tmp_path / "cmp"
    header, events, _ = load_session(directory)
    assert {p.pair: p.human for p in read_comparison(directory, header, events).ordered()}[one] == "a"
    rows = {
        r["pair"]: r["human"] for r in map(json.loads, run_cli("export", str(directory)).stdout.splitlines())
    }
    assert (rows[one], rows[two]) == ("a", "b")  # one rater: exported as before raters
    for name, votes in (("bob", ("a", "a")), ("carol", ("a", "tie"))):
        rater = open_comparison(CompareConfig(session=str(directory), rater=name))
        for pair, choice in zip((one, two), votes, strict=True):
            rater.session.prefer(pair, choice)
        rater.close("stopped")
    state = read_comparison(directory, header, events)
    assert state.pairs[one].human == "a"  # three of three
    assert state.pairs[two].human is None  # b, a, tie: no strict majority
    rows = {
        r["pair"]: r["human"] for r in map(json.loads, run_cli("export", str(directory)).stdout.splitlines())
    }
    assert (rows[one], rows[two]) == ("a", None)
