"""Issue 17, section 1: a random audit order, and which labels form the random sample.

A label given while walking the session's seeded random order is `sample = "random"`;
one given after a jump is "chosen". An item belongs to the random sample by its FIRST
label in force (a revision changes the value, never the membership).
"""

from __future__ import annotations

import json
from typing import Any

from sftscope.sessions.compare.comparison import fold_comparison
from sftscope.sessions.core import events
from sftscope.sessions.core.events import ItemAdded, PairAdded, Preferred, Scored, Skipped, Undone, problem
from sftscope.sessions.core.state import fold


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
