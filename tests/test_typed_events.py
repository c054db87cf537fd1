"""Typed events end to end: a line read back is its kind's dataclass, the Session publishes
those, groups of kinds are marker classes, and the folds dispatch on the kind."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.core import events
from sftscope.sessions.core.events import (
    KINDS,
    LABELS,
    TURNED,
    Checked,
    Event,
    Failed,
    Generated,
    ItemAdded,
    Judged,
    Judgment,
    Label,
    Notice,
    PairJudged,
    Probed,
    Regenerated,
    Scored,
    Skipped,
    Turned,
    Verdict,
    from_record,
    kind_of,
    problem,
)
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import EVENTS, SessionStore, SessionWriteError, read_events

from tests.test_events import example

DATA = Path(__file__).parent / "data"


def logged(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name / "events.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("session", ["v1-session", "v2-session", "compare-session"])
def test_every_saved_line_reads_back_into_the_event_that_writes_it(session: str) -> None:
    """from_record then to_record gives the line again (less `v` and `ts`, which the store
    adds): the typed event holds everything the line says, a judge's raw reply included."""
    records = logged(session)
    assert records
    for record in records:
        event = from_record(record)
        assert event is not None and type(event) is kind_of(record)
        assert event.to_record() == {k: v for k, v in record.items() if k not in ("v", "ts")}


def test_a_judges_other_fields_go_to_extra_and_every_kind_round_trips() -> None:
    record = {"v": 2, "ts": 1.0, "type": "judge", "item": "q1", "judge": "j", "scores": {"h": 4},
              "raw": "{}", "latency": 0.5, "gen": "abc"}  # fmt: skip
    event = from_record(record)
    assert event == Judged("q1", "j", {"h": 4}, {"raw": "{}", "latency": 0.5}, gen="abc")
    for kind in KINDS:
        typed = example(kind)
        assert from_record(json.loads(json.dumps(typed.to_record()))) == typed, kind.__name__


def test_a_type_this_version_does_not_know_is_no_event() -> None:
    assert from_record({"type": "future_kind", "item": "q1"}) is None
    assert from_record({"type": ["not", "a", "string"]}) is None
    assert kind_of({"type": 3}) is None and kind_of({"type": "score"}) is Scored


def test_groups_are_marker_classes_and_the_type_sets_follow_them() -> None:
    assert {"generation", "error", "skip", "regenerate"} == TURNED
    assert {"score", "probe", "flag", "comment", "undo", "skip"} == LABELS
    assert {k for k in KINDS if issubclass(k, Verdict)} == {Judged, Checked}
    assert {k for k in KINDS if issubclass(k, Judgment)} == {Judged, PairJudged}
    skip = Skipped("q1", by="human")
    assert isinstance(skip, Turned) and isinstance(skip, Label) and skip.by_human
    assert not Skipped("q1", reason="too long", turn=0).by_human
    # `problem` refuses a negative turn on every kind of the group, and on no other.
    for kind in (Generated, Failed, Skipped, Regenerated):
        record = {**example(kind).to_record(), "turn": -1}
        assert problem(record) == f"{kind.TYPE} event with a negative turn"
    assert problem({**example(Scored).to_record(), "turn": -1}) is None


def new_session(tmp_path: Path) -> tuple[SessionStore, Session]:
    store = SessionStore(tmp_path / "s")
    store.open(header={"format_version": 2, "prompts": {"count": 1}})
    session = Session(store)
    session.add_items([Item(id="q1", turns=["Hi?"])])
    return store, session


def test_subscribers_get_the_typed_event_as_written(tmp_path: Path) -> None:
    store, session = new_session(tmp_path)
    seen: list[Event] = []
    session.subscribe(seen.append)
    gen = session.begin_attempt("q1")
    written = session.record(Generated("q1", 0, "hello", "stop", tokens=1, gen=gen))
    session.score("q1", "helpfulness", 4)
    session.record(Judged("q1", "j", None, {"error": "timeout", "latency": float("nan")}, gen=gen))
    session.notice("said once")
    session.undo("q1")
    store.close(status="stopped")
    assert [type(e) for e in seen] == [Generated, Scored, Judged, Notice, events.Undone]
    assert written is seen[0] and written == Generated("q1", 0, "hello", "stop", tokens=1, gen=gen)
    assert seen[1] == Scored("q1", "helpfulness", 4, False, None, gen=gen)
    # What is published is what is on disk: a NaN is written as null, and said as None.
    assert seen[2].extra == {"error": "timeout", "latency": None}
    assert seen[4] == events.Undone("q1", "score")
    # The fold keeps the line itself (its `ts` says when a label was given).
    log = read_events(tmp_path / "s" / EVENTS).events
    state = fold(log).items["q1"]
    assert state.turns[0] == log[1] and isinstance(state.turns[0]["ts"], float)


def test_events_written_late_are_published_typed_and_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sftscope.sessions.core.store as store_module

    store, session = new_session(tmp_path)
    real_write, full = os.write, {"on": True}

    def write(fd: int, data: Any) -> int:
        if full["on"] and fd == store._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", write)
    published: list[Event] = []
    late: list[Event] = []
    session.subscribe(published.append)
    session.late_writes.append(late.append)
    first = Generated("q1", 0, "hello", "stop", gen="g1")
    session.record(first)
    session.record(Checked("q1", {"ok": True}, gen="g1"))
    with pytest.raises(SessionWriteError):
        session.score("q1", "helpfulness", 4)  # a label is refused at once, never queued
    assert session.unwritten == [first, Checked("q1", {"ok": True}, gen="g1")] and published == []
    full["on"] = False
    assert session.retry_writes()
    assert late == published == [first, Checked("q1", {"ok": True}, gen="g1")]
    assert session.state.items["q1"].checks["checks"] == {"ok": True}
    store.close(status="stopped")


def test_the_fold_dispatches_on_the_kind_and_skips_what_it_does_not_know() -> None:
    """A line of a newer sftscope (an unknown type, or a known kind with a field this
    version lacks) changes nothing it should not, and the record is kept whole."""
    item = ItemAdded("q1", {"id": "q1", "turns": ["Hi?"]}, 0).to_record()
    answer = {**Generated("q1", 0, "hello", "stop", gen="g1").to_record(), "newer_field": 1}
    future = {"type": "future_kind", "item": "q1", "turn": 0}
    state = fold([item, answer, future, Probed("q1", "helpfulness", 3, gen="g1").to_record()]).items["q1"]
    assert state.status == "done" and state.turns == [answer] and state.actions == []
    assert from_record(answer) == Generated("q1", 0, "hello", "stop", gen="g1")
