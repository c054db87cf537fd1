"""The numbers of a pairwise comparison of sessions: win rates, judge biases, agreement, ratings.

A comparison shows the same item's answers from two sessions, A and B, to the operator
and to judges. Every number here answers "is B better than A, and can this be trusted":

- the win rate of B over A, with a bootstrap interval over items, so 0.62 on 12 items is
  not read as 0.62 on 400;
- the length-controlled win rate (AlpacaEval 2's minimal form), because judges and people
  both prefer longer answers, and a fine-tune that only got wordier should not look better;
- the judge's position bias (flip rate, first-position rate) and length bias, measured on
  the same pairs, so a verdict is read together with how much of it is the prompt's order;
- human-vs-judge agreement (Cohen's kappa) on the pairs both decided;
- Bradley-Terry ratings when three or more sessions are compared, as Chatbot Arena fits them.

The statistics come from scipy and scikit-learn, not re-derived: a bootstrap is
scipy.stats.bootstrap (or a seeded numpy resampling loop around a scikit-learn metric), a
logistic regression is scikit-learn's or, where two thousand of them are fitted at once,
scipy.optimize on the model's log-likelihood. Every aggregate carries its n and a 95%
interval; below MIN_N it keeps its value but `enough` is False (the text, "n too small",
is written by sessions.compare.summary: numbers only here). scipy and scikit-learn are
imported inside the functions: importing this module (the console does, at start) costs
only numpy.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sftscope.scorers.stats.intervals import MIN_N, RESAMPLES, SEED, proportion_interval
from sftscope.scorers.stats.intervals import enough as is_enough
from sftscope.scorers.stats.libraries import import_sklearn

# Answers closer in length than this many characters count as the same length for the
# prefer-longer rate: a few characters is formatting, not a longer answer.
LONGER_MARGIN = 30
# |LC - raw| above this means length explains part of the preference (a warning is set).
LC_WARNING_GAP = 0.10
# Bradley-Terry on Chatbot Arena's scale: 400 points is 10:1 odds, anchored so the rated
# sessions' mean rating is 1000 (what Arena's unpenalised fit gives before it re-anchors on
# a reference model), however unevenly they were compared (a --baseline comparison
# compares the baseline k times as often as each other session).
BT_SCALE = 400.0
BT_BASE = 10.0
BT_INIT = 1000.0
# When one group of sessions beat (or lost to) every other in every comparison, no
# finite rating fits best; the fit is held within this many log10-odds of the start
# (±1200 points) and the ratings are flagged `unbounded`.
BT_BOUND = 3.0
HUMAN = "human"
LC_SEPARATED = "length alone separates the verdicts: no length-controlled rate"

_DECISIVE = ("a", "b")


# ---------------------------------------------------------------------------------------
# Input records (built by sessions.compare.summary from a comparison's fold).


@dataclass(frozen=True)
class JudgeRecord:
    """One judge's verdict on one pair, asked in both orders.

    `ab` was asked with A's answer shown first, `ba` with B's first; both are expressed as
    the session chosen ("a"/"b"/"tie"), None when that order failed to parse. `verdict`
    combines them ("a" | "b" | "tie" | "error")."""

    verdict: str
    ab: str | None
    ba: str | None


@dataclass(frozen=True)
class PairRecord:
    """One item's answers from sessions a and b, and what the human and the judges preferred.

    The win rate is of b over a. `human` is "a" | "b" | "tie" | "both_bad" | None (not voted
    or skipped); `human_first` is the session whose answer the human saw first. Stale pairs
    (an answer changed since the vote) are left out of every number."""

    item: str
    a: str
    b: str
    len_a: int
    len_b: int
    human: str | None
    human_first: str | None
    judges: Mapping[str, JudgeRecord]
    stale: bool = False


# ---------------------------------------------------------------------------------------
# Results.

Interval = tuple[float, float]


@dataclass(frozen=True)
class SourceSummary:
    """One source's (the human's or one judge's) verdicts on the pairs of sessions a and b.

    Counts: `n` pairs with a verdict (the human: any vote, tie and both_bad included; a
    judge: any verdict but "error"); `ties` includes the human's both_bad, also counted
    alone in `both_bad`; `errors` are the judge's failed pairs.

    win_rate_b = (wins_b + ties/2) / n, its 95% percentile-bootstrap interval over items in
    `win_rate_b_ci` (None below 2 items; Wilson's when every item has the same value:
    never a zero-width interval). Every rate below, like this one, is shown only from
    MIN_N of its own n on ("n too small" below).

    lc_win_rate_b: AlpacaEval 2's length-controlled win rate in its minimal form (see
    `length_controlled`), with a bootstrap interval; None below MIN_N pairs, when the
    verdicts never vary, or when length alone separates them. `lc_warning` says when the
    two rates differ by more than 0.10, or why there is no LC rate.

    Bias diagnostics, each with its own n and interval (None when nothing to measure):
    flip_rate (judges: of pairs with both orders parsed, the share whose two orders
    disagree), first_position_rate (of decisive single-order verdicts, or the human's
    decisive votes, the share that chose the answer shown first), prefer_longer_rate (of
    decisive verdicts on pairs whose answers differ by more than LONGER_MARGIN characters,
    the share that chose the longer)."""

    source: str
    a: str
    b: str
    n: int
    wins_a: int
    wins_b: int
    ties: int
    both_bad: int
    errors: int
    win_rate_b: float | None
    win_rate_b_ci: Interval | None
    lc_win_rate_b: float | None
    lc_win_rate_b_ci: Interval | None
    lc_warning: str | None
    flip_rate: float | None = None
    flip_rate_n: int = 0
    flip_rate_ci: Interval | None = None
    first_position_rate: float | None = None
    first_position_rate_n: int = 0
    first_position_rate_ci: Interval | None = None
    prefer_longer_rate: float | None = None
    prefer_longer_rate_n: int = 0
    prefer_longer_rate_ci: Interval | None = None

    @property
    def enough(self) -> bool:
        """MIN_N verdicts or more: below that the rate is shown as "n too small"."""
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "enough": self.enough}


@dataclass(frozen=True)
class PairAgreement:
    """The human against one judge on the pairs both decided ("a" or "b"): the share equal,
    and Cohen's kappa (None when undefined: neither varies), each with a 95% bootstrap
    interval over pairs."""

    judge: str
    a: str
    b: str
    n: int
    agreement: float | None
    agreement_ci: Interval | None
    kappa: float | None
    kappa_ci: Interval | None

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "enough": self.enough}


@dataclass(frozen=True)
class Rating:
    """A session's Bradley-Terry rating (Chatbot Arena's scale), its 95% bootstrap interval
    over items, its rank (1 = best, by rating) and n, the comparisons it took part in.
    `unbounded`: some sessions won or lost every comparison linking them to the rest, so
    no finite rating fits best; the values sit at the fit's bound and only the order holds."""

    session: str
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    n: int
    unbounded: bool = False

    @property
    def enough(self) -> bool:
        return is_enough(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "enough": self.enough}


@dataclass(frozen=True)
class SessionPairSummary:
    """Everything about one pair of sessions: `pairs` non-stale pairs, a SourceSummary per
    source (the human first, then each judge), and the human against each judge."""

    a: str
    b: str
    pairs: int
    sources: dict[str, SourceSummary]
    agreement: dict[str, PairAgreement]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "pairs": self.pairs,
            "sources": {name: s.to_dict() for name, s in self.sources.items()},
            "agreement": {name: g.to_dict() for name, g in self.agreement.items()},
        }


@dataclass(frozen=True)
class ComparisonSummary:
    """A whole comparison: one SessionPairSummary per pair of sessions (in the order first
    seen), and with three or more sessions, Bradley-Terry ratings per source (best first)."""

    sessions: tuple[str, ...]
    groups: tuple[SessionPairSummary, ...]
    ratings: dict[str, list[Rating]] = field(default_factory=dict)
    stale: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": list(self.sessions),
            "groups": [g.to_dict() for g in self.groups],
            "ratings": {name: [r.to_dict() for r in rs] for name, rs in self.ratings.items()},
            "stale": self.stale,
        }


# ---------------------------------------------------------------------------------------
# Bootstrap and fitting helpers.


@functools.cache
def _rng_keyword() -> str:
    """scipy 1.15 renamed bootstrap's random_state to rng; 1.10 to 1.14 know only the old name."""
    import inspect

    from scipy.stats import bootstrap

    return "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"


def _ratio_ci(num: np.ndarray, den: np.ndarray, resamples: int, seed: int) -> Interval | None:
    """95% percentile-bootstrap interval of sum(num)/sum(den), resampling units (items).

    A unit is an item: its numerator and denominator move together, so an item with two
    single-order verdicts counts as one draw. When every unit has the same ratio v (every
    verdict alike: every resample would give v, and scipy warns about degenerate data),
    the interval is Wilson's for v × units successes in units trials: 16 of 16 is
    [0.81, 1.00], never [1.00, 1.00] (scorers.stats.intervals). None below 2 units."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    if len(num) < 2:
        return None
    ratios = num / den
    if np.all(ratios == ratios[0]):
        return proportion_interval(float(num.sum() / den.sum()), len(num), None)
    from scipy.stats import bootstrap

    def statistic(n: np.ndarray, d: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(n, axis=axis) / np.sum(d, axis=axis)

    result = bootstrap(
        (num, den), statistic, paired=True, vectorized=True, n_resamples=resamples,
        method="percentile", **{_rng_keyword(): np.random.default_rng(seed)},
    )  # fmt: skip
    interval = result.confidence_interval
    return (float(interval.low), float(interval.high))


def _rate(
    units: Mapping[str, list[float]], resamples: int, seed: int
) -> tuple[float | None, int, Interval | None]:
    """A share over per-item lists of 0/0.5/1 values: (value, n, interval over items)."""
    kept = [values for values in units.values() if values]
    n = sum(len(values) for values in kept)
    if not n:
        return None, 0, None
    num = np.array([sum(values) for values in kept])
    den = np.array([len(values) for values in kept], dtype=float)
    return float(num.sum() / den.sum()), n, _ratio_ci(num, den, resamples, seed)


def _resample_counts(units: int, resamples: int, seed: int) -> np.ndarray:
    """How often each unit is drawn in each resample, (resamples, units): drawing `units`
    indices with replacement, as a bootstrap does, counted."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, units, size=(resamples, units))
    flat = (np.arange(resamples)[:, None] * units + index).ravel()
    return np.bincount(flat, minlength=resamples * units).reshape(resamples, units).astype(float)


def _fit_logistic(
    design: np.ndarray,
    trials: np.ndarray,
    successes: np.ndarray,
    bound: float | None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Unpenalised weighted logistic regressions without intercept (an intercept is a
    column of ones), one per row of `trials`, fitted together with scipy's L-BFGS-B.

    design (m, k); trials (r, m), the weight of each row in each regression; successes
    (r, m), how much of that weight is the outcome 1 (a tie is half: exactly the two
    half-weight rows, one each way) -> coefficients (r, k). The objective is the sum of
    the r negative log-likelihoods, minimised where each one is: one vectorised
    optimisation instead of r scikit-learn fits (2,000 fits of a few rows each are
    otherwise seconds of per-call overhead). `start`, the full sample's fit, is where
    every resample's fit starts: they all end near it.

    Each regression is optimised in units of its own curvature at the start (a
    preconditioner: thousands of problems with different curvatures then look alike to
    L-BFGS, which converges in a few steps instead of a hundred): the full curvature when
    `bound` is None, its diagonal when the coefficients are kept within ±bound (then a
    separable resample stops at the bound instead of running off). A sum of thousands of
    losses hides the last digits of each, so the regressions whose gradient is not yet
    flat are refitted in smaller batches, from where they stopped."""
    from scipy.optimize import Bounds, minimize

    columns = design.shape[1]
    scale = max(float(trials.sum(axis=1).mean()), 1.0)  # per-problem losses near 1
    trials, successes = trials / scale, successes / scale
    coef = np.zeros((trials.shape[0], columns))
    if start is not None:
        coef[:] = start if bound is None else np.clip(start, -bound, bound)

    def evaluate(c: np.ndarray, n: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The summed negative log-likelihood, sum(n log(1 + e^eta) - y eta), its gradient
        per problem, sum((n sigmoid(eta) - y) x), and the sigmoids: all from one
        exp(-|eta|), stable for any eta and a third of the time of np.logaddexp and
        scipy's expit (this is the inner loop)."""
        eta = c @ design.T
        small = np.exp(-np.abs(eta))
        softplus = np.maximum(eta, 0.0) + np.log1p(small)
        sigmoid = np.where(eta >= 0.0, 1.0, small) / (1.0 + small)
        value = float(np.sum(n * softplus) - np.sum(y * eta))
        return value, (n * sigmoid - y) @ design, sigmoid

    active = np.arange(len(coef))
    for steps in (10, 40, 200, 15000):  # short first: the stragglers go on in smaller batches
        n, y = trials[active], successes[active]
        origin = coef[active]
        _, _, sigmoid = evaluate(origin, n, y)
        curvature = np.einsum("rm,mi,mj->rij", n * sigmoid * (1.0 - sigmoid), design, design)
        if bound is None:
            # coef = origin + M z with M = L^-T (curvature = L L^T): the curvature in z is I.
            lower = np.linalg.cholesky(curvature + 1e-9 * np.eye(columns))
            transform = np.swapaxes(np.linalg.inv(lower), 1, 2)
            box, z_start = None, np.zeros(origin.size)
        else:
            transform = np.zeros_like(curvature)
            diagonal = np.sqrt(np.maximum(np.einsum("rii->ri", curvature), 1e-12))
            np.einsum("rii->ri", transform)[:] = 1.0 / diagonal
            origin = np.zeros_like(origin)  # a box in coef stays a box in z
            box = Bounds((-bound * diagonal).ravel(), (bound * diagonal).ravel())
            z_start = (coef[active] * diagonal).ravel()

        def to_coef(
            z: np.ndarray, origin: np.ndarray = origin, transform: np.ndarray = transform
        ) -> np.ndarray:
            return origin + np.einsum("rij,rj->ri", transform, z.reshape(-1, columns))

        def loss(
            z: np.ndarray, n: np.ndarray = n, y: np.ndarray = y, transform: np.ndarray = transform
        ) -> tuple[float, np.ndarray]:
            value, grad, _ = evaluate(to_coef(z), n, y)
            return value, np.einsum("rji,rj->ri", transform, grad).ravel()

        result = minimize(
            loss, z_start, jac=True, method="L-BFGS-B", bounds=box,
            options={"maxiter": steps, "maxfun": 2 * steps, "ftol": 0.0, "gtol": 1e-10},
        )  # fmt: skip
        coef[active] = to_coef(result.x)
        if bound is not None:
            coef[active] = np.clip(coef[active], -bound, bound)
        _, grad, _ = evaluate(coef[active], n, y)
        if bound is not None:
            # The gradient that is left once the bounds are respected (a coefficient at
            # its bound may still be pushed outward).
            at_low, at_high = coef[active] <= -bound, coef[active] >= bound
            grad = np.where((at_low & (grad > 0)) | (at_high & (grad < 0)), 0.0, grad)
        active = active[np.abs(grad).max(axis=1) > 1e-7]
        if not len(active):
            break
    return coef


def _quiet(call: Callable[[], Any]) -> Any:
    """Run a scipy/scikit-learn call without its warnings (undefined kappa, convergence):
    the cases they warn about are handled here and reported as None or a flag."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def _percentile_ci(values: np.ndarray) -> Interval | None:
    """The 2.5th and 97.5th percentiles of the resampled values that are defined."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


# ---------------------------------------------------------------------------------------
# One source's verdicts.


def _verdict(pair: PairRecord, source: str) -> str | None:
    """The source's verdict on the pair as "a" | "b" | "tie" | "both_bad", or None."""
    if source == HUMAN:
        return pair.human if pair.human in ("a", "b", "tie", "both_bad") else None
    judge = pair.judges.get(source)
    if judge is None or judge.verdict not in ("a", "b", "tie"):
        return None
    return judge.verdict


def _value(verdict: str) -> float:
    """The per-item value of a verdict for B's win rate: 1, 0.5 (tie, both bad) or 0."""
    return {"b": 1.0, "a": 0.0}.get(verdict, 0.5)


def length_controlled(
    len_diff: Sequence[float],
    values: Sequence[float],
    items: Sequence[str],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> tuple[float | None, Interval | None, str | None]:
    """AlpacaEval 2's length-controlled win rate, minimal form: (rate, interval, reason).

    A logistic regression of "B preferred" on tanh(len_diff / std(len_diff)), with an
    intercept and no penalty (scikit-learn), read at zero length difference: sigmoid of
    the intercept. A tie is two half-weight rows, one each way. `len_diff` is
    len_b - len_a. The interval resamples items and refits (all resamples in one
    vectorised scipy fit), keeping the standardisation of the full sample; resamples in
    which length separates the verdicts have no finite fit and are left out.

    None (with the reason) when fewer than MIN_N pairs, when the verdicts never vary
    (every pair won by the same side), or when length alone separates them (every
    B-preferred pair has a larger length difference than every A-preferred one: the
    slope runs off to infinity and the intercept means nothing). When every pair has the
    same length difference there is no length effect to control for: the rate is the raw one.

    Cached on its inputs: the console recomputes its summary after every vote, and a
    source whose verdicts did not change is not refitted.
    """
    return _length_controlled(
        tuple(float(d) for d in len_diff), tuple(float(v) for v in values), tuple(items), resamples, seed
    )


@functools.lru_cache(maxsize=256)
def _length_controlled(
    len_diff: tuple[float, ...], values: tuple[float, ...], items: tuple[str, ...], resamples: int, seed: int
) -> tuple[float | None, Interval | None, str | None]:
    diff = np.asarray(len_diff, dtype=float)
    value = np.asarray(values, dtype=float)
    n = len(value)
    if n < MIN_N:
        return None, None, None
    if np.all(value == 1.0) or np.all(value == 0.0):
        return None, None, "the verdicts never vary: no length-controlled rate"
    spread = float(np.std(diff))
    feature = np.tanh(diff / spread) if spread > 0 else np.zeros(n)
    # Two rows per pair: "B preferred" with weight = value, "A preferred" with 1 - value.
    x = np.concatenate([feature, feature])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    w = np.concatenate([value, 1.0 - value])
    keep = w > 0
    if spread > 0 and _separated(x[keep], y[keep]):
        return None, None, LC_SEPARATED
    from scipy.special import expit

    import_sklearn()
    from sklearn.linear_model import LogisticRegression

    # C=inf is no penalty (penalty=None is deprecated from scikit-learn 1.8).
    model = LogisticRegression(C=np.inf, fit_intercept=True, tol=1e-10, max_iter=10000)
    _quiet(lambda: model.fit(x[keep, None], y[keep], sample_weight=w[keep]))
    rate = float(expit(model.intercept_[0]))

    # Bootstrap: resample items; each pair is weighted by its item's draw count, with
    # `value` of that weight on "B preferred".
    order = {item: index for index, item in enumerate(dict.fromkeys(items))}
    unit = np.array([order[item] for item in items])
    trials = _resample_counts(len(order), resamples, seed)[:, unit]
    drawn = trials > 0
    inf = np.inf
    pos, neg = drawn & (value > 0), drawn & (value < 1)
    max_neg = np.where(neg, feature, -inf).max(axis=1)
    min_neg = np.where(neg, feature, inf).min(axis=1)
    max_pos = np.where(pos, feature, -inf).max(axis=1)
    min_pos = np.where(pos, feature, inf).min(axis=1)
    # A resample is separable (no finite fit) if one side is missing or a threshold on
    # the length feature splits the two sides (ties sit on both sides at their own x).
    separable = (max_neg <= min_pos) | (max_pos <= min_neg) if spread > 0 else ~pos.any(1) | ~neg.any(1)
    fit = ~separable
    design = np.column_stack([np.ones(n), feature])
    start = np.array([model.intercept_[0], model.coef_[0, 0]])
    ci = None
    if fit.sum() >= 2:
        coef = _fit_logistic(design, trials[fit], trials[fit] * value, None, start)
        ci = _percentile_ci(expit(coef[:, 0]))
    warning = None
    raw = float(value.mean())
    if abs(rate - raw) > LC_WARNING_GAP:
        warning = f"length explains part of the preference: LC {rate:.2f} against raw {raw:.2f}"
    return rate, ci, warning


def _separated(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether a threshold on x splits the y=1 rows from the y=0 rows (ties allowed at the
    threshold): then an unpenalised logistic regression has no finite maximum."""
    pos, neg = x[y == 1], x[y == 0]
    if not len(pos) or not len(neg):
        return True
    return bool(neg.max() <= pos.min() or pos.max() <= neg.min())


def source_summary(
    pairs: Iterable[PairRecord], source: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> SourceSummary:
    """One source's verdicts on pairs that all compare the same sessions (a, b).

    `source` is "human" or a judge's name. Stale pairs are left out. See SourceSummary
    for what each number means."""
    kept = [p for p in pairs if not p.stale]
    names = {(p.a, p.b) for p in kept}
    if len(names) > 1:
        raise ValueError(f"source_summary takes one pair of sessions, got {sorted(names)}")
    a, b = next(iter(names)) if names else ("", "")

    wins_a = wins_b = ties = both_bad = errors = 0
    win: dict[str, list[float]] = {}
    flip: dict[str, list[float]] = {}
    first: dict[str, list[float]] = {}
    longer: dict[str, list[float]] = {}
    diffs: list[float] = []
    values: list[float] = []
    items: list[str] = []
    for pair in kept:
        if source != HUMAN:
            judge = pair.judges.get(source)
            if judge is not None and judge.verdict == "error":
                errors += 1
            if judge is not None:
                _judge_biases(pair, judge, flip, first)
        verdict = _verdict(pair, source)
        if verdict is None:
            continue
        wins_a += verdict == "a"
        wins_b += verdict == "b"
        ties += verdict in ("tie", "both_bad")
        both_bad += verdict == "both_bad"
        win.setdefault(pair.item, []).append(_value(verdict))
        diffs.append(pair.len_b - pair.len_a)
        values.append(_value(verdict))
        items.append(pair.item)
        if verdict in _DECISIVE and abs(pair.len_b - pair.len_a) > LONGER_MARGIN:
            chose_longer = (verdict == "b") == (pair.len_b > pair.len_a)
            longer.setdefault(pair.item, []).append(float(chose_longer))
        if source == HUMAN and verdict in _DECISIVE and pair.human_first in _DECISIVE:
            first.setdefault(pair.item, []).append(float(verdict == pair.human_first))

    win_rate, n, win_ci = _rate(win, resamples, seed)
    lc, lc_ci, lc_warning = length_controlled(diffs, values, items, resamples=resamples, seed=seed)
    flip_rate, flip_n, flip_ci = _rate(flip, resamples, seed)
    first_rate, first_n, first_ci = _rate(first, resamples, seed)
    longer_rate, longer_n, longer_ci = _rate(longer, resamples, seed)
    if source == HUMAN:
        flip_rate, flip_n, flip_ci = None, 0, None  # one vote per pair: nothing can flip
    return SourceSummary(
        source=source, a=a, b=b, n=n, wins_a=wins_a, wins_b=wins_b, ties=ties, both_bad=both_bad,
        errors=errors, win_rate_b=win_rate, win_rate_b_ci=win_ci, lc_win_rate_b=lc,
        lc_win_rate_b_ci=lc_ci, lc_warning=lc_warning,
        flip_rate=flip_rate, flip_rate_n=flip_n, flip_rate_ci=flip_ci,
        first_position_rate=first_rate, first_position_rate_n=first_n, first_position_rate_ci=first_ci,
        prefer_longer_rate=longer_rate, prefer_longer_rate_n=longer_n, prefer_longer_rate_ci=longer_ci,
    )  # fmt: skip


def _judge_biases(
    pair: PairRecord, judge: JudgeRecord, flip: dict[str, list[float]], first: dict[str, list[float]]
) -> None:
    """A judge's position bias on one pair: whether its two orders disagree (both parsed),
    and for each decisive single-order verdict whether it chose the answer shown first."""
    if judge.ab is not None and judge.ba is not None:
        flip.setdefault(pair.item, []).append(float(judge.ab != judge.ba))
    if judge.ab in _DECISIVE:  # A shown first
        first.setdefault(pair.item, []).append(float(judge.ab == "a"))
    if judge.ba in _DECISIVE:  # B shown first
        first.setdefault(pair.item, []).append(float(judge.ba == "b"))


# ---------------------------------------------------------------------------------------
# Human against judge.


def _kappas(human: np.ndarray, judge: np.ndarray, weights: Sequence[np.ndarray | None]) -> list[float | None]:
    """scikit-learn's Cohen's kappa on a/b labels, once per weighting of the same rows;
    None where undefined (it warns and returns nan). One warnings and config context for
    the lot: a bootstrap calls this a thousand times, and scikit-learn's own parameter
    checks are a tenth of each call."""
    import_sklearn()
    import sklearn
    from sklearn.metrics import cohen_kappa_score

    out: list[float | None] = []
    with warnings.catch_warnings(), sklearn.config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore")
        for weight in weights:
            value = float(cohen_kappa_score(human, judge, labels=list(_DECISIVE), sample_weight=weight))
            out.append(value if math.isfinite(value) else None)
    return out


def human_judge_agreement(
    pairs: Iterable[PairRecord], judge: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> PairAgreement:
    """The human against `judge` on the non-stale pairs where both chose a side.

    agreement is the share of equal choices; kappa is scikit-learn's cohen_kappa_score
    (None when undefined: both always chose the same side). Each has a 95% percentile
    interval from resampling pairs with a seeded numpy Generator, leaving out the
    resamples where kappa is undefined."""
    kept = [p for p in pairs if not p.stale]
    names = sorted({(p.a, p.b) for p in kept})
    a, b = names[0] if len(names) == 1 else ("", "")
    combos = [(x, y) for x in _DECISIVE for y in _DECISIVE]
    counts = [0] * len(combos)
    for pair in kept:
        verdict = _verdict(pair, judge)
        if pair.human in _DECISIVE and verdict in _DECISIVE:
            counts[combos.index((pair.human, verdict))] += 1
    n = sum(counts)
    if not n:
        return PairAgreement(judge, a, b, 0, None, None, None, None)
    agreement, agreement_ci, kappa, kappa_ci = _agreement_numbers(tuple(counts), resamples, seed)
    return PairAgreement(judge, a, b, n, agreement, agreement_ci, kappa, kappa_ci)


@functools.lru_cache(maxsize=512)
def _agreement_numbers(
    counts: tuple[int, ...], resamples: int, seed: int
) -> tuple[float, Interval | None, float | None, Interval | None]:
    """Agreement and kappa with their intervals from the (human, judge) count table
    (a-a, a-b, b-a, b-b).

    The pairs are taken in that fixed order, so the numbers depend on the counts alone
    and are cached: the console recomputes its summary after every vote, and a judge's
    kappa interval (a thousand scikit-learn calls, about a second) is only redone when
    its table changed. A resample only changes how often each combination occurs, so
    each is scored as the four combinations with those counts as sample weights, and
    equal tables are scored once."""
    combos = [(x, y) for x in _DECISIVE for y in _DECISIVE]
    cell = np.repeat(np.arange(len(combos)), counts)
    n = len(cell)
    xs = np.array([x for x, _ in combos])
    ys = np.array([y for _, y in combos])
    equal = (xs[cell] == ys[cell]).astype(float)
    agreement = float(equal.mean())
    agreement_ci = _ratio_ci(equal, np.ones(n), resamples, seed)
    kappa = _kappas(xs[cell], ys[cell], [None])[0]
    kappa_ci: Interval | None = None
    if n >= 2:
        rng = np.random.default_rng(seed)
        draws = cell[rng.integers(0, n, size=(resamples, n))]
        tables = np.stack([(draws == c).sum(axis=1) for c in range(len(combos))], axis=1)
        # Every resampled 2x2 table at once, as scikit-learn computes kappa from its
        # confusion matrix (scorers/stats/agreement.py; tested equal to cohen_kappa_score on
        # thousands of tables): a thousand scikit-learn calls took a second per judge.
        from sftscope.scorers.stats.agreement import kappa_from_tables

        scored = kappa_from_tables(tables.reshape(-1, 2, 2), None)
        kappa_ci = _percentile_ci(scored)
    return agreement, agreement_ci, kappa, kappa_ci


# ---------------------------------------------------------------------------------------
# Bradley-Terry.


def bradley_terry(
    pairs: Iterable[PairRecord],
    source: str,
    sessions: Sequence[str],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> list[Rating]:
    """Bradley-Terry ratings of `sessions` from `source`'s verdicts, best first.

    As Chatbot Arena computes them: a logistic regression without intercept or penalty on
    the design matrix with +log(10) for one session and -log(10) for the other, a win as
    one row and a tie (or the human's both_bad) as two half-weight rows, one each way;
    rating = 1000 + 400 × coefficient, anchored so the ratings' plain mean is 1000 (the
    promise of docs/comparing.md, whatever the design: a --baseline comparison included). The
    resamples are centred on their mean weighted by comparisons, then moved by the same
    offset as the point estimate: a session compared on a handful of items swings wildly
    from resample to resample, and centring each resample on the plain mean would drag
    every other session's interval along with it. Fitted with scipy.optimize on the
    log-likelihood (the same model scikit-learn's LogisticRegression fits; the tests check
    they agree), because the 95% intervals refit it on `resamples` resamples of items
    (every pair of an item drawn together), all in one vectorised call.

    Sessions with no comparison from this source are left out; with a single item there
    is nothing to resample and the interval is the degenerate [rating, rating]. When some
    sessions won or lost every comparison linking them to the rest, no finite fit exists:
    the ratings are held within ±1200 points of the start and flagged `unbounded`."""
    from scipy.sparse.csgraph import connected_components
    from scipy.stats import rankdata

    index = {name: i for i, name in enumerate(sessions)}
    p = len(sessions)
    couples = [(i, j) for i in range(p) for j in range(i + 1, p)]
    couple = {c: k for k, c in enumerate(couples)}
    # One row per couple of sessions (i < j): +log(10) for i, -log(10) for j; its trials
    # are the comparisons of the two, its successes i's wins plus half the ties.
    design = np.zeros((len(couples), p))
    for k, (i, j) in enumerate(couples):
        design[k, i], design[k, j] = math.log(BT_BASE), -math.log(BT_BASE)

    trials: dict[str, np.ndarray] = {}  # item -> comparisons per couple
    wins: dict[str, np.ndarray] = {}  # item -> the first session's wins per couple
    n = np.zeros(p, dtype=int)
    beat = np.zeros((p, p))  # beat[i, j] > 0: i won or tied against j at least once
    for pair in pairs:
        verdict = _verdict(pair, source)
        if pair.stale or verdict is None or pair.a not in index or pair.b not in index or pair.a == pair.b:
            continue
        i, j = index[pair.a], index[pair.b]
        first_won = {"a": 1.0, "b": 0.0}.get(verdict, 0.5)  # pair.a's share of the win
        if i > j:
            i, j, first_won = j, i, 1.0 - first_won
        k = couple[(i, j)]
        trials.setdefault(pair.item, np.zeros(len(couples)))[k] += 1.0
        wins.setdefault(pair.item, np.zeros(len(couples)))[k] += first_won
        beat[i, j] += first_won
        beat[j, i] += 1.0 - first_won
        n[i] += 1
        n[j] += 1
    rated = [i for i in range(p) if n[i]]
    if not rated:
        return []
    item_trials = np.array(list(trials.values()))  # (items, couples)
    item_wins = np.array(list(wins.values()))
    point = _fit_logistic(
        design, item_trials.sum(0, keepdims=True), item_wins.sum(0, keepdims=True), BT_BOUND
    )[0]
    if resamples > 0 and len(trials) > 1:
        counts = _resample_counts(len(trials), resamples, seed)
        boot = _fit_logistic(design, counts @ item_trials, counts @ item_wins, BT_BOUND, point)
    else:
        boot = point[None, :]

    share = n[rated] / n[rated].sum()

    def ratings(coef: np.ndarray) -> np.ndarray:
        kept = coef[..., rated]
        return BT_INIT + BT_SCALE * (kept - (kept * share).sum(axis=-1, keepdims=True))

    value = ratings(point)
    offset = BT_INIT - float(value.mean())  # the plain mean at 1000; widths unchanged
    value = value + offset
    low, high = np.percentile(ratings(boot) + offset, [2.5, 97.5], axis=0)
    sub = beat[np.ix_(rated, rated)] > 0
    components, _ = connected_components(sub, directed=True, connection="strong")
    unbounded = components > 1
    ranks = rankdata(-np.round(value, 6), method="min")
    out = [
        Rating(
            sessions[s], float(value[k]), float(low[k]), float(high[k]), int(ranks[k]), int(n[s]), unbounded
        )
        for k, s in enumerate(rated)
    ]
    return sorted(out, key=lambda r: (r.rank, r.session))


# ---------------------------------------------------------------------------------------
# The whole comparison.


def summarize(
    pairs: Iterable[PairRecord], *, resamples: int = RESAMPLES, seed: int = SEED
) -> ComparisonSummary:
    """Every number of a comparison: per pair of sessions (a, b), in the order first seen,
    a SourceSummary for the human and each judge seen, and the human against each judge;
    with three or more sessions, Bradley-Terry ratings per source. Stale pairs are counted
    in `stale` and left out of everything else."""
    records = list(pairs)
    kept = [p for p in records if not p.stale]
    groups: dict[tuple[str, str], list[PairRecord]] = {}
    for pair in kept:
        groups.setdefault((pair.a, pair.b), []).append(pair)
    judges = list(dict.fromkeys(name for p in kept for name in p.judges))
    sessions = tuple(dict.fromkeys(name for p in kept for name in (p.a, p.b)))
    summaries = []
    for (a, b), group in groups.items():
        sources = {
            source: source_summary(group, source, resamples=resamples, seed=seed)
            for source in (HUMAN, *judges)
        }
        agreement = {
            judge: human_judge_agreement(group, judge, resamples=resamples, seed=seed) for judge in judges
        }
        summaries.append(SessionPairSummary(a, b, len(group), sources, agreement))
    ratings: dict[str, list[Rating]] = {}
    if len(sessions) >= 3:
        for source in (HUMAN, *judges):
            found = bradley_terry(kept, source, sessions, resamples=resamples, seed=seed)
            if found:
                ratings[source] = found
    return ComparisonSummary(sessions, tuple(summaries), ratings, len(records) - len(kept))
