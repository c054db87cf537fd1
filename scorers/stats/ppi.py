"""Prediction-powered inference (PPI++, power-tuned) of a mean: your labels on a random
sample, plus a judge's scores on every item, give one estimate with a valid 95% interval.

Why: a person labels a few hundred answers, a judge thousands. The human-only mean has a
wide interval; the judge's mean is biased by an amount nobody knows. PPI (Angelopoulos,
Bates, Fannjiang, Jordan, Zrnic, Science 2023) corrects the judge's mean over all items by
the judge's average error measured on the labelled random sample (the "rectifier"); PPI++
(Angelopoulos, Duchi, Zrnic 2024) weights the judge by a factor lambda chosen from the data
to minimise the interval's width, clipped to [0, 1] as the authors do. lambda = 0 is the
human-only estimate, so a judge unrelated to your labels costs nothing (lambda near 0, the
same interval), and a judge biased by any constant amount never biases the estimate.

The method follows the authors' package `ppi-python` (`ppi_mean_pointestimate`,
`ppi_mean_ci` with `lam=None`, and `_calc_lam_glm`), written here in plain numpy: lambda =
cov(Y, Yhat) / ((1 + n/N) var(Yhat over all judged items)), the estimate lambda·mean(Yhat
unlabelled) + mean(Y - lambda·Yhat), and the CLT interval from the two parts' standard
errors (population standard deviations, as there). tests/test_ppi.py compares the numbers
with the package's on many data sets.

The labels must be a random sample of the judged items (the seeded random order's labels,
not those chosen after a jump): the rectifier is an average over the sample, and a sample
chosen for disagreements would move it. Pure numbers: nothing of sftscope is imported.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

CONFIDENCE = 0.95
# The width the console's "about N more labels" aims at: a half-width of 0.05 (a rate of
# 0.62 ± 0.05), the precision people ask of a pass rate.
TARGET_HALF_WIDTH = 0.05

NoPPIReason = Literal["too_few_labels", "no_variance"]
K = TypeVar("K", bound=Hashable)  # what a label is keyed by: an item position or id, a pair id


@dataclass(frozen=True)
class PPIEstimate:
    """One PPI++ estimate of a mean with its interval and what it is worth in human labels.

    `lam` is the power-tuning factor (the report's key "lambda"): 0 means the judge was
    given no weight (the human-only estimate), 1 plain PPI. `n_effective` is the number of
    random human labels whose human-only CLT interval would be as narrow as this one
    (n_labeled × (classical width / PPI width)²); None when the human-only interval has
    zero width (every label the same), where the ratio says nothing. The variances are kept
    so that `labels_needed` can project the width for more labels."""

    estimate: float
    ci: tuple[float, float]
    lam: float
    n_labeled: int
    n_unlabeled: int
    n_effective: float | None
    classical: float
    classical_ci: tuple[float, float]
    var_labels: float
    var_judge_labeled: float
    var_judge_unlabeled: float
    var_judge_all: float
    cov: float

    @property
    def half_width(self) -> float:
        """Half the interval's width (the "± 0.05")."""
        return (self.ci[1] - self.ci[0]) / 2


@dataclass(frozen=True)
class NoPPI:
    """Why there is no estimate: "too_few_labels" (fewer than two labelled pairs: no
    variance can be measured), "no_variance" (the interval would have zero width: every
    label the same and the judge given no weight, a CLT interval of no use)."""

    reason: NoPPIReason
    n_labeled: int
    n_unlabeled: int


def _z(confidence: float) -> float:
    """The two-sided normal quantile for `confidence` (1.96 for 95%), from the standard
    library's NormalDist (equal to scipy.stats.norm.ppf to the last digit): the console
    computes a running estimate off its UI thread, and importing scipy.stats there would
    cost it 0.5 to 0.8 s (docs/figures.md)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def _lam(cov: float, var_all: float, n: int, n_unlabeled: int) -> float:
    """PPI++'s power-tuning factor for a mean, clipped to [0, 1] as the authors clip it:
    cov(Y, Yhat) / ((1 + n/N) var(Yhat)). A judge that never varies carries no information
    (0, where the package would give NaN); with no unlabelled items the judge adds nothing
    either (0, the limit of n/N → ∞)."""
    if n_unlabeled == 0 or var_all <= 0:
        return 0.0
    return min(1.0, max(0.0, cov / ((1 + n / n_unlabeled) * var_all)))


def ppi_mean(
    labels: Sequence[float],
    judge_on_labeled: Sequence[float],
    judge_on_unlabeled: Sequence[float],
    confidence: float = CONFIDENCE,
) -> PPIEstimate | NoPPI:
    """The PPI++ estimate of the mean of `labels` over the whole population of judged items.

    `labels[i]` is your label on the i-th item of the random sample and
    `judge_on_labeled[i]` the judge's on the same item (yes/no as 1/0, scales as numbers, a
    vote for B as 1, A as 0, a tie as 0.5); `judge_on_unlabeled` are the judge's scores on
    the judged items outside the sample. Returns NoPPI with a reason when no valid interval
    exists; never NaN. Raises ValueError on arrays of different lengths or non-finite
    values (a caller's bug, not a user's)."""
    import numpy as np

    y = np.asarray(labels, dtype=float)
    f = np.asarray(judge_on_labeled, dtype=float)
    fu = np.asarray(judge_on_unlabeled, dtype=float)
    if y.shape != f.shape or y.ndim != 1 or fu.ndim != 1:
        raise ValueError("labels and the judge's scores on them must be 1-d arrays of one length")
    if not (np.isfinite(y).all() and np.isfinite(f).all() and np.isfinite(fu).all()):
        raise ValueError("labels and judge scores must be finite numbers")
    n, big_n = int(y.size), int(fu.size)
    if n < 2:
        return NoPPI("too_few_labels", n, big_n)

    var_y = float(y.var())
    var_f = float(f.var())
    var_fu = float(fu.var()) if big_n else 0.0
    cov = float(((y - y.mean()) * (f - f.mean())).mean())
    pooled = np.concatenate([f, fu])
    var_all = float(pooled.var(ddof=1))
    lam = _lam(cov, var_all, n, big_n)

    rectifier = y - lam * f
    imputed_mean = lam * float(fu.mean()) if big_n else 0.0
    estimate = imputed_mean + float(rectifier.mean())
    se = math.sqrt(max(0.0, float(rectifier.var()) / n + (lam * lam * var_fu / big_n if big_n else 0.0)))
    if se <= 0:
        return NoPPI("no_variance", n, big_n)
    z = _z(confidence)
    classical = float(y.mean())
    classical_se = math.sqrt(var_y / n)
    n_effective = n * (classical_se / se) ** 2 if classical_se > 0 else None
    return PPIEstimate(
        estimate=estimate,
        ci=(estimate - z * se, estimate + z * se),
        lam=lam,
        n_labeled=n,
        n_unlabeled=big_n,
        n_effective=n_effective,
        classical=classical,
        classical_ci=(classical - z * classical_se, classical + z * classical_se),
        var_labels=var_y,
        var_judge_labeled=var_f,
        var_judge_unlabeled=var_fu,
        var_judge_all=var_all,
        cov=cov,
    )


def sample_ppi(
    labels: Mapping[K, float], random: Sequence[K], judge: Mapping[K, float], confidence: float = CONFIDENCE
) -> tuple[int, PPIEstimate | NoPPI]:
    """The split every caller makes, once: `labels` your values by key (an item, a pair),
    `random` the keys of the random sample in order, `judge` the judge's values by key. The
    labelled pairs are the random keys the judge scored; every other key it scored is
    unlabelled. Returns (the labelled pairs' count, `ppi_mean` of them)."""
    pairs = [key for key in random if key in judge]
    in_sample = set(random)
    rest = [value for key, value in judge.items() if key not in in_sample]
    return len(pairs), ppi_mean([labels[k] for k in pairs], [judge[k] for k in pairs], rest, confidence)


def labels_needed(
    est: PPIEstimate, half_width: float = TARGET_HALF_WIDTH, confidence: float = CONFIDENCE
) -> int | None:
    """How many more random labels would bring the interval to ± `half_width`, at the
    current variances: each new label moves one judged item from the unlabelled pool into
    the sample (n + m, N - m), lambda re-tuned for those sizes. 0 when it is already
    there; None when even labelling every judged item would not reach it (the variances
    are too large for that many items). An estimate, as the variances will move."""
    import numpy as np

    z = _z(confidence)
    target_var = (half_width / z) ** 2
    if est.half_width <= half_width:
        return 0
    m = np.arange(1, est.n_unlabeled + 1, dtype=float)
    if m.size == 0:
        return None
    n2 = est.n_labeled + m
    rest = est.n_unlabeled - m
    safe_rest = np.where(rest > 0, rest, 1.0)
    if est.var_judge_all > 0:
        lam = np.where(rest > 0, est.cov / ((1 + n2 / safe_rest) * est.var_judge_all), 0.0)
    else:
        lam = np.zeros_like(m)
    lam = np.clip(lam, 0.0, 1.0)
    rect_var = est.var_labels - 2 * lam * est.cov + lam * lam * est.var_judge_labeled
    imputed = np.where(rest > 0, lam * lam * est.var_judge_unlabeled / safe_rest, 0.0)
    variance = np.maximum(rect_var, 0.0) / n2 + imputed
    ok = np.nonzero(variance <= target_var)[0]
    return int(m[ok[0]]) if ok.size else None
