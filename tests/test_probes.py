"""Rater reliability probes (--probe-rate): which items come back (reproducible from the
seed and the item id), when (K = 10 to 30 fully scored items later, or at the end of the
queue), how the console shows one (like a fresh item: no label, no judge, no word
"probe"), and that its answers are `probe` events that never replace the original label."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.core.events import Generated, ItemAdded, Judged, Probed, Scored, Undone, from_record
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import load_session
from sftscope.sessions.run.export import export_rows
from sftscope.sessions.run.probes import MAX_GAP, MIN_GAP, ProbeBook, ProbePlan

from tests.conftest import prompts_file, run_cli
from tests.console_helpers import make_app, screen_lines, settle, wait_until
from tests.fake_engine import FakeEngine

LABELS = {"helpfulness": 4, "instruction_following": 3, "harmless": True, "format": False}


def test_the_plan_is_reproducible_from_the_seed_and_the_item() -> None:
    ids = [f"item-{n}" for n in range(4000)]
    plan = ProbePlan(0.25, seed=7)
    chosen = [i for i in ids if plan.chosen(i)]
    assert chosen == [i for i in ids if ProbePlan(0.25, seed=7).chosen(i)]  # the same on resume
    assert 0.22 < len(chosen) / len(ids) < 0.28  # a share R of the items
    other = [i for i in ids if ProbePlan(0.25, seed=8).chosen(i)]
    assert other != chosen  # another seed, other items
    assert not any(ProbePlan(0.0, seed=7).chosen(i) for i in ids)
    assert all(ProbePlan(1.0, seed=7).chosen(i) for i in ids)
    gaps = [plan.gap(i) for i in ids]
    assert min(gaps) == MIN_GAP and max(gaps) == MAX_GAP  # 10 to 30, every value drawn
    assert gaps == [ProbePlan(0.25, seed=7).gap(i) for i in ids]


def answered(count: int) -> list[dict[str, Any]]:
    events = []
    for n in range(count):
        item = f"q{n}"
        events.append(ItemAdded(item, {"id": item, "turns": [f"Question {n}?"]}, n).to_record())
        events.append(Generated(item, 0, f"Answer {n}.", "stop").to_record())
    return events


def score_all(item: str) -> list[dict[str, Any]]:
    return [Scored(item, name, value).to_record() for name, value in LABELS.items()]


def test_a_chosen_item_comes_back_after_its_gap_or_at_the_end_of_the_queue() -> None:
    plan = ProbePlan(1.0, seed=3)
    gap = plan.gap("q0")
    count = gap + 5
    events = answered(count)
    book = ProbeBook.from_log(plan, DEFAULT_RUBRIC, events)
    state = fold(events)
    for n in range(gap):  # q0, then gap - 1 more: not yet
        for event in score_all(f"q{n}"):
            book.apply(from_record(event), state.apply(event))
    remaining = count - gap
    assert "q0" not in book.due(state.items, remaining)
    for event in score_all(f"q{gap}"):  # the gap-th item after q0
        book.apply(from_record(event), state.apply(event))
    assert book.due(state.items, remaining - 1)[0] == "q0"
    # Answered: every criterion has a probe event, and it is never due again.
    for name, value in LABELS.items():
        event = Probed("q0", name, value, original=value).to_record()
        book.apply(from_record(event), state.apply(event))
    assert book.done("q0") and "q0" not in book.due(state.items, 0)
    assert state.items["q0"].human == LABELS  # a probe is not a score
    # At the end of the queue (nothing left to score), every pending probe is due.
    assert "q1" in book.due(state.items, 0)


def test_rate_zero_never_probes_and_a_partly_scored_item_never_counts() -> None:
    events = answered(40)
    for n in range(40):
        events += score_all(f"q{n}")
    assert ProbeBook.from_log(ProbePlan(0.0), DEFAULT_RUBRIC, events).due(fold(events).items, 0) == []
    partial = [*answered(3), Scored("q0", "helpfulness", 4).to_record()]
    book = ProbeBook.from_log(ProbePlan(1.0), DEFAULT_RUBRIC, partial)
    assert book.completed == 0 and book.due(fold(partial).items, 0) == []


def test_labels_undone_since_keep_the_probe_waiting() -> None:
    events = answered(2) + score_all("q0") + score_all("q1")
    events.append(Undone("q0", "score").to_record())
    book = ProbeBook.from_log(ProbePlan(1.0), DEFAULT_RUBRIC, events)
    assert book.completed == 2  # q0 was fully scored once: it counts on the clock
    assert book.due(fold(events).items, 0) == ["q1"]  # but it has no full label to probe


def test_resume_recomputes_what_was_probed_from_the_log() -> None:
    events = answered(3) + score_all("q0") + score_all("q1") + score_all("q2")
    events += [Probed("q0", name, value, value).to_record() for name, value in LABELS.items()]
    events.append(Probed("q1", "helpfulness", 2, 4).to_record())  # q1's probe half answered
    book = ProbeBook.from_log(ProbePlan(1.0), DEFAULT_RUBRIC, events)
    assert book.probed == ["q0"]
    assert book.due(fold(events).items, 0) == ["q1", "q2"]
    assert book.answers["q1"] == {"helpfulness": 2}


# --- the console -------------------------------------------------------------------


def panel_chosen(app: Any) -> list[str]:
    """The options shown as chosen in the score panel (highlighted), as text."""
    rendered = app.screen.query_one("#scores").render()
    return [rendered.plain[s.start : s.end] for s in rendered.spans if "reverse" in str(s.style)]


def row(app: Any, item: str) -> str:
    items = app.screen.query_one("#items")
    index = app.item_ids.index(item)
    return items.row(items.states[index], app.rubric, False).plain


async def all_done(app: Any, pilot: Any) -> None:
    items = app.session.state.items
    await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in items.values()))


async def test_a_probe_comes_back_blind_and_never_replaces_the_label(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 3), ahead=3, probe_rate=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await all_done(app, pilot)
        app.session.record(Judged("q1", "fj", {**LABELS, "helpfulness": 1}))
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")  # q1
        await pilot.press("left")
        assert panel_chosen(app) == [" 4 ", " 3 ", " y ", " n "]  # q1 as itself: labelled
        assert "fj" in str(app.screen.query_one("#scores").render())  # and its judge revealed
        await pilot.press("right")
        await settle(pilot, app)
        await pilot.press("5", "5", "y", "y")  # q2
        assert app.item_ids[app.index] == "q3"
        await settle(pilot, app)
        await pilot.press("2", "2", "n", "n")  # q3: the end of the queue, every item is due
        # q1 is back, unannounced, like a fresh item.
        assert app.item_ids[app.index] == "q1"
        assert panel_chosen(app) == []
        panel = str(app.screen.query_one("#scores").render())
        assert "hidden until you score" in panel and "fj" not in panel.splitlines()[0]
        assert re.search(r"○ q1\s+····", row(app, "q1"))  # its row as an unscored item's
        screen = "\n".join(screen_lines(app))
        assert "probe" not in screen.lower()
        assert "Answer" in app.answer.source  # the answer is shown
        await settle(pilot, app)
        await pilot.press("v", "f")  # no reveal and no flag on a probe: labels stay blind
        assert panel_chosen(app) == [] and not app.session.state.items["q1"].flagged
        await pilot.press("2", "1", "n")
        assert panel_chosen(app) == [" 2 ", " 1 ", " n "]
        await pilot.press("y")  # answered: on as usual, here to the next item due (q2)
        assert app.item_ids[app.index] == "q2" and panel_chosen(app) == []
        await settle(pilot, app)
        await pilot.press("3")  # half of q2's probe, then quit
        await pilot.press("q")
    header, events, _ = load_session(session)
    probes = [e for e in events if e["type"] == "probe"]
    assert [(e["item"], e["criterion"], e["value"], e["original"]) for e in probes] == [
        ("q1", "helpfulness", 2, 4),
        ("q1", "instruction_following", 1, 3),
        ("q1", "harmless", False, True),
        ("q1", "format", True, False),
        ("q2", "helpfulness", 3, 5),
    ]
    scores = [(e["item"], e["criterion"], e["value"]) for e in events if e["type"] == "score"]
    assert len(scores) == 12 and ("q1", "helpfulness", 4) in scores  # the originals, untouched
    rows = {r["item"]: r for r in export_rows(header, events)}
    assert rows["q1"]["human"] == LABELS
    assert rows["q2"]["human"] == {
        "helpfulness": 5,
        "instruction_following": 5,
        "harmless": True,
        "format": True,
    }

    # Resume: q1 was probed, q2 is half done and q3 still due, from the log alone; the rate
    # comes from the header (no --probe-rate given again).
    assert header["probe_rate"] == 1.0
    again = make_app(session, engine=FakeEngine())
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: again.ready)
        assert again.probes is not None and again.probes.probed == ["q1"]
        await pilot.press("enter")
        assert again.item_ids[again.index] == "q2"
        assert panel_chosen(again) == [" 3 "] and again.criterion == 1  # its answer so far
        await settle(pilot, again)
        await pilot.press("4", "y", "y")
        assert again.item_ids[again.index] == "q3"
        assert panel_chosen(again) == []
        await pilot.press("q")
    _, events, _ = load_session(session)
    assert [e["item"] for e in events if e["type"] == "probe"].count("q2") == 4


async def test_undo_and_skip_on_a_probe_never_touch_the_original(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 2), probe_rate=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await all_done(app, pilot)
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")
        await settle(pilot, app)
        await pilot.press("5", "5", "y", "y")
        assert app.item_ids[app.index] == "q1" and panel_chosen(app) == []
        await settle(pilot, app)
        await pilot.press("2")
        await pilot.press("u")  # back to the answer given, the original labels untouched
        assert app.criterion == 0
        assert app.session.state.items["q1"].human == LABELS
        await pilot.press("s")  # set aside: nothing written, on to the next probe
        assert app.item_ids[app.index] == "q2" and panel_chosen(app) == []
        assert app.session.state.items["q1"].status == "done"
        await pilot.press("q")
    _, events, _ = load_session(session)
    assert [e["type"] for e in events if e.get("item") == "q1" and e["type"] != "generation"][-1] == "probe"
    assert not any(e["type"] in ("undo", "skip") for e in events)


async def test_no_probe_at_rate_zero(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 2))
    async with app.run_test(size=(80, 24)) as pilot:
        await all_done(app, pilot)
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")
        await settle(pilot, app)
        await pilot.press("5", "5", "y", "y")
        assert app.item_ids[app.index] == "q2"  # the last item: it stays
        assert panel_chosen(app) == [" 5 ", " 5 ", " y ", " y "]
        await pilot.press("q")
    _, events, _ = load_session(session)
    assert not any(e["type"] == "probe" for e in events)


def test_probe_rate_out_of_range_is_one_line_exit_2(tmp_path: Path) -> None:
    for value in ("2", "-0.1", "nan"):
        result = run_cli("run", "--headless", "--probe-rate", value, "--session", str(tmp_path / "s"))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--probe-rate" in lines[0] and "from 0 to 1" in lines[0], lines
    config = tmp_path / "c.toml"
    config.write_text("probe_rate = 1.5\n")
    result = run_cli("run", "--headless", "--config", str(config), "--session", str(tmp_path / "s"))
    assert result.returncode == 2 and result.stderr.strip() == (
        f"sftscope: error: {config}:1: probe_rate = 1.5: must be a number from 0 to 1"
    )
    assert not (tmp_path / "s").exists()


def test_probe_rate_is_a_setting_from_flag_or_config(tmp_path: Path) -> None:
    from sftscope.tui.cli.parser import build_parser, resolve_run_options

    assert resolve_run_options(build_parser().parse_args(["run"])).probe_rate == 0.0
    flagged = resolve_run_options(build_parser().parse_args(["run", "--probe-rate", "0.2"]))
    assert flagged.probe_rate == 0.2
    config = tmp_path / "c.toml"
    config.write_text("[run]\nprobe-rate = 0.1\n")
    assert resolve_run_options(build_parser().parse_args(["run", "--config", str(config)])).probe_rate == 0.1
