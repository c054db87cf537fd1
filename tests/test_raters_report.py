"""Agreement and consensus of several raters (issue 18 §3): the consensus rule, the session
as reports read it, alpha and kappa against the krippendorff package and scikit-learn, the
report's raters section, export columns and DPO sources."""

from __future__ import annotations

from pathlib import Path

import pytest
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
from sftscope.sessions.core.raters import read_ratings
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, read_events

from tests.conftest import answered_session

LIKERT = Criterion("helpfulness", "likert", min=1, max=5)
BINARY = Criterion("correct", "binary")
TAGS = Criterion("issues", "tags", tags=("long", "rude", "wrong"))
HEADER = {"status": "running", "engine": {"spec": "x"}}


def make_session(tmp_path: Path, labels: dict[str, dict[str, dict[str, object]]], items: int = 4) -> Path:
    """A real session on disk (the default rubric: helpfulness and instruction_following
    1-5, harmless and format yes/no): items q1.. answered by a writer, then each rater's
    labels {rater: {item: {criterion: value}}} through their own console's Session (their
    ratings/NAME.jsonl), walked in order so each first label is sample=random."""
    directory = answered_session(tmp_path / "s", [f"q{n}" for n in range(1, items + 1)], HEADER)
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


def random_labels(seed: int, items: int = 24) -> dict[str, dict[str, dict[str, object]]]:
    """Three raters, each leaving some items out (missing data), on helpfulness and harmless."""
    import random

    rng = random.Random(seed)
    return {
        name: {
            f"q{n}": {"helpfulness": rng.choice([1, 2, 3, 3, 4, 4, 5]), "harmless": rng.random() < 0.7}
            for n in range(1, items + 1)
            if rng.random() < 0.8
        }
        for name in ("alice", "bob", "carol")
    }


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    labels = random_labels(7)
    directory = make_session(tmp_path_factory.mktemp("three"), labels, items=24)
    from sftscope.sessions.report.document import build_report

    return directory, labels, build_report([directory]).to_dict()


def test_alpha_equals_krippendorff_on_the_raters_matrix(three: tuple[Path, dict, dict]) -> None:
    import krippendorff
    import numpy as np

    _, labels, doc = three
    raters = doc["raters"]
    assert raters["names"] == ["alice", "bob", "carol"]
    for criterion, level, domain in (
        ("helpfulness", "ordinal", [1, 2, 3, 4, 5]),
        ("harmless", "nominal", [0, 1]),
    ):
        matrix = np.array(
            [
                [
                    float(labels[name][f"q{n}"][criterion]) if f"q{n}" in labels[name] else np.nan
                    for n in range(1, 25)
                ]
                for name in raters["names"]
            ]
        )
        expected = krippendorff.alpha(
            reliability_data=matrix, value_domain=domain, level_of_measurement=level
        )
        entry = raters["alpha"][criterion]
        assert entry["alpha"] == pytest.approx(expected, abs=1e-12)
        assert entry["n"] == int((np.sum(~np.isnan(matrix), axis=0) >= 2).sum())
        low, high = entry["ci"]
        assert low < entry["alpha"] < high


def test_pairwise_kappa_equals_scikit_learn(three: tuple[Path, dict, dict]) -> None:
    from sklearn.metrics import cohen_kappa_score

    _, labels, doc = three
    for criterion, weights, scale in (
        ("helpfulness", "quadratic", [1, 2, 3, 4, 5]),
        ("harmless", None, [0, 1]),
    ):
        for pair, entry in doc["raters"]["pairwise_kappa"][criterion].items():
            a, b = pair.split("|")
            both = sorted(set(labels[a]) & set(labels[b]))
            first = [int(labels[a][item][criterion]) for item in both]
            second = [int(labels[b][item][criterion]) for item in both]
            assert entry["n"] == len(both)
            assert entry["kappa"] == pytest.approx(
                cohen_kappa_score(first, second, labels=scale, weights=weights)
            )
            assert entry["ci"][0] <= entry["kappa"] <= entry["ci"][1]


def test_leave_one_out_and_the_consensus_as_the_human_source(three: tuple[Path, dict, dict]) -> None:
    directory, labels, doc = three
    for name in ("alice", "bob", "carol"):
        others = [o for o in ("alice", "bob", "carol") if o != name]
        same = n = 0
        for item, given in labels[name].items():
            votes = {o: labels[o][item]["harmless"] for o in others if item in labels[o]}
            found = decide(votes, BINARY)
            if found is not None and found.status != DISPUTED:
                n += 1
                same += given["harmless"] == found.value
        entry = doc["raters"]["vs_consensus"][name]["harmless"]
        assert (entry["n"], entry["agreement"]) == (n, same / n)
        assert doc["raters"]["labels"][name]["helpfulness"] == len(labels[name])
    events, ratings, rubric = read(directory)
    state = consensus_state(events, ratings, rubric)
    rates = [s.human["harmless"] for s in state.items.values() if "harmless" in s.human]
    human = doc["criteria"]["harmless"]["human"]
    assert human["n"] == len(rates) and human["rate"] == pytest.approx(sum(rates) / len(rates))
    assert doc["sessions"][0]["labelled"] == sum(1 for s in state.items.values() if s.human)


def test_raters_section_in_every_format(three: tuple[Path, dict, dict]) -> None:
    from sftscope.tui.render.report import render

    _, _, doc = three
    for form in ("text", "md", "html"):
        out = render(doc, form)
        assert "Raters" in out and "Krippendorff" in out and "alice · bob" in out, form
    text = render(doc, "text")
    assert "n too small" in text  # a rater against the others on fewer than MIN_N items


def test_one_rater_session_has_no_raters_block(tmp_path: Path) -> None:
    """One rater's file: the report reads their labels as it read the log's before, no
    `raters` key; a legacy session (labels in events.jsonl) reads the same."""
    from sftscope.sessions.report.document import build_report

    directory = make_session(tmp_path, {"alice": {"q1": {"helpfulness": 4}, "q2": {"helpfulness": 2}}})
    doc = build_report([directory]).to_dict()
    assert "raters" not in doc
    assert doc["criteria"]["helpfulness"]["human"]["n"] == 2
    assert doc["criteria"]["helpfulness"]["human"]["mean"] == 3


def test_export_has_the_consensus_and_each_raters_columns(
    three: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    import json

    from tests.conftest import run_cli
    from tests.test_export import RATERS_ONLY, pattern_regex, readme_columns

    directory, labels, _ = three
    done = run_cli("export", str(directory), "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    rows = {row["item"]: row for row in map(json.loads, done.stdout.splitlines())}
    _, patterns = readme_columns()
    assert set(RATERS_ONLY) <= set(patterns)  # docs/sessions.md names them
    for pattern in RATERS_ONLY:
        regex = pattern_regex(pattern)
        assert any(regex.fullmatch(column) for column in rows["q1"]), pattern
    events, ratings, rubric = read(directory)
    state = consensus_state(events, ratings, rubric)
    for item, row in rows.items():
        assert row["human"] == state.items[item].human
        for name in ("alice", "bob", "carol"):
            assert row[f"rater.{name}.helpfulness"] == labels[name].get(item, {}).get("helpfulness")
        votes = {n: labels[n][item]["harmless"] for n in labels if item in labels[n]}
        found = decide(votes, BINARY)
        assert row["consensus.harmless"] == (found.status if found else None)
        assert row["human.harmless"] == (found.value if found else None)
    # one rater: the export keeps its shape, no rater's or consensus column
    one = make_session(tmp_path, {"alice": {"q1": {"helpfulness": 4}}})
    done = run_cli("export", str(one), "--format", "jsonl")
    row = json.loads(done.stdout.splitlines()[0])
    assert row["human.helpfulness"] == 4
    assert not [column for column in row if column.startswith(("rater.", "consensus."))]


def test_a_bad_raters_file_is_one_line(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    directory = make_session(
        tmp_path, {"alice": {"q1": {"helpfulness": 4}}, "bob": {"q1": {"helpfulness": 2}}}
    )
    with (directory / "ratings" / "bob.jsonl").open("a") as file:
        file.write(
            '{"v": 2, "type": "score", "ts": 1, "item": "q1", "criterion": "helpfulness", "value": 99}\n'
        )
    for command in (("export", str(directory)), ("report", str(directory))):
        done = run_cli(*command)
        assert done.returncode == 2 and "bob.jsonl" in done.stderr and "Traceback" not in done.stderr, command
