"""The report's JSON document from real sessions written through the real Session writer:
hand-checkable figures, the schema's fixed keys, paired runs, comparisons, bad paths, and
the shared item bootstrap checked against numpy and scipy on its own resamples."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compare_helpers import write_run_session
from scipy.stats import spearmanr
from sftscope.scorers.checks import evaluate_item
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.aggregates import ItemResamples, mean_of, rate_of
from sftscope.scorers.stats.agreement import agreement_stats
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core import store as store_module
from sftscope.sessions.core.events import Checked, Generated, Judged, PairJudged, Probed
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.report.document import ReportError, build_report
from sftscope.sessions.report.runs import error_kind
from sklearn.metrics import cohen_kappa_score

RUBRIC = Rubric(
    criteria=(
        Criterion("helpfulness", "likert", min=1, max=5),
        Criterion("instruction_following", "likert", min=1, max=5),
        Criterion("harmless", "binary"),
        Criterion("issues", "tags", tags=("verbose", "wrong")),
        Criterion("notes", "note"),
    )
)
SHA = "1a2b3c4d" + "e" * 56
FIXED = (
    "sftscope_version",
    "resamples",
    "seed",
    "sessions",
    "criteria",
    "agreement",
    "judge_health",
    "checks",
)


@contextlib.contextmanager
def run_session(
    directory: Path, items: list[Item], answers: dict[str, str], *, model: str = "sft-a"
) -> Iterator[Session]:
    """A run session written through the real store and Session: the items, their answers,
    then whatever the test records; closed as complete."""
    store = SessionStore(directory)
    store.open(
        header={
            "format_version": 1,
            "engine": {"requested": f"openai:http://127.0.0.1:1#{model}", "model": model},
            "params": {"temperature": 0.0},
            "prompts": {"path": "test.jsonl", "sha256": "x", "count": len(items)},
            "rubric": RUBRIC.to_dict(),
            "status": "running",
        }
    )
    session = Session(store)
    session.add_items(items)
    for item in items:
        if answers.get(item.id) is not None:
            session.record(Generated(item.id, 0, answers[item.id], "stop"))
    yield session
    store.close(status="complete")


def judge(
    session: Session, item: str, name: str, scores: dict[str, Any] | None, error: str | None = None
) -> None:
    extra = {"model": name, "template": "rubric-json", "template_sha256": SHA, "error": error, "raw": "{}"}
    session.record(Judged(item, name, scores, extra))


def twelve(count: int = 12) -> tuple[list[Item], dict[str, str]]:
    """Items i0..i11: the first half writing, the rest coding; answer i is 10*(i+1) long."""
    items = [
        Item(id=f"i{k}", turns=[f"question {k}"], category="writing" if k < count // 2 else "coding")
        for k in range(count)
    ]
    return items, {f"i{k}": "x" * (10 * (k + 1)) for k in range(count)}


HELPFUL = [1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 3, 3]  # mean 3.0; writing 20/6, coding 16/6
HARMLESS = [True] * 9 + [False] * 3  # rate 0.75
JUDGE_A = [2, 2, 3, 5, 5, 4, 4, 3, 1, 1, 3, 4]  # every item
JUDGE_B = [1, 2, 3, 4, 5, 5, 4, 3, None, None, None, None]  # four errors
B_ERRORS = [
    "parse error: no JSON object",
    "timed out after 30s (3 attempts)",
    "HTTP 503: busy",
    "connection reset",
]


def write_twelve(directory: Path) -> Path:
    items, answers = twelve()
    with run_session(directory, items, answers) as session:
        for k, item in enumerate(items):
            first = 5 if k == 0 else HELPFUL[k]
            session.score(item.id, "helpfulness", first)
            session.score(item.id, "harmless", HARMLESS[k])
            session.score(item.id, "issues", ["verbose"] if k % 3 == 0 else [])
            judge(session, item.id, "A", {"helpfulness": JUDGE_A[k], "harmless": k != 11})
            if JUDGE_B[k] is None:
                judge(session, item.id, "B", None, B_ERRORS[k - 8])
            else:
                judge(session, item.id, "B", {"helpfulness": JUDGE_B[k], "harmless": True})
        session.score("i0", "helpfulness", HELPFUL[0], judge_visible=True)  # revised after the reveal
        session.score("i1", "harmless", HARMLESS[1], judge_visible=True)  # the same again: revised
        session.score("i3", "instruction_following", 4, judge_visible=True)  # a first label: no revision
        session.score("i2", "issues", ["wrong"], judge_visible=False)  # revised, judges hidden
        session.score("i2", "issues", [], judge_visible=False)
        session.undo("i2")  # back to ["wrong"]
    return directory


# ---------------------------------------------------------------------------------------
# One run session.


@pytest.fixture(scope="module")
def twelve_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = write_twelve(tmp_path_factory.mktemp("twelve") / "run-a")
    document = build_report([directory], resamples=500, seed=0).to_dict()
    json.dumps(document, allow_nan=False)
    return document


def test_fixed_keys_and_the_session_entry(twelve_doc: dict[str, Any]) -> None:
    for key in FIXED:
        assert key in twelve_doc
    assert twelve_doc["resamples"] == 500 and twelve_doc["seed"] == 0
    (entry,) = twelve_doc["sessions"]
    assert entry["name"] == "run-a" and entry["kind"] == "run" and entry["model"] == "sft-a"
    assert (entry["items"], entry["answered"], entry["labelled"], entry["status"]) == (12, 12, 12, "complete")
    assert Path(entry["path"]).is_absolute()
    assert twelve_doc["comparison"] is None and "runs" not in twelve_doc


def test_criteria_means_rates_and_tags_are_exact(twelve_doc: dict[str, Any]) -> None:
    helpful = twelve_doc["criteria"]["helpfulness"]
    assert helpful["kind"] == "likert" and helpful["scale"] == [1, 5]
    human = helpful["human"]
    assert human["n"] == 12 and human["mean"] == 3.0 and human["enough"] is True
    assert human["distribution"] == {"1": 2, "2": 2, "3": 4, "4": 2, "5": 2}
    assert human["ci"][0] < 3.0 < human["ci"][1]
    assert helpful["judges"]["A"]["mean"] == pytest.approx(sum(JUDGE_A) / 12)
    assert helpful["judges"]["B"]["n"] == 8 and helpful["judges"]["B"]["enough"] is False
    writing, coding = helpful["by_category"]["writing"], helpful["by_category"]["coding"]
    assert writing["human"]["mean"] == pytest.approx(20 / 6) and coding["human"]["mean"] == pytest.approx(
        16 / 6
    )
    assert writing["human"]["n"] == 6 and writing["human"]["enough"] is False  # kept, but n too small
    assert coding["judges"]["B"]["n"] == 2
    harmless = twelve_doc["criteria"]["harmless"]
    assert (
        harmless["human"]["rate"] == 0.75 and harmless["human"]["count"] == 9 and harmless["human"]["n"] == 12
    )
    assert harmless["judges"]["A"]["rate"] == pytest.approx(11 / 12)
    issues = twelve_doc["criteria"]["issues"]
    assert issues["kind"] == "tags"
    assert issues["human"] == {"n": 12, "counts": {"verbose": 4, "wrong": 1}, "enough": True}
    assert "notes" not in twelve_doc["criteria"]  # free text has no aggregate


def test_agreement_is_the_libraries_on_the_items_both_scored(twelve_doc: dict[str, Any]) -> None:
    entry = twelve_doc["agreement"]["helpfulness"]["A"]
    assert entry["n"] == 12 and entry["kappa_weights"] == "quadratic" and entry["alpha_level"] == "ordinal"
    expected = cohen_kappa_score(HELPFUL, JUDGE_A, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert entry["kappa"] == pytest.approx(expected, abs=1e-12)
    assert entry["exact"] == pytest.approx(sum(h == j for h, j in zip(HELPFUL, JUDGE_A, strict=True)) / 12)
    assert entry == agreement_stats(HELPFUL, JUDGE_A, "likert", (1, 5), resamples=500).to_dict()
    b = twelve_doc["agreement"]["helpfulness"]["B"]
    assert b["n"] == 8 and b["exact"] == 1.0 and b["enough"] is False
    harmless = twelve_doc["agreement"]["harmless"]["B"]  # B always said yes: kappa is 0, rho absent
    assert harmless["kappa_weights"] == "none" and harmless["spearman"] is None
    assert "instruction_following" not in twelve_doc["agreement"]  # nobody scored it


def test_agreement_by_template_keys_template_and_hash(twelve_doc: dict[str, Any]) -> None:
    by_template = twelve_doc["agreement_by_template"]["helpfulness"]
    assert set(by_template) == {
        "rubric-json@1a2b3c4d (A)",
        "rubric-json@1a2b3c4d (B)",
    }  # one template, two judges
    entry = by_template["rubric-json@1a2b3c4d (A)"]
    assert entry["judge"] == "A" and entry["template_sha256"] == SHA
    assert entry["kappa"] == twelve_doc["agreement"]["helpfulness"]["A"]["kappa"]


def test_judge_health_errors_lengths_and_revisions(twelve_doc: dict[str, Any]) -> None:
    b = twelve_doc["judge_health"]["B"]
    assert (b["judged"], b["errors"]) == (12, 4)
    assert b["error_rate"] == pytest.approx(4 / 12)
    assert b["errors_by_kind"] == {"parse": 1, "timeout": 1, "http": 1, "other": 1}
    a = twelve_doc["judge_health"]["A"]
    assert a["errors"] == 0 and a["error_rate"] == 0.0
    # No error in 12: Wilson's interval, never the zero-width [0.00, 0.00].
    assert a["error_rate_ci"] == pytest.approx([0.0, 0.2425], abs=1e-4)
    lengths = [10 * (k + 1) for k in range(12)]
    rho = a["length_spearman"]["helpfulness"]
    assert rho["n"] == 12 and rho["rho"] == pytest.approx(spearmanr(JUDGE_A, lengths).statistic)
    assert rho["ci"][0] <= rho["rho"] <= rho["ci"][1]
    human = a["human_length_spearman"]["helpfulness"]
    assert human["rho"] == pytest.approx(spearmanr(HELPFUL, lengths).statistic)
    assert b["length_spearman"]["helpfulness"]["n"] == 8
    revisions = a["revisions_after_reveal"]
    # 36 first scores, then five more: two with the judges shown and a previous label.
    assert revisions == {"n": 2, "of_labels": 41, "rate": 2 / 41}


def test_methods_side_by_side_and_reliability_without_probes(twelve_doc: dict[str, Any]) -> None:
    overall = twelve_doc["methods"]["helpfulness"]["overall"]
    assert set(overall) == {"human", "judge:A", "judge:B"}
    assert overall["human"]["value"] == 3.0 and overall["human"]["measure"] == "mean"
    assert overall["human"]["ci"] == twelve_doc["criteria"]["helpfulness"]["human"]["ci"]
    assert twelve_doc["methods"]["harmless"]["overall"]["human"]["value"] == 0.75
    assert twelve_doc["methods"]["helpfulness"]["by_category"]["coding"]["human"]["n"] == 6
    assert twelve_doc["reliability"]["probes"] == 0 and twelve_doc["reliability"]["test_retest"] == {}


def test_error_kinds() -> None:
    assert error_kind("parse error (a first): no verdict") == "parse"
    assert error_kind("timed out after 60s (3 attempts)") == "timeout"
    assert error_kind("http://h:1/v1: HTTP 429: slow down") == "http"
    assert error_kind("server said 502 Bad Gateway") == "http"
    assert error_kind("the judge's engine ended without an answer") == "other"
    assert error_kind("connection refused after 200 ms") == "other"  # a number, not a status


def test_constant_labels_give_null_figures_with_a_reason(tmp_path: Path) -> None:
    items, answers = twelve()
    with run_session(tmp_path / "run", items, answers) as session:
        for item in items:
            session.score(item.id, "helpfulness", 4)
            judge(session, item.id, "J", {"helpfulness": 4})
    document = build_report([tmp_path / "run"], resamples=200).to_dict()
    text = json.dumps(document, allow_nan=False)
    assert "NaN" not in text
    entry = document["agreement"]["helpfulness"]["J"]
    assert entry["kappa"] is None and entry["alpha"] is None and entry["spearman"] is None
    assert entry["exact"] == 1.0 and "undefined" in entry["undefined"]
    rho = document["judge_health"]["J"]["length_spearman"]["helpfulness"]
    assert rho["rho"] is None and rho["ci"] is None and "same score" in rho["undefined"]


# ---------------------------------------------------------------------------------------
# Checks.


def test_ifeval_prompt_and_instruction_level_on_a_hand_made_case(tmp_path: Path) -> None:
    both = ["punctuation:no_comma", "change_case:english_lowercase"]
    items = [
        Item(id="a", turns=["q"], instructions=both, kwargs=[{}, {}], category="w"),
        Item(id="b", turns=["q"], instructions=both, kwargs=[{}, {}], category="w"),
        Item(id="c", turns=["q"], instructions=["punctuation:no_comma"], kwargs=[{}], category="w"),
        Item(id="d", turns=["q"], checks=[{"type": "contains", "value": "world"}], reference="hello world"),
        Item(id="e", turns=["q"], checks=[{"type": "contains", "value": "world"}], category="w"),
    ]
    answers = {
        "a": "hello world",  # both followed
        "b": "Sure, here it is:\nhello world",  # both broken strictly, followed once the first line goes
        "c": "Hello, world",  # broken either way
        "d": "hello world",
        "e": "hello there",
    }
    with run_session(tmp_path / "run", items, answers) as session:
        for item in items:
            result = evaluate_item(item, answers[item.id])
            if item.id == "d":
                result["metrics"] = {"rougeL": 0.5, "bleu": 20.0, "chrf": 40.0}
            if item.id == "e":
                result["metrics"] = {"rougeL": 0.25, "bleu": 10.0, "chrf": 30.0}
            session.record(Checked(item.id, **result))
    checks = build_report([tmp_path / "run"], resamples=300).to_dict()["checks"]
    ifeval = checks["ifeval"]
    assert (ifeval["prompt_strict"]["n"], ifeval["prompt_strict"]["rate"]) == (3, pytest.approx(1 / 3))
    assert ifeval["prompt_loose"]["rate"] == pytest.approx(2 / 3)
    # Instruction level, as lm-eval counts it: every instruction of every item.
    assert (ifeval["instruction_strict"]["n"], ifeval["instruction_strict"]["rate"]) == (
        5,
        pytest.approx(2 / 5),
    )
    assert (ifeval["instruction_loose"]["n"], ifeval["instruction_loose"]["rate"]) == (
        5,
        pytest.approx(4 / 5),
    )
    assert ifeval["prompt_strict"]["enough"] is False
    assert checks["items"] == {
        "contains:world": {"n": 2, "count": 1, "rate": 0.5, "ci": [0.0, 1.0], "enough": False}
    }
    metrics = checks["metrics"]
    assert metrics["note"] == "overlap with one reference answer; use with caution"
    assert metrics["rougeL"]["n"] == 2 and metrics["rougeL"]["mean"] == pytest.approx(0.375)
    assert metrics["bleu"]["mean"] == pytest.approx(15.0)


def test_instruction_following_gets_the_ifeval_rate_beside_it(tmp_path: Path) -> None:
    items = [
        Item(id=f"q{k}", turns=["q"], instructions=["punctuation:no_comma"], kwargs=[{}]) for k in range(4)
    ]
    answers = {"q0": "a b", "q1": "a, b", "q2": "a b", "q3": "a b"}
    with run_session(tmp_path / "run", items, answers) as session:
        for item in items:
            session.record(Checked(item.id, **evaluate_item(item, answers[item.id])))
            session.score(item.id, "instruction_following", 4)
            session.score(item.id, "helpfulness", 3)
    methods = build_report([tmp_path / "run"], resamples=100).to_dict()["methods"]
    check = methods["instruction_following"]["overall"]["check:ifeval_strict"]
    assert (check["n"], check["value"], check["measure"]) == (4, 0.75, "rate")
    assert "check:ifeval_strict" not in methods["helpfulness"]["overall"]
    assert methods["instruction_following"]["overall"]["human"]["value"] == 4.0


# ---------------------------------------------------------------------------------------
# Reliability: probes and drift.


def test_probes_give_test_retest_agreement(tmp_path: Path) -> None:
    items, answers = twelve()
    original = HELPFUL
    again = [1, 2, 3, 4, 4, 5, 4, 3, 2, 2, 3, 3]
    with run_session(tmp_path / "run", items, answers) as session:
        for k, item in enumerate(items):
            session.score(item.id, "helpfulness", original[k])
            session.record(Probed(item.id, "helpfulness", again[k], original[k]))
        session.record(Probed("i0", "harmless", True, True))
        session.record(Probed("i1", "issues", ["verbose"], []))  # tags: not a test-retest pair
    reliability = build_report([tmp_path / "run"], resamples=300).to_dict()["reliability"]
    assert reliability["probes"] == 14
    entry = reliability["test_retest"]["helpfulness"]
    assert entry["n"] == 12 and entry["exact"] == pytest.approx(10 / 12) and entry["enough"] is True
    assert entry["kappa"] == pytest.approx(
        cohen_kappa_score(original, again, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
    assert entry["kappa_ci"][0] <= entry["kappa"] <= entry["kappa_ci"][1]
    assert reliability["test_retest"]["harmless"]["n"] == 1
    assert "issues" not in reliability["test_retest"]


class Clock:
    """time.time for the store while a test writes: the labels' timestamps it chooses."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def __getattr__(self, name: str) -> Any:  # monotonic, gmtime, strftime: the real ones
        return getattr(time, name)


def write_timed(
    directory: Path, monkeypatch: pytest.MonkeyPatch, stamps: list[float], values: list[int]
) -> None:
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(store_module, "time", clock)
    items, answers = twelve(len(values))
    with run_session(directory, items, answers) as session:
        for item, stamp, value in zip(items, stamps, values, strict=True):
            clock.now = 1_000_000.0 + stamp
            session.score(item.id, "helpfulness", value)
    monkeypatch.undo()


def test_drift_over_two_hours_compares_the_first_and_last_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = [0, 600, 1200, 1800, 3000, 4000, 5000, 6000, 7300, 8000, 9000, 10000]  # 2 h 47 min
    values = [5, 5, 5, 5, 5, 1, 1, 2, 3, 3, 3, 3]  # first hour: 5s; middle left out; last hour: 3s
    write_timed(tmp_path / "run", monkeypatch, stamps, values)
    drift = build_report([tmp_path / "run"], resamples=200).to_dict()["reliability"]["drift"]["helpfulness"]
    assert drift["split"] == "first and last hour"
    assert (drift["first"]["n"], drift["first"]["mean"]) == (5, 5.0)
    assert (drift["last"]["n"], drift["last"]["mean"]) == (4, 3.0)
    assert drift["difference"] == -2.0 and drift["difference_ci"] == [-2.0, -2.0]
    assert drift["enough"] is False


def test_drift_of_a_shorter_session_compares_its_halves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = [0, 60, 120, 180, 240, 300, 1200, 1300, 1400, 1500, 1700, 1800]  # 30 minutes
    values = [4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 3, 1]
    write_timed(tmp_path / "run", monkeypatch, stamps, values)
    drift = build_report([tmp_path / "run"], resamples=200).to_dict()["reliability"]["drift"]["helpfulness"]
    assert drift["split"] == "first and second half"
    assert (drift["first"]["n"], drift["first"]["mean"]) == (6, 4.0)
    assert (drift["last"]["n"], drift["last"]["mean"]) == (6, 2.0)
    assert drift["difference"] == -2.0
    low, high = drift["difference_ci"]
    assert low <= -2.0 <= high and low < high


# ---------------------------------------------------------------------------------------
# Several runs, comparisons, bad input.


def test_several_runs_give_paired_differences_on_the_items_in_common(tmp_path: Path) -> None:
    items, answers = twelve()
    with run_session(tmp_path / "a", items, answers) as session:
        for k, item in enumerate(items):
            session.score(item.id, "helpfulness", 3)
            session.score(item.id, "harmless", k < 6)
            judge(session, item.id, "J", {"helpfulness": 2})
    extra = [*items, Item(id="only-b", turns=["q"])]
    with run_session(tmp_path / "b", extra, {**answers, "only-b": "y"}, model="sft-b") as session:
        for k, item in enumerate(extra):
            session.score(item.id, "helpfulness", 4 if k % 2 else 5)
            session.score(item.id, "harmless", True)
            judge(session, item.id, "J", {"helpfulness": 3})
            judge(session, item.id, "K", {"helpfulness": 3})
    document = build_report([tmp_path / "a", tmp_path / "b"], resamples=400).to_dict()
    json.dumps(document, allow_nan=False)
    assert [s["name"] for s in document["sessions"]] == ["a", "b"]
    assert set(document["runs"]) == {"a", "b"}
    assert document["criteria"] == document["runs"]["a"]["criteria"]  # the top level is the first run's
    assert document["runs"]["b"]["criteria"]["helpfulness"]["human"]["n"] == 13
    paired = {(p["criterion"], p["source"]): p for p in document["paired"]}
    human = paired[("helpfulness", "human")]
    assert (human["a"], human["b"], human["n"]) == ("a", "b", 12)
    assert (human["mean_a"], human["mean_b"], human["difference"]) == (3.0, 4.5, 1.5)
    assert human["ci"][0] <= 1.5 <= human["ci"][1] and human["enough"] is True
    assert paired[("helpfulness", "judge:J")]["difference"] == 1.0
    assert paired[("helpfulness", "judge:J")]["ci"] == [1.0, 1.0]
    assert paired[("harmless", "human")]["difference"] == pytest.approx(0.5)
    assert ("helpfulness", "judge:K") not in paired  # K judged only b


def test_runs_with_no_item_in_common_or_a_different_prompt_are_refused(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "a", {"1": "x", "2": "y"})
    b = write_run_session(tmp_path / "b", {"3": "x"})
    with pytest.raises(ReportError, match="no item in common") as caught:
        build_report([a, b])
    assert str(b.resolve()) in str(caught.value) and "\n" not in str(caught.value)
    c = write_run_session(tmp_path / "c", {"1": "x"}, prompts={"1": ["another question"]})
    with pytest.raises(ReportError, match="prompt differs"):
        build_report([a, c])


def test_a_comparison_gives_its_summary(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {str(i): f"short {i}" for i in range(12)})
    b = write_run_session(tmp_path / "runB", {str(i): f"a longer answer number {i}" for i in range(12)})
    target = tmp_path / "cmp"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    pairs = comparison.state.ordered()
    for pair in pairs:  # a judge that always picks the answer shown first
        comparison.session.record(PairJudged(pair.item.id, pair.pair, "first-picker", "tie", "a", "b"))
    for pair in pairs[:4]:
        comparison.session.prefer(pair.pair, "b")
    comparison.close("stopped")
    document = build_report([target], resamples=300).to_dict()
    json.dumps(document, allow_nan=False)
    (entry,) = document["sessions"]
    assert entry["kind"] == "comparison" and (entry["answered"], entry["labelled"]) == (12, 4)
    for key in FIXED:
        assert key in document
    comp = document["comparison"]
    assert comp["sessions"] == ["runA", "runB"]
    judge_summary = comp["sources"]["first-picker"]
    assert judge_summary["flip_rate"] == 1.0 and judge_summary["first_position_rate"] == 1.0
    assert judge_summary["ties"] == 12 and judge_summary["win_rate_b"] == 0.5
    assert comp["sources"]["human"]["n"] == 4 and comp["sources"]["human"]["wins_b"] == 4
    assert "first-picker" in comp["agreement"]
    assert len(comp["groups"]) == 1 and comp["ratings"] == {}


def test_bad_paths_are_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ReportError, match="no such directory") as caught:
        build_report([missing])
    assert str(missing) in str(caught.value)
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        build_report([afile])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match="not a session") as caught:
        build_report([empty])
    assert str(empty) in str(caught.value) and "\n" not in str(caught.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "session.toml").write_text("format_version = [")
    with pytest.raises(ReportError) as caught:
        build_report([broken])
    assert "session.toml" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ReportError):
        build_report([])


def test_a_comparison_mixed_with_a_run_is_refused(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "runA", {"1": "x", "2": "y"})
    b = write_run_session(tmp_path / "runB", {"1": "xx", "2": "yy"})
    target = tmp_path / "cmp"
    open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target))).close("stopped")
    with pytest.raises(ReportError, match="comparison") as caught:
        build_report([a, target])
    assert str(target.resolve()) in str(caught.value) and "\n" not in str(caught.value)


def test_a_torn_last_line_is_reported_as_a_warning(tmp_path: Path) -> None:
    directory = write_twelve(tmp_path / "run")
    with open(directory / "events.jsonl", "ab") as log:
        log.write(b'{"type": "score", "item": "i0", "crit')
    document = build_report([directory], resamples=100).to_dict()
    assert len(document["warnings"]) == 1 and "torn" in document["warnings"][0]
    assert document["criteria"]["helpfulness"]["human"]["mean"] == 3.0


# ---------------------------------------------------------------------------------------
# The bootstraps themselves.


def test_shared_item_resamples_equal_numpy_and_scipy_on_the_same_resamples() -> None:
    """The sparse, vectorised evaluation of every resample is what np.mean and
    scipy.stats.spearmanr give on that resample's items, repeated as often as drawn: two
    figures sharing their items and lengths (one ranking), and one over other items."""
    rng = np.random.default_rng(3)
    units = 300
    positions = np.sort(rng.choice(units, 220, replace=False))
    levels = rng.integers(0, 5, len(positions))
    other_levels = rng.integers(0, 3, len(positions))
    lengths = rng.integers(20, 60, len(positions)).astype(float)  # many ties
    subset = positions[::2]
    subset_levels = rng.integers(0, 4, len(subset))
    metric = rng.random((len(positions), 2))
    resampled = ItemResamples(units, 100, seed=5)
    handles = [
        resampled.add_spearman(positions, levels, 5, lengths),
        resampled.add_spearman(positions, other_levels, 3, lengths),
        resampled.add_spearman(subset, subset_levels, 4, lengths[::2]),
    ]
    means = resampled.add_means(positions, metric)
    resampled.run()
    found_means = resampled.result(means)
    rhos = [resampled.result(h) for h in handles]
    assert found_means is not None and found_means.shape == (100, 2)
    row = 0
    for index in range(resampled.chunk_count):
        for counts in resampled.chunk(index):
            assert counts.sum() == units
            drawn = counts[positions].astype(int)
            for found, (these, y, x) in zip(
                rhos,
                [
                    (drawn, levels, lengths),
                    (drawn, other_levels, lengths),
                    (counts[subset].astype(int), subset_levels, lengths[::2]),
                ],
                strict=True,
            ):
                assert found is not None and found.shape == (100,)
                expected = spearmanr(np.repeat(y, these), np.repeat(x, these)).statistic
                assert found[row] == pytest.approx(expected, abs=1e-12)
            np.testing.assert_allclose(
                found_means[row], np.repeat(metric, drawn, axis=0).mean(axis=0), rtol=1e-12
            )
            row += 1
    assert row == 100


def test_shared_item_resamples_do_not_depend_on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from sftscope.scorers.stats import aggregates as report_stats

    def figures(threads: int) -> np.ndarray:
        monkeypatch.setattr(report_stats, "THREADS", threads)
        rng = np.random.default_rng(1)
        resampled = ItemResamples(500, 300, seed=2)
        handle = resampled.add_spearman(np.arange(500), rng.integers(0, 3, 500), 3, rng.random(500))
        resampled.run()
        found = resampled.result(handle)
        assert found is not None
        return found

    np.testing.assert_array_equal(figures(1), figures(3))


def test_level_bootstrap_contains_the_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (20, 200, 2000):
        values = [int(v) for v in np.random.default_rng(n).integers(1, 6, n)]
        mean = mean_of(values, 1000, 0, scale=(1, 5))
        assert mean.ci is not None and mean.ci[0] <= mean.mean <= mean.ci[1]
        assert mean.mean == pytest.approx(np.mean(values))
        widths.append(mean.ci[1] - mean.ci[0])
    assert widths[0] > widths[1] > widths[2]
    spread = [float(v) for v in np.random.default_rng(1).random(2000)]  # every value distinct
    continuous = mean_of(spread, 500, 0)
    assert continuous.ci is not None and continuous.ci[0] < np.mean(spread) < continuous.ci[1]
    assert continuous.ci[1] - continuous.ci[0] == pytest.approx(
        2 * 1.96 * np.std(spread) / np.sqrt(2000), rel=0.2
    )
    rate = rate_of([True] * 30 + [False] * 10, 1000, 0)
    assert rate.rate == 0.75 and rate.ci is not None and rate.ci[0] < 0.75 < rate.ci[1]
    assert rate_of([], 100, 0).to_dict() == {"n": 0, "count": 0, "rate": None, "ci": None, "enough": False}
