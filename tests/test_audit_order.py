"""Issue 17, section 1: a random audit order, and which labels form the random sample.

A label given while walking the session's seeded random order is `sample = "random"`;
one given after a jump is "chosen". An item belongs to the random sample by its FIRST
label in force (a revision changes the value, never the membership).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.compare.comparison import fold_comparison
from sftscope.sessions.core import events
from sftscope.sessions.core.events import ItemAdded, PairAdded, Preferred, Scored, Skipped, Undone, problem
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import load_session
from sftscope.sessions.run.config import ConfigError, RunConfig, load_config
from sftscope.sessions.run.export import export_rows
from sftscope.sessions.run.launch import Launch, LaunchError, open_run

from tests.conftest import prompts_file
from tests.console_helpers import make_app, settle, wait_until
from tests.fake_engine import FakeEngine


def _records(*kinds: events.Event) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(k.to_record())) for k in kinds]


ITEM = ItemAdded("q1", {"id": "q1", "turns": ["Hi?"]}, 0)
ANSWER = events.Generated("q1", 0, "hello", "stop", gen="g1")


# --- the shared interface: events, ItemState.sampled, PairState.sampled ------------------


def test_sample_is_written_only_when_set_and_checked_on_read() -> None:
    assert "sample" not in Scored("q1", "helpfulness", 4).to_record()  # old lines stay as they were
    record = Scored("q1", "helpfulness", 4, sample="random").to_record()
    assert record["sample"] == "random" and problem(record) is None
    assert problem({**record, "sample": "chosen"}) is None
    assert problem({**record, "sample": "sometimes"}) == (
        "score event with sample 'sometimes' (expected one of random, chosen)"
    )
    vote = Preferred("q1", "q1:a|b", "a", "a", sample="chosen").to_record()
    assert vote["sample"] == "chosen" and problem(vote) is None
    assert problem({**vote, "sample": True}) is not None


def test_the_first_label_decides_membership_a_revision_only_the_value() -> None:
    state = fold(
        _records(
            ITEM,
            ANSWER,
            Scored("q1", "helpfulness", 4, gen="g1", sample="random"),
            Scored("q1", "helpfulness", 2, previous=4, gen="g1", sample="chosen"),  # revised after `d`
            Scored("q1", "harmless", True, gen="g1", sample="chosen"),
        )
    )
    item = state.items["q1"]
    assert item.human == {"helpfulness": 2, "harmless": True}
    assert item.sampled("helpfulness") is True
    assert item.sampled("harmless") is False
    assert item.sampled("accuracy") is None  # no label


def test_an_undone_first_label_gives_membership_to_the_next() -> None:
    state = fold(
        _records(
            ITEM,
            ANSWER,
            Scored("q1", "helpfulness", 4, gen="g1", sample="random"),
            Undone("q1", "score"),
            Scored("q1", "helpfulness", 3, gen="g1", sample="chosen"),
        )
    )
    assert state.items["q1"].sampled("helpfulness") is False


def test_a_stale_label_decides_nothing_and_old_labels_have_no_status() -> None:
    regenerated = events.Generated("q1", 0, "again", "stop", gen="g2")
    state = fold(
        _records(ITEM, ANSWER, Scored("q1", "helpfulness", 4, gen="g1", sample="random"), regenerated)
    )
    assert state.items["q1"].sampled("helpfulness") is None  # the label is on an earlier answer
    state = fold(_records(ITEM, ANSWER, Scored("q1", "helpfulness", 4, gen="g1")))
    assert state.items["q1"].sampled("helpfulness") is None  # written before issue 17


def _pair() -> PairAdded:
    return PairAdded("q1", "q1:a|b", "a", "b", ["one"], ["two"], "a", 0)


def test_a_pair_is_sampled_by_its_first_vote_in_force() -> None:
    state = fold_comparison(
        _records(
            ITEM,
            _pair(),
            Preferred("q1", "q1:a|b", "a", "a", sample="random"),
            Preferred("q1", "q1:a|b", "b", "a", sample="chosen"),
        )
    )
    pair = state.pairs["q1:a|b"]
    assert pair.human == "b" and pair.sampled is True
    skipped = fold_comparison(
        _records(
            ITEM,
            _pair(),
            Preferred("q1", "q1:a|b", "a", "a", sample="random"),
            Skipped("q1", by="human", pair="q1:a|b"),
        )
    )
    assert skipped.pairs["q1:a|b"].sampled is None  # no vote in force
    chosen = fold_comparison(_records(ITEM, _pair(), Preferred("q1", "q1:a|b", "tie", "a", sample="chosen")))
    assert chosen.pairs["q1:a|b"].sampled is False
    old = fold_comparison(_records(ITEM, _pair(), Preferred("q1", "q1:a|b", "tie", "a")))
    assert old.pairs["q1:a|b"].sampled is None


# --- the seeded order: computed, saved, kept ---------------------------------------------

IDS = [f"q{n}" for n in range(1, 31)]


def test_the_audit_order_is_a_seeded_permutation() -> None:
    from sftscope.sessions.core.state import audit_order

    order = audit_order(IDS, 0)
    assert sorted(order) == sorted(IDS) and order != IDS
    assert audit_order(IDS, 0) == order  # the same on every resume and replay
    assert audit_order(IDS, 1) != order  # another seed, another order
    # An id added later takes its place without moving the others.
    assert [i for i in audit_order([*IDS, "q99"], 0) if i != "q99"] == order


async def _opened(session: Path, prompts: Path | None = None, **flags: Any) -> Launch:
    launch = open_run(
        RunConfig.build(
            flags={"session": str(session), "prompts": str(prompts) if prompts else None, **flags}
        ),
        engine=FakeEngine(),
    )
    await launch.start()
    return launch


async def test_a_new_session_is_shuffled_by_its_seed_and_keeps_it_on_resume(tmp_path: Path) -> None:
    from sftscope.sessions.core.state import audit_order

    prompts = prompts_file(tmp_path, 12)
    ids = [f"q{n}" for n in range(1, 13)]
    launch = await _opened(tmp_path / "s", prompts, seed=7)
    assert launch.order == "shuffled" and launch.walk() == audit_order(ids, 7) != ids
    # The generator works ahead in the same order: the next item shown is the next generated.
    launch.generator.focus(launch.walk()[0], 1)
    assert list(launch.generator._pending) == launch.walk()[:2]
    await launch.close("stopped")
    assert 'order = "shuffled"' in (tmp_path / "s" / "session.toml").read_text()
    resumed = await _opened(tmp_path / "s")
    assert resumed.order == "shuffled" and resumed.walk() == audit_order(ids, 7)
    await resumed.close("stopped")
    with pytest.raises(LaunchError, match=r"--order file: session .* was made with order shuffled"):
        open_run(
            RunConfig.build(flags={"session": str(tmp_path / "s"), "order": "file"}), engine=FakeEngine()
        )
    other = await _opened(tmp_path / "other", prompts, seed=8)
    assert other.walk() != audit_order(ids, 7)
    await other.close("stopped")


async def test_order_file_keeps_the_prompt_sets_order(tmp_path: Path) -> None:
    launch = await _opened(tmp_path / "s", prompts_file(tmp_path, 12), order="file")
    assert launch.order == "file" and launch.walk() == [f"q{n}" for n in range(1, 13)]
    await launch.close("stopped")
    assert 'order = "file"' in (tmp_path / "s" / "session.toml").read_text()
    with pytest.raises(LaunchError, match="--order shuffled"):
        open_run(
            RunConfig.build(flags={"session": str(tmp_path / "s"), "order": "shuffled"}), engine=FakeEngine()
        )


async def test_a_session_written_before_issue_17_reads_as_file_order(tmp_path: Path) -> None:
    from tests.compare_helpers import write_run_session

    directory = write_run_session(tmp_path / "old", {f"q{n}": f"answer {n}" for n in range(1, 6)})
    launch = await _opened(directory)
    assert "order" not in launch.store.header
    assert launch.order == "file" and launch.walk() == [f"q{n}" for n in range(1, 6)]
    await launch.close("stopped")
    assert "order" not in (directory / "session.toml").read_text()  # nothing added on resume
    header, events, _ = load_session(directory)
    assert not any(column.startswith("sample.") for column in export_rows(header, events)[0])


def test_an_order_that_is_neither_is_refused_with_the_flag_or_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--order 'random': must be shuffled or file"):
        RunConfig.build(flags={"order": "random"})
    config = tmp_path / "c.toml"
    config.write_text('seed = 3\norder = "random"\n')
    with pytest.raises(ConfigError, match=r"c.toml:2: order = \"random\": must be shuffled or file"):
        load_config(str(config))
    config.write_text('[run]\norder = "file"\n')
    assert RunConfig.build(load_config(str(config))).order == "file"


# --- the console: which labels are random --------------------------------------------------


def _rubric(tmp_path: Path) -> Path:
    rubric = tmp_path / "r.toml"
    rubric.write_text('[[criteria]]\nname = "ok"\nkind = "binary"\n')
    return rubric


def _samples(session: Path) -> dict[str, list[str | None]]:
    """item -> the `sample` of each of its score events, in order."""
    out: dict[str, list[str | None]] = {}
    for line in (session / "events.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "score":
            out.setdefault(record["item"], []).append(record.get("sample"))
    return out


async def _label(pilot: Any, app: Any, key: str = "y") -> str:
    """Label the item on screen once its answer is there; its id."""
    item = app.item_ids[app.index]
    await wait_until(pilot, lambda: app.session.state.items[item].status == "done")
    await settle(pilot, app)
    await pilot.press(key)
    await wait_until(pilot, lambda: "ok" in app.session.state.items[item].human)
    return item


async def test_walking_the_shuffled_order_is_random_a_jump_is_chosen(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(
        session,
        engine=FakeEngine(),
        prompts=prompts_file(tmp_path, 8),
        rubric=_rubric(tmp_path),
        order="shuffled",
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        assert app.item_ids == app.launch.walk() != [f"q{n}" for n in range(1, 9)]
        first = await _label(pilot, app)  # the start: walking
        await wait_until(pilot, lambda: app.index == 1)  # auto-advance, along the walk
        second = await _label(pilot, app)
        await wait_until(pilot, lambda: app.index == 2)
        await pilot.press("right")  # the next item: still walking
        await wait_until(pilot, lambda: app.index == 3)
        third = await _label(pilot, app)
        await wait_until(pilot, lambda: app.index == 4)
        await pilot.press("left", "left")  # back to the item passed over: a jump
        await wait_until(pilot, lambda: app.index == 2)
        back = await _label(pilot, app, "n")
        await pilot.press("enter")  # enter: the next unscored along the walk
        await wait_until(pilot, lambda: app.index == 4)
        walked = await _label(pilot, app)
        target = app.item_ids[7]
        await pilot.press("ctrl+p")
        await pilot.press(*f"Go to item {target}")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.index == 7)
        jumped = await _label(pilot, app)
        # A revision after a jump changes the value, never the membership.
        app.goto(0)
        await wait_until(pilot, lambda: app.index == 0)
        await settle(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.session.state.items[first].human["ok"] is False)
        await pilot.press("q")
    samples = _samples(session)
    assert samples[first] == ["random", "chosen"]
    assert samples[second] == samples[third] == samples[walked] == ["random"]
    assert samples[back] == samples[jumped] == ["chosen"]
    _, events, _ = load_session(session)
    state = fold(events)
    assert state.items[first].sampled("ok") is True and state.items[first].human["ok"] is False
    assert state.items[back].sampled("ok") is False and state.items[walked].sampled("ok") is True
    # The export carries each label's status, and keeps prompt-set order.
    header, events, _ = load_session(session)
    rows = {row["item"]: row for row in export_rows(header, events)}
    assert [row["item"] for row in export_rows(header, events)] == [f"q{n}" for n in range(1, 9)]
    assert rows[first]["sample.ok"] == "random" and rows[back]["sample.ok"] == "chosen"
    assert rows[jumped]["sample.ok"] == "chosen" and rows[walked]["sample.ok"] == "random"
    unlabelled = next(i for i in rows if i not in samples)
    assert rows[unlabelled]["sample.ok"] is None


async def test_a_session_in_file_order_records_every_label_as_chosen(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 3), rubric=_rubric(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        assert app.item_ids == ["q1", "q2", "q3"]
        await _label(pilot, app)
        await wait_until(pilot, lambda: app.index == 1)
        await _label(pilot, app)
        await pilot.press("q")
    assert _samples(session) == {"q1": ["chosen"], "q2": ["chosen"]}
