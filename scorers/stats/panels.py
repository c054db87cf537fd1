"""Judge panels in numbers: the verdict a panel gives, and how many independent judges a
panel is worth. Pure: numbers and labels in, numbers out, nothing of sftscope.

The rule is inspect_ai's: a yes/no or pairwise verdict needs MORE THAN HALF OF THE JUDGES
CONFIGURED in the panel, not of those that answered. Counting only those that answered
would let one judge decide for a panel of three whose other two failed, and a panel's
verdict would then mean something different on every item. A scale takes the median.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any


def majority(votes: Sequence[Hashable | None], configured: int) -> Hashable | None:
    """The vote that more than half of the `configured` judges gave (None: a judge that did
    not answer); None when no vote has that many. 2 yes of 3 configured is yes; 1 yes of 3
    with two failures is no verdict, however unanimous the one answer is."""
    counts = Counter(vote for vote in votes if vote is not None)
    for vote, count in counts.items():
        if count * 2 > configured:
            return vote
    return None


def median_verdict(values: Sequence[float | None], configured: int) -> float | None:
    """The median of the answers when more than half of the `configured` judges answered,
    else None. With an even number of answers, the lower of the two middle ones: a panel's
    score stays a value of the scale (a 1-5 scale has no 3.5 to agree with you on)."""
    answered = sorted(value for value in values if value is not None)
    if not answered or len(answered) * 2 <= configured:
        return None
    return answered[(len(answered) - 1) // 2]


@dataclass(frozen=True)
class EffectiveJudges:
    """How many independent judges a set of judges is worth, from the correlation of their
    errors against your labels. `k` counts the judges whose error varies (a judge whose
    error is constant on these items has no correlation and is left out: `constant`);
    `n` the items every judge and you scored."""

    k: int
    n: int
    n_effective: float | None
    mean_error_correlation: float | None
    constant: tuple[str, ...] = ()
    undefined: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "n_effective": self.n_effective,
            "mean_error_correlation": self.mean_error_correlation,
            "constant": list(self.constant),
            "undefined": self.undefined,
        }


def effective_judges(errors: dict[str, Sequence[float]]) -> EffectiveJudges:
    """The design-effect approximation of inspect_ai #4955: with ρ̄ the mean pairwise Pearson
    correlation of the judges' errors (judge score − your label, per item),
    n_eff = k / (1 + (k − 1)·ρ̄). Identical judges give 1, independent ones k, and
    negatively correlated errors more than k (not clamped: that is information). A judge
    with a constant error is left out and k counts the rest, so ρ̄ is the mean over the
    whole panel it describes (averaging a subset while k counted everyone could go below
    the bound that keeps 1 + (k − 1)·ρ̄ ≥ 0)."""
    import numpy as np

    names = list(errors)
    matrix = np.array([list(errors[name]) for name in names], dtype=float)
    n = int(matrix.shape[1]) if matrix.ndim == 2 else 0
    if n < 3:
        return EffectiveJudges(len(names), n, None, None, undefined="fewer than 3 items scored by all")
    varies = matrix.std(axis=1) > 1e-12
    constant = tuple(name for name, ok in zip(names, varies, strict=True) if not ok)
    kept = matrix[varies]
    k = int(kept.shape[0])
    if k < 2:
        return EffectiveJudges(k, n, None, None, constant, "fewer than 2 judges whose error varies")
    correlation = np.corrcoef(kept)
    rho = float(correlation[np.triu_indices(k, 1)].mean())
    design = 1.0 + (k - 1) * rho
    if design <= 1e-12:
        return EffectiveJudges(k, n, None, rho, constant, "errors perfectly anti-correlated")
    return EffectiveJudges(k, n, k / design, rho, constant)
