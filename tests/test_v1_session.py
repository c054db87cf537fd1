"""A session written by sftscope 0.x (format version 1) loads unchanged and exports the
same rows, field for field: the checked-in log is the contract every reader keeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli

DATA = Path(__file__).parent / "data"


def copy_of_v1(tmp_path: Path) -> Path:
    session = tmp_path / "v1-session"
    shutil.copytree(DATA / "v1-session", session)
    return session


def test_a_v1_session_exports_the_same_rows_field_for_field(tmp_path: Path) -> None:
    session = copy_of_v1(tmp_path)
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
