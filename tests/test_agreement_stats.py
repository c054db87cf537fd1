"""Agreement figures against the libraries they come from: scikit-learn's Cohen's kappa,
the krippendorff package's alpha and scipy's Spearman, as point estimates and as the
vectorised evaluation on the bootstrap's resampled tables."""

from __future__ import annotations

import json
import warnings

import krippendorff
import numpy as np
import pytest
import sklearn
from scipy.stats import spearmanr
from sftscope.scorers.stats.agreement import (
    agreement_stats,
    alpha_from_tables,
    kappa_from_tables,
    kappa_interval,
    spearman_from_tables,
)
from sftscope.scorers.stats.intervals import MIN_N
from sklearn.metrics import cohen_kappa_score


def _library(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _labels(n: int, seed: int, low: int = 1, high: int = 5) -> tuple[list[int], list[int]]:
    """A human and a judge who agree in part: the judge is the human plus noise, clipped."""
    rng = np.random.default_rng(seed)
    human = rng.integers(low, high + 1, n)
    judge = np.clip(
        human + rng.integers(-1, 2, n) + (rng.random(n) < 0.2) * rng.integers(-2, 3, n), low, high
    )
    return [int(v) for v in human], [int(v) for v in judge]


def _items(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The items a K x G table counts: each cell's row and column index, count times."""
    rows, cols = np.nonzero(table)
    counts = table[rows, cols].astype(int)
    return np.repeat(rows, counts), np.repeat(cols, counts)


def _same(ours: float, library: float) -> bool:
    if np.isnan(library) or np.isnan(ours):
        return bool(np.isnan(library) and np.isnan(ours))
    return bool(np.isclose(ours, library, rtol=1e-10, atol=1e-12))


# ---------------------------------------------------------------------------------------
# Point estimates: exactly the libraries'.


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_likert_point_estimates_are_the_libraries(seed: int) -> None:
    human, judge = _labels(200, seed)
    stats = agreement_stats(human, judge, "likert", (1, 5), resamples=200, seed=seed)
    scale = list(range(1, 6))
    assert stats.n == 200
    assert stats.exact == sum(h == j for h, j in zip(human, judge, strict=True)) / 200
    assert stats.kappa == pytest.approx(
        cohen_kappa_score(human, judge, labels=scale, weights="quadratic"), abs=1e-12
    )
    assert stats.alpha == pytest.approx(
        krippendorff.alpha(
            reliability_data=[human, judge], value_domain=scale, level_of_measurement="ordinal"
        ),
        abs=1e-12,
    )
    assert stats.spearman == pytest.approx(spearmanr(human, judge).statistic, abs=1e-12)
    assert (stats.kappa_weights, stats.alpha_level) == ("quadratic", "ordinal")
    assert stats.undefined is None and stats.enough


def test_binary_point_estimates_are_the_libraries_and_have_no_spearman() -> None:
    rng = np.random.default_rng(5)
    human = [bool(v) for v in rng.random(150) < 0.7]
    judge = [h if rng.random() < 0.85 else not h for h in human]
    stats = agreement_stats(human, judge, "binary", resamples=200)
    assert stats.kappa == pytest.approx(cohen_kappa_score(human, judge, labels=[False, True]), abs=1e-12)
    assert stats.alpha == pytest.approx(
        krippendorff.alpha(
            reliability_data=np.array([human, judge], dtype=float),
            value_domain=[0, 1],
            level_of_measurement="nominal",
        ),
        abs=1e-12,
    )
    assert stats.spearman is None and stats.spearman_ci is None
    assert (stats.kappa_weights, stats.alpha_level) == ("none", "nominal")


def test_the_full_scale_is_used_even_where_some_points_never_occur() -> None:
    """Kappa over labels=1..5 differs from kappa over the labels seen (no 3 here: seen
    alone, 2 and 4 would be neighbours): the rubric's scale counts."""
    human = [2, 4, 4, 5, 2, 1, 5, 4, 2, 1, 4, 5]
    judge = [4, 4, 5, 5, 2, 2, 4, 4, 2, 1, 5, 4]
    stats = agreement_stats(human, judge, "likert", (1, 5), resamples=100)
    assert stats.kappa == pytest.approx(
        cohen_kappa_score(human, judge, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
    seen_only = cohen_kappa_score(human, judge, weights="quadratic")
    assert stats.kappa != pytest.approx(seen_only)
    assert stats.alpha == pytest.approx(
        krippendorff.alpha(
            reliability_data=[human, judge], value_domain=[1, 2, 3, 4, 5], level_of_measurement="ordinal"
        )
    )


# ---------------------------------------------------------------------------------------
# The vectorised evaluation of resampled tables: the libraries' results, table by table.


def _random_tables(count: int, seed: int) -> list[np.ndarray]:
    """Tables of every shape the bootstrap meets: sparse, concentrated, one cell, tiny n."""
    rng = np.random.default_rng(seed)
    tables = []
    for _ in range(count):
        size = int(rng.integers(2, 8))
        n = int(rng.integers(1, 60))
        shares = rng.dirichlet(np.full(size * size, rng.choice([0.03, 0.3, 1.0, 5.0])))
        tables.append(rng.multinomial(n, shares).reshape(size, size))
    return tables


def test_vectorised_kappa_equals_scikit_learn_on_many_random_tables() -> None:
    checked = undefined = 0
    # Parameter checks off: the same computation, a third of the time per call.
    with sklearn.config_context(skip_parameter_validation=True):
        for table in _random_tables(1000, seed=11):
            a, b = _items(table)
            labels = list(range(table.shape[0]))
            for weights in (None, "quadratic", "linear"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    library = float(cohen_kappa_score(a, b, labels=labels, weights=weights))
                ours = float(kappa_from_tables(table[None], weights)[0])
                assert _same(ours, library), (table, weights, ours, library)
                checked += 1
                undefined += np.isnan(library)
    assert checked == 3000 and undefined > 0  # degenerate tables were among them


def test_vectorised_alpha_equals_krippendorff_on_many_random_tables() -> None:
    undefined = 0
    for table in _random_tables(1500, seed=12):
        a, b = _items(table)
        domain = list(range(table.shape[0]))
        for level in ("nominal", "ordinal"):
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore")
                library = float(
                    krippendorff.alpha(
                        reliability_data=np.vstack([a, b]).astype(float),
                        value_domain=domain,
                        level_of_measurement=level,
                    )
                )
            ours = float(alpha_from_tables(table[None], level)[0])
            assert _same(ours, library), (table, level, ours, library)
            undefined += np.isnan(library)
    assert undefined > 0


def test_vectorised_spearman_equals_scipy_on_many_random_tables_square_or_not() -> None:
    rng = np.random.default_rng(13)
    undefined = 0
    for _ in range(1500):
        rows, cols, n = int(rng.integers(2, 7)), int(rng.integers(2, 40)), int(rng.integers(2, 80))
        shares = rng.dirichlet(np.full(rows * cols, rng.choice([0.05, 0.5, 2.0])))
        table = rng.multinomial(n, shares).reshape(rows, cols)
        a, b = _items(table)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            library = float(spearmanr(a, b).statistic)
        ours = float(spearman_from_tables(table[None])[0])
        assert _same(ours, library), (table, ours, library)
        undefined += np.isnan(library)
    assert undefined > 0


def test_a_stack_of_tables_is_evaluated_at_once_like_one_by_one() -> None:
    rng = np.random.default_rng(14)
    stack = rng.multinomial(40, rng.dirichlet(np.ones(25)), size=300).reshape(300, 5, 5)
    for evaluate in (
        lambda t: kappa_from_tables(t, "quadratic"),
        lambda t: alpha_from_tables(t, "ordinal"),
        spearman_from_tables,
    ):
        together = evaluate(stack)
        alone = np.array([evaluate(t[None])[0] for t in stack])
        np.testing.assert_allclose(together, alone, rtol=1e-12, equal_nan=True)


# ---------------------------------------------------------------------------------------
# The bootstrap.


def test_the_multinomial_table_bootstrap_matches_resampling_items_with_the_libraries() -> None:
    """Drawing the table from a multinomial is resampling items: the percentiles agree
    with a plain item bootstrap that calls scikit-learn on every resample."""
    human, judge = _labels(80, seed=3)
    stats = agreement_stats(human, judge, "likert", (1, 5), resamples=2000, seed=1)
    rng = np.random.default_rng(99)
    h, j = np.array(human), np.array(judge)
    values = []
    for _ in range(2000):
        pick = rng.integers(0, 80, 80)
        values.append(cohen_kappa_score(h[pick], j[pick], labels=[1, 2, 3, 4, 5], weights="quadratic"))
    low, high = np.percentile(values, [2.5, 97.5])
    assert stats.kappa_ci is not None
    assert stats.kappa_ci[0] == pytest.approx(low, abs=0.03)
    assert stats.kappa_ci[1] == pytest.approx(high, abs=0.03)


def test_intervals_contain_the_estimate_and_narrow_as_n_grows() -> None:
    widths: dict[str, list[float]] = {"exact": [], "kappa": [], "alpha": [], "spearman": []}
    for n in (40, 400, 4000):
        human, judge = _labels(n, seed=21)
        stats = agreement_stats(human, judge, "likert", (1, 5), resamples=1000)
        for name in widths:
            value, ci = getattr(stats, name), getattr(stats, f"{name}_ci")
            assert ci is not None and ci[0] <= value <= ci[1], (name, n, value, ci)
            widths[name].append(ci[1] - ci[0])
    for name, found in widths.items():
        assert found[0] > found[1] > found[2], (name, found)
        assert found[2] < found[0] / 5  # 100 times the items: about a tenth of the width


def test_the_same_labels_and_seed_give_the_same_intervals() -> None:
    human, judge = _labels(60, seed=4)
    first = agreement_stats(human, judge, "likert", (1, 5), resamples=500, seed=7)
    again = agreement_stats(list(human), list(judge), "likert", (1, 5), resamples=500, seed=7)
    other = agreement_stats(human, judge, "likert", (1, 5), resamples=500, seed=8)
    assert first == again
    assert first.kappa == other.kappa and first.kappa_ci != other.kappa_ci


def test_no_interval_below_two_items_or_without_resamples() -> None:
    one = agreement_stats([3], [4], "likert", (1, 5))
    assert one.n == 1 and one.exact == 0.0 and one.exact_ci is None and one.kappa_ci is None
    assert not one.enough
    none = agreement_stats([3, 4, 5], [3, 4, 4], "likert", (1, 5), resamples=0)
    assert none.kappa is not None and none.kappa_ci is None


# ---------------------------------------------------------------------------------------
# Undefined figures, small n, bad input.


def test_constant_columns_give_none_with_a_reason_never_nan() -> None:
    both = agreement_stats([4] * 20, [4] * 20, "likert", (1, 5))
    assert both.exact == 1.0
    assert both.kappa is None and both.alpha is None and both.spearman is None
    assert both.kappa_ci is None and both.alpha_ci is None and both.spearman_ci is None
    assert both.undefined is not None
    assert "kappa, alpha and Spearman undefined" in both.undefined and "gave every item 4" in both.undefined
    # One side constant: scikit-learn still defines kappa (it is 0), scipy's rho is not.
    judge_constant = agreement_stats([3, 4, 5, 2] * 5, [4] * 20, "likert", (1, 5), names=("you", "J"))
    assert judge_constant.kappa == pytest.approx(0.0)
    assert judge_constant.spearman is None
    assert judge_constant.undefined == "Spearman undefined: J gave every item 4"
    yes = agreement_stats([True] * 12, [True] * 12, "binary")
    assert yes.kappa is None and yes.undefined is not None and "gave every item yes" in yes.undefined
    document = json.dumps(both.to_dict(), allow_nan=False)  # JSON-safe
    assert '"kappa": null' in document


def test_no_pairs_is_n_zero_with_a_reason() -> None:
    empty = agreement_stats([], [], "likert", (1, 5))
    assert empty.n == 0 and empty.exact is None and empty.kappa is None
    assert empty.undefined == "no item was scored by both"


def test_enough_is_false_below_min_n_but_the_value_is_kept() -> None:
    human, judge = _labels(MIN_N - 1, seed=8)
    small = agreement_stats(human, judge, "likert", (1, 5))
    assert not small.enough and small.exact is not None
    assert small.to_dict()["enough"] is False
    human, judge = _labels(MIN_N, seed=8)
    assert agreement_stats(human, judge, "likert", (1, 5)).enough


def test_values_off_the_scale_or_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(ValueError, match="not on the scale"):
        agreement_stats([1, 6], [1, 2], "likert", (1, 5))
    with pytest.raises(ValueError, match="not on the scale"):
        agreement_stats([1, True], [1, 2], "likert", (1, 5))  # a bool is not a scale point
    with pytest.raises(ValueError, match="not yes or no"):
        agreement_stats([True, 1], [True, False], "binary")
    with pytest.raises(ValueError, match="aligned"):
        agreement_stats([1, 2], [1], "likert", (1, 5))
    with pytest.raises(ValueError, match="likert or binary"):
        agreement_stats([["a"]], [["a"]], "tags")


def test_to_dict_has_every_schema_key() -> None:
    human, judge = _labels(30, seed=9)
    entry = agreement_stats(human, judge, "likert", (1, 5), resamples=100).to_dict()
    for key in (
        "n", "exact", "exact_ci", "kappa", "kappa_ci", "kappa_weights", "alpha", "alpha_ci",
        "alpha_level", "spearman", "spearman_ci", "enough", "undefined",
    ):  # fmt: skip
        assert key in entry
    assert isinstance(entry["kappa_ci"], list) and len(entry["kappa_ci"]) == 2


@pytest.mark.parametrize("kind", ["likert", "binary"])
def test_the_console_kappa_is_the_reports(kind: str) -> None:
    """One path: the console's running kappa (`kappa_interval`, numpy alone) is the report's
    `agreement_stats` kappa, equal to scikit-learn's, with the very same interval."""
    if kind == "likert":
        pairs = [(4, 4), (3, 4), (5, 5), (2, 2), (1, 2), (4, 5), (3, 3), (5, 4), (2, 3), (4, 4)]
        scale: tuple[int, int] | None = (1, 5)
        labels: list[object] = [1, 2, 3, 4, 5]
        weights: str | None = "quadratic"
    else:
        pairs = [(True, True), (True, False), (False, False), (True, True), (False, True)] * 3
        scale, labels, weights = None, [False, True], None
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    kappa, ci = kappa_interval(a, b, kind, scale, resamples=500, seed=3)
    report = agreement_stats(a, b, kind, scale, resamples=500, seed=3)
    assert kappa == pytest.approx(cohen_kappa_score(a, b, labels=labels, weights=weights), abs=1e-12)
    assert kappa == pytest.approx(report.kappa, abs=1e-12)
    assert ci is not None and ci == pytest.approx(report.kappa_ci, abs=1e-12)
    # Undefined (no variation) is None, never NaN; a single item has no interval.
    assert kappa_interval([True] * 3, [True] * 3, "binary") == (None, None)
    assert kappa_interval([], [], "binary") == (None, None)
    assert kappa_interval([1, 2], [1, 2], "likert", (1, 5), resamples=0)[1] is None
