"""Paired tests between two runs (scorers/stats/paired.py and the report's `runs_paired`):
each test equals scipy's on the same data (statsmodels is not installed here; its exact
McNemar is scipy's binomial test on the discordant pairs), the lm-evaluation-harness #3831
case where an unpaired test misses what McNemar finds, the degenerate cases (no pair, no
discordant pair, every difference zero, only ties) that give p = 1.0 or None and never NaN,
bad input refused, and the report on two real run sessions on disk."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compare_helpers import write_run_session
from conftest import run_cli
from scipy.stats import binomtest, norm, wilcoxon
from sftscope.scorers.stats.paired import (
    MCNEMAR,
    SIGN,
    WILCOXON,
    PairedTest,
    mcnemar_exact,
    paired_test,
    sign_test,
    wilcoxon_signed_rank,
)
from sftscope.sessions.core.events import Checked, Judged, Scored
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.report.document import build_report
from sftscope.sessions.report.layout import fmt_p

# lm-evaluation-harness #3831 / #3868: 220 items, A right on 122, B right on 140; 12 items
# only A got right, 30 only B.
N, RIGHT_A, RIGHT_B, ONLY_A, ONLY_B = 220, 122, 140, 12, 30


def lm_eval_case() -> tuple[list[bool], list[bool]]:
    """The #3831 data as per-item outcomes: both right, only A, only B, both wrong."""
    both = RIGHT_A - ONLY_A
    neither = N - both - ONLY_A - ONLY_B
    first = [True] * both + [True] * ONLY_A + [False] * ONLY_B + [False] * neither
    second = [True] * both + [False] * ONLY_A + [True] * ONLY_B + [False] * neither
    assert (sum(first), sum(second)) == (RIGHT_A, RIGHT_B)
    return first, second


def unpaired_z(first: list[bool], second: list[bool]) -> float:
    """lm-eval's model_comparator.py: an unpaired z-test on the two accuracies."""
    n = len(first)
    p1, p2 = sum(first) / n, sum(second) / n
    se = math.sqrt(p1 * (1 - p1) / (n - 1) + p2 * (1 - p2) / (n - 1))
    return float(2 * norm.sf(abs(p2 - p1) / se))


# ---------------------------------------------------------------------------------------
# The tests against scipy.


@pytest.mark.parametrize("seed", range(8))
def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    first = rng.random(n) < 0.6
    second = np.where(rng.random(n) < 0.8, first, rng.random(n) < 0.7)
    got = mcnemar_exact(first.tolist(), second.tolist())
    b = int((first & ~second).sum())
    c = int((~first & second).sum())
    assert (got.test, got.n, got.used, got.statistic) == (MCNEMAR, n, b + c, min(b, c))
    if b + c:
        assert got.p == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-12)
    # Which run is A does not change a two-sided test.
    assert mcnemar_exact(second.tolist(), first.tolist()).p == pytest.approx(got.p, rel=1e-12)


def test_the_lm_eval_case_unpaired_misses_what_mcnemar_finds() -> None:
    first, second = lm_eval_case()
    got = mcnemar_exact(first, second)
    assert got.p == pytest.approx(binomtest(ONLY_A, ONLY_A + ONLY_B, 0.5).pvalue, rel=1e-12)
    assert fmt_p(got.p) == "p = 0.008"
    unpaired = unpaired_z(first, second)
    assert round(unpaired, 3) == 0.080
    assert got.p < 0.01 < 0.05 < unpaired  # a difference the unpaired test calls noise


@pytest.mark.parametrize("seed", range(10))
def test_wilcoxon_equals_scipy_on_scale_points_with_ties_and_zeros(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(3, 120))
    first = rng.integers(1, 6, n)
    second = np.clip(first + rng.integers(-1, 3, n), 1, 5)
    if not (second != first).any():
        second[0] = 5 if first[0] < 5 else 4
    got = wilcoxon_signed_rank(first.tolist(), second.tolist())
    expected = wilcoxon(second - first, zero_method="wilcox")
    also = wilcoxon(second, first)  # scipy's defaults on the two samples: the same test
    assert got.test == WILCOXON and got.n == n and got.used == int((second != first).sum())
    assert got.p == pytest.approx(expected.pvalue, rel=1e-12) == pytest.approx(also.pvalue, rel=1e-12)
    assert got.statistic == pytest.approx(expected.statistic)


@pytest.mark.parametrize(("wins_b", "wins_a", "ties"), [(9, 2, 5), (3, 3, 0), (40, 25, 12), (0, 7, 1)])
def test_the_sign_test_drops_ties(wins_b: int, wins_a: int, ties: int) -> None:
    got = sign_test(wins_b, wins_a, ties)
    decisive = wins_b + wins_a
    assert (got.test, got.n, got.used, got.statistic) == (SIGN, decisive + ties, decisive, wins_b)
    assert got.p == pytest.approx(binomtest(wins_b, wins_b + wins_a, 0.5).pvalue, rel=1e-12)
    assert sign_test(wins_b, wins_a, ties + 50).p == got.p  # more ties change nothing


def test_paired_test_picks_the_test_by_kind() -> None:
    first, second = lm_eval_case()
    assert paired_test("binary", [int(x) for x in first], [int(y) for y in second]) == mcnemar_exact(
        first, second
    )
    assert paired_test("likert", [1, 2, 3, 4], [2, 2, 5, 5]).test == WILCOXON


# ---------------------------------------------------------------------------------------
# Degenerate cases: p = 1.0 or None with a reason, never NaN.


def test_no_discordant_pair_is_p_one() -> None:
    got = mcnemar_exact([True, False, True], [True, False, True])
    assert got == PairedTest(MCNEMAR, 3, 0, 0.0, 1.0, "no discordant pairs")


def test_every_difference_zero_is_p_one_as_scipy_says() -> None:
    got = wilcoxon_signed_rank([3, 4, 2, 5], [3, 4, 2, 5])
    assert got == PairedTest(WILCOXON, 4, 0, 0.0, 1.0, "every difference is zero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns of a 0/0 on the way
        assert wilcoxon([0.0, 0.0, 0.0, 0.0]).pvalue == 1.0


def test_only_ties_is_p_one() -> None:
    assert sign_test(0, 0, 4) == PairedTest(SIGN, 4, 0, 0.0, 1.0, "only ties")


@pytest.mark.parametrize("test", [lambda: mcnemar_exact([], []), lambda: wilcoxon_signed_rank([], [])])
def test_no_pair_at_all_is_none_with_a_reason(test: Any) -> None:
    got = test()
    assert (got.n, got.p, got.statistic, got.reason) == (0, None, None, "no pairs")
    assert sign_test(0, 0).p is None


def test_no_small_case_gives_nan() -> None:
    for n in range(0, 6):
        for first in range(2**n):
            for second in range(2**n):
                xs = [(first >> k) & 1 for k in range(n)]
                ys = [(second >> k) & 1 for k in range(n)]
                for got in (mcnemar_exact(xs, ys), wilcoxon_signed_rank(xs, ys)):
                    assert got.p is None or (math.isfinite(got.p) and 0.0 <= got.p <= 1.0)
                    assert (got.p is None) == (n == 0)
                    json.dumps(got.to_dict(), allow_nan=False)


# ---------------------------------------------------------------------------------------
# Negative cases: bad input is refused, and the tests can tell a difference from none.


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar_exact([True], [True, False])
    with pytest.raises(ValueError, match="differ in length"):
        wilcoxon_signed_rank([1, 2], [1])
    with pytest.raises(ValueError, match="negative"):
        sign_test(-1, 3)
    with pytest.raises(ValueError, match="no paired test"):
        paired_test("tags", [], [])


def test_a_symmetric_change_is_not_significant_and_a_one_sided_one_is() -> None:
    assert mcnemar_exact([True] * 15 + [False] * 15, [False] * 15 + [True] * 15).p == 1.0
    assert mcnemar_exact([False] * 15, [True] * 15).p == pytest.approx(2 * 0.5**15)
    assert wilcoxon_signed_rank([3] * 20, [4] * 10 + [2] * 10).p == pytest.approx(1.0)
    assert wilcoxon_signed_rank([2] * 20, [3] * 20).p < 0.001


# ---------------------------------------------------------------------------------------
# The report on two real run sessions.


def run_on_disk(directory: Path, harmless: list[bool], helpful: list[int], short: list[bool]) -> Path:
    """A finished run session of len(harmless) items with the human's labels, a judge's
    and one per-item check, written through the real Session writer."""
    n = len(harmless)
    write_run_session(directory, {str(i): f"answer {i}" for i in range(n)})
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    for i in range(n):
        session.record(Scored(str(i), "harmless", harmless[i]))
        session.record(Scored(str(i), "helpfulness", helpful[i]))
        session.record(Judged(str(i), "qwen", {"helpfulness": min(5, helpful[i] + i % 2)}))
        session.record(Checked(str(i), checks={"short": short[i]}))
    store.close(status="complete")
    return directory


def test_the_report_carries_runs_paired_equal_to_scipy_on_the_items_labels(tmp_path: Path) -> None:
    from sftscope.tui.render.report import render_html, render_markdown, render_text

    harmless_a, harmless_b = lm_eval_case()
    rng = np.random.default_rng(3)
    helpful_a = rng.integers(1, 6, N).tolist()
    helpful_b = [min(5, x + int(rng.integers(0, 2))) for x in helpful_a]
    short_a = [i % 3 == 0 for i in range(N)]
    short_b = [i % 3 == 0 or i % 10 == 1 for i in range(N)]
    run_on_disk(tmp_path / "run-a", harmless_a, helpful_a, short_a)
    run_on_disk(tmp_path / "run-b", harmless_b, helpful_b, short_b)
    doc = json.loads(
        json.dumps(build_report([tmp_path / "run-a", tmp_path / "run-b"], resamples=200).to_dict())
    )
    paired = doc["runs_paired"]
    assert set(paired) == {"harmless", "helpfulness", "instruction_following", "format", "short"}
    assert set(paired["helpfulness"]) == {"human", "judge:qwen"} and set(paired["short"]) == {"check"}
    for entry in (e for per in paired.values() for e in per.values()):
        assert set(entry) == {"n", "diff", "ci", "test", "p"}

    harmless = paired["harmless"]["human"]
    assert harmless["test"] == MCNEMAR and harmless["n"] == N
    assert harmless["p"] == pytest.approx(binomtest(ONLY_A, ONLY_A + ONLY_B, 0.5).pvalue, rel=1e-12)
    assert harmless["diff"] == pytest.approx((RIGHT_B - RIGHT_A) / N)
    helpful = paired["helpfulness"]["human"]
    assert helpful["test"] == WILCOXON
    expected = wilcoxon(np.array(helpful_b) - np.array(helpful_a)).pvalue
    assert helpful["p"] == pytest.approx(expected, rel=1e-12)
    bonus = np.arange(N) % 2  # the judge's score: the human's plus 0 or 1, at most 5
    judged = wilcoxon(np.minimum(5, np.array(helpful_b) + bonus) - np.minimum(5, np.array(helpful_a) + bonus))
    assert paired["helpfulness"]["judge:qwen"]["p"] == pytest.approx(judged.pvalue, rel=1e-12)
    only_b = sum(1 for x, y in zip(short_a, short_b, strict=True) if y and not x)
    assert paired["short"]["check"]["p"] == pytest.approx(binomtest(0, only_b, 0.5).pvalue, rel=1e-12)
    unlabelled = paired["instruction_following"]["human"]
    assert (unlabelled["n"], unlabelled["p"]) == (0, None)

    # The same diff and interval as the `paired` list (one computation), and every pair's p there.
    listed = {(p["criterion"], p["source"]): p for p in doc["paired"]}
    for criterion, per in paired.items():
        for source, entry in per.items():
            row = listed[(criterion, source)]
            assert (entry["diff"], entry["ci"], entry["p"]) == (row["difference"], row["ci"], row["p"])

    text = render_text(doc)
    assert "Paired tests run-b − run-a" in text and all(len(line) <= 80 for line in text.splitlines())
    assert "McNemar exact          p = 0.008" in text
    assert f"Wilcoxon signed-rank   {fmt_p(helpful['p'])}" in text
    assert "p < 0.001" in text  # the short check: 22 items newly short, none the other way
    assert "instruction_following" not in text[text.index("Paired tests") :]  # no p without labels
    for drawn in (render_markdown(doc), render_html(doc)):
        assert "| McNemar exact | p = 0.008 |" in drawn or "<td>McNemar exact</td><td>p = 0.008</td>" in drawn


def test_a_single_run_has_no_runs_paired(tmp_path: Path) -> None:
    first, _ = lm_eval_case()
    run_on_disk(tmp_path / "run", first[:20], [3] * 20, [True] * 20)
    doc = build_report([tmp_path / "run"], resamples=50).to_dict()
    assert "runs_paired" not in doc and "paired" not in doc


def test_fmt_p() -> None:
    assert [fmt_p(p) for p in (0.0079, 0.0004, 1.0, None, float("nan"))] == [
        "p = 0.008", "p < 0.001", "p = 1.000", "", "",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# The sign test of a comparison's verdicts, per source (you, each judge, each panel).


def _voted_comparison(tmp_path: Path, human: list[str], judges: dict[str, list[str]]) -> Path:
    """A comparison of two real run sessions on disk with your votes, each judge's verdicts
    and a panel of all the judges (when there are three or more)."""
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
    from sftscope.sessions.core.events import PairJudged

    count = len(human)
    a = write_run_session(tmp_path / "a", {str(i): f"answer a {i}" for i in range(count)})
    b = write_run_session(tmp_path / "b", {str(i): f"answer b {i}" for i in range(count)}, model="other")
    target = tmp_path / "cmp"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target), order="file"))
    pairs = comparison.state.ordered()
    for pair, choice in zip(pairs, human, strict=True):
        comparison.session.prefer(pair.pair, choice)
    for judge, verdicts in judges.items():
        for pair, verdict in zip(pairs, verdicts, strict=True):
            comparison.session.record(PairJudged(pair.item.id, pair.pair, judge, verdict, verdict, verdict))
    if len(judges) >= 3:
        comparison.store.update_header(panels=[{"name": "panel", "judges": list(judges)}])
    comparison.close("complete")
    return target


def _tally(votes: list[str | None]) -> tuple[int, int, int]:
    """B's wins, A's wins and ties (both bad counted a tie) among the votes given."""
    wins_b = sum(1 for v in votes if v == "b")
    wins_a = sum(1 for v in votes if v == "a")
    return wins_b, wins_a, sum(1 for v in votes if v in ("tie", "both_bad"))


def test_the_comparison_report_gives_each_sources_sign_test_as_scipy(tmp_path: Path) -> None:
    from sftscope.scorers.stats.panels import majority
    from sftscope.tui.render.report import render_html, render_markdown, render_text

    human = ["b"] * 9 + ["a"] * 2 + ["tie", "both_bad"] + ["b"] * 3
    x = ["b"] * 12 + ["a"] * 4
    y = ["b", "a"] * 8
    z = ["tie"] * 6 + ["b"] * 6 + ["a"] * 4
    target = _voted_comparison(tmp_path, human, {"x": x, "y": y, "z": z})
    doc = json.loads(json.dumps(build_report([target], resamples=50).to_dict()))
    panel = [majority(list(votes), 3) for votes in zip(x, y, z, strict=True)]
    expected = {"human": human, "x": x, "y": y, "z": z, "panel": panel}
    signs = doc["comparison"]["sign_test"]
    assert set(signs) == set(expected)
    for source, votes in expected.items():
        wins_b, wins_a, ties = _tally(votes)
        entry = signs[source]
        assert (entry["wins_b"], entry["wins_a"], entry["ties"]) == (wins_b, wins_a, ties), source
        assert entry["n"] == wins_b + wins_a + ties
        assert entry["p"] == pytest.approx(binomtest(wins_b, wins_b + wins_a, 0.5).pvalue, abs=1e-12)
        assert entry["reason"] is None
    assert signs["human"]["p"] < 0.05 and signs["y"]["p"] == pytest.approx(1.0)  # 8 against 8
    assert doc["comparison"]["groups"][0]["sign_test"] == signs
    text = " ".join(render_text(doc, width=80).split())  # the note wraps at 80 columns
    head = "sign test of B's wins against A's, ties dropped:"
    note = text[text.index(head) :]
    assert note.startswith(f"{head} human {fmt_p(signs['human']['p'])} · x {fmt_p(signs['x']['p'])}")
    assert f"panel (panel) {fmt_p(signs['panel']['p'])}" in note
    assert "sign test of B" in render_markdown(doc) and "sign test of B" in render_html(doc)
    replay = run_cli("replay", str(target), "--headless")
    assert replay.returncode == 0, replay.stderr
    assert f"human {fmt_p(signs['human']['p'])}" in replay.stdout and "x p = " in replay.stdout


def test_only_ties_give_p_one_with_its_reason(tmp_path: Path) -> None:
    from sftscope.tui.render.report import render_text

    target = _voted_comparison(tmp_path, ["tie", "both_bad"] * 6, {"j": ["tie"] * 12})
    doc = json.loads(json.dumps(build_report([target], resamples=50).to_dict()))
    for source in ("human", "j"):
        entry = doc["comparison"]["sign_test"][source]
        assert entry == {"n": 12, "wins_b": 0, "wins_a": 0, "ties": 12, "p": 1.0, "reason": "only ties"}
    assert "j p = 1.000 (only ties)" in " ".join(render_text(doc, width=80).split())
