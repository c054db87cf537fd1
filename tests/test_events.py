"""The persisted event kinds: one definition each, used to write and to check on read."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sftscope.sessions.core import events
from sftscope.sessions.core.events import KINDS, SCHEMA, Generated, Judged, Scored, Skipped, problem


def example(kind: type[events.Event]) -> events.Event:
    """The smallest event of a kind: every required field set to a value of its type."""
    values = {
        "item": "q1",
        "data": {"id": "q1", "turns": ["Hi?"]},
        "turn": 0,
        "text": "answer",
        "finish_reason": "stop",
        "error": "boom",
        "criterion": "helpfulness",
        "value": 4,
        "judge": "j",
        # a comparison's kinds
        "pair": "q1:a|b",
        "a": "run-a",
        "b": "run-b",
        "answers_a": ["one"],
        "answers_b": ["two"],
        "first": "a",
        "index": 0,
        "choice": "tie",
        "shown_first": "b",
        "verdict": "a",
        "reason": "the answer of run-b changed",
    }
    required = [f.name for f in dataclasses.fields(kind) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]  # fmt: skip
    return kind(**{name: values[name] for name in required})


def test_every_kind_is_in_the_schema_it_is_checked_against() -> None:
    assert set(SCHEMA) == {kind.TYPE for kind in KINDS}
    for kind in KINDS:
        record = json.loads(json.dumps(example(kind).to_record()))  # through JSON, as on disk
        assert problem(record) is None, kind.__name__


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.TYPE)
def test_a_record_missing_a_required_field_is_named(kind: type[events.Event]) -> None:
    record = example(kind).to_record()
    required = [name for name, (_types, needed) in SCHEMA[kind.TYPE].items() if needed]
    for name in required:
        broken = {k: v for k, v in record.items() if k != name}
        assert problem(broken) == f"{kind.TYPE} event without {name!r}"
    # What is optional may be left out, and a field of the wrong type is named: so a kind
    # with nothing required (run_start) is checked too, not passed by an empty loop.
    assert problem({k: v for k, v in record.items() if k == "type" or k in required}) is None
    checked = 0
    for name, (types, _needed) in SCHEMA[kind.TYPE].items():
        wrong = next((v for v in ([1], "text", 1.5) if not isinstance(v, types)), None)
        if wrong is not None:  # None: the field takes any JSON value
            assert (problem({**record, name: wrong}) or "").startswith(
                f"{kind.TYPE} event with {name} {wrong!r}"
            ), name
            checked += 1
    assert checked, f"{kind.TYPE}: no field whose type is checked"


def test_records_keep_format_1() -> None:
    assert Generated("q1", 1, "t", "length", tokens=3, seconds=0.5).to_record() == {
        "type": "generation", "item": "q1", "turn": 1, "text": "t", "finish_reason": "length",
        "tokens": 3, "seconds": 0.5,
    }  # fmt: skip
    assert Scored("q1", "harmless", False, True, None).to_record() == {
        "type": "score", "item": "q1", "criterion": "harmless", "value": False, "judge_visible": True,
    }  # fmt: skip
    # `skip` means two things on disk, told apart by `by` (format 1).
    assert Skipped("q1", by="human", reason="r").to_record()["by"] == "human"
    assert Skipped("q1", by="engine", reason="too long", turn=0).to_record()["turn"] == 0
    # A judge's raw reply and timings travel in `extra`, spread into the line.
    line = Judged("q1", "j", {"a": 1}, extra={"raw": "{}", "latency": 0.2}).to_record()
    assert line == {
        "type": "judge", "item": "q1", "judge": "j", "scores": {"a": 1}, "raw": "{}", "latency": 0.2,
    }  # fmt: skip
    assert problem({**line, "scores": "yes"}) is not None  # a wrong type is caught on read
