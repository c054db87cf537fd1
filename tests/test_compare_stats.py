"""The numbers of a pairwise comparison (sessions.compare_stats) and the kappa of
scorers.agreement, checked against the libraries they come from and against synthetic
data whose answer is known: a judge that always picks the first answer shown, a
preference that is entirely length, a session that is clearly stronger."""

from __future__ import annotations

import json
import math
import time
import warnings

import numpy as np
import pytest
from sftscope.scorers.stats.agreement import agreement_stats
from sftscope.scorers.stats.intervals import MIN_N, wilson_interval
from sftscope.scorers.stats.pairwise import (
    JudgeRecord,
    PairRecord,
    bradley_terry,
    human_judge_agreement,
    source_summary,
    summarize,
)
from sftscope.sessions.compare.summary import agreement_line, comparison_lines, source_line
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score

RESAMPLES = 500  # enough for the properties checked; the default (2000) is timed below


def votes(
    n: int,
    *,
    p_b: float = 0.6,
    tie: float = 0.1,
    seed: int = 0,
    a: str = "A",
    b: str = "B",
    judge: str | None = None,
) -> list[PairRecord]:
    """n pairs with random human votes (B preferred with p_b among decisive ones), random
    lengths unrelated to the vote, and optionally a consistent judge agreeing 80% of the time."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        human = "tie" if rng.random() < tie else ("b" if rng.random() < p_b else "a")
        judges = {}
        if judge:
            verdict = human if human == "tie" or rng.random() < 0.8 else {"a": "b", "b": "a"}[human]
            judges[judge] = JudgeRecord(verdict, verdict, verdict)
        first = "a" if rng.random() < 0.5 else "b"
        pairs.append(
            PairRecord(
                f"q{i}", a, b, int(rng.integers(50, 900)), int(rng.integers(50, 900)), human, first, judges
            )
        )
    return pairs


# ---------------------------------------------------------------------------------------
# scorers.stats.agreement: scikit-learn's kappa


def kappa(a: list, b: list, kind: str = "likert", scale: tuple[int, int] | None = (1, 5)) -> float | None:
    return agreement_stats(a, b, kind, scale if kind == "likert" else None, resamples=0).kappa


def test_kappa_known_values() -> None:
    # Textbook 2x2 table [[20, 5], [10, 15]]: p_o = 0.7, p_e = 0.5, kappa 0.4.
    a = [True] * 25 + [False] * 25
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert kappa(a, b, "binary") == pytest.approx(0.4)
    # Quadratic: observed squared disagreement 2/5, expected E(X-Y)^2 = 2 + 0.8 + 0 = 2.8.
    assert kappa([1, 2, 3, 4, 5], [2, 2, 3, 4, 4]) == pytest.approx(6 / 7)
    assert kappa([1, 3, 5], [1, 3, 5]) == pytest.approx(1.0)


def test_kappa_uses_the_full_scale() -> None:
    """Quadratic weights depend on the distance along the whole scale, not on the labels used."""
    a, b = [1, 2, 5, 5, 2, 1], [2, 1, 5, 2, 2, 1]
    full = kappa(a, b)
    assert full == pytest.approx(cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic"))
    assert full != pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    human = rng.integers(1, 6, size=60)
    judge = np.clip(human + rng.integers(-1, 2, size=60), 1, 5)
    stats = agreement_stats(human.tolist(), judge.tolist(), "likert", (1, 5), resamples=0)
    expected = cohen_kappa_score(human, judge, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert stats.kappa == pytest.approx(expected) and stats.n == 60
    yes_h = (rng.random(40) < 0.6).tolist()
    yes_j = [x if rng.random() < 0.7 else not x for x in yes_h]
    binary = agreement_stats(yes_h, yes_j, "binary", resamples=0)
    assert binary.kappa == pytest.approx(cohen_kappa_score(yes_h, yes_j, labels=[False, True]))


def test_kappa_undefined_is_none_never_nan() -> None:
    assert kappa([True] * 12, [True] * 12, "binary") is None
    assert kappa([3] * 12, [3] * 12) is None
    assert kappa([], [], "binary") is None
    # One constant source against a varying one is defined: no better than chance.
    assert kappa([3] * 5, [1, 2, 3, 4, 5]) == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------
# Judges' position bias


def test_judge_that_always_picks_the_first_answer() -> None:
    pairs = [
        PairRecord(f"q{i}", "A", "B", 100, 400, None, None, {"j": JudgeRecord("tie", "a", "b")})
        for i in range(30)
    ]
    s = source_summary(pairs, "j", resamples=RESAMPLES)
    assert s.flip_rate == 1.0 and s.flip_rate_n == 30
    assert s.first_position_rate == 1.0 and s.first_position_rate_n == 60
    assert s.win_rate_b == 0.5 and s.ties == 30 and s.n == 30
    # Every item the same value: never a zero-width interval, Wilson's over the 30 items
    # (15 of 30 for the ties; 30 of 30 for the flips and the first-position verdicts).
    assert s.win_rate_b_ci == pytest.approx(wilson_interval(15, 30))
    assert s.flip_rate_ci == pytest.approx(wilson_interval(30, 30))
    assert s.first_position_rate_ci == pytest.approx(wilson_interval(30, 30))
    assert s.flip_rate_ci[0] < 1.0
    assert s.prefer_longer_rate is None and s.prefer_longer_rate_n == 0  # no decisive verdict


def test_consistent_judge_never_flips() -> None:
    pairs = votes(60, judge="j", seed=3)
    s = source_summary(pairs, "j", resamples=RESAMPLES)
    assert s.flip_rate == 0.0 and s.flip_rate_n == 60
    decisive = sum(1 for p in pairs if p.judges["j"].verdict != "tie")
    assert s.first_position_rate_n == 2 * decisive
    assert s.first_position_rate == pytest.approx(0.5)  # each decisive pair: once first, once second
    assert s.errors == 0 and s.both_bad == 0


def test_errors_and_failed_orders() -> None:
    pairs = [
        PairRecord("q1", "A", "B", 10, 10, None, None, {"j": JudgeRecord("error", None, None)}),
        PairRecord("q2", "A", "B", 10, 10, None, None, {"j": JudgeRecord("b", "b", None)}),
        PairRecord("q3", "A", "B", 10, 10, None, None, {}),
    ]
    s = source_summary(pairs, "j", resamples=RESAMPLES)
    assert (s.n, s.errors, s.wins_b) == (1, 1, 1)
    assert s.flip_rate is None and s.flip_rate_n == 0  # no pair with both orders parsed
    assert s.first_position_rate == 0.0 and s.first_position_rate_n == 1  # b chosen, shown second
    assert s.win_rate_b_ci is None  # one item: no interval
    assert not s.enough


def test_prefer_longer_and_human_first_position() -> None:
    pairs = [
        # B longer by 300 and chosen; A longer by 300 and chosen; 10 characters apart: not counted.
        PairRecord("q1", "A", "B", 100, 400, "b", "b", {"j": JudgeRecord("b", "b", "b")}),
        PairRecord("q2", "A", "B", 400, 100, "a", "b", {"j": JudgeRecord("b", "b", "b")}),
        PairRecord("q3", "A", "B", 100, 110, "a", "a", {"j": JudgeRecord("a", "a", "a")}),
        PairRecord("q4", "A", "B", 100, 400, "both_bad", "a", {}),
    ]
    human = source_summary(pairs, "human", resamples=RESAMPLES)
    assert human.prefer_longer_rate == 1.0 and human.prefer_longer_rate_n == 2
    assert human.first_position_rate == pytest.approx(2 / 3) and human.first_position_rate_n == 3
    assert (human.ties, human.both_bad, human.n) == (1, 1, 4)
    assert human.win_rate_b == pytest.approx((1 + 0.5) / 4)
    assert human.flip_rate is None
    judge = source_summary(pairs, "j", resamples=RESAMPLES)
    assert judge.prefer_longer_rate == 0.5 and judge.prefer_longer_rate_n == 2


# ---------------------------------------------------------------------------------------
# Win rate, interval, n


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n() -> None:
    small = source_summary(votes(20, seed=1), "human", resamples=RESAMPLES)
    large = source_summary(votes(400, seed=1), "human", resamples=RESAMPLES)
    for s in (small, large):
        low, high = s.win_rate_b_ci
        assert low <= s.win_rate_b <= high
        assert s.enough
    assert large.win_rate_b_ci[1] - large.win_rate_b_ci[0] < 0.5 * (
        small.win_rate_b_ci[1] - small.win_rate_b_ci[0]
    )
    # Same seed, same interval.
    again = source_summary(votes(20, seed=1), "human", resamples=RESAMPLES)
    assert again.win_rate_b_ci == small.win_rate_b_ci


def test_below_ten_pairs_is_too_small_but_keeps_its_value() -> None:
    s = source_summary(votes(MIN_N - 1, seed=2), "human", resamples=RESAMPLES)
    assert s.n == MIN_N - 1 and not s.enough and s.win_rate_b is not None
    assert "n too small" in source_line(s)
    assert s.lc_win_rate_b is None  # LC needs MIN_N pairs
    enough = source_summary(votes(MIN_N, seed=2), "human", resamples=RESAMPLES)
    assert enough.enough and "n too small" not in source_line(enough)
    assert source_line(enough).startswith(f"B over A: {enough.win_rate_b:.2f} [")
    assert f"n={MIN_N} · W{enough.wins_b} T{enough.ties} L{enough.wins_a}" in source_line(enough)


def test_stale_pairs_are_left_out() -> None:
    fresh = votes(40, judge="j", seed=4)
    stale = [
        PairRecord(f"s{i}", "A", "B", 10, 10, "a", "a", {"j": JudgeRecord("a", "a", "a")}, stale=True)
        for i in range(25)
    ]
    with_stale = summarize(fresh + stale, resamples=RESAMPLES)
    without = summarize(fresh, resamples=RESAMPLES)
    assert with_stale.stale == 25 and without.stale == 0
    assert with_stale.groups == without.groups
    assert source_summary(fresh + stale, "human", resamples=RESAMPLES) == without.groups[0].sources["human"]


# ---------------------------------------------------------------------------------------
# Length-controlled win rate


def lengthy(n: int, *, slope: float, seed: int) -> list[PairRecord]:
    """B usually longer; B preferred with probability sigmoid(slope * tanh(diff / std))."""
    rng = np.random.default_rng(seed)
    diff = rng.normal(150, 200, size=n)
    feature = np.tanh(diff / diff.std())
    pairs = []
    for i in range(n):
        p_b = 1 / (1 + math.exp(-slope * feature[i]))
        human = "b" if rng.random() < p_b else "a"
        pairs.append(PairRecord(f"q{i}", "A", "B", 500, 500 + round(diff[i]), human, "a", {}))
    return pairs


def test_lc_near_raw_when_length_is_unrelated() -> None:
    s = source_summary(votes(400, p_b=0.7, seed=5), "human", resamples=RESAMPLES)
    assert abs(s.lc_win_rate_b - s.win_rate_b) < 0.05
    assert s.lc_warning is None
    low, high = s.lc_win_rate_b_ci
    assert low <= s.lc_win_rate_b <= high


def test_lc_moves_to_even_when_length_explains_the_preference() -> None:
    s = source_summary(lengthy(400, slope=6.0, seed=6), "human", resamples=RESAMPLES)
    assert s.win_rate_b > 0.7  # B wins because it is longer
    assert abs(s.lc_win_rate_b - 0.5) < 0.1  # at equal length, no preference
    assert s.lc_warning is not None and "length explains part of the preference" in s.lc_warning
    assert "LC" in source_line(s) and "(length!)" in source_line(s)


def test_lc_matches_sklearn_logistic_regression() -> None:
    pairs = lengthy(120, slope=1.5, seed=7)
    s = source_summary(pairs, "human", resamples=RESAMPLES)
    diff = np.array([p.len_b - p.len_a for p in pairs], dtype=float)
    y = np.array([p.human == "b" for p in pairs], dtype=float)
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000)
    model.fit(np.tanh(diff / diff.std())[:, None], y)
    assert s.lc_win_rate_b == pytest.approx(1 / (1 + math.exp(-model.intercept_[0])), abs=1e-6)


def test_lc_none_when_length_separates_or_nothing_varies() -> None:
    # The longer answer always wins: no finite fit, so no LC rate, and a reason.
    always_longer = [
        PairRecord(f"q{i}", "A", "B", 300, 300 + d, "b" if d > 0 else "a", "a", {})
        for i, d in enumerate([-200, -50, 40, 80, 120, 200, 260, 310, 400, 500, 90, 60])
    ]
    s = source_summary(always_longer, "human", resamples=RESAMPLES)
    assert s.lc_win_rate_b is None and s.lc_win_rate_b_ci is None and "separates" in s.lc_warning
    all_b = [PairRecord(f"q{i}", "A", "B", 100, 100 + i, "b", "a", {}) for i in range(12)]
    s = source_summary(all_b, "human", resamples=RESAMPLES)
    assert s.win_rate_b == 1.0 and s.lc_win_rate_b is None
    # Equal lengths throughout: nothing to control for, LC is the raw rate.
    same = [PairRecord(f"q{i}", "A", "B", 100, 100, "b" if i % 3 else "a", "a", {}) for i in range(12)]
    s = source_summary(same, "human", resamples=RESAMPLES)
    assert s.lc_win_rate_b == pytest.approx(s.win_rate_b, abs=1e-6) and s.lc_warning is None


# ---------------------------------------------------------------------------------------
# Human against judge


def test_human_judge_kappa_equals_sklearn() -> None:
    pairs = votes(150, judge="j", seed=8)
    g = human_judge_agreement(pairs, "j", resamples=RESAMPLES)
    both = [
        (p.human, p.judges["j"].verdict) for p in pairs if p.human != "tie" and p.judges["j"].verdict != "tie"
    ]
    assert g.n == len(both)
    assert g.agreement == pytest.approx(np.mean([h == j for h, j in both]))
    assert g.kappa == pytest.approx(cohen_kappa_score([h for h, _ in both], [j for _, j in both]))
    assert g.kappa_ci[0] <= g.kappa <= g.kappa_ci[1]
    assert g.agreement_ci[0] <= g.agreement <= g.agreement_ci[1]
    assert g.enough and agreement_line(g).startswith(f"you vs j: n={g.n} agree")


def test_human_judge_kappa_interval_matches_a_plain_resampling_loop() -> None:
    """The count-table shortcut gives what resampling pairs (in their fixed order: by
    combination) and calling sklearn on each resample gives."""
    pairs = votes(40, judge="j", seed=9)
    g = human_judge_agreement(pairs, "j", resamples=300, seed=5)
    both = sorted(
        (p.human, p.judges["j"].verdict) for p in pairs if p.human != "tie" and p.judges["j"].verdict != "tie"
    )
    h = np.array([x for x, _ in both])
    j = np.array([y for _, y in both])
    rng = np.random.default_rng(5)
    draws = rng.integers(0, len(both), size=(300, len(both)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resamples where kappa is undefined: nan, left out below
        values = np.array([cohen_kappa_score(h[d], j[d], labels=["a", "b"]) for d in draws])
    values = values[np.isfinite(values)]
    assert g.kappa_ci == pytest.approx(tuple(np.percentile(values, [2.5, 97.5])))
    # The pairs' order does not matter: the same votes reversed give the same numbers.
    assert human_judge_agreement(pairs[::-1], "j", resamples=300, seed=5) == g


def test_human_judge_kappa_undefined_and_small() -> None:
    same = [
        PairRecord(f"q{i}", "A", "B", 1, 1, "b", "a", {"j": JudgeRecord("b", "b", "b")}) for i in range(12)
    ]
    g = human_judge_agreement(same, "j", resamples=RESAMPLES)
    assert g.n == 12 and g.agreement == 1.0 and g.kappa is None and g.kappa_ci is None
    few = human_judge_agreement(votes(8, judge="j"), "j", resamples=RESAMPLES)
    assert not few.enough and "n too small" in agreement_line(few)
    none = human_judge_agreement([], "j")
    assert none.n == 0 and none.kappa is None


# ---------------------------------------------------------------------------------------
# Bradley-Terry


def tournament(items: int, strength: dict[str, float], *, seed: int, tie: float = 0.1) -> list[PairRecord]:
    """Every pair of sessions on every item; the human prefers by Bradley-Terry odds."""
    rng = np.random.default_rng(seed)
    names = list(strength)
    pairs = []
    for item in range(items):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                p_b = 1 / (1 + 10 ** ((strength[a] - strength[b]) / 400))
                human = "tie" if rng.random() < tie else ("b" if rng.random() < p_b else "a")
                pairs.append(PairRecord(f"q{item}", a, b, 100, 100, human, "a", {}))
    return pairs


def test_bradley_terry_ranks_the_stronger_session_first() -> None:
    strength = {"base": 1000.0, "sft": 1050.0, "best": 1250.0}
    pairs = tournament(200, strength, seed=10)
    ratings = bradley_terry(pairs, "human", list(strength), resamples=RESAMPLES)
    assert ratings[0].session == "best" and ratings[0].rank == 1
    assert [r.rank for r in ratings] == [1, 2, 3]
    assert np.mean([r.rating for r in ratings]) == pytest.approx(1000.0)
    for r in ratings:
        assert r.ci_low <= r.rating <= r.ci_high
        assert r.n == 400 and r.enough and not r.unbounded
    assert ratings[0].ci_low > max(r.ci_high for r in ratings[1:])


def test_bradley_terry_matches_chatbot_arena_sklearn_fit() -> None:
    """Arena's compute_mle_elo: +/-log(10) design, ties as half rows, 400 * coef + 1000."""
    strength = {"x": 1000.0, "y": 1100.0, "z": 950.0, "w": 1020.0}
    pairs = tournament(60, strength, seed=11, tie=0.2)
    names = list(strength)
    rows, ys, weights = [], [], []
    for p in pairs:
        row = np.zeros(len(names))
        row[names.index(p.a)], row[names.index(p.b)] = math.log(10), -math.log(10)
        won = {"a": 1.0, "b": 0.0, "tie": 0.5}[p.human]
        rows += [row, row]
        ys += [1, 0]
        weights += [won, 1 - won]
    model = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10000)
    model.fit(np.array(rows), ys, sample_weight=weights)
    expected = dict(zip(names, 1000 + 400 * (model.coef_[0] - model.coef_[0].mean()), strict=True))
    ratings = bradley_terry(pairs, "human", names, resamples=50)
    assert sorted(r.session for r in ratings) == sorted(names)  # an empty list fails here
    for r in ratings:
        assert r.rating == pytest.approx(expected[r.session], abs=0.01)


def test_bradley_terry_unbounded_when_one_session_always_wins() -> None:
    pairs = tournament(30, {"a": 1000.0, "b": 1000.0}, seed=12)
    pairs += [PairRecord(f"q{i}", s, "top", 10, 10, "b", "a", {}) for i in range(30) for s in ("a", "b")]
    ratings = bradley_terry(pairs, "human", ["a", "b", "top", "absent"], resamples=RESAMPLES)
    assert ratings[0].session == "top" and all(r.unbounded for r in ratings)
    assert {r.session for r in ratings} == {"a", "b", "top"}  # never compared: left out
    assert all(math.isfinite(r.rating) and r.ci_low <= r.rating <= r.ci_high for r in ratings)


def test_bradley_terry_a_barely_compared_session_does_not_widen_the_others() -> None:
    strength = {"x": 1000.0, "y": 1100.0, "z": 1200.0}
    pairs = tournament(60, strength, seed=15)
    alone = {r.session: r for r in bradley_terry(pairs, "human", list(strength), resamples=RESAMPLES)}
    extra = pairs + votes(4, a="x", b="w", seed=1)
    joined = {r.session: r for r in bradley_terry(extra, "human", [*strength, "w"], resamples=RESAMPLES)}
    assert joined["w"].n == 4 and not joined["w"].enough
    assert joined["w"].ci_high - joined["w"].ci_low > 1000  # four comparisons say little
    for name in strength:
        width = alone[name].ci_high - alone[name].ci_low
        assert joined[name].ci_high - joined[name].ci_low < 1.5 * width
    assert np.mean([r.rating for r in joined.values()]) == pytest.approx(1000)


def test_bradley_terry_2000_resamples_is_fast() -> None:
    pairs = tournament(200, {"s1": 1000.0, "s2": 1040.0, "s3": 1100.0}, seed=13)
    bradley_terry(pairs[:30], "human", ["s1", "s2", "s3"], resamples=10)  # imports out of the timing
    started = time.perf_counter()
    ratings = bradley_terry(pairs, "human", ["s1", "s2", "s3"], resamples=2000)
    assert time.perf_counter() - started < 3.0
    assert len(ratings) == 3


# ---------------------------------------------------------------------------------------
# The whole comparison


def test_summarize_groups_sources_agreement_and_ratings() -> None:
    strength = {"base": 1000.0, "sft": 1100.0, "big": 1200.0}
    pairs = tournament(40, strength, seed=14)
    rng = np.random.default_rng(0)
    judged = []
    for p in pairs:
        verdict = p.human if rng.random() < 0.8 else "tie"
        judged.append(
            PairRecord(
                p.item,
                p.a,
                p.b,
                p.len_a,
                p.len_b,
                p.human,
                p.human_first,
                {"j": JudgeRecord(verdict, verdict, verdict)},
            )
        )
    summary = summarize(judged, resamples=RESAMPLES)
    assert summary.sessions == ("base", "sft", "big")
    assert [(g.a, g.b) for g in summary.groups] == [("base", "sft"), ("base", "big"), ("sft", "big")]
    group = summary.groups[0]
    assert group.pairs == 40 and list(group.sources) == ["human", "j"]
    assert group.sources["human"] == source_summary(
        [p for p in judged if (p.a, p.b) == ("base", "sft")], "human", resamples=RESAMPLES
    )
    assert list(group.agreement) == ["j"] and group.agreement["j"].n > 0
    assert set(summary.ratings) == {"human", "j"}
    assert summary.ratings["human"][0].session == "big"
    lines = comparison_lines(summary)
    assert any(line.startswith("human: sft over base: ") for line in lines)
    assert any(line.startswith("human: 1. big ") for line in lines)
    json.dumps(summary.to_dict())  # plain JSON all the way down
    two = summarize([p for p in judged if (p.a, p.b) == ("base", "sft")], resamples=RESAMPLES)
    assert two.ratings == {}  # two sessions: the win rate says it all
