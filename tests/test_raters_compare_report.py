"""Several raters of a comparison in the report and the DPO export, and an assignment's
progress per rater in the report (issue 18 §2, §3): alpha across the raters' votes equal to
krippendorff's (nominal), each pair's kappa equal to scikit-learn's, each rater against the
others' majority; `export --format dpo --source human` from the consensus (disputed pairs
give none, the closing line says how many), `--source RATER` from one rater's votes, a rater
without votes and a name both a rater and a judge refused in one line; `raters.progress`
in the JSON and a row per rater in every format."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.compare.comparison import CHOICES, CompareConfig, open_comparison
from sftscope.sessions.core.assignment import Assignment
from sftscope.sessions.core.consensus import DISPUTED, decide
from sftscope.sessions.core.events import Generated, ItemAdded, PairJudged
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.report.document import ReportError, build_report
from sftscope.tui.render.report import render

from tests.compare_helpers import write_run_session
from tests.conftest import one_line_error, run_cli

RATERS = ("alice", "bob", "carol")
PAIRS = 16


def make_comparison(tmp_path: Path, votes: dict[str, dict[int, str]], judge: str | None = None) -> Path:
    """Two run sessions compared in tmp_path/cmp; each rater's votes {pair index: choice}
    cast through their own rater-aware ComparisonSession (ratings/NAME.jsonl), one after
    another as each holds the comparison; `judge`: a judge of that name says "a" on every pair."""
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"A answers {i}." for i in range(PAIRS)})
    b = write_run_session(tmp_path / "runB", {f"q{i}": f"B answers {i} otherwise." for i in range(PAIRS)})
    directory = tmp_path / "cmp"
    first = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(directory), order="file"))
    pairs = [pair.pair for pair in first.walk()]
    if judge is not None:
        for pair in first.walk():
            first.session.record(PairJudged(pair.item.id, pair.pair, judge, "a", ab="a", ba="a"))
    first.close("stopped")
    for name, given in votes.items():
        rater = open_comparison(CompareConfig(session=str(directory), rater=name))
        for index, choice in given.items():
            rater.session.prefer(pairs[index], choice)
        rater.close("stopped")
    (directory / "pairs.json").write_text(json.dumps(pairs))  # for the test's own reading
    return directory


def random_votes(seed: int) -> dict[str, dict[int, str]]:
    rng = random.Random(seed)
    out: dict[str, dict[int, str]] = {}
    for name in RATERS:
        out[name] = {}
        for index in range(PAIRS):
            if rng.random() < 0.85:  # some pairs unvoted: missing data
                # Mostly agreeing on a per-pair truth, so alpha is well away from 0.
                truth = CHOICES[index % 4]
                out[name][index] = truth if rng.random() < 0.7 else rng.choice(CHOICES)
    return out


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[int, str]], dict[str, Any]]:
    votes = random_votes(11)
    directory = make_comparison(tmp_path_factory.mktemp("three"), votes)
    return directory, votes, build_report([directory]).to_dict()


def test_alpha_equals_krippendorff_nominal_on_the_raters_matrix(three: Any) -> None:
    import krippendorff
    import numpy as np

    _, votes, doc = three
    raters = doc["raters"]
    assert raters["names"] == list(RATERS)
    matrix = np.array(
        [
            [float(CHOICES.index(votes[name][i])) if i in votes[name] else np.nan for i in range(PAIRS)]
            for name in RATERS
        ]
    )
    expected = krippendorff.alpha(
        reliability_data=matrix, value_domain=[0, 1, 2, 3], level_of_measurement="nominal"
    )
    entry = raters["alpha"]["vote"]
    assert entry["alpha"] == pytest.approx(expected, abs=1e-12)
    assert entry["n"] == int((np.sum(~np.isnan(matrix), axis=0) >= 2).sum())
    low, high = entry["ci"]
    assert low < entry["alpha"] < high
    # Not the ordinal alpha (the categories have no order): the level matters here.
    ordinal = krippendorff.alpha(
        reliability_data=matrix, value_domain=[0, 1, 2, 3], level_of_measurement="ordinal"
    )
    assert entry["alpha"] != pytest.approx(ordinal, abs=1e-6)


def test_pairwise_kappa_equals_scikit_learn_and_leave_one_out(three: Any) -> None:
    from sklearn.metrics import cohen_kappa_score

    _, votes, doc = three
    raters = doc["raters"]
    for pair, entry in raters["pairwise_kappa"]["vote"].items():
        a, b = pair.split("|")
        both = sorted(set(votes[a]) & set(votes[b]))
        assert entry["n"] == len(both)
        expected = cohen_kappa_score(
            [votes[a][i] for i in both], [votes[b][i] for i in both], labels=list(CHOICES)
        )
        assert entry["kappa"] == pytest.approx(expected)
        assert entry["ci"][0] <= entry["kappa"] <= entry["ci"][1]
    statuses: dict[str, int] = {}
    for index in range(PAIRS):
        found = decide({n: votes[n][index] for n in RATERS if index in votes[n]}, None)
        if found is not None:
            statuses[found.status] = statuses.get(found.status, 0) + 1
    assert raters["consensus"]["vote"] == statuses
    for name in RATERS:
        same = n = 0
        for index, given in votes[name].items():
            found = decide({o: votes[o][index] for o in RATERS if o != name and index in votes[o]}, None)
            if found is not None and found.status != DISPUTED:
                n += 1
                same += given == found.value
        assert (
            raters["vs_consensus"][name]["vote"]["n"],
            raters["vs_consensus"][name]["vote"]["agreement"],
        ) == (
            n,
            same / n,
        )
        assert raters["labels"][name] == {"vote": len(votes[name])}
    assert raters["progress"] == {}


def test_the_raters_section_draws_for_a_comparison(three: Any) -> None:
    directory, _, doc = three
    for form in ("text", "md", "html"):
        out = render(doc, form)
        assert "Votes per rater" in out and "Krippendorff" in out and "alice · bob" in out, form
        assert "nominal over a, b, tie and both" in out, form  # both\\_bad in Markdown
    shown = run_cli("report", str(directory), "--resamples", "200")
    assert shown.returncode == 0, shown.stderr
    assert "3 raters: alice, bob, carol" in shown.stdout and "strict majority of the votes" in shown.stdout


def _dpo(directory: Path, *flags: str) -> tuple[list[dict[str, Any]], str]:
    result = run_cli("export", str(directory), "--format", "dpo", *flags)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_dpo_from_the_consensus_and_from_one_rater(three: Any) -> None:
    directory, votes, _ = three
    pairs = json.loads((directory / "pairs.json").read_text())
    rows, stderr = _dpo(directory)
    majority, disputed = [], 0
    for index in range(PAIRS):
        found = decide({n: votes[n][index] for n in RATERS if index in votes[n]}, None)
        if found is not None and found.status == DISPUTED:
            disputed += 1
        elif found is not None and found.value in ("a", "b"):
            majority.append((f"q{index}", found.value))
    assert disputed > 0 and majority  # the fixture has both
    assert [(r["item"], "a" if r["chosen_session"] == "runA" else "b") for r in rows] == majority
    assert {r["source"] for r in rows} == {"human"}
    assert stderr.strip().splitlines()[-1] == (
        f"sftscope: {len(majority)} DPO pairs from the consensus of 3 raters (alice, bob, carol); "
        f"{disputed} disputed pairs give none (no strict majority)"
    )
    bobs = [(f"q{i}", v) for i, v in sorted(votes["bob"].items()) if v in ("a", "b")]
    for flag in ("bob", "rater:bob"):
        rows, stderr = _dpo(directory, "--source", flag)
        assert [(r["item"], "a" if r["chosen_session"] == "runA" else "b") for r in rows] == bobs
        assert {r["source"] for r in rows} == {"rater:bob"}
        assert stderr.strip().splitlines()[-1] == f"sftscope: {len(bobs)} DPO pairs from rater bob's votes"
    assert len(pairs) == PAIRS


def test_a_rater_without_votes_is_one_line_naming_the_raters(three: Any) -> None:
    directory, _, _ = three
    for flag in ("dave", "rater:dave"):
        line = one_line_error(
            run_cli("export", str(directory), "--format", "dpo", "--source", flag), f"--source {flag}"
        )
        assert "raters with votes: alice, bob, carol" in line
    one_line_error(
        run_cli("export", str(directory), "--format", "dpo", "--source", "judge:alice"), "not a judge"
    )


def test_a_name_both_a_rater_and_a_judge_must_say_which(tmp_path: Path) -> None:
    votes = {"bob": {0: "b", 1: "b", 2: "tie"}, "carol": {0: "b", 1: "a"}}
    directory = make_comparison(tmp_path, votes, judge="bob")
    one_line_error(
        run_cli("export", str(directory), "--format", "dpo", "--source", "bob"),
        "--source bob",
        "both a rater and a judge",
        "--source rater:bob or --source judge:bob",
    )
    judged, _ = _dpo(directory, "--source", "judge:bob")
    assert len(judged) == PAIRS and {r["chosen_session"] for r in judged} == {"runA"}
    assert {r["source"] for r in judged} == {"bob"}
    rated, _ = _dpo(directory, "--source", "rater:bob")
    assert [(r["item"], r["chosen_session"]) for r in rated] == [("q0", "runB"), ("q1", "runB")]
    # The consensus of two raters: q0 both b; q1 b against a, disputed; q2 bob alone (tie).
    both, stderr = _dpo(directory)
    assert [r["item"] for r in both] == ["q0"]
    assert "1 DPO pairs from the consensus of 2 raters (bob, carol); 1 disputed pairs give none" in stderr


def test_one_rater_has_no_raters_block_and_no_closing_line(tmp_path: Path) -> None:
    directory = make_comparison(tmp_path, {"alice": {0: "a", 1: "b", 2: "tie"}})
    doc = build_report([directory], resamples=50).to_dict()
    assert "raters" not in doc
    assert doc["sessions"][0]["labelled"] == 3
    rows, stderr = _dpo(directory)
    assert [r["item"] for r in rows] == ["q0", "q1"] and stderr == ""
    rows, stderr = _dpo(directory, "--source", "alice")
    assert [r["source"] for r in rows] == ["rater:alice"] * 2
    assert "Raters" not in render(doc, "text")


# ---------------------------------------------------------------------------------------
# An assignment's progress.

TEAM = ("ann", "ben", "cy")
FULL = {"helpfulness": 4, "instruction_following": 3, "harmless": True, "format": True}


def assigned_session(
    tmp_path: Path, labelled: dict[str, int], items: int = 9
) -> tuple[Path, dict[str, list[str]]]:
    """A run session with `[assignment]` raters ann, ben, cy, overlap 2; each rater in
    `labelled` labels that many of their assigned items in full (every criterion) through
    their own Session, and one more with one criterion only (not labelled: not complete)."""
    directory = tmp_path / "s"
    ids = [f"q{n}" for n in range(1, items + 1)]
    assignment = Assignment(TEAM, 2, 3)
    store = SessionStore(directory)
    store.open(
        {
            "status": "running",
            "engine": {"spec": "x"},
            "prompts": {"count": items},
            "assignment": assignment.to_header(),
        }
    )
    writer = Session(store)
    for n, item in enumerate(ids):
        writer.record(ItemAdded(item, {"id": item, "turns": [f"Q{n}?"]}, n))
        writer.record(Generated(item, 0, f"answer {n}", "stop", gen=f"g{n}"))
    store.close(status="complete")
    plan = assignment.plan(ids)
    mine = {name: [item for item in ids if name in plan[item]] for name in TEAM}
    for name, count in labelled.items():
        follower = SessionStore(directory)
        follower.open(follow=True)
        console = Session(follower, rater=name)
        for item in mine[name][:count]:
            for criterion, value in FULL.items():
                console.score(item, criterion, value, sample="random")
        console.score(mine[name][count], "helpfulness", 2, sample="random")
        console.store.close()
        console.raters.close()
    return directory, mine


def test_progress_per_rater_with_one_rater_so_far(tmp_path: Path) -> None:
    directory, mine = assigned_session(tmp_path, {"ann": 2})
    doc = build_report([directory], resamples=50).to_dict()
    progress = doc["raters"]["progress"]
    assert progress == {
        name: {"assigned": len(mine[name]), "labelled": 2 if name == "ann" else 0} for name in TEAM
    }
    assert doc["raters"]["alpha"] == {}  # one rater: nothing to agree on yet
    shown = run_cli("report", str(directory), "--resamples", "50")
    assert shown.returncode == 0, shown.stderr
    assert "Progress per rater (assignment)" in shown.stdout
    lines = shown.stdout.splitlines()
    for name in TEAM:
        row = next(line for line in lines if line.split()[:1] == [name])
        assert row.split() == [name, str(len(mine[name])), "2" if name == "ann" else "0"]
    for form in ("md", "html"):
        assert "Progress per rater" in render(doc, form)


def test_progress_beside_the_agreement_of_two_raters(tmp_path: Path) -> None:
    directory, mine = assigned_session(tmp_path, {"ann": 3, "ben": 1})
    doc = json.loads(run_cli("report", str(directory), "--format", "json", "--resamples", "50").stdout)
    assert doc["raters"]["names"] == ["ann", "ben"]
    assert doc["raters"]["progress"]["ben"] == {"assigned": len(mine["ben"]), "labelled": 1}
    assert doc["raters"]["progress"]["cy"]["labelled"] == 0
    assert "helpfulness" in doc["raters"]["alpha"]


def test_no_assignment_no_progress_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    directory, _ = assigned_session(tmp_path, {"ann": 1})
    toml = directory / "session.toml"
    text = toml.read_text()
    toml.write_text(text.replace("[assignment]", "[unused]"))
    assert "raters" not in build_report([directory], resamples=50).to_dict()  # one rater, no assignment
    toml.write_text(text.replace("overlap = 2", "overlap = 7"))
    with pytest.raises(ReportError, match="assignment"):
        build_report([directory], resamples=50)
    one_line_error(run_cli("report", str(directory)), "assignment")
