"""`sftscope merge DIR [DIR ...] -o DIR` (issue 18 §5): copies of one session labelled on
different machines united into a new session that reads, reports and exports like any."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from sftscope.sessions.core.merge import MergeError, merge_sessions
from sftscope.sessions.core.raters import fold_for, read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, read_events, read_header

from tests.compare_helpers import write_run_session
from tests.conftest import one_line_error, run_cli

ANSWERS = {f"q{n}": f"answer {n}" for n in range(1, 5)}


def label(directory: Path, rater: str | None, scores: list[tuple[str, str, Any]]) -> None:
    """`rater` labels through their own console's Session (None: a session from before
    raters, the labels in events.jsonl); a pause between labels, so their times differ."""
    store = SessionStore(directory)
    store.open(follow=rater is not None)
    session = Session(store, rater=rater)
    for item, criterion, value in scores:
        session.score(item, criterion, value)
        time.sleep(0.005)
    if session.raters is not None:
        session.raters.close()
    store.close()


def copies(tmp_path: Path, shared: list[tuple[str, str, Any]] | None = None) -> tuple[Path, Path]:
    """A session (alice's `shared` labels given before it was copied), copied twice."""
    base = write_run_session(tmp_path / "base", ANSWERS)
    if shared:
        label(base, "alice", shared)
    a, b = tmp_path / "A", tmp_path / "B"
    shutil.copytree(base, a)
    shutil.copytree(base, b)
    return a, b


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def humans(directory: Path, rater: str) -> dict[str, dict[str, Any]]:
    events = read_events(directory / "events.jsonl").events
    state = fold_for(events, read_ratings(directory), rater)
    return {item: state.items[item].human for item in sorted(state.items) if state.items[item].human}


def test_two_copies_with_different_raters_unite_and_report(tmp_path: Path) -> None:
    a, b = copies(tmp_path, shared=[("q4", "helpfulness", 3)])
    label(a, "alice", [("q1", "helpfulness", 5), ("q2", "harmless", True)])
    label(b, "bob", [("q1", "helpfulness", 2), ("q3", "format", False)])
    out = tmp_path / "out"
    result = run_cli("merge", str(a), str(b), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "0 conflict(s)" in result.stdout and "1 line(s) found in several copies" in result.stdout
    assert sorted(p.name for p in (out / "ratings").iterdir()) == ["alice.jsonl", "bob.jsonl"]
    assert humans(out, "alice") == {**humans(a, "alice")} and humans(out, "bob") == humans(b, "bob")
    assert [r["item"] for r in lines(out / "ratings" / "alice.jsonl")] == ["q4", "q1", "q2"]  # q4 once
    assert (out / "events.jsonl").read_text() == (a / "events.jsonl").read_text()
    assert (out / "session.toml").read_bytes() == (a / "session.toml").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A", "B", "base", "out"]  # no temporary left
    report = run_cli("report", str(out), "--format", "json")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    if "raters" in doc:  # the raters section (issue 18 §3)
        assert doc["raters"]["names"] == ["alice", "bob"]
    export = run_cli("export", str(out))
    assert export.returncode == 0, export.stderr


def test_the_same_rater_conflicting_keeps_the_later_label_and_says_so(tmp_path: Path) -> None:
    a, b = copies(tmp_path, shared=[("q1", "helpfulness", 3)])
    label(a, "alice", [("q2", "helpfulness", 4)])
    label(b, "alice", [("q2", "helpfulness", 2), ("q3", "harmless", True)])  # later than A's
    for order, name in (((a, b), "ab"), ((b, a), "ba")):  # the later wins, whichever copy is first
        out = tmp_path / name
        result = run_cli("merge", *map(str, order), "-o", str(out))
        assert result.returncode == 0, result.stderr
        conflicts = [line for line in result.stdout.splitlines() if line.startswith("conflict:")]
        assert len(conflicts) == 1 and "1 conflict(s)" in result.stdout
        assert "rater alice, item q2, helpfulness: " in conflicts[0] and "kept 2 (the later)" in conflicts[0]
        assert str(a) in conflicts[0] and str(b) in conflicts[0]
        assert humans(out, "alice") == {
            "q1": {"helpfulness": 3},
            "q2": {"helpfulness": 2},
            "q3": {"harmless": True},
        }
        records = lines(out / "ratings" / "alice.jsonl")
        assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)  # timestamp order
        assert sum(r["item"] == "q1" for r in records) == 1  # the shared line once
    # The same value in both copies is no conflict.
    label(a, "alice", [("q3", "harmless", True)])
    result = run_cli("merge", str(a), str(b), "-o", str(tmp_path / "same"))
    assert result.returncode == 0 and "1 conflict(s)" in result.stdout  # only q2 still


def test_copies_with_different_generations_are_refused_naming_the_item(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "A", ANSWERS)
    b = write_run_session(tmp_path / "B", {**ANSWERS, "q3": "another answer"})
    out = tmp_path / "out"
    line = one_line_error(run_cli("merge", str(a), str(b), "-o", str(out)), "item q3", str(a), str(b))
    assert "answers differ" in line
    c = write_run_session(tmp_path / "C", {**ANSWERS, "q5": "one more"})
    one_line_error(run_cli("merge", str(a), str(c), "-o", str(out)), "item q5", "not in")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["A", "B", "C"]


def test_an_existing_output_and_bad_copies_are_one_line_exit_2(tmp_path: Path) -> None:
    a, b = copies(tmp_path)
    label(a, "alice", [("q1", "helpfulness", 5)])
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    one_line_error(run_cli("merge", str(a), str(b), "-o", str(full)), "-o", "not empty")
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    one_line_error(run_cli("merge", str(a), str(tmp_path / "nope"), "-o", str(tmp_path / "o")), "nope")
    one_line_error(run_cli("merge", str(a), str(a) + "/", "-o", str(tmp_path / "o")), "the same directory")
    assert not (tmp_path / "o").exists()
    empty = tmp_path / "empty"  # an empty directory is as good as a new one
    empty.mkdir()
    assert run_cli("merge", str(a), str(b), "-o", str(empty)).returncode == 0
    assert humans(empty, "alice") == {"q1": {"helpfulness": 5}}


def test_labels_from_before_raters_count_as_their_legacy_raters(tmp_path: Path) -> None:
    a, b = copies(tmp_path)
    label(a, None, [("q1", "helpfulness", 4), ("q2", "format", True)])  # written before raters
    label(b, "bob", [("q1", "helpfulness", 1)])
    result = merge_sessions([a, b], tmp_path / "out")
    out = result.output
    assert result.labels == {"bob": 1, "operator": 2} and not result.conflicts
    assert not any(r["type"] == "score" for r in lines(out / "events.jsonl"))  # moved to the rater's file
    assert {r["rater"] for r in lines(out / "ratings" / "operator.jsonl")} == {"operator"}
    assert humans(out, "operator") == {"q1": {"helpfulness": 4}, "q2": {"format": True}}
    # A copy whose header names the legacy rater: its labels are that rater's.
    header = read_header(a)
    assert "rater" not in header
    c = tmp_path / "C"
    shutil.copytree(b, c)
    label(c, "bob", [("q4", "helpfulness", 3)])
    merged = merge_sessions([b, c], tmp_path / "bc")
    assert merged.labels == {"bob": 2} and merged.duplicates == 1
    try:
        merge_sessions([a, b], tmp_path / "out")
    except MergeError as exc:
        assert "not empty" in str(exc)
    else:
        raise AssertionError("an existing output was overwritten")


def test_an_undo_replayed_in_time_order_is_reported_with_what_it_leaves(tmp_path: Path) -> None:
    a, b = copies(tmp_path, shared=[("q1", "helpfulness", 3)])
    label(b, "alice", [("q2", "helpfulness", 2)])
    store = SessionStore(a)  # on A, later: alice takes back the label both copies had
    store.open(follow=True)
    session = Session(store, rater="alice")
    session.undo("q1")
    session.raters.close()
    store.close()
    out = tmp_path / "out"
    result = run_cli("merge", str(a), str(b), "-o", str(out))
    assert result.returncode == 0, result.stderr
    conflicts = [line for line in result.stdout.splitlines() if line.startswith("conflict:")]
    assert len(conflicts) == 1 and "item q1, helpfulness: 3 in " in conflicts[0], result.stdout
    assert "kept null (in force after the rater's undos, in time order)" in conflicts[0]
    assert humans(out, "alice") == {"q2": {"helpfulness": 2}}  # A's later undo holds
