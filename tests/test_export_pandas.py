"""Exports read by the tools people load them with: `pandas.read_csv` sees numbers and
booleans in the flat columns (never JSON inside a cell, never the string "null"), and
`datasets.load_dataset("json", ...)` loads every JSONL export, run, comparison and DPO.

The sessions are written through the real Session and SessionStore, exported by the real
`sftscope export` command; pandas and datasets come with the dev extra.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import write_run_session
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core.events import Checked, Generated, Judged, PairJudged, Scored
from sftscope.sessions.core.files import safe_names
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore

from tests.conftest import run_cli

pd = pytest.importorskip("pandas", reason="pandas comes with the dev extra: pip install -e '.[dev]'")

# Two checks whose safe names collide, one with punctuation only ("contains:['def', 'return']").
CODE = "contains:['def', 'return']"
COLLIDE = ("a:b", "a;b")
HASHED = {name: safe_names(COLLIDE)[name] for name in COLLIDE}


def run_session(directory: Path) -> Path:
    """Three answered items: every item labelled `harmless` (a yes/no criterion),
    `helpfulness` on two of three (one gap), `format` on none; a judge named with a dot and
    a dash; checks with punctuation and a collision; a metric; one answer that opens like a
    spreadsheet formula."""
    store = SessionStore(directory)
    header = {
        "status": "complete",
        "engine": {"spec": "fake:"},
        "prompts": {"count": 3},
        "system": "Be brief.",
        "rubric": DEFAULT_RUBRIC.to_dict(),
    }
    store.open(header)
    session = Session(store)
    items = [
        Item(id="q1", turns=["=1+1 please"]),
        Item(id="q2", turns=["first turn", "second turn"]),
        Item(id="q3", turns=["third"], prefix=[{"role": "system", "content": "Its own."}]),
    ]
    session.add_items(items)
    answers = {"q1": ["=2"], "q2": ["one", "two"], "q3": ["three"]}
    for item in items:
        for turn, text in enumerate(answers[item.id]):
            session.record(Generated(item.id, turn, text, "stop", tokens=1, seconds=0.5))
    for item_id, helpful, harmless in (("q1", 4, True), ("q2", None, False), ("q3", 2, True)):
        if helpful is not None:
            session.record(Scored(item_id, "helpfulness", helpful))
        session.record(Scored(item_id, "harmless", harmless))
        scores = {"helpfulness": 5, "harmless": True} if item_id != "q3" else None
        session.record(Judged(item_id, "gpt-4.1", scores))
        checks = {CODE: item_id == "q1", COLLIDE[0]: True, COLLIDE[1]: False}
        session.record(Checked(item_id, checks=checks, metrics={"rougeL": 0.25}))
    store.close(status="complete")
    return directory


def export(session: Path, fmt: str, target: Path, *extra: str) -> Path:
    result = run_cli("export", str(session), "--format", fmt, "-o", str(target), *extra)
    assert result.returncode == 0, result.stderr
    return target


def load_json(path: Path, cache: Path) -> Any:
    """`datasets.load_dataset("json", ...)` offline, its cache under the test's folder."""
    datasets = pytest.importorskip("datasets", reason="datasets comes with trl in the dev extra")
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))


def test_read_csv_gives_numbers_and_booleans_in_the_flat_columns(tmp_path: Path) -> None:
    session = run_session(tmp_path / "s")
    frame = pd.read_csv(export(session, "csv", tmp_path / "e.csv"))
    assert list(frame["item"]) == ["q1", "q2", "q3"]
    # Scores: numeric (a gap is NaN, so float); a fully labelled yes/no: bool.
    assert pd.api.types.is_numeric_dtype(frame["human.helpfulness"])
    assert frame["human.helpfulness"].isna().tolist() == [False, True, False]
    assert frame["human.helpfulness"].dropna().tolist() == [4, 2]
    assert frame["human.harmless"].dtype == bool and frame["human.harmless"].tolist() == [True, False, True]
    assert pd.api.types.is_numeric_dtype(frame["judge.gpt_4_1.helpfulness"])
    for column in ("metric.rougeL", "tokens", "seconds"):
        assert pd.api.types.is_numeric_dtype(frame[column]), column
    # A yes/no with a gap (the judge failed on q3): True/False and NaN, never the string "null".
    judged = frame["judge.gpt_4_1.harmless"]
    assert judged.isna().tolist() == [False, False, True]
    assert judged.dropna().tolist() == [True, True]  # booleans, not the text "true"
    # A criterion nobody labelled: its column exists, every cell empty (NaN), not "null".
    assert frame["human.format"].isna().all() and frame["human.format"].dtype == float
    # pandas reads "null" as NaN too, so the cells themselves: empty, as no spreadsheet misreads.
    text = pd.read_csv(tmp_path / "e.csv", keep_default_na=False, dtype=str)
    assert text["human.format"].tolist() == ["", "", ""]
    assert text["human.helpfulness"].tolist() == ["4", "", "2"]
    flat = [column for column in text.columns if "." in column]
    assert not text[flat].isin(["null", "None", "nan", "NaN"]).any().any()
    assert text["judge.gpt_4_1.harmless"].tolist() == ["true", "true", ""]
    # Check names made safe; two names that collide stay two columns.
    assert frame["check.contains_def_return"].dtype == bool
    assert frame["check.contains_def_return"].tolist() == [True, False, False]
    assert frame[f"check.{HASHED['a:b']}"].tolist() == [True] * 3
    assert frame[f"check.{HASHED['a;b']}"].tolist() == [False] * 3
    assert all("'" not in column and ":" not in column for column in frame.columns)
    # What the model was asked and told, as it was sent.
    assert frame["prompt"].tolist() == ["'=1+1 please", "second turn", "third"]  # the formula guard holds
    assert frame["system"].tolist() == ["Be brief.", "Be brief.", "Its own."]
    assert frame["response"].tolist() == ["'=2", "two", "three"]
    raw = pd.read_csv(export(session, "csv", tmp_path / "raw.csv", "--csv-raw"))
    assert raw["prompt"][0] == "=1+1 please"


def test_safe_names_are_readable_stable_and_distinct() -> None:
    names = safe_names([CODE, "word_count(min=3,max=10)", "ifeval_strict", "a_b", "a:b", "!!", "qualité"])
    assert names[CODE] == "contains_def_return"
    assert names["word_count(min=3,max=10)"] == "word_count_min_3_max_10"
    assert names["ifeval_strict"] == "ifeval_strict"  # a safe name keeps itself
    assert names["a_b"] == "a_b" and names["a:b"].startswith("a_b_") and len(names["a:b"]) == 12
    assert (names["!!"], names["qualité"]) == ("name", "qualité")
    assert len(set(names.values())) == len(names)
    # A colliding name keeps its column whatever else the export holds, and the order does not matter.
    assert safe_names(["a;b", "a:b"])["a:b"] == safe_names(["a:b", "a;b", "x"])["a:b"] == HASHED["a:b"]
    assert safe_names(["a:b"])["a:b"] == "a_b"  # no collision, no digest


def test_load_dataset_reads_the_run_export(tmp_path: Path) -> None:
    session = run_session(tmp_path / "s")
    path = export(session, "jsonl", tmp_path / "e.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[1]["human.helpfulness"] is None and rows[1]["human"] == {"harmless": False}
    assert rows[0]["checks"][CODE] is True and rows[0]["check.contains_def_return"] is True
    dataset = load_json(path, tmp_path / "cache")
    assert dataset.num_rows == 3
    assert dataset["human.helpfulness"] == [4, None, 2] and dataset["human.harmless"] == [True, False, True]
    assert dataset["judge.gpt_4_1.harmless"] == [True, True, None]
    assert dataset["prompt"] == ["=1+1 please", "second turn", "third"]  # JSON is never guarded
    assert dataset.features["tokens"].dtype == "int64" and dataset.features["human.harmless"].dtype == "bool"


def test_load_dataset_reads_the_comparison_and_dpo_exports(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {"1": "short 1", "2": "short 2"})
    b = write_run_session(tmp_path / "runB", {"1": "longer 1", "2": "longer 2"}, system="Be kind.")
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    first = comparison.state.ordered()[0]
    comparison.session.prefer(first.pair, "b")
    comparison.session.record(PairJudged(first.item.id, first.pair, "pj:v1", "b", ab="b", ba="b"))
    comparison.close("stopped")

    path = export(target, "jsonl", tmp_path / "pairs.jsonl")
    dataset = load_json(path, tmp_path / "cache")
    assert dataset.num_rows == 2
    assert dataset["system_a"] == [None, None] and dataset["system_b"] == ["Be kind.", "Be kind."]
    assert dataset["answer_a"] == ["short 1", "short 2"] and dataset["answer_b"] == ["longer 1", "longer 2"]
    assert dataset["prompt"] == ["question 1", "question 2"] and dataset["human"] == ["b", None]
    assert dataset["judge.pj_v1"] == ["b", None]
    frame = pd.read_csv(export(target, "csv", tmp_path / "pairs.csv"))
    assert frame["answer_b"].tolist() == ["longer 1", "longer 2"] and frame["stale"].dtype == bool
    assert frame["system_a"].isna().all() and frame["judge.pj_v1"].isna().tolist() == [False, True]

    dpo = export(target, "dpo", tmp_path / "dpo.jsonl", "--dpo-system", "none")
    pairs = load_json(dpo, tmp_path / "cache")
    assert pairs.num_rows == 1 and pairs["chosen"] == [[{"role": "assistant", "content": "longer 1"}]]
