"""Who labels what (issue 18 §2): `--raters a,b,c --overlap K`, a seeded plan where each
item gets exactly K raters and every pair of raters shares items; saved in session.toml,
kept on resume, each rater's items first in their console, progress per rater."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.core.assignment import (
    Assignment,
    AssignmentError,
    assigned_queue,
    assignment_progress,
)
from sftscope.sessions.core.raters import read_ratings
from sftscope.sessions.core.state import audit_order
from sftscope.sessions.core.store import read_events, read_header
from sftscope.sessions.run.config import ConfigError, RunConfig
from sftscope.sessions.run.launch import Launch, LaunchError, open_run
from sftscope.tui.cli.main import main

from tests.conftest import prompts_file
from tests.console_helpers import make_app, wait_until
from tests.fake_engine import FakeEngine

CASES = [(3, 2, 10), (5, 2, 10), (4, 3, 12), (6, 2, 15), (6, 3, 20), (7, 3, 9), (10, 5, 60), (3, 3, 4)]


@pytest.mark.parametrize(("raters", "overlap", "items"), CASES)
def test_each_item_gets_k_raters_and_every_pair_shares_items(raters: int, overlap: int, items: int) -> None:
    names = tuple(f"r{n}" for n in range(raters))
    ids = [f"q{n}" for n in range(items)]
    for seed in (0, 1, 99):
        assignment = Assignment(names, overlap, seed)
        assert assignment.needed() <= items
        plan = assignment.plan(ids)
        assert sorted(plan) == sorted(ids)  # every item, once
        for group in plan.values():
            assert len(group) == overlap == len(set(group)) and set(group) <= set(names)
        for a, b in itertools.combinations(names, 2):
            shared = [item for item, group in plan.items() if a in group and b in group]
            assert shared, f"{a} and {b} share no item ({raters} raters, K={overlap}, {items} items)"
        loads = [sum(name in group for group in plan.values()) for name in names]
        assert max(loads) - min(loads) <= 1  # the work evens out
        assert sum(loads) == overlap * items


def test_two_of_five_on_ten_items_gives_every_pair_exactly_one_item() -> None:
    plan = Assignment(("a", "b", "c", "d", "e"), 2, 0).plan([f"q{n}" for n in range(10)])
    pairs = sorted(tuple(sorted(group)) for group in plan.values())
    assert pairs == sorted(itertools.combinations("abcde", 2))  # all ten pairs, each once


def test_the_plan_is_the_seeds_and_not_the_order_items_are_given_in() -> None:
    ids = [f"q{n}" for n in range(30)]
    assignment = Assignment(("a", "b", "c"), 2, 7)
    plan = assignment.plan(ids)
    assert assignment.plan(list(reversed(ids))) == plan  # the same on every machine
    assert Assignment(("a", "b", "c"), 2, 7).plan(ids) == plan
    assert Assignment(("a", "b", "c"), 2, 8).plan(ids) != plan  # another seed, another plan
    assert assignment.items_of("b", ids) == {item for item, group in plan.items() if "b" in group}
    assert assignment.items_of("zed", ids) == frozenset()


def test_too_few_items_for_every_pair_is_refused_and_k1_shares_nothing() -> None:
    five = Assignment(("a", "b", "c", "d", "e"), 2, 0)
    assert five.needed() == 10
    five.check_items(10)
    with pytest.raises(AssignmentError, match=r"--overlap 2: 5 raters need 10 items .* has 9"):
        five.check_items(9)
    assert Assignment(("a", "b", "c"), 3, 0).needed() == 1  # everyone on every item
    split = Assignment(("a", "b", "c"), 1, 0)  # the work split: no pair shares an item
    assert split.needed() == 0
    split.check_items(1)
    plan = split.plan(["q1", "q2", "q3"])
    assert sorted(group[0] for group in plan.values()) == ["a", "b", "c"]


def test_assigned_queue_puts_a_raters_items_first_in_the_walks_order() -> None:
    walk = ["q5", "q1", "q4", "q2", "q3"]
    assert assigned_queue(walk, frozenset({"q2", "q1"})) == ["q1", "q2", "q5", "q4", "q3"]
    assert assigned_queue(walk, frozenset()) == walk


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"overlap": 2}, "--overlap 2: needs --raters"),
        ({"raters": "a,b"}, "--raters a,b: needs --overlap"),
        ({"raters": "a,b", "overlap": 3}, "--overlap 3: must be between 1 and 2"),
        ({"raters": "a,b", "overlap": 0}, "--overlap 0: must be a positive integer"),
        ({"raters": "a,no/slash", "overlap": 1}, "--raters 'no/slash': not a rater name"),
        ({"raters": "a,b,a", "overlap": 2}, "--raters a,b,a: names a twice"),
        ({"raters": ",", "overlap": 1}, "--raters ''"),
    ],
)
def test_bad_flags_are_one_line_naming_the_flag(flags: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        RunConfig.build(flags=flags)


def test_the_command_line_refuses_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = prompts_file(tmp_path, 4)
    session = tmp_path / "s"
    args = ["run", "--headless", "--prompts", str(prompts), "--session", str(session)]
    assert main([*args, "--raters", "a,b", "--overlap", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overlap 5: must be between 1 and 2" in err[0]
    assert main([*args, "--raters", "a,b,c,d,e", "--overlap", "2"]) == 2  # 4 items for 10 pairs
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "5 raters need 10 items" in err[0] and "has 4" in err[0]
    assert not session.exists()  # refused before anything is made


async def _opened(session: Path, prompts: Path | None = None, **flags: Any) -> Launch:
    config = RunConfig.build(
        flags={"session": str(session), "prompts": str(prompts) if prompts else None, **flags}
    )
    launch = open_run(config, engine=FakeEngine())
    await launch.start()
    return launch


async def test_saved_in_the_header_kept_on_resume_and_another_refused(tmp_path: Path) -> None:
    prompts = prompts_file(tmp_path, 12)
    ids = [f"q{n}" for n in range(1, 13)]
    session = tmp_path / "s"
    launch = await _opened(session, prompts, seed=3, raters="alice,bob,carol", overlap=2, rater="bob")
    mine = Assignment(("alice", "bob", "carol"), 2, 3).items_of("bob", ids)
    assert launch.assigned_items() == mine and 0 < len(mine) < 12
    walk = launch.walk()  # bob's items first, each part in the seeded order
    assert set(walk[: len(mine)]) == mine and walk == assigned_queue(audit_order(ids, 3), mine)
    await launch.close("stopped")
    header = read_header(session)
    assert header["assignment"] == {"raters": ["alice", "bob", "carol"], "overlap": 2, "seed": 3}
    assert "q1" not in (session / "session.toml").read_text()  # the plan is derived, never stored
    # Resumed: kept without the flags, and with the same ones; a rater it does not name walks as before.
    resumed = await _opened(session, rater="dave")
    assert resumed.assigned_items() == frozenset() and resumed.walk() == audit_order(ids, 3)
    await resumed.close("stopped")
    again = await _opened(session, raters="alice,bob,carol", overlap=2, rater="alice")
    assert again.walk()[0] in Assignment(("alice", "bob", "carol"), 2, 3).items_of("alice", ids)
    await again.close("stopped")
    for flags in ({"raters": "alice,bob,carol", "overlap": 3}, {"raters": "alice,bob", "overlap": 2}):
        with pytest.raises(
            LaunchError, match=r"session .* was made with \[assignment\] --raters alice,bob,carol"
        ):
            open_run(RunConfig.build(flags={"session": str(session), **flags}), engine=FakeEngine())
    assert read_header(session)["assignment"]["overlap"] == 2  # unchanged
    plain = await _opened(tmp_path / "plain", prompts)
    await plain.close("stopped")
    with pytest.raises(LaunchError, match="was made with no assignment"):
        open_run(
            RunConfig.build(flags={"session": str(tmp_path / "plain"), "raters": "a,b", "overlap": 2}),
            engine=FakeEngine(),
        )


async def test_progress_per_rater_for_the_report_and_in_the_console_header(tmp_path: Path) -> None:
    prompts = prompts_file(tmp_path, 6)
    session = tmp_path / "s"
    flags = {"raters": "ann,ben", "overlap": 1, "seed": 5, "order": "file"}
    app = make_app(session, engine=FakeEngine(), prompts=prompts, rater="ann", **flags)
    ids = [f"q{n}" for n in range(1, 7)]
    mine = Assignment(("ann", "ben"), 1, 5).items_of("ann", ids)
    assert len(mine) == 3
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        assert app.item_ids[:3] == [item for item in ids if item in mine]  # her items first
        status = str(app.main_screen.query_one("#status").render())
        assert "yours 0/3" in status
        first = app.item_ids[0]
        await wait_until(pilot, lambda: app.session.state.items[first].status == "done")
        for criterion in app.rubric.criteria:
            if criterion.required:
                value = criterion.min if criterion.kind == "likert" else True
                app.session.score(first, criterion.name, value)
        app.scored.add(first)
        app.set_status()
        assert "yours 1/3" in str(app.main_screen.query_one("#status").render())
        await app.shutdown("stopped")
    header = read_header(session)
    events = read_events(session / "events.jsonl").events
    progress = assignment_progress(header, events, read_ratings(session, header, events), app.rubric)
    assert {name: (p.assigned, p.labelled) for name, p in progress.items()} == {"ann": (3, 1), "ben": (3, 0)}
    assert assignment_progress({**header, "assignment": None}, events, {}, app.rubric) == {}
