"""Exports: JSONL and CSV carry the same columns, from one list, as the docs list them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sftscope.sessions.run.export import COLUMNS

from tests.conftest import ROOT, run_cli, run_headless, write_jsonl


def readme_columns() -> tuple[list[str], list[str]]:
    """The export columns the docs name: the session format's Export list (docs/sessions.md),
    plus the columns the judges and checks add ("Export rows gain …", docs/judges.md); and
    the patterns of the flat columns (the table's first cells, `human.CRITERION`, …)."""
    text = (ROOT / "docs" / "sessions.md").read_text(encoding="utf-8")
    section = text[text.index("## Export") :]
    listing = section[section.index("writes one row per item") : section.index("| Column pattern")]
    table = section[section.index("| Column pattern") : section.index("In CSV")]
    judges = (ROOT / "docs" / "judges.md").read_text(encoding="utf-8")
    gained = judges[judges.index("Export rows gain") :].split("\n\n")[0]
    names: list[str] = []
    for part in (listing, gained):
        part = re.sub(r"\([^)]*\)", "", part)  # asides: `status` (`done`, `cancelled`, …)
        names += [name for name in re.findall(r"`([a-z_]+)`", part) if name not in names]
    patterns = re.findall(r"^\| `([a-z]+(?:\.[A-Z]+)+)` \|", table, flags=re.MULTILINE)
    return names, patterns


def comparing_columns() -> tuple[list[str], list[str]]:
    """The comparison export's columns and patterns as docs/comparing.md's Export names them."""
    text = (ROOT / "docs" / "comparing.md").read_text(encoding="utf-8")
    section = text[text.index("## Export") :]
    listing = section[section.index("one row per pair") : section.index("Its CSV")]
    patterns = re.findall(r"`([a-z]+(?:\.[A-Z]+)+)`", listing)
    listing = re.sub(r"\([^)]*\)", "", listing)  # asides: `human` (`"a"`, `"b"`, …)
    return list(dict.fromkeys(re.findall(r"`([a-z_]+)`", listing))), patterns


# The columns only a session with two or more raters has (tests/test_raters_report.py uses them).
RATERS_ONLY = ("rater.NAME.CRITERION", "consensus.CRITERION")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """`judge.NAME.CRITERION` as a regex: each upper-case part one safe name (word characters)."""
    parts = pattern.split(".")
    return re.compile(r"\.".join(r"\w+" if part.isupper() else re.escape(part) for part in parts))


def test_the_docs_patterns_are_read_and_refuse_what_they_should() -> None:
    names, patterns = readme_columns()
    assert patterns == [
        "human.CRITERION",
        "sample.CRITERION",
        "rater.NAME.CRITERION",
        "consensus.CRITERION",
        "judge.NAME.CRITERION",
        "check.NAME",
        "metric.NAME",
    ]
    assert "prompt" in names and "system" in names and "human" in names
    judge = pattern_regex("judge.NAME.CRITERION")
    assert judge.fullmatch("judge.gpt_4_1.helpfulness")
    assert not judge.fullmatch("judge.gpt-4.1.helpfulness") and not judge.fullmatch("judge.x")
    assert not pattern_regex("check.NAME").fullmatch("check.contains:['def', 'return']")


def test_csv_and_jsonl_have_every_readme_column(tmp_path: Path, server_url: str) -> None:
    from sftscope.sessions.core.store import SessionStore

    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "a", "prompt": "first", "category": "c"}, {"id": "b", "prompt": "second"}],
    )
    session = tmp_path / "s"
    run = run_headless(server_url, prompts, session)
    assert run.returncode == 0, run.stderr
    store = SessionStore(session)
    store.open()
    label = {"type": "score", "item": "a", "criterion": "helpfulness", "value": 4, "sample": "random"}
    store.append(label, durable=True)
    store.append({"type": "flag", "item": "a", "on": True}, durable=True)
    store.append({"type": "comment", "item": "a", "text": "too short, but right"}, durable=True)
    scores = {"helpfulness": 5, "harmless": True}
    store.append({"type": "judge", "item": "a", "judge": "gpt-4.1", "scores": scores}, durable=True)
    checks = {"contains:['def', 'return']": False}
    store.append({"type": "checks", "item": "a", "checks": checks, "metrics": {"rougeL": 0.5}}, durable=True)
    store.close()

    jsonl = run_cli("export", str(session), "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    table = run_cli("export", str(session), "--format", "csv")
    assert table.returncode == 0, table.stderr
    header = next(csv.reader(io.StringIO(table.stdout)))
    cells = list(csv.DictReader(io.StringIO(table.stdout)))

    assert header == list(rows[0]) == list(rows[1])  # same columns, same order, in every row
    assert header[: len(COLUMNS)] == COLUMNS  # the fixed columns first, from one list
    names, patterns = readme_columns()
    assert sorted(COLUMNS) == sorted(names)
    flat = header[len(COLUMNS) :]
    regexes = [pattern_regex(pattern) for pattern in patterns]
    for column in flat:  # every other column is one the table describes
        assert sum(bool(regex.fullmatch(column)) for regex in regexes) == 1, column
    for pattern, regex in zip(patterns, regexes, strict=True):  # and each pattern is in use here
        used = any(regex.fullmatch(column) for column in flat)  # but the raters' (2+ raters only)
        assert used is (pattern not in RATERS_ONLY), pattern
    assert {"judge.gpt_4_1.helpfulness", "check.contains_def_return", "metric.rougeL"} <= set(flat)
    # Every rubric criterion has its column, labelled or not.
    assert {"human.helpfulness", "human.instruction_following", "human.harmless", "human.format"} <= set(flat)
    assert {"sample.helpfulness", "sample.format"} <= set(flat)  # how each label was reached
    assert rows[0]["sample.helpfulness"] == "random" and rows[0]["sample.format"] is None
    assert rows[1]["sample.helpfulness"] is None and cells[0]["sample.helpfulness"] == "random"
    assert {"flagged", "comment"} <= set(header)
    by_id = {row["item"]: row for row in rows}
    assert by_id["a"]["flagged"] is True and by_id["a"]["comment"] == "too short, but right"
    assert by_id["b"]["flagged"] is False and by_id["b"]["comment"] is None
    assert by_id["a"]["human"] == {"helpfulness": 4}
    assert by_id["a"]["human.helpfulness"] == 4 and by_id["b"]["human.helpfulness"] is None
    assert by_id["a"]["judge.gpt_4_1.harmless"] is True and by_id["a"]["check.contains_def_return"] is False
    assert (by_id["a"]["prompt"], by_id["a"]["system"]) == ("first", None)
    first, second = cells
    assert (first["flagged"], first["comment"]) == ("true", "too short, but right")
    assert (second["flagged"], second["comment"]) == ("false", "")
    assert json.loads(first["human"]) == {"helpfulness": 4}
    assert (first["human.helpfulness"], second["human.helpfulness"]) == ("4", "")
    assert (first["judge.gpt_4_1.harmless"], first["check.contains_def_return"]) == ("true", "false")


def test_the_comparison_export_has_the_columns_the_docs_name(tmp_path: Path) -> None:
    import shutil

    from sftscope.sessions.compare.export import COLUMNS as PAIR_COLUMNS

    session = tmp_path / "compare-session"
    shutil.copytree(ROOT / "tests" / "data" / "compare-session", session)
    table = run_cli("export", str(session), "--format", "csv")
    assert table.returncode == 0, table.stderr
    header = next(csv.reader(io.StringIO(table.stdout)))
    names, patterns = comparing_columns()
    assert patterns == ["judge.NAME"]
    assert header[: len(PAIR_COLUMNS)] == PAIR_COLUMNS and sorted(PAIR_COLUMNS) == sorted(names)
    assert {"prompt", "system_a", "system_b", "answer_a", "answer_b"} <= set(names)
    assert header[len(PAIR_COLUMNS) :] == ["judge.pj"]  # the fixture's one judge, by the pattern
    assert pattern_regex(patterns[0]).fullmatch("judge.pj")
