"""Agreement between two sources of scores (human vs judge, judge vs judge, a rater vs
their own earlier label).

Cohen's kappa with quadratic weights for ordinal scales (a 4 against a 5 is a
near miss, a 1 against a 5 is not) and unweighted for yes/no, plus raw exact
agreement and n, so a kappa on six items is never mistaken for a finding.
The kappa is scikit-learn's cohen_kappa_score, not re-derived: statistics here
come from maintained libraries. Every heavy import (numpy, scikit-learn, scipy,
krippendorff) happens inside a function, so importing this module (the console
does, at start) loads none of them.

There is one path: `agreement_stats` (the report's), which adds Krippendorff's alpha (the
`krippendorff` package: ordinal on a likert scale, nominal on yes/no, the rubric's whole
scale as its value domain), Spearman's rho (scipy.stats.spearmanr, likert only), and a 95%
bootstrap interval for each figure, resampling items. The console's running kappa
(sessions.run.review) goes through the same contingency table and `kappa_from_tables`,
only without the figures it does not show.

How the bootstrap is computed, plainly: every one of these statistics depends on the
paired labels only through their K x K contingency table (how many items got label i
from the first source and j from the second). Resampling n items with replacement is
therefore the same as drawing the table from a multinomial distribution with n trials
over its K x K cells, each cell's probability its share of the observed table. So the
2,000 resampled tables are drawn at once (numpy's multinomial), and kappa, alpha and rho
are evaluated on all of them at once by the vectorised numpy functions below
(`kappa_from_tables`, `alpha_from_tables`, `spearman_from_tables`), instead of calling
scikit-learn, krippendorff and scipy 2,000 times each (seconds per statistic on a
16,000-item session, where the report has a budget of 3 s for everything). These
functions restate the libraries' formulas on tables; the libraries stay the reference:
the point estimates are the libraries' own results, and tests/test_agreement_stats.py
checks on many random tables, degenerate ones included, that the vectorised functions
return exactly what cohen_kappa_score, krippendorff.alpha and spearmanr return.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sftscope.scorers.stats.intervals import RESAMPLES, SEED, proportion_interval
from sftscope.scorers.stats.intervals import enough as is_enough
from sftscope.scorers.stats.libraries import import_sklearn

if TYPE_CHECKING:
    import numpy as np

Interval = tuple[float, float]


# ---------------------------------------------------------------------------------------
# The full set of agreement figures, each with a bootstrap interval.


@dataclass(frozen=True)
class AgreementStats:
    """Two sources' labels on the items both scored, over the rubric's whole scale.

    exact: the share of items with the same label. kappa: Cohen's kappa (scikit-learn),
    `kappa_weights` "quadratic" on a likert scale, "none" on yes/no. alpha: Krippendorff's
    alpha (krippendorff), `alpha_level` "ordinal" or "nominal". spearman: Spearman's rho
    (scipy), likert only. Each `*_ci` is a 95% percentile-bootstrap interval over items
    (None below 2 items or when no resample defines the figure); `exact_ci` is Wilson's
    score interval when every item agrees, or none does (every resample would say the same:
    a zero-width interval is never given, scorers.intervals). A figure is None when it
    is undefined (a source that gave one value to every item: no variation to agree on),
    and `undefined` then says which and why. Below MIN_N items `enough` is False: the value
    is kept, the renderers print "n too small"."""

    kind: str
    n: int
    exact: float | None
    exact_ci: Interval | None
    kappa: float | None
    kappa_ci: Interval | None
    kappa_weights: str
    alpha: float | None
    alpha_ci: Interval | None
    alpha_level: str
    spearman: float | None
    spearman_ci: Interval | None
    undefined: str | None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON entry (every key of the schema's agreement block)."""
        return {
            "kind": self.kind,
            "n": self.n,
            "exact": self.exact,
            "exact_ci": _listed(self.exact_ci),
            "kappa": self.kappa,
            "kappa_ci": _listed(self.kappa_ci),
            "kappa_weights": self.kappa_weights,
            "alpha": self.alpha,
            "alpha_ci": _listed(self.alpha_ci),
            "alpha_level": self.alpha_level,
            "spearman": self.spearman,
            "spearman_ci": _listed(self.spearman_ci),
            "enough": self.enough,
            "undefined": self.undefined,
        }


def _listed(ci: Interval | None) -> list[float] | None:
    return None if ci is None else [ci[0], ci[1]]


def scale_labels(kind: str, scale: Sequence[Any] | None = None) -> list[Any]:
    """The rubric's whole scale, in order: min..max on a likert scale, [False, True] on yes/no;
    kind "nominal" (a comparison's votes): `scale` is the categories themselves, unordered."""
    if kind == "binary":
        return [False, True]
    if kind == "nominal":
        if not scale:
            raise ValueError("nominal categories are given as the scale")
        return list(scale)
    if kind == "likert":
        if scale is None or len(scale) != 2:
            raise ValueError("a likert scale is given as (min, max)")
        low, high = int(scale[0]), int(scale[1])
        return list(range(low, high + 1))
    raise ValueError(f"agreement is computed on likert or binary criteria, not {kind!r}")


def _code(value: Any, labels: list[Any], kind: str) -> int:
    """The label's position on the scale; a value off the scale is an error (the caller
    keeps only values its rubric accepts), and a bool never passes for 0 or 1."""
    if kind == "binary":
        if type(value) is not bool:
            raise ValueError(f"{value!r} is not yes or no")
        return int(value)
    if kind == "nominal":
        if value not in labels:
            raise ValueError(f"{value!r} is not one of {labels}")
        return labels.index(value)
    if type(value) is not int or not labels[0] <= value <= labels[-1]:
        raise ValueError(f"{value!r} is not on the scale {labels[0]}-{labels[-1]}")
    return value - labels[0]


def agreement_stats(
    human: Sequence[Any],
    judge: Sequence[Any],
    kind: str,
    scale: Sequence[Any] | None = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    names: tuple[str, str] = ("the human", "the judge"),
) -> AgreementStats:
    """Agreement of two aligned label lists (item i: human[i] against judge[i]).

    `kind` is "likert" (scale = (min, max)), "binary" (labels False/True, scale unused) or
    "nominal" (scale = the categories: unweighted kappa, nominal alpha, no Spearman).
    Point estimates are scikit-learn's cohen_kappa_score over the full scale, krippendorff
    .alpha with the scale as value_domain, and scipy.stats.spearmanr; intervals come from
    `resamples` multinomial draws of the contingency table (see the module docstring),
    seeded by `seed`, so the same labels give the same document. `names` word the
    `undefined` reason."""
    if len(human) != len(judge):
        raise ValueError(f"{len(human)} labels against {len(judge)}: the lists must be aligned")
    labels = scale_labels(kind, scale)
    size = len(labels)
    # Types first (True == 1 to a Counter), then each distinct pair once: a 16,000-item
    # session has at most K x K of them.
    wanted = bool if kind == "binary" else int
    for values in (human, judge):
        if kind != "nominal" and set(map(type, values)) - {wanted}:
            _code(next(v for v in values if type(v) is not wanted), labels, kind)  # raises
    cells = [0] * (size * size)
    for (a, b), count in Counter(zip(human, judge, strict=True)).items():
        cells[_code(a, labels, kind) * size + _code(b, labels, kind)] += count
    low = labels[0] if kind == "likert" else 0
    return _table_stats(kind, low, size, cells, resamples, seed, names, labels)


def kappa_interval(
    human: Sequence[Any],
    judge: Sequence[Any],
    kind: str,
    scale: Sequence[int] | None = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float | None, Interval | None]:
    """`agreement_stats`' kappa and kappa interval alone, for the console's running line:
    the same contingency table, the same seeded multinomial draws and percentile interval,
    the kappa from `kappa_from_tables` (scikit-learn's formula on the table, tested equal to
    cohen_kappa_score), so numpy alone is loaded, not scikit-learn, scipy and krippendorff
    (over a second) for figures the console does not show. (None, None) when undefined."""
    import numpy as np

    if len(human) != len(judge):
        raise ValueError(f"{len(human)} labels against {len(judge)}: the lists must be aligned")
    labels = scale_labels(kind, scale)
    size = len(labels)
    table = np.zeros((size, size))
    for (a, b), count in Counter(zip(human, judge, strict=True)).items():
        table[_code(a, labels, kind), _code(b, labels, kind)] += count
    weights = "quadratic" if kind == "likert" else None
    n = len(human)
    value = float(kappa_from_tables(table[None], weights)[0]) if n and size > 1 else math.nan
    if not math.isfinite(value):
        return None, None
    if n < 2 or resamples <= 0:
        return value, None
    rng = np.random.default_rng(seed)
    tables = rng.multinomial(n, table.ravel() / n, size=resamples).reshape(resamples, size, size)
    return value, percentile_interval(kappa_from_tables(tables, weights))


def _table_stats(
    kind: str,
    low: int,
    size: int,
    cells: list[int],
    resamples: int,
    seed: int,
    names: tuple[str, str],
    labels: Sequence[Any] = (),
) -> AgreementStats:
    """Every figure from the contingency table alone (the items matter only through it)."""
    import numpy as np

    table = np.array(cells, dtype=float).reshape(size, size)
    n = int(table.sum())
    likert = kind == "likert"
    weights, level = ("quadratic", "ordinal") if likert else ("none", "nominal")
    if n == 0:
        return AgreementStats(
            kind, 0, None, None, None, None, weights, None, None, level, None, None,
            "no item was scored by both",
        )  # fmt: skip
    exact = float(np.trace(table) / n)
    if size < 2:  # a one-point scale: every label agrees, and nothing can vary
        return AgreementStats(
            kind, n, exact, proportion_interval(exact, n, None) if resamples > 0 else None, None,
            None, weights, None, None, level, None, None,
            "kappa, alpha and Spearman undefined: the scale has one point",
        )  # fmt: skip
    kappa = _library_kappa(table, "quadratic" if likert else None)
    alpha = _library_alpha(table, low, level)
    rho = _library_spearman(table, low) if likert else None
    exact_ci = kappa_ci = alpha_ci = rho_ci = None
    if n >= 2 and resamples > 0:
        rng = np.random.default_rng(seed)
        tables = rng.multinomial(n, table.ravel() / n, size=resamples).reshape(resamples, size, size)
        exact_ci = percentile_interval(np.trace(tables, axis1=1, axis2=2) / n)
        if kappa is not None:
            kappa_ci = percentile_interval(kappa_from_tables(tables, "quadratic" if likert else None))
        if alpha is not None:
            alpha_ci = percentile_interval(alpha_from_tables(tables, level))
        if rho is not None:
            rho_ci = percentile_interval(spearman_from_tables(tables))
    if resamples > 0:  # every item agreeing (or none): so does every resample; Wilson's interval
        exact_ci = proportion_interval(exact, n, exact_ci)
    undefined = _undefined_reason(table, low, kind, kappa, alpha, rho, names, labels)
    return AgreementStats(
        kind, n, exact, exact_ci, kappa, kappa_ci, weights, alpha, alpha_ci, level, rho, rho_ci, undefined
    )


def _undefined_reason(
    table: np.ndarray,
    low: int,
    kind: str,
    kappa: float | None,
    alpha: float | None,
    rho: float | None,
    names: tuple[str, str],
    labels: Sequence[Any] = (),
) -> str | None:
    """Which figures are undefined and why, in words; None when all are defined."""
    missing = [name for name, value in (("kappa", kappa), ("alpha", alpha)) if value is None]
    if kind == "likert" and rho is None:
        missing.append("Spearman")
    if not missing:
        return None

    def word(index: int) -> str:
        if kind == "nominal":
            return str(labels[index])
        return str(index + low) if kind == "likert" else ("yes" if index else "no")

    rows, cols = table.sum(axis=1), table.sum(axis=0)
    used_a, used_b = rows.nonzero()[0], cols.nonzero()[0]
    constant = []
    if len(used_a) == 1:
        constant.append(f"{names[0]} gave every item {word(int(used_a[0]))}")
    if len(used_b) == 1:
        constant.append(f"{names[1]} gave every item {word(int(used_b[0]))}")
    what = " and ".join(missing) if len(missing) < 3 else f"{missing[0]}, {missing[1]} and {missing[2]}"
    why = " and ".join(constant) if constant else "no variation"
    return f"{what} undefined: {why}"


def _library_kappa(table: np.ndarray, weights: str | None) -> float | None:
    """scikit-learn's kappa of the table: each occupied cell once, its count as the sample
    weight (the same confusion matrix as the items themselves, in K x K rows)."""
    import numpy as np

    import_sklearn()
    import sklearn
    from sklearn.metrics import cohen_kappa_score

    size = table.shape[0]
    a, b = np.nonzero(table)
    with warnings.catch_warnings(), sklearn.config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore")  # undefined: nan, returned as None
        value = float(
            cohen_kappa_score(a, b, labels=list(range(size)), weights=weights, sample_weight=table[a, b])
        )
    return value if math.isfinite(value) else None


def _library_alpha(table: np.ndarray, low: int, level: str) -> float | None:
    """krippendorff.alpha of the table's items: two coders, one unit per item, the whole
    scale as the value domain."""
    import krippendorff
    import numpy as np

    size = table.shape[0]
    a, b = np.nonzero(table)
    counts = table[a, b].astype(int)
    first, second = np.repeat(a, counts), np.repeat(b, counts)
    data = np.vstack([first, second]).astype(float) + low
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        value = float(
            krippendorff.alpha(
                reliability_data=data, value_domain=list(range(low, low + size)), level_of_measurement=level
            )
        )
    return value if math.isfinite(value) else None


def _library_spearman(table: np.ndarray, low: int) -> float | None:
    """scipy.stats.spearmanr of the table's items (None when either side is constant)."""
    import numpy as np
    from scipy.stats import spearmanr

    a, b = np.nonzero(table)
    counts = table[a, b].astype(int)
    if counts.sum() < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input: nan, returned as None
        value = float(spearmanr(np.repeat(a, counts) + low, np.repeat(b, counts) + low).statistic)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------
# The libraries' formulas on many tables at once (checked against them in the tests).


def percentile_interval(values: np.ndarray) -> Interval | None:
    """The 2.5th and 97.5th percentiles (numpy's, linear) of the resampled values that are
    defined; None when none is."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


def kappa_from_tables(tables: np.ndarray, weights: str | None) -> np.ndarray:
    """Cohen's kappa of each K x K table (rows: the first source's labels, columns: the
    second's), as scikit-learn's cohen_kappa_score computes it from its confusion matrix:
    1 - sum(w * observed) / sum(w * expected), expected the outer product of the margins
    over n, w = (i - j)^2 ("quadratic") or 1 off the diagonal (None). NaN where undefined."""
    import numpy as np

    tables = np.asarray(tables, dtype=float)
    size = tables.shape[-1]
    index = np.arange(size, dtype=float)
    if weights is None:
        w = 1.0 - np.eye(size)
    elif weights == "quadratic":
        w = (index[:, None] - index[None, :]) ** 2
    elif weights == "linear":
        w = np.abs(index[:, None] - index[None, :])
    else:
        raise ValueError(f"unknown weights {weights!r}")
    n = tables.sum(axis=(-2, -1))
    rows, cols = tables.sum(axis=-1), tables.sum(axis=-2)
    observed = (tables * w).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.einsum("...i,ij,...j->...", cols, w, rows) / n
        out = 1.0 - observed / expected
    return np.where((expected > 0) & (n > 0), out, np.nan)


def alpha_from_tables(tables: np.ndarray, level: str) -> np.ndarray:
    """Krippendorff's alpha of each K x K table of two coders' labels (one unit per item),
    as the krippendorff package computes it: coincidences o = T + T', n_v its margins,
    expected coincidences (n_v n_v' - diag n_v) / (N - 1), and the nominal (1 off the
    diagonal) or ordinal ((sum of n_v from i to j) - (n_v_i + n_v_j) / 2)^2 distances;
    alpha = 1 - sum(o d) / sum(e d). NaN where undefined (a single value in use)."""
    import numpy as np

    tables = np.asarray(tables, dtype=float)
    size = tables.shape[-1]
    o = tables + np.swapaxes(tables, -1, -2)
    nv = o.sum(axis=-1)
    total = nv.sum(axis=-1)
    pairs = nv[..., :, None] * nv[..., None, :] - nv[..., :, None] * np.eye(size)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = pairs / (total - 1)[..., None, None]
    if level == "nominal":
        d = np.broadcast_to(1.0 - np.eye(size), o.shape)
    elif level == "ordinal":
        index = np.arange(size)
        lo = np.minimum(index[:, None], index[None, :])
        hi = np.maximum(index[:, None], index[None, :])
        cum = np.cumsum(nv, axis=-1)
        between = cum[..., hi] - cum[..., lo] + nv[..., lo]
        d = (between - (nv[..., :, None] + nv[..., None, :]) / 2.0) ** 2
    else:
        raise ValueError(f"unknown level of measurement {level!r}")
    observed = (o * d).sum(axis=(-2, -1))
    expected = (e * d).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - observed / expected
    return np.where(np.isfinite(expected) & (expected != 0), out, np.nan)


def spearman_from_tables(tables: np.ndarray) -> np.ndarray:
    """Spearman's rho of each K x G table of counts (rows: the ordered values of one
    variable, columns: the ordered values of the other), as scipy.stats.spearmanr computes
    it on the items the table counts: Pearson's correlation of midranks (ties averaged).
    A row's midrank is the count of smaller values plus (its count + 1) / 2, from the
    margins. NaN where undefined (either variable constant)."""
    import numpy as np

    tables = np.asarray(tables, dtype=float)
    n = tables.sum(axis=(-2, -1))
    rows, cols = tables.sum(axis=-1), tables.sum(axis=-2)
    rank_rows = np.cumsum(rows, axis=-1) - (rows - 1.0) / 2.0
    rank_cols = np.cumsum(cols, axis=-1) - (cols - 1.0) / 2.0
    mean = (n + 1.0) / 2.0
    # Centred first: sums of squared ranks of 16,000 items lose digits otherwise.
    rank_rows -= mean[..., None]
    rank_cols -= mean[..., None]
    cross = np.einsum("...kg,...k,...g->...", tables, rank_rows, rank_cols)
    var_rows = (rows * rank_rows**2).sum(axis=-1)
    var_cols = (cols * rank_cols**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cross / np.sqrt(var_rows * var_cols)
    return np.where((var_rows > 0) & (var_cols > 0), out, np.nan)


# ---------------------------------------------------------------------------------------
# Several raters (issue 18): Krippendorff's alpha across all of them, missing data allowed.


@dataclass(frozen=True)
class RatersAlpha:
    """Krippendorff's alpha of every rater's labels on one criterion (krippendorff: ordinal
    on a likert scale, nominal on yes/no and on a "nominal" kind's categories, the rubric's
    scale as the value domain), over the
    `n` items at least two raters labelled (an item one rater labelled pairs with nothing:
    alpha leaves it out). `ci`: the 95% percentile bootstrap over those items. None when
    undefined (every label the same value: no variation to agree on)."""

    n: int
    alpha: float | None
    ci: Interval | None
    level: str

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "alpha": self.alpha, "ci": _listed(self.ci)}


def raters_alpha(
    units: Sequence[Sequence[Any]],
    kind: str,
    scale: Sequence[Any] | None = None,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> RatersAlpha:
    """Alpha of `units`, one per item: the labels its raters gave (a rater who did not
    label it is simply absent). The point estimate is krippendorff.alpha on the items as
    columns (each label a row, NaN where an item has fewer: alpha depends on an item's
    labels only, not on which rater gave which, so this is the raters-by-items matrix with
    its missing cells). The interval resamples items as `agreement_stats` does: alpha
    depends on the items only through the sum of their coincidence matrices
    (o_ck = pairs c-k within the item / (labels - 1)), and items with the same counts of
    each value have the same matrix, so the resamples draw how many of each kind of item
    (numpy's multinomial) and `alpha_from_tables` evaluates them all at once."""
    import krippendorff
    import numpy as np

    labels = scale_labels(kind, scale)
    size = len(labels)
    level = "ordinal" if kind == "likert" else "nominal"
    kinds: Counter[tuple[int, ...]] = Counter()
    for unit in units:
        if len(unit) < 2:
            continue
        counts = [0] * size
        for value in unit:
            counts[_code(value, labels, kind)] += 1
        kinds[tuple(counts)] += 1
    n = sum(kinds.values())
    if n == 0 or size < 2:
        return RatersAlpha(n, None, None, level)
    patterns = list(kinds)
    width = max(sum(p) for p in patterns)
    columns = []
    for pattern in patterns:
        values = [float(i) for i, count in enumerate(pattern) for _ in range(count)]
        columns += [values + [math.nan] * (width - len(values))] * kinds[pattern]
    data = np.array(columns).T + (labels[0] if kind == "likert" else 0)
    domain = labels if kind == "likert" else list(range(size))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        try:
            value = float(
                krippendorff.alpha(reliability_data=data, value_domain=domain, level_of_measurement=level)
            )
        except ValueError:  # one value in the whole domain in use: undefined
            value = math.nan
    alpha = value if math.isfinite(value) else None
    if alpha is None or n < 2 or resamples <= 0:
        return RatersAlpha(n, alpha, None, level)
    counts = np.array(patterns, dtype=float)
    within = (counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(size)) / (
        counts.sum(axis=1) - 1
    )[:, None, None]
    frequencies = np.array([kinds[p] for p in patterns], dtype=float)
    draws = np.random.default_rng(seed).multinomial(n, frequencies / n, size=resamples)
    coincidences = np.einsum("rp,pij->rij", draws, within)
    return RatersAlpha(n, alpha, percentile_interval(alpha_from_tables(coincidences / 2.0, level)), level)
