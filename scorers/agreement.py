"""Agreement between two sources of scores (human vs judge, judge vs judge).

Cohen's kappa with quadratic weights for ordinal scales (a 4 against a 5 is a
near miss, a 1 against a 5 is not) and unweighted for yes/no, plus raw exact
agreement and n, so a kappa on six items is never mistaken for a finding.
The kappa is scikit-learn's cohen_kappa_score, not re-derived: statistics here
come from maintained libraries. It is imported inside cohen_kappa, so importing
this module (the console does, at start) does not load scikit-learn.
"""

from __future__ import annotations

import math
import warnings
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
    """scikit-learn's Cohen's kappa over the full scale `categories` (in order for an ordinal
    scale); weights None (nominal) or "quadratic" (ordinal). None, never NaN, when it is
    undefined: no pairs, a one-category scale, or no variation (both sources always give the
    same single label, where scikit-learn warns and returns nan)."""
    labels = list(categories)
    if len(a) != len(b) or not len(a) or len(labels) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the undefined case: handled below as None
        value = float(cohen_kappa_score(list(a), list(b), labels=labels, weights=weights))
    return value if math.isfinite(value) else None


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
