"""Issue 17, section 1, the A/B side: a comparison's pairs walked in a seeded random order,
and which votes form its random sample.

A vote given on a pair reached by walking that order (the start, →, enter, the move after a
vote or skip) is `sample = "random"`; one given after a jump (←) is "chosen", and so is every
vote in a comparison in file order. A pair belongs to the random sample by its FIRST vote in
force (PairState.sampled). Comparisons written before issue 17 have no `order` and read, walk
and export as they always did.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sftscope.engines.toml import tomllib
from sftscope.sessions.compare.comparison import CompareConfig, CompareError, open_comparison
from sftscope.sessions.compare.export import comparison_rows
from sftscope.sessions.core.state import audit_order
from sftscope.sessions.core.store import load_session
from sftscope.tui.compare import app as compare_app
from sftscope.tui.compare.app import CompareApp

from tests.compare_helpers import write_run_session
from tests.conftest import ROOT, run_cli
from tests.console_helpers import wait_until
from tests.test_compare_console import make_comparison, on_screen

N = 12


def sources(tmp_path: Path, count: int = N) -> tuple[Path, Path]:
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"A answers {i}." for i in range(count)})
    b = write_run_session(tmp_path / "runB", {f"q{i}": f"B answers {i}." for i in range(count)})
    return a, b


def opened(a: Path, b: Path, directory: Path, **config: Any) -> Any:
    return open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(directory), **config))


def header_of(directory: Path) -> dict[str, Any]:
    return tomllib.loads((directory / "session.toml").read_text())


def walk_ids(comparison: Any) -> list[str]:
    return [pair.pair for pair in comparison.walk()]


# --- the order: computed from the seed, saved, kept -------------------------------------------


def test_a_new_comparison_walks_its_pairs_in_the_seeded_order_and_keeps_it(tmp_path: Path) -> None:
    a, b = sources(tmp_path)
    comparison = opened(a, b, tmp_path / "c")
    made = [pair.pair for pair in comparison.state.ordered()]
    assert comparison.order == "shuffled" and header_of(tmp_path / "c")["order"] == "shuffled"
    walked = walk_ids(comparison)
    assert walked == audit_order(made, 0) and walked != made and sorted(walked) == sorted(made)
    comparison.close("stopped")
    same = opened(a, b, tmp_path / "same")
    assert walk_ids(same) == walked  # the same seed, the same order
    same.close("stopped")
    other = opened(a, b, tmp_path / "other", seed=7)
    assert walk_ids(other) == audit_order(made, 7) != walked  # another seed, another order
    other.close("stopped")
    resumed = open_comparison(CompareConfig(session=str(tmp_path / "c")))
    assert resumed.order == "shuffled" and walk_ids(resumed) == walked
    resumed.close("stopped")
    # A saved comparison keeps its order: another --order is one line, not a silent change.
    with pytest.raises(CompareError, match=r"--order file: comparison .* was made with order shuffled"):
        open_comparison(CompareConfig(session=str(tmp_path / "c"), order="file"))
    with pytest.raises(CompareError, match=r"--order random: shuffled or file"):
        opened(a, b, tmp_path / "bad", order="random")


def test_order_file_walks_the_pairs_as_made(tmp_path: Path) -> None:
    a, b = sources(tmp_path)
    comparison = opened(a, b, tmp_path / "c", order="file")
    assert comparison.order == "file" and header_of(tmp_path / "c")["order"] == "file"
    assert comparison.walk() == comparison.state.ordered()
    comparison.close("stopped")


def test_a_pair_made_again_takes_its_place_without_moving_the_others(tmp_path: Path) -> None:
    from tests.test_compare import regenerate

    a, b = sources(tmp_path)
    comparison = opened(a, b, tmp_path / "c")
    before = walk_ids(comparison)
    comparison.close("stopped")
    regenerate(b, "q3", "B answers again.")
    resumed = open_comparison(CompareConfig(session=str(tmp_path / "c")))
    after = walk_ids(resumed)
    assert "q3:runA|runB" not in after and "q3:runA|runB#2" in after  # stale out, the new one in
    assert [p for p in after if p != "q3:runA|runB#2"] == [p for p in before if p != "q3:runA|runB"]
    resumed.close("stopped")


def test_a_comparison_written_before_issue_17_reads_in_creation_order(tmp_path: Path) -> None:
    directory = tmp_path / "compare-session"
    shutil.copytree(ROOT / "tests" / "data" / "compare-session", directory)
    comparison = open_comparison(CompareConfig(session=str(directory)), revisit=True)
    assert comparison.order == "file" and comparison.walk() == comparison.state.ordered()
    comparison.close("stopped")
    assert "order" not in header_of(directory)  # nothing added by a revisit
    # Its export has no `sample` column (the fixture's bytes: test_v1_session).
    header, events, _ = load_session(directory)
    assert all("sample" not in row for row in comparison_rows(header, events))
    csv_out = run_cli("export", str(directory), "--format", "csv")
    assert csv_out.returncode == 0 and ",sample," not in csv_out.stdout.splitlines()[0]


# --- the console: which votes are random ------------------------------------------------------


def preferences(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "events.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["type"] == "preference"]


async def vote(pilot: Any, app: CompareApp, key: str) -> str:
    """Vote on the pair on screen once it can be read; its id."""
    await on_screen(pilot, app)
    pair = app.current
    assert pair is not None
    count = len(pair.actions)
    await pilot.press(key)
    await wait_until(pilot, lambda: len(pair.actions) > count, timeout=10)
    return pair.pair


async def at(pilot: Any, app: CompareApp, index: int) -> None:
    await wait_until(pilot, lambda: app.index == index and not app.reveal_note, timeout=10)
    await on_screen(pilot, app, index)


async def test_walking_the_order_votes_random_going_back_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compare_app, "REVEAL_SECONDS", 0.3)
    comparison = make_comparison(tmp_path, count=8, order="shuffled")
    walk = walk_ids(comparison)
    assert walk != [pair.pair for pair in comparison.state.ordered()]
    app = CompareApp(comparison)
    async with app.run_test(size=(100, 30)) as pilot:
        assert [pair.pair for pair in app.pairs] == walk  # presented in the seeded order
        await at(pilot, app, 0)
        first = await vote(pilot, app, "1")  # the start: walking
        await at(pilot, app, 1)  # moved on by itself, along the walk
        await pilot.press("u")  # a slip noticed on the next pair: back to it, undone
        await wait_until(pilot, lambda: app.index == 0 and not comparison.state.pairs[first].actions)
        await vote(pilot, app, "2")  # voted again as it was reached: walking
        await at(pilot, app, 1)
        await pilot.press("right")  # → walks on, passing pair 1 over
        await at(pilot, app, 2)
        walked = await vote(pilot, app, "t")
        await at(pilot, app, 3)
        await pilot.press("left", "left")  # ← back to the pair passed over: a jump
        await at(pilot, app, 1)
        back = await vote(pilot, app, "b")
        await at(pilot, app, 3)  # after the vote: on to the next unvoted, walking again
        await pilot.press("enter")  # enter: the next pair without a vote, along the walk
        await at(pilot, app, 4)
        entered = await vote(pilot, app, "1")
        await at(pilot, app, 5)
        await pilot.press("left")
        await at(pilot, app, 4)
        await vote(pilot, app, "2")  # a revision after a jump: the value changes, not membership
        await pilot.press("q")
    samples: dict[str, list[str | None]] = {}
    for record in preferences(tmp_path / "cmp"):
        samples.setdefault(record["pair"], []).append(record.get("sample"))
    assert samples == {
        first: ["random", "random"],
        walked: ["random"],
        back: ["chosen"],
        entered: ["random", "chosen"],
    }
    # The status survives reopening the comparison, and goes out in the export.
    reopened = open_comparison(CompareConfig(session=str(tmp_path / "cmp")))
    pairs = reopened.state.pairs
    assert walk_ids(reopened) == walk
    assert (pairs[first].sampled, pairs[walked].sampled, pairs[entered].sampled) == (True, True, True)
    assert pairs[back].sampled is False and pairs[walk[5]].sampled is None  # not voted
    assert pairs[entered].human == pairs[entered].side(2)  # the revised value
    reopened.close("stopped")
    exported = run_cli("export", str(tmp_path / "cmp")).stdout.splitlines()
    rows = {row["pair"]: row for row in map(json.loads, exported)}
    assert [rows[p]["sample"] for p in (first, walked, back, entered, walk[5])] == [
        "random",
        "random",
        "chosen",
        "random",
        None,
    ]


async def test_a_comparison_in_file_order_records_every_vote_as_chosen(tmp_path: Path) -> None:
    comparison = make_comparison(tmp_path, count=3)  # order="file", as every older A/B test
    app = CompareApp(comparison)
    async with app.run_test(size=(100, 30)) as pilot:
        await at(pilot, app, 0)
        await vote(pilot, app, "1")
        await at(pilot, app, 1)
        await vote(pilot, app, "t")
        await pilot.press("q")
    assert [record["sample"] for record in preferences(tmp_path / "cmp")] == ["chosen", "chosen"]
    csv_out = run_cli("export", str(tmp_path / "cmp"), "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("item,pair,a,b,human,human_shown_first,sample,judges,")


async def test_a_replay_follows_the_same_rule(tmp_path: Path) -> None:
    """`sftscope replay` of a comparison (revisit): walking its saved order is random, a jump
    chosen, as in `compare`."""
    made = make_comparison(tmp_path, count=4, order="shuffled")
    made.close("stopped")
    comparison = open_comparison(CompareConfig(session=str(tmp_path / "cmp")), revisit=True)
    app = CompareApp(comparison, revisit=True)
    async with app.run_test(size=(100, 30)) as pilot:
        assert [pair.pair for pair in app.pairs] == walk_ids(comparison)
        await at(pilot, app, 0)
        walked = await vote(pilot, app, "1")
        await at(pilot, app, 1)
        await pilot.press("right", "left")  # on, then back: a jump
        await at(pilot, app, 1)
        back = await vote(pilot, app, "2")
        await pilot.press("q")
    samples = {record["pair"]: record["sample"] for record in preferences(tmp_path / "cmp")}
    assert samples == {walked: "random", back: "chosen"}


def test_the_docs_say_what_the_random_sample_of_a_comparison_is() -> None:
    text = (ROOT / "docs" / "comparing.md").read_text(encoding="utf-8")
    assert "## The random audit order" in text
    assert "`sample`" in text[text.index("## Export") :] and "`--order file`" in text
