"""Paired tests: whether two runs differ on the same items, from scipy.

Two runs over the same prompts are paired data: an item hard for one model is usually hard
for the other, so the variance of a difference is Var(A) + Var(B) - 2 Cov(A, B). A test
that treats the runs as two independent samples drops the covariance term and overstates
the noise (lm-evaluation-harness #3831: an unpaired z-test gives p = 0.080 where McNemar's
test gives 0.008 on the same 220 items). Each test here looks only at how the two labels of
one item differ:

- `mcnemar_exact`, for yes/no labels (a binary criterion, a per-item check): only the
  discordant items count (yes in A and no in B: `b`; no in A and yes in B: `c`); under no
  difference each is equally likely, so p is the two-sided exact binomial test of b in
  b + c at 0.5 (scipy.stats.binomtest), what statsmodels' `mcnemar(exact=True)` gives.
- `wilcoxon_signed_rank`, for scale points: scipy.stats.wilcoxon on the differences B - A,
  with scipy's default zero_method="wilcox" (items that did not change are dropped before
  ranking, the textbook test) and method "auto" (exact for small n, the normal
  approximation otherwise).
- `sign_test`, for pairwise verdicts (a comparison's "B better" against "A better"): the
  exact binomial test of B's wins among the decisive verdicts, ties dropped.

Degenerate cases never give NaN: no pair at all is p None with a reason; pairs that all
agree (no discordant item, every difference zero, only ties) are p = 1.0, statistic 0,
with a reason: the data show no difference at all, and this is what statsmodels' exact
McNemar and scipy's own wilcoxon return there (scipy warns on the way; it is not called).

Nothing here imports sftscope; scipy is imported inside the functions that use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MCNEMAR = "McNemar exact"
WILCOXON = "Wilcoxon signed-rank"
SIGN = "sign test"


@dataclass(frozen=True)
class PairedTest:
    """One paired test's result.

    `n` counts every pair given; `used` the pairs the test looks at (discordant items,
    non-zero differences, decisive verdicts); `statistic` is the test's own (McNemar:
    min(b, c), as statsmodels reports it; Wilcoxon: scipy's; sign test: B's wins); `p` is
    two-sided, None only with a `reason`."""

    test: str
    n: int
    used: int
    statistic: float | None
    p: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "n": self.n,
            "used": self.used,
            "statistic": self.statistic,
            "p": self.p,
            "reason": self.reason,
        }


def _binomial(test: str, n: int, successes: int, trials: int, statistic: float, none: str) -> PairedTest:
    """The two-sided exact binomial test of `successes` in `trials` at 0.5; p = 1.0 with
    the reason `none` when there is no trial (scipy refuses n = 0)."""
    if n == 0:
        return PairedTest(test, 0, 0, None, None, "no pairs")
    if trials == 0:
        return PairedTest(test, n, 0, 0.0, 1.0, none)
    from scipy.stats import binomtest

    p = float(binomtest(successes, trials, 0.5, alternative="two-sided").pvalue)
    return PairedTest(test, n, trials, float(statistic), min(1.0, p))


def mcnemar_exact(first: Sequence[bool | int], second: Sequence[bool | int]) -> PairedTest:
    """McNemar's exact test on the yes/no labels of the same items in two runs (first[i]
    and second[i] belong to one item). See the module's docstring."""
    if len(first) != len(second):
        raise ValueError(f"paired labels differ in length: {len(first)} and {len(second)}")
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    return _binomial(MCNEMAR, len(first), b, b + c, min(b, c), "no discordant pairs")


def sign_test(wins_b: int, wins_a: int, ties: int = 0) -> PairedTest:
    """The sign test of pairwise verdicts: B's wins against A's, ties (and both-bad)
    dropped; `n` counts the ties too."""
    if min(wins_b, wins_a, ties) < 0:
        raise ValueError(f"counts must not be negative: {wins_b}, {wins_a}, {ties}")
    return _binomial(SIGN, wins_b + wins_a + ties, wins_b, wins_b + wins_a, wins_b, "only ties")


def wilcoxon_signed_rank(first: Sequence[float], second: Sequence[float]) -> PairedTest:
    """The Wilcoxon signed-rank test on the differences second - first (scipy's defaults:
    zero differences dropped, method "auto"). See the module's docstring."""
    if len(first) != len(second):
        raise ValueError(f"paired labels differ in length: {len(first)} and {len(second)}")
    differences = [float(y) - float(x) for x, y in zip(first, second, strict=True)]
    n = len(differences)
    if n == 0:
        return PairedTest(WILCOXON, 0, 0, None, None, "no pairs")
    used = sum(1 for d in differences if d != 0)
    if used == 0:
        return PairedTest(WILCOXON, n, 0, 0.0, 1.0, "every difference is zero")
    from scipy.stats import wilcoxon

    result = wilcoxon(differences, zero_method="wilcox")
    statistic, p = float(result.statistic), float(result.pvalue)
    if not math.isfinite(p):
        return PairedTest(WILCOXON, n, used, None, None, "scipy gave no p-value")
    return PairedTest(WILCOXON, n, used, statistic if math.isfinite(statistic) else None, min(1.0, p))


def paired_test(kind: str, first: Sequence[float], second: Sequence[float]) -> PairedTest:
    """The right paired test for a criterion's kind: McNemar for "binary" (and per-item
    checks), Wilcoxon for "likert"."""
    if kind == "binary":
        return mcnemar_exact([bool(x) for x in first], [bool(y) for y in second])
    if kind == "likert":
        return wilcoxon_signed_rank(first, second)
    raise ValueError(f"no paired test for a {kind!r} criterion")
