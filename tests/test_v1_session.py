"""A session written by sftscope 0.x (format version 1) loads unchanged and exports the
same rows, field for field: the checked-in log is the contract every reader keeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sftscope.sessions.core.files import safe_names

from tests.conftest import run_cli

DATA = Path(__file__).parent / "data"


def copy_of_v1(tmp_path: Path) -> Path:
    session = tmp_path / "v1-session"
    shutil.copytree(DATA / "v1-session", session)
    return session


# The run export's columns before issue 16 added `prompt`, `system` and the flat ones: they
# keep their names, order and values (the expected exports were regenerated once, checked
# cell for cell against the old ones on these columns).
COLUMNS_BEFORE_16 = [
    "item", "category", "status", "response", "transcript", "reference", "error", "finish_reason",
    "tokens", "seconds", "ttft", "engine", "human", "stale_labels", "judge", "judges", "judge_error",
    "checks", "metrics", "flagged", "comment",
]  # fmt: skip


def test_a_v1_session_exports_the_same_rows_field_for_field(tmp_path: Path) -> None:
    session = copy_of_v1(tmp_path)
    before = (session / "events.jsonl").read_bytes()
    for fmt, expected in (("jsonl", "v1-export.jsonl"), ("csv", "v1-export.csv")):
        result = run_cli("export", str(session), "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no warning either
        if fmt == "jsonl":
            got = [json.loads(line) for line in result.stdout.splitlines()]
            want = [json.loads(line) for line in (DATA / expected).read_text().splitlines()]
            assert [sorted(row) for row in got] == [sorted(row) for row in want]
            for row, wanted in zip(got, want, strict=True):
                for key in wanted:
                    assert row[key] == wanted[key], (row["item"], key)
        else:
            assert result.stdout == (DATA / expected).read_text()
    assert (session / "events.jsonl").read_bytes() == before  # exporting reads, never writes


def test_old_exports_keep_their_columns_and_the_flat_ones_repeat_the_nested(tmp_path: Path) -> None:
    for expected in ("v1-export.jsonl", "v2-export.jsonl"):
        rows = [json.loads(line) for line in (DATA / expected).read_text().splitlines()]
        for row in rows:
            assert list(row)[: len(COLUMNS_BEFORE_16)] == COLUMNS_BEFORE_16
            assert row["prompt"] == [m for m in row["transcript"] if m["role"] == "user"][-1]["content"]
            flat = {key: value for key, value in row.items() if "." in key}
            nested = {f"human.{key}": value for key, value in row["human"].items()}
            for judge, scores in row["judges"].items():
                nested.update({f"judge.{judge}.{key}": value for key, value in (scores or {}).items()})
            safe = safe_names(row["checks"])  # ifeval's `change_case:english_lowercase`, …
            nested.update({f"check.{safe[key]}": value for key, value in row["checks"].items()})
            nested.update({f"metric.{key}": value for key, value in row["metrics"].items()})
            # every nested value is in its flat column; the other flat cells are null
            assert {key: value for key, value in flat.items() if value is not None} == {
                key: value for key, value in nested.items() if value is not None
            }, row["item"]
            assert set(nested) <= set(flat)


def test_a_v1_session_replays_and_resumes(tmp_path: Path) -> None:
    session = copy_of_v1(tmp_path)
    replay = run_cli("replay", str(session), "--headless", "--speed", "0")
    assert replay.returncode == 0, replay.stderr
    assert "=== plain [done] math" in replay.stdout and "scores: helpfulness=3, harmless=yes" in replay.stdout
    assert "flagged" in replay.stdout and "comment: a note, with a comma" in replay.stdout
    # Resume: everything is generated, so nothing is asked of the (gone) server.
    resumed = run_cli("run", "--headless", "--session", str(session))
    assert resumed.returncode == 0, resumed.stderr
    assert "0 of 5 items to generate" in resumed.stderr


# --- sessions written by the code before typed events (issue 15): read back the same ----------


def copy_of(tmp_path: Path, name: str) -> Path:
    session = tmp_path / name
    shutil.copytree(DATA / name, session)
    return session


def test_a_v2_run_session_exports_and_replays_as_written(tmp_path: Path) -> None:
    """Format 2 (answers bound by `gen`): a score revised, an undo, a probe, a judge's
    error, a two-turn answer cut at its length, an engine error, a human skip, a label and
    a verdict left stale by a regenerate. Exports and the headless replay are byte for byte
    what the code wrote before events were typed end to end."""
    session = copy_of(tmp_path, "v2-session")
    before = (session / "events.jsonl").read_bytes()
    for fmt in ("jsonl", "csv"):
        result = run_cli("export", str(session), "--format", fmt)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert result.stdout == (DATA / f"v2-export.{fmt}").read_text()
    replay = run_cli("replay", str(session), "--headless", "--speed", "0")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == (DATA / "v2-replay.txt").read_text()
    assert (session / "events.jsonl").read_bytes() == before


def test_a_comparison_session_exports_and_replays_as_written(tmp_path: Path) -> None:
    """Votes, an undone vote, a skip then a vote, a pairwise verdict and a judge error, a
    pair gone stale and the pair that replaced it; its sources are gone (the pairs hold
    their answers)."""
    session = copy_of(tmp_path, "compare-session")
    before = (session / "events.jsonl").read_bytes()
    for fmt, expected in (("jsonl", "compare-export.jsonl"), ("csv", "compare-export.csv")):
        result = run_cli("export", str(session), "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (DATA / expected).read_text()
    dpo = run_cli("export", str(session), "--format", "dpo", "--dpo-system", "none")
    assert dpo.returncode == 0, dpo.stderr
    assert dpo.stdout == (DATA / "compare-dpo.jsonl").read_text()
    replay = run_cli("replay", str(session), "--headless", "--speed", "0")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == (DATA / "compare-replay.txt").read_text()
    assert (session / "events.jsonl").read_bytes() == before
