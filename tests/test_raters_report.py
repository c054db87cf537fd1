"""Agreement and consensus of several raters (issue 18 §3): the consensus rule, the session
as reports read it, alpha and kappa against the krippendorff package and scikit-learn, the
report's raters section, export columns and DPO sources."""

from __future__ import annotations

from pathlib import Path

from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.sessions.core.consensus import (
    ADJUDICATED,
    AGREED,
    DISPUTED,
    SINGLE,
    consensus_state,
    decide,
    disputed_items,
)
from sftscope.sessions.core.events import Generated, ItemAdded
from sftscope.sessions.core.raters import read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, read_events

LIKERT = Criterion("helpfulness", "likert", min=1, max=5)
BINARY = Criterion("correct", "binary")
TAGS = Criterion("issues", "tags", tags=("long", "rude", "wrong"))
HEADER = {"status": "running", "engine": {"spec": "x"}}


def make_session(tmp_path: Path, labels: dict[str, dict[str, dict[str, object]]], items: int = 4) -> Path:
    """A real session on disk (the default rubric: helpfulness and instruction_following
    1-5, harmless and format yes/no): items q1.. answered by a writer, then each rater's
    labels {rater: {item: {criterion: value}}} through their own console's Session (their
    ratings/NAME.jsonl), walked in order so each first label is sample=random."""
    directory = tmp_path / "s"
    store = SessionStore(directory)
    store.open({**HEADER, "prompts": {"count": items}})
    writer = Session(store)
    for n in range(1, items + 1):
        writer.record(ItemAdded(f"q{n}", {"id": f"q{n}", "turns": [f"Q{n}?"]}, n - 1))
        writer.record(Generated(f"q{n}", 0, f"answer {n}", "stop", gen=f"g{n}"))
    store.close(status="complete")
    for name, given in labels.items():
        console = rater(directory, name)
        for item, scores in given.items():
            for criterion, value in scores.items():
                console.score(item, criterion, value, sample="random")
        console.store.close()
        console.raters.close()
    return directory


def rater(directory: Path, name: str) -> Session:
    store = SessionStore(directory)
    store.open(follow=True)
    return Session(store, rater=name)


def read(directory: Path) -> tuple[list, dict, Rubric]:
    from sftscope.scorers.rubric import load_rubric

    return read_events(directory / "events.jsonl").events, read_ratings(directory), load_rubric(None)


def test_scale_median_lower_on_ties_and_disputed_by_spread() -> None:
    assert decide({"a": 3, "b": 4}, LIKERT) == decide({"b": 4, "a": 3}, LIKERT)
    found = decide({"a": 3, "b": 4}, LIKERT)
    assert (found.value, found.status) == (3, AGREED)  # the lower median: a point of the scale
    assert decide({"a": 4, "b": 4, "c": 5}, LIKERT).value == 4
    assert decide({"a": 1, "b": 2, "c": 2, "d": 2}, LIKERT).value == 2
    spread = decide({"a": 2, "b": 4, "c": 4}, LIKERT)  # a strict majority, but 2 points apart
    assert (spread.value, spread.status) == (None, DISPUTED)
    assert spread.labels == {"a": 2, "b": 4, "c": 4}


def test_yes_no_strict_majority_else_disputed() -> None:
    two = decide({"a": True, "b": True, "c": False}, BINARY)
    assert (two.value, two.status) == (True, AGREED)
    tie = decide({"a": True, "b": False}, BINARY)
    assert (tie.value, tie.status) == (None, DISPUTED)  # half is no majority
    assert decide({"a": "x", "b": "y", "c": "z"}, None).status == DISPUTED  # votes: three ways
    assert decide({"a": "a", "b": "a", "c": "tie"}, None).value == "a"
    tags = decide({"a": ["rude", "long"], "b": ["long", "rude"], "c": []}, TAGS)
    assert tags.status == AGREED and sorted(tags.value) == ["long", "rude"]  # sets, order ignored


def test_single_adjudicated_and_nothing() -> None:
    one = decide({"a": 2}, LIKERT)
    assert (one.value, one.status) == (2, SINGLE)
    ruling = decide({"a": 1, "b": 5}, LIKERT, {"type": "adjudicate", "value": 4})
    assert (ruling.value, ruling.status, ruling.labels) == (4, ADJUDICATED, {"a": 1, "b": 5})
    assert decide({}, LIKERT) is None
    assert decide({}, LIKERT, {"value": 3}).status == ADJUDICATED


def test_consensus_state_folds_the_consensus_as_human_labels(tmp_path: Path) -> None:
    labels = {
        "alice": {"q1": {"helpfulness": 4, "harmless": True}, "q2": {"helpfulness": 1}},
        "bob": {"q1": {"helpfulness": 5, "harmless": False}, "q2": {"helpfulness": 5}},
        "carol": {"q1": {"helpfulness": 4, "harmless": True}, "q2": {"helpfulness": 3}},
    }
    labels["alice"]["q3"] = {"harmless": True}
    directory = make_session(tmp_path, labels)
    events, ratings, rubric = read(directory)
    assert sorted(ratings) == ["alice", "bob", "carol"]
    state = consensus_state(events, ratings, rubric)
    assert state.items["q1"].human == {"helpfulness": 4, "harmless": True}
    assert state.items["q1"].sampled("helpfulness") is True  # every rater's first label was random
    assert state.items["q2"].human == {}  # 1, 5, 3: spread 4, disputed
    assert state.items["q3"].human == {"harmless": True}  # one rater: single
    assert state.items["q4"].human == {}
    disputed = disputed_items(events, ratings, rubric)
    assert [(item, criterion) for item, criterion, _ in disputed] == [("q2", "helpfulness")]
    assert disputed[0][2].labels == {"alice": 1, "bob": 5, "carol": 3}
    # nothing written by reading it
    files = sorted(p.name for p in (directory / "ratings").glob("*.jsonl"))
    assert files == ["alice.jsonl", "bob.jsonl", "carol.jsonl"]

    judge = rater(directory, "dave")
    judge.adjudicate("q2", "helpfulness", 2, reason="too short")
    judge.store.close()
    judge.raters.close()
    events, ratings, rubric = read(directory)
    state = consensus_state(events, ratings, rubric)
    assert state.items["q2"].human == {"helpfulness": 2}  # the adjudication wins
    assert state.items["q2"].sampled("helpfulness") is None  # a ruling is not a random label
    assert disputed_items(events, ratings, rubric) == []
    assert "dave" in ratings  # an adjudicator's file, but no rater of labels
