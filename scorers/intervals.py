"""How a number is written with its interval, in one place: "0.62 [0.48, 0.75]", "n too
small" below MIN_N, "undefined" when there is no value.

Why one module: the console's running line, its report screen, the headless summaries and
`sftscope report` used to each write their numbers and decide "n too small" on their own,
so a bias rate printed at n = 4 beside a win rate hidden at n = 8. The rules themselves
(MIN_N, the resample count and seed, the intervals) are numbers and live with the
statistics in scorers.stats.intervals; this module only turns them into text, and every
screen and format (the report's layout, the comparison lines, the consoles) writes its
figures through it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from sftscope.scorers.stats.intervals import enough

TOO_SMALL = "n too small"
UNDEFINED = "undefined"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def number_text(value: Any, digits: int = 2, *, signed: bool = False, missing: str = UNDEFINED) -> str:
    """A number as every report and console prints it; `missing` ("undefined") when there
    is none."""
    number = _finite(value)
    if number is None:
        return missing
    return f"{number:+.{digits}f}" if signed else f"{number:.{digits}f}"


def interval_text(ci: Any, digits: int = 2, *, signed: bool = False) -> str:
    """ "[low, high]", or "" when there is no interval."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return ""
    low, high = _finite(ci[0]), _finite(ci[1])
    if low is None or high is None:
        return ""
    spec = f"+.{digits}f" if signed else f".{digits}f"
    return f"[{low:{spec}}, {high:{spec}}]"


def figure_cells(
    value: Any,
    ci: Any = None,
    n: Any = None,
    *,
    shown: bool | None = None,
    digits: int = 2,
    signed: bool = False,
    missing: str = UNDEFINED,
) -> tuple[str, str]:
    """`figure_text`'s rule as two table cells, the estimate and its interval:
    ("0.62", "[0.48, 0.75]"), ("n too small", "") below MIN_N (or when `shown` is False),
    ("undefined", "") when there is no value."""
    if not (enough(n) if shown is None else shown):
        return TOO_SMALL, ""
    text = number_text(value, digits, signed=signed, missing=missing)
    return text, interval_text(ci, digits, signed=signed)


def figure_text(
    value: Any,
    ci: Any = None,
    n: Any = None,
    *,
    shown: bool | None = None,
    digits: int = 2,
    signed: bool = False,
    missing: str = UNDEFINED,
) -> str:
    """The one place that decides "n too small" and writes a number with its interval:
    "0.62 [0.48, 0.75]", "n too small" (below MIN_N: `shown`, when given, is the data's
    own verdict, e.g. a report document's `enough`), or `missing` ("undefined": no value;
    a narrow column says "–")."""
    text, interval = figure_cells(value, ci, n, shown=shown, digits=digits, signed=signed, missing=missing)
    if text in (TOO_SMALL, missing) or not interval:
        return text
    return f"{text} {interval}"


def p_text(value: Any) -> str:
    """A p-value as every format writes it: "p = 0.008", "p < 0.001", or "" when there is none."""
    number = _finite(value)
    if number is None:
        return ""
    return "p < 0.001" if number < 0.001 else f"p = {number:.3f}"
