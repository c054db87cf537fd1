"""Agreement between two sources of scores (human vs judge, judge vs judge).

Cohen's kappa with quadratic weights for ordinal scales (a 4 against a 5 is a
near miss, a 1 against a 5 is not) and unweighted for yes/no, plus raw exact
agreement and n, so a kappa on six items is never mistaken for a finding.
Written out here because the formula is short and the libraries that carry it
(scikit-learn, statsmodels) would triple the install for one function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Below this many paired items a kappa is not shown: at n = 1 it is 0.00 or undefined,
# and a handful of items gives an interval far wider than the value itself.
MIN_N = 10


@dataclass(frozen=True)
class Agreement:
    n: int
    exact: float | None
    kappa: float | None

    @property
    def enough(self) -> bool:
        """Enough paired items for a kappa worth showing (MIN_N or more)."""
        return self.n >= MIN_N

    def kappa_text(self) -> str:
        """The kappa as shown: "n too small" below MIN_N, "–" when undefined (no variation)."""
        if not self.enough:
            return "n too small"
        return "–" if self.kappa is None else f"{self.kappa:+.2f}"

    def line(self) -> str:
        if not self.n:
            return "n=0"
        exact = f"n={self.n} exact {100 * (self.exact or 0):.0f}%"
        if not self.enough:
            return f"{exact}, n too small for κ"
        return f"{exact} κ {self.kappa_text()}"


def cohen_kappa(
    a: Sequence[Any], b: Sequence[Any], categories: Sequence[Any], weights: str | None = None
) -> float | None:
    """Cohen's kappa; weights None (nominal) or "quadratic" (ordinal, categories in order)."""
    if len(a) != len(b) or not a:
        return None
    index = {c: i for i, c in enumerate(categories)}
    k = len(categories)
    if k < 2:
        return None
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[index[x]][index[y]] += 1
    n = float(len(a))
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def weight(i: int, j: int) -> float:
        if weights == "quadratic":
            return ((i - j) / (k - 1)) ** 2
        return 0.0 if i == j else 1.0

    disagree_observed = sum(weight(i, j) * observed[i][j] for i in range(k) for j in range(k)) / n
    disagree_expected = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k)) / (n * n)
    if disagree_expected == 0:
        return None  # no variation in either source: kappa is undefined
    return 1.0 - disagree_observed / disagree_expected


def agreement(pairs: list[tuple[Any, Any]], kind: str, low: int = 1, high: int = 5) -> Agreement:
    if not pairs:
        return Agreement(0, None, None)
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    exact = sum(1 for x, y in pairs if x == y) / len(pairs)
    if kind == "likert":
        kappa = cohen_kappa(a, b, list(range(low, high + 1)), "quadratic")
    elif kind == "binary":
        kappa = cohen_kappa(a, b, [False, True])
    else:
        kappa = None
    return Agreement(len(pairs), exact, kappa)
