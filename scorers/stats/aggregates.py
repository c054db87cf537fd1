"""The report's aggregates: typed results, and the bootstrap that gives each its interval.

Every aggregate carries its n and a 95% percentile-bootstrap interval over items; below
MIN_N it keeps its value with `enough` False (the layout writes "n too small"); a figure
that is undefined (a constant column) is None with the reason, never NaN. A proportion
whose items all agree (every resample then gives the same value) gets Wilson's score
interval instead of a zero-width one (scorers.stats.intervals.proportion_interval).

Point estimates come from libraries (numpy's mean, scipy.stats.spearmanr). The
intervals are computed without calling them thousands of times, in two ways that are
both exactly "resample the items with replacement, recompute the figure":

- A figure of values with few distinct levels (a likert mean, a yes/no rate, an IFEval
  ratio, a paired difference of scale points) depends on the items only through how many
  items have each level, so a resample is one multinomial draw over the levels (counts
  proportional to the observed ones): 2,000 resamples are one numpy call, whatever n is.
  `level_means` falls back to drawing item indices when values are many and distinct.
- Figures on continuous values (reference metrics, answer lengths) share one resampling
  of the session's items (`ItemResamples`): per chunk of resamples, how often each item
  was drawn (np.bincount of seeded random indices), then every registered figure from
  those counts with sparse products (a mean's sums; a Spearman rho's counts per run of
  equal lengths and per scale point, whose midranks and weighted correlation are what
  scipy.stats.spearmanr computes on the resampled items). A figure over a subset of the
  items (the labelled ones, the judged ones) is that figure on the resampled session,
  whose number of such items varies from resample to resample as it would in a new
  session. Drawing once for all of them, in two threads, is what keeps a 16,000-item
  report within its 3 s on two cores (bench/report_speed.py).

tests/test_report_data.py checks the shared resamples figure by figure against np.mean and
scipy.stats.spearmanr on the very items each resample drew.
numpy is imported at the top: the console never imports this module (only reports do).
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sftscope.scorers.stats.agreement import percentile_interval
from sftscope.scorers.stats.intervals import enough as is_enough
from sftscope.scorers.stats.intervals import proportion_interval
from sftscope.scorers.stats.paired import PairedTest

Interval = tuple[float, float]
# Above this many distinct values a multinomial over the levels costs more than drawing
# item indices (numpy draws a multinomial one binomial per level).
MAX_LEVELS = 256
# Resamples per chunk of ItemResamples: small enough for the counts to stay in cache.
CHUNK = 20
# Threads that evaluate chunks of resamples at once. The work is bound by memory traffic
# more than by arithmetic: a second thread on two cores saves about a tenth, not a half.
THREADS = max(1, min(4, os.cpu_count() or 1))


def listed(ci: Interval | None) -> list[float] | None:
    """An interval as JSON writes it: [low, high] or null."""
    return None if ci is None else [ci[0], ci[1]]


def finite(value: float | None) -> float | None:
    """None for a missing or non-finite number: the document never holds NaN."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------
# Typed results.


@dataclass(frozen=True)
class Mean:
    """A mean (a likert criterion, a reference metric) of n items; `distribution` counts
    each point of a likert scale, the whole scale, zeros included."""

    n: int
    mean: float | None
    ci: Interval | None
    distribution: dict[str, int] | None = None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "mean": self.mean, "ci": listed(self.ci)}
        if self.distribution is not None:
            out["distribution"] = dict(self.distribution)
        out["enough"] = self.enough
        return out


@dataclass(frozen=True)
class Rate:
    """A share of n items (yes on a binary criterion, a check passed): `count` of them."""

    n: int
    count: int
    rate: float | None
    ci: Interval | None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "count": self.count,
            "rate": self.rate,
            "ci": listed(self.ci),
            "enough": self.enough,
        }


@dataclass(frozen=True)
class TagCounts:
    """How often each tag of a tags criterion was given, over n labelled items."""

    n: int
    counts: dict[str, int]

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "counts": dict(self.counts), "enough": self.enough}


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of n items with its interval; None with `undefined` when a side is
    constant."""

    n: int
    rho: float | None
    ci: Interval | None
    undefined: str | None = None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "rho": self.rho,
            "ci": listed(self.ci),
            "enough": self.enough,
            "undefined": self.undefined,
        }


@dataclass(frozen=True)
class MethodValue:
    """One method's estimate of a criterion (a mean or a rate, as it is: nothing is
    normalised), for the methods-side-by-side table."""

    n: int
    value: float | None
    ci: Interval | None
    measure: str  # "mean" | "rate"
    scale: tuple[int, int] | None = None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "value": self.value,
            "ci": listed(self.ci),
            "measure": self.measure,
            "enough": self.enough,
        }
        if self.scale is not None:
            out["scale"] = list(self.scale)
        return out

    @classmethod
    def of(cls, aggregate: Mean | Rate, scale: tuple[int, int] | None = None) -> MethodValue:
        if isinstance(aggregate, Mean):
            return cls(aggregate.n, aggregate.mean, aggregate.ci, "mean", scale)
        return cls(aggregate.n, aggregate.rate, aggregate.ci, "rate")


@dataclass(frozen=True)
class Drift:
    """A rater's labels early against late in the session: `split` says which parts."""

    split: str
    first: Mean
    last: Mean
    difference: float | None
    difference_ci: Interval | None

    @property
    def enough(self) -> bool:
        return self.first.enough and self.last.enough

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "first": self.first.to_dict(),
            "last": self.last.to_dict(),
            "difference": self.difference,
            "difference_ci": listed(self.difference_ci),
            "enough": self.enough,
        }


@dataclass(frozen=True)
class PairedDifference:
    """One source's labels on the items two run sessions share: B minus A, and the paired
    test of the same pairs (scorers.stats.paired: McNemar or Wilcoxon by kind)."""

    a: str
    b: str
    criterion: str
    source: str
    kind: str
    n: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    ci: Interval | None
    test: PairedTest | None = None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "criterion": self.criterion,
            "source": self.source,
            "kind": self.kind,
            "n": self.n,
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "difference": self.difference,
            "ci": listed(self.ci),
            "test": None if self.test is None else self.test.test,
            "p": None if self.test is None else self.test.p,
            "enough": self.enough,
        }


# ---------------------------------------------------------------------------------------
# Figures of few distinct values: multinomial draws over the levels.


def level_means(values: Sequence[float], resamples: int, seed: int) -> np.ndarray | None:
    """The means of `resamples` bootstrap resamples of `values` (None below 2 values): a
    multinomial draw of how many of the n items have each distinct value."""
    n = len(values)
    if n < 2 or resamples < 1:
        return None
    levels, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    rng = np.random.default_rng(seed)
    if len(levels) <= MAX_LEVELS:
        drawn = rng.multinomial(n, counts / n, size=resamples)
        return drawn @ levels / n
    items = np.repeat(levels, counts)
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        stop = min(start + CHUNK, resamples)
        out[start:stop] = items[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def level_ratios(
    numerators: Sequence[int], denominators: Sequence[int], resamples: int, seed: int
) -> np.ndarray | None:
    """sum(num) / sum(den) of `resamples` resamples of the units (an item and its counts,
    e.g. instructions followed of instructions given): a multinomial over the distinct
    (num, den) pairs."""
    pairs = np.column_stack([np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)])
    if len(pairs) < 2 or resamples < 1:
        return None
    kinds, counts = np.unique(pairs, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(len(pairs), counts / len(pairs), size=resamples)
    sums = drawn @ kinds
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, 0] / sums[:, 1]


def mean_of(
    values: Sequence[float], resamples: int, seed: int, *, scale: tuple[int, int] | None = None
) -> Mean:
    """The mean with its interval; with a likert `scale`, the distribution over every point."""
    return _mean_and_draws(values, resamples, seed, scale)[0]


def _mean_and_draws(
    values: Sequence[float], resamples: int, seed: int, scale: tuple[int, int] | None
) -> tuple[Mean, np.ndarray | None]:
    n = len(values)
    distribution = None
    if scale is not None:
        found = Counter(values)
        distribution = {str(point): found.get(point, 0) for point in range(scale[0], scale[1] + 1)}
        if sum(distribution.values()) != n:  # the callers keep only values the rubric accepts
            raise ValueError(f"a value off the scale {scale[0]}-{scale[1]}")
    if not n:
        return Mean(0, None, None, distribution), None
    mean = finite(np.mean(np.asarray(values, dtype=float)))
    drawn = level_means(values, resamples, seed)
    return Mean(n, mean, None if drawn is None else percentile_interval(drawn), distribution), drawn


def rate_of(flags: Sequence[bool], resamples: int, seed: int) -> Rate:
    """The share of True with its interval: the bootstrap's, or Wilson's when every flag is
    alike (16 of 16 yes: [0.81, 1.00], never [1.00, 1.00])."""
    n = len(flags)
    if not n:
        return Rate(0, 0, None, None)
    values = [1.0 if flag else 0.0 for flag in flags]
    count = int(sum(values))
    drawn = level_means(values, resamples, seed)
    ci = None if drawn is None else percentile_interval(drawn)
    rate = finite(np.mean(values))
    return Rate(n, count, rate, proportion_interval(rate, n, ci) if resamples > 0 else None)


def ratio_of(numerators: Sequence[int], denominators: Sequence[int], resamples: int, seed: int) -> Rate:
    """sum(num) / sum(den) over units that move together, as a rate of sum(den) trials."""
    total = int(sum(denominators))
    if not total:
        return Rate(0, 0, None, None)
    count = int(sum(numerators))
    drawn = level_ratios(numerators, denominators, resamples, seed)
    ci = None if drawn is None else percentile_interval(drawn)
    # Wilson over the units resampled (the items), not the trials: the trials of an item
    # move together, so they are not that many independent ones.
    units = sum(1 for d in denominators if d)
    if resamples > 0:
        ci = proportion_interval(count / total, units, ci)
    return Rate(total, count, count / total, ci)


def drift_of(
    first: Sequence[float],
    last: Sequence[float],
    split: str,
    resamples: int,
    seed: int,
    *,
    scale: tuple[int, int] | None = None,
    proportion: bool = False,
) -> Drift:
    """Mean early and late, and late minus early with an interval from resampling each part
    on its own (they are different items). A `proportion` (a yes/no criterion's 1s and 0s)
    whose part is all alike gets Wilson's interval for that part, as every rate does."""
    early, drawn_first = _mean_and_draws(first, resamples, seed, scale)
    late, drawn_last = _mean_and_draws(last, resamples, seed + 1, scale)
    if proportion and resamples > 0:
        early, late = (
            replace(part, ci=proportion_interval(part.mean, part.n, part.ci)) for part in (early, late)
        )
    difference = None if early.mean is None or late.mean is None else late.mean - early.mean
    ci = None
    if drawn_first is not None and drawn_last is not None:
        ci = percentile_interval(drawn_last - drawn_first)
    return Drift(split, early, late, difference, ci)


# ---------------------------------------------------------------------------------------
# Figures of continuous values: one shared resampling of the session's items.


@dataclass
class _Figure:
    # counts (units, chunk) and the chunk's shared results -> values (chunk, ...)
    compute: Callable[[np.ndarray, dict[int, Any]], np.ndarray]
    values: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Ranked:
    """Spearman figures over the same items and the same continuous variable (a source's
    likert criteria against answer length): they share the ranking, and one sparse
    product sums a resample per joint cell (run of equal x, each figure's level)."""

    units: int
    positions: np.ndarray
    x: np.ndarray
    levels: list[tuple[np.ndarray, int]] = field(default_factory=list)  # per figure
    _built: tuple[Any, ...] | None = None

    def build(self) -> tuple[Any, ...]:
        """The sums a resample goes through: items to joint cells and cells to runs (sparse),
        and cells to every figure's levels (one dense one-hot block per figure, stacked)."""
        if self._built is None:
            from scipy.sparse import csr_array

            _, run = np.unique(self.x, return_inverse=True)
            key = run.astype(np.int64)
            for level, size in self.levels:
                key = key * size + level
            cells, cell = np.unique(key, return_inverse=True)
            count = len(cells)
            decoded, rest = [], cells
            for _, size in reversed(self.levels):
                decoded.append(rest % size)
                rest = rest // size
            decoded.reverse()
            cell_run = rest
            sizes = [size for _, size in self.levels]
            bounds = np.cumsum([0, *sizes])
            to_levels = np.zeros((bounds[-1], count))
            for start, level in zip(bounds, decoded, strict=False):
                to_levels[start + level, np.arange(count)] = 1.0
            to_cells = csr_array(
                (np.ones(len(self.positions)), (cell, self.positions)), shape=(count, self.units)
            )
            runs = int(cell_run.max()) + 1 if count else 0
            to_runs = csr_array((np.ones(count), (cell_run, np.arange(count))), shape=(runs, count))
            self._built = (to_cells, to_runs, cell_run, to_levels, bounds)
        return self._built

    def evaluate(self, counts: np.ndarray) -> np.ndarray:
        """Every figure's rho on each resample of the chunk: (figures, chunk)."""
        to_cells, to_runs, cell_run, to_levels, bounds = self.build()
        in_cell = to_cells @ counts  # (cells, chunk)
        in_run = to_runs @ in_cell  # (runs, chunk)
        mean = (in_run.sum(axis=0) + 1.0) / 2.0
        ranks = np.cumsum(in_run, axis=0)  # made each run's midrank, centred, in place
        ranks -= 0.5 * in_run
        ranks += 0.5 - mean
        spread = np.einsum("rc,rc,rc->c", in_run, ranks, ranks)
        weighted = np.take(ranks, cell_run, axis=0)
        weighted *= in_cell
        rows_all = to_levels @ in_cell  # (every figure's levels, chunk)
        sums_all = to_levels @ weighted
        out = np.empty((len(bounds) - 1, counts.shape[1]))
        for number in range(len(bounds) - 1):
            rows = rows_all[bounds[number] : bounds[number + 1]]
            level_ranks = np.cumsum(rows, axis=0) - (rows - 1.0) / 2.0 - mean
            level_spread = (rows * level_ranks**2).sum(axis=0)
            cross = (sums_all[bounds[number] : bounds[number + 1]] * level_ranks).sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = cross / np.sqrt(spread * level_spread)
            out[number] = np.where((spread > 0) & (level_spread > 0), rho, np.nan)
        return out


class ItemResamples:
    """One bootstrap of a session's `units` items, shared by every continuous figure.

    Register figures (`add_means`, `add_spearman`), then `run` draws the resamples chunk
    by chunk (`chunk`: how often each item is drawn in each resample) and evaluates every
    figure on each chunk; `result(handle)` is then that figure's resampled values."""

    def __init__(self, units: int, resamples: int, seed: int) -> None:
        self.units = units
        self.resamples = resamples
        self.seed = seed
        self._figures: list[_Figure] = []
        self._ranked: dict[tuple[bytes, bytes], _Ranked] = {}
        self._done = False

    def add_means(self, positions: Sequence[int], values: np.ndarray) -> int:
        """The mean of each column of `values` (rows: the items at `positions`) over the
        resampled items among them; its result has a column per column of `values`."""
        values = np.asarray(values, dtype=float).reshape(len(positions), -1)
        columns = values.shape[1]
        matrix = np.zeros((columns + 1, self.units))
        at = np.asarray(positions, dtype=int)
        matrix[:columns, at] = values.T
        matrix[columns, at] = 1.0  # the last row counts the items drawn

        def compute(counts: np.ndarray, shared: dict[int, Any]) -> np.ndarray:
            sums = matrix @ counts
            with np.errstate(divide="ignore", invalid="ignore"):
                return (sums[:columns] / sums[columns:]).T

        return self._add(compute)

    def add_spearman(
        self, positions: Sequence[int], levels: Sequence[int], size: int, x: Sequence[float]
    ) -> int:
        """Spearman's rho, over the items at `positions`, between an ordered variable with
        `size` levels (`levels`: each item's level index, e.g. a likert score minus the
        scale's minimum) and a continuous one (`x`: e.g. each answer's length).

        The items fall into cells (a run of equal x, a level); a resample is summed per
        cell (a sparse product), then per run and per level. A run's midrank is the count
        of resampled items in earlier runs plus (its own count + 1) / 2, a level's
        likewise, and rho is Pearson's correlation of the midranks weighted by the cell
        counts: what scipy.stats.spearmanr computes on the resampled items themselves.
        Figures over the same items and x share the ranking and the product."""
        at = np.asarray(positions, dtype=np.int64)
        x = np.asarray(x, dtype=float)
        key = (at.tobytes(), x.tobytes())
        group = self._ranked.get(key)
        if group is None:
            group = self._ranked[key] = _Ranked(self.units, at, x)
        if group._built is not None:
            raise RuntimeError("figures are registered before run()")
        number = len(group.levels)
        group.levels.append((np.asarray(levels, dtype=np.int64), int(size)))
        index = list(self._ranked).index(key)

        def compute(counts: np.ndarray, shared: dict[int, Any]) -> np.ndarray:
            if index not in shared:
                shared[index] = group.evaluate(counts)
            return shared[index][number]

        return self._add(compute)

    def _add(self, compute: Callable[[np.ndarray, dict[int, Any]], np.ndarray]) -> int:
        if self._done:
            raise RuntimeError("figures are registered before run()")
        self._figures.append(_Figure(compute))
        return len(self._figures) - 1

    def _draw(self, index: int) -> np.ndarray:
        """Resamples index * CHUNK onwards (CHUNK of them, fewer at the end): how often each
        item was drawn, (units, resamples) as float32 (small whole numbers, exact; half the
        memory traffic of float64, which is what these products are bound by): np.bincount
        of uniform indices from a generator seeded by (seed, index), so a chunk is the same
        whichever thread draws it."""
        start = index * CHUNK
        size = min(CHUNK, self.resamples - start)
        units = self.units
        rng = np.random.default_rng([self.seed, index])
        drawn = rng.integers(0, units, size=(size, units))
        drawn += (np.arange(size) * units)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * units).reshape(size, units)
        return np.ascontiguousarray(counts.T, dtype=np.float32)

    def chunk(self, index: int) -> np.ndarray:
        """The index-th chunk of resamples as (resamples, units) counts (for checking)."""
        return self._draw(index).T

    @property
    def chunk_count(self) -> int:
        return -(-self.resamples // CHUNK) if self.units >= 1 and self.resamples >= 1 else 0

    def run(self) -> None:
        """Draw the resamples and evaluate every figure on them, chunks shared out among
        THREADS threads (numpy and scipy's sparse products release the GIL); each chunk's
        values go to its own slot, so the result does not depend on which thread ran it."""
        self._done = True
        if not self._figures or self.units < 2:
            return
        for group in self._ranked.values():
            group.build()
        count = self.chunk_count
        slots: list[list[np.ndarray | None]] = [[None] * count for _ in self._figures]

        def work(first: int) -> None:
            for index in range(first, count, THREADS):
                counts = self._draw(index)
                shared: dict[int, Any] = {}  # the chunk's results shared between figures
                for number, figure in enumerate(self._figures):
                    slots[number][index] = figure.compute(counts, shared)

        if THREADS == 1 or count == 1:
            work(0)
        else:
            from concurrent.futures import ThreadPoolExecutor

            # BLAS threads of its own in every product would oversubscribe the cores these
            # threads already use: one each while they run (threadpoolctl comes with
            # scikit-learn).
            with _one_blas_thread(), ThreadPoolExecutor(THREADS) as pool:
                for future in [pool.submit(work, first) for first in range(THREADS)]:
                    future.result()
        for figure, values in zip(self._figures, slots, strict=True):
            figure.values = [v for v in values if v is not None]

    def result(self, handle: int) -> np.ndarray | None:
        values = self._figures[handle].values
        return np.concatenate(values) if values else None


def _one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which numpy's BLAS uses one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn requires it
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def spearman_of(
    x: Sequence[float], y: Sequence[float], names: tuple[str, str] = ("score", "length")
) -> tuple[float | None, str | None]:
    """scipy.stats.spearmanr of two aligned lists: (rho, None), or (None, why) when it is
    undefined (fewer than 2 items, or a side constant: scipy warns and returns nan)."""
    from scipy.stats import spearmanr

    if len(x) < 2:
        return None, "undefined: fewer than 2 items"
    for values, name in ((x, names[0]), (y, names[1])):
        if len(set(values)) < 2:
            return None, f"undefined: every item has the same {name}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = finite(spearmanr(x, y).statistic)
    return value, None if value is not None else "undefined"
