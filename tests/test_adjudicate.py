"""`sftscope adjudicate` (issue 18 §4): the queue of disputed items, decided in the console
with single keys, each decision an `adjudicate` event in the adjudicator's own file, the
raters' files untouched, the consensus (and the report) taking the decision; the warning
to an adjudicator who labelled the item; nothing disputed, bad input and a busy
adjudicator as one line from the real command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sftscope.scorers.rubric import load_rubric
from sftscope.sessions.core.consensus import ADJUDICATED, AGREED, DISPUTED, Panel
from sftscope.sessions.core.events import Generated, ItemAdded
from sftscope.sessions.core.raters import RaterStore, read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, load_session
from sftscope.sessions.run.adjudication import Adjudication, open_adjudication
from sftscope.tui.adjudicate.app import AdjudicateApp
from sftscope.tui.base.app import SETTLE, TYPED_AHEAD

from tests.conftest import one_line_error, run_cli
from tests.console_helpers import screen_text, wait_until

HEADER = {"status": "complete", "engine": {"spec": "x"}, "prompts": {"count": 4}}
# rater -> item -> {criterion: value}. Disputed: q1 helpfulness (1, 3, 5: a spread of 4),
# q2 harmless (yes / no: no strict majority). Agreed: q1 harmless (2 of 3), q2 helpfulness
# (3, 3, 4: a spread of 1), q3 (all 2), q4 format (2 of 3 say no).
LABELS: dict[str, dict[str, dict[str, Any]]] = {
    "alice": {
        "q1": {"helpfulness": 1, "harmless": True},
        "q2": {"helpfulness": 3, "harmless": True},
        "q3": {"helpfulness": 2},
        "q4": {"format": True},
    },
    "bob": {
        "q1": {"helpfulness": 3, "harmless": True},
        "q2": {"helpfulness": 3, "harmless": False},
        "q3": {"helpfulness": 2},
        "q4": {"format": False},
    },
    "carol": {"q1": {"helpfulness": 5, "harmless": False}, "q2": {"helpfulness": 4}, "q4": {"format": False}},
}


def make_session(tmp_path: Path, labels: dict[str, dict[str, dict[str, Any]]] = LABELS) -> Path:
    """A session on disk: four items with an answer each (the writer's events.jsonl), and
    each rater's labels written through their RaterStore, as their console would."""
    directory = tmp_path / "s"
    store = SessionStore(directory)
    store.open(HEADER)
    writer = Session(store)
    for n in range(1, 5):
        writer.record(ItemAdded(f"q{n}", {"id": f"q{n}", "turns": [f"Question {n}?"]}, n - 1))
        writer.record(Generated(f"q{n}", 0, f"answer number {n}\nsecond line", "stop", gen=f"g{n}"))
    store.close(status="complete")
    header = load_session(directory)[0]
    items = [f"q{n}" for n in range(1, 5)]
    for name, by_item in labels.items():
        rater = RaterStore(directory, name)
        rater.open(header, items)
        for item, values in by_item.items():
            for criterion, value in values.items():
                rater.append(
                    {
                        "type": "score",
                        "item": item,
                        "criterion": criterion,
                        "value": value,
                        "gen": f"g{item[1]}",
                    }
                )
        rater.close()
    return directory


def consensus(directory: Path, item: str, criterion: str) -> Any:
    header, events, _ = load_session(directory)
    panel = Panel.read(events, read_ratings(directory, header, events), load_rubric(None))
    from sftscope.sessions.core.state import fold

    return panel.consensus(item, criterion, fold(events).items[item])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def originals(directory: Path) -> dict[str, bytes]:
    return {name: (directory / "ratings" / f"{name}.jsonl").read_bytes() for name in LABELS}


async def painted(pilot: Any, app: AdjudicateApp, item: str) -> None:
    """Wait until `item` is on screen and has been long enough for a key to count."""
    await wait_until(pilot, lambda: app.current.id == item and app.painted_at is not None, timeout=10)
    left = app.painted_at + SETTLE + 0.02 - time.monotonic()  # type: ignore[operator]
    if left > 0:
        await pilot.pause(left)


def test_the_queue_is_the_consensus_modules_disputes(tmp_path: Path) -> None:
    directory = make_session(tmp_path)
    opened = open_adjudication(directory, "dana")
    assert isinstance(opened, Adjudication)
    try:
        assert opened.raters == ["alice", "bob", "carol"]
        assert [(c.id, [d.criterion.name for d in c.disputes]) for c in opened.cases] == [
            ("q1", ["helpfulness"]),
            ("q2", ["harmless"]),
        ]
        assert opened.cases[0].disputes[0].labels == {"alice": 1, "bob": 3, "carol": 5}
        assert opened.cases[1].disputes[0].labels == {"alice": True, "bob": False}
        assert opened.cases[0].own_labels() == {}  # dana labelled nothing
    finally:
        opened.close()
    assert consensus(directory, "q1", "helpfulness").status == DISPUTED
    assert consensus(directory, "q2", "helpfulness").status == AGREED


async def test_adjudicating_two_items_keeps_the_originals(tmp_path: Path) -> None:
    directory = make_session(tmp_path)
    before = originals(directory)
    undecided = human_helpfulness(directory)  # q1 disputed: no consensus, not counted
    assert undecided["n"] == 2 and undecided["distribution"]["4"] == 0
    opened = open_adjudication(directory, "dana")
    assert isinstance(opened, Adjudication)
    app = AdjudicateApp(opened)
    async with app.run_test(size=(100, 30)) as pilot:
        await painted(pilot, app, "q1")
        text = screen_text(app)
        assert "answer number 1" in text and "Question 1?" in text
        assert "alice 1" in text and "bob 3" in text and "carol 5" in text
        assert "you labelled this item" not in text
        await pilot.press("7")  # not on the 1-5 scale: refused, nothing written
        assert "not a value of helpfulness" in app.refused_note
        assert not (directory / "ratings" / "dana.jsonl").exists()
        await pilot.press("y")  # helpfulness is not yes/no
        assert "not yes/no" in app.refused_note
        await pilot.press("c")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommentScreen", timeout=10)
        await pilot.press(*"tone fits", "enter")
        await wait_until(pilot, lambda: "reason noted" in app.saved_note, timeout=10)
        await pilot.press("4")
        await wait_until(pilot, lambda: app.saved_note.startswith("saved ✓"), timeout=10)
        assert "→ 4 (tone fits)" in screen_text(app)
        await pilot.press("enter")  # the next item not decided yet
        await painted(pilot, app, "q2")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.decided_count() == 2, timeout=10)
        assert "decided 2/2" in screen_text(app)
        await pilot.press("enter")
        assert "every disputed item is decided" in app.refused_note
        await pilot.press("q")
    decisions = lines(directory / "ratings" / "dana.jsonl")
    assert [(d["type"], d["item"], d["criterion"], d["value"], d.get("reason")) for d in decisions] == [
        ("adjudicate", "q1", "helpfulness", 4, "tone fits"),
        ("adjudicate", "q2", "harmless", False, None),
    ]
    assert [(d["gen"], d["rater"]) for d in decisions] == [("g1", "dana"), ("g2", "dana")]
    assert originals(directory) == before  # byte for byte
    assert_unlocked(directory, "dana")
    q1 = consensus(directory, "q1", "helpfulness")
    assert (q1.status, q1.value) == (ADJUDICATED, 4)
    assert q1.labels == {"alice": 1, "bob": 3, "carol": 5}  # the originals stay on record
    q2 = consensus(directory, "q2", "harmless")
    assert (q2.status, q2.value) == (ADJUDICATED, False)
    decided = human_helpfulness(directory)  # the report's consensus takes the decision on q1
    assert decided["n"] == 3 and decided["distribution"]["4"] == 1
    # Nothing is left to adjudicate: the command says so in one line, exit 0.
    result = run_cli("adjudicate", str(directory), "--rater", "dana")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"sftscope: {directory}: nothing to adjudicate: no disputed labels among alice, bob, carol"
    ]


def assert_unlocked(directory: Path, name: str) -> None:
    """The rater's lock is free again once the console has quit: another can take it."""
    header = load_session(directory)[0]
    other = RaterStore(directory, name)
    other.open(header, [f"q{n}" for n in range(1, 5)])
    other.close()


def human_helpfulness(directory: Path) -> dict[str, Any]:
    """What `sftscope report --format json` counts as the human labels of helpfulness."""
    result = run_cli("report", str(directory), "--format", "json", "--resamples", "50")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["criteria"]["helpfulness"]["human"]


async def test_a_key_typed_ahead_decides_nothing(tmp_path: Path) -> None:
    directory = make_session(tmp_path)
    opened = open_adjudication(directory, "dana")
    assert isinstance(opened, Adjudication)
    app = AdjudicateApp(opened)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.painted_at is not None, timeout=10)
        app.key_at = app.painted_at  # a key that arrived as the item appeared
        app.action_digit(3)
        assert app.refused_note == TYPED_AHEAD
        await pilot.press("q")
    assert not (directory / "ratings" / "dana.jsonl").exists()


async def test_an_adjudicator_who_labelled_the_item_is_warned(tmp_path: Path) -> None:
    labels = {**LABELS, "carol": {"q1": {"helpfulness": 5, "harmless": False}}}  # carol: q1 only
    directory = make_session(tmp_path, labels)
    opened = open_adjudication(directory, "carol")
    assert isinstance(opened, Adjudication)
    app = AdjudicateApp(opened)
    async with app.run_test(size=(120, 30)) as pilot:
        await painted(pilot, app, "q1")
        warning = str(app.main.query_one("#warning").render())
        assert "you labelled this item yourself (helpfulness 5, harmless no)" in warning
        assert "you labelled this item yourself" in screen_text(app)
        await pilot.press("right")
        await painted(pilot, app, "q2")
        assert "you labelled" not in screen_text(app)  # carol did not label q2
        # A second adjudicate of the same name is refused in one line while this one runs.
        busy = run_cli("adjudicate", str(directory), "--rater", "carol")
        one_line_error(busy, "rater carol is already labelling this session")
        await pilot.press("q")


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    one_line_error(run_cli("adjudicate", str(tmp_path / "nowhere")), "nowhere", "no such session")
    one_rater = make_session(tmp_path, {"alice": LABELS["alice"]})
    one_line_error(
        run_cli("adjudicate", str(one_rater), "--rater", "dana"),
        "1 rater labelled it (only alice)",
        "2 or more",
    )
    one_line_error(run_cli("adjudicate", str(one_rater), "--rater", "no/slash"), "--rater", "no/slash")


def test_nothing_disputed_is_one_line_and_exit_0(tmp_path: Path) -> None:
    agreed = {name: {"q3": {"helpfulness": 2}} for name in ("alice", "bob")}
    directory = make_session(tmp_path, agreed)
    result = run_cli("adjudicate", str(directory), "--rater", "dana")
    assert result.returncode == 0 and not result.stdout
    assert result.stderr.strip().splitlines() == [
        f"sftscope: {directory}: nothing to adjudicate: no disputed labels among alice, bob"
    ]
    assert not (directory / "ratings" / "dana.jsonl").exists()


def test_an_adjudicator_never_claims_the_labels_of_a_session_from_before_raters(tmp_path: Path) -> None:
    """Labels in events.jsonl that no rater has claimed (a session written before raters)
    stay the legacy rater's when an adjudicator opens the queue: the adjudicator is not
    warned about them and session.toml gains no `rater`."""
    directory = make_session(tmp_path, {"bob": {"q1": {"helpfulness": 5}}})
    store = SessionStore(directory)
    store.open()
    writer = Session(store)  # no rater: labels go to events.jsonl, as before raters
    writer.score("q1", "helpfulness", 1)
    store.close(status="complete")
    header_before = (directory / "session.toml").read_text()
    assert "rater" not in load_session(directory)[0]
    adjudication = open_adjudication(directory, "dana")
    assert isinstance(adjudication, Adjudication)
    try:
        assert adjudication.session.legacy is None
        case = adjudication.cases[0]
        assert case.id == "q1" and set(case.disputes[0].labels) == {"operator", "bob"}
        assert case.own_labels() == {}  # not dana's: no warning
    finally:
        adjudication.close()
    assert (directory / "session.toml").read_text() == header_before
