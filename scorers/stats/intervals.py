"""The rules every shown number follows, in one place: how many resamples and which seed
give its interval, when n is too small to show it, and what interval a proportion gets
when the bootstrap has nothing to say. How such a number is written (its interval, "n too
small") is scorers.intervals, the one place text is made from these rules.

Why one module: the console's running line, its report screen, the headless summaries and
`sftscope report` used to each pick their own resample count (200, 1,000, 2,000), seed and
"n too small" threshold, so the same labels showed different intervals on different
screens, and a bias rate printed at n = 4 beside a win rate hidden at n = 8. Everything
that computes or prints an aggregate imports these constants and functions instead.

Importing this module loads nothing heavy: scipy is imported inside `wilson_interval`,
so the console (which imports it at start) pays for it only when a number needs it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

Interval = tuple[float, float]

# Below this many observations a number is shown as "n too small" (its value is kept in the
# data): at n = 1 a kappa is 0.00 or undefined, and a handful of items gives an interval far
# wider than the value itself.
MIN_N = 10
# Every 95% bootstrap interval, wherever it is shown: this many resamples, this seed. The
# same labels give the same interval on every screen and in every format.
RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95


def enough(n: Any) -> bool:
    """Whether `n` observations are enough for a number to be shown (MIN_N or more)."""
    return isinstance(n, numbers.Real) and not isinstance(n, bool) and n >= MIN_N


def wilson_interval(count: float, n: int) -> Interval | None:
    """The 95% Wilson score interval of `count` successes in `n` trials, from scipy
    (`binomtest(...).proportion_ci(method="wilson")`); 16 of 16 gives [0.81, 1.00].

    A count that is not whole (a win rate where ties count half: 8.5 of 17) gets the union
    of the intervals of the whole counts either side, the honest reading of "somewhere
    between". None when there are no trials."""
    if n < 1:
        return None
    from scipy.stats import binomtest

    low_count, high_count = math.floor(count + 1e-9), math.ceil(count - 1e-9)
    low_count, high_count = max(0, min(n, low_count)), max(0, min(n, high_count))
    low = binomtest(low_count, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson").low
    high = binomtest(high_count, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson").high
    return (float(low), float(high))


def proportion_interval(value: float | None, units: int, bootstrap: Interval | None) -> Interval | None:
    """A proportion's interval: the bootstrap's, unless it has zero width (every unit gave
    the same value, so every resample does too: 16 of 16 yes would read [1.00, 1.00]);
    then Wilson's for `value` × `units` successes in `units` trials (the units the
    bootstrap resamples: items, or pairs). A single unit has no interval, as it has no
    bootstrap (None)."""
    if value is None or units < 2:
        return bootstrap
    if bootstrap is not None and bootstrap[1] - bootstrap[0] > 1e-12:
        return bootstrap
    return wilson_interval(value * units, units)
