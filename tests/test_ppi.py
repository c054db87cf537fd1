"""PPI++ estimates of a mean (scorers/stats/ppi.py): the same numbers as the authors'
package `ppi-python` on many seeded data sets (point estimate within 1e-6, interval ends
within 1e-3), a simulation of 500 seeded sessions (a judge agreeing on 70% of items gives
a narrower interval that still covers the true rate; a judge unrelated to the labels gives
no gain and no bias; labels chosen where the judge said yes break coverage, which is why
the sample must be random), the degenerate cases (never NaN), and "how many more labels".

ppi-python lives in its own venv, .venv-ppi (`make test` builds it): it pulls numba and
installs a top-level package named `tests`, which must never shadow this project's. The
comparison runs in ONE subprocess there, every data set passed as JSON. Without that venv
the comparison is skipped saying how to build it, except under CI (env CI set), where it
fails: CI runs `make test`, which builds it, so a missing venv there is a broken build.
SFTSCOPE_PPI_PYTHON names another interpreter with ppi-python (a path that does not exist:
none, to see the skip)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sftscope.scorers.stats.ppi import NoPPI, PPIEstimate, labels_needed, ppi_mean

ROOT = Path(__file__).resolve().parent.parent
BUILD = (
    "make .venv-ppi/.ppi-installed (python3 -m venv .venv-ppi && .venv-ppi/bin/pip install ppi-python==0.2.3)"
)

REFERENCE = """
import json, sys
import numpy as np
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate
out = []
for case in json.load(sys.stdin):
    y, f, fu = (np.asarray(case[k], dtype=float) for k in ("y", "f", "fu"))
    point = ppi_mean_pointestimate(y, f, fu)
    low, high = ppi_mean_ci(y, f, fu, alpha=0.05)
    out.append([float(np.ravel(point)[0]), float(np.ravel(low)[0]), float(np.ravel(high)[0])])
json.dump(out, sys.stdout)
"""


def _reference_python() -> Path | None:
    given = os.environ.get("SFTSCOPE_PPI_PYTHON")
    path = Path(given) if given is not None else ROOT / ".venv-ppi" / "bin" / "python"
    return path if path.exists() else None


def _agreeing(rng: np.random.Generator, y: np.ndarray, agree: float) -> np.ndarray:
    """A yes/no judge that gives your label on `agree` of the items, the other one elsewhere."""
    return np.where(rng.random(y.size) < agree, y, 1 - y)


def _judge(rng: np.random.Generator, y: np.ndarray, kind: str) -> np.ndarray:
    """A yes/no judge: right on 70% of items, unrelated to the labels (a coin), or biased
    (yes whenever you say yes, and on half the rest)."""
    if kind == "agree70":
        return _agreeing(rng, y, 0.7)
    coin = (rng.random(y.size) < 0.5).astype(float)
    return coin if kind == "unrelated" else np.maximum(y, coin)


def _datasets() -> list[dict[str, Any]]:
    """Yes/no and 1–5 scales; n from 5 to 400, N from 1 to 3,000; judges that agree on 70%
    of items, that are noisy on a scale, that are biased, and that are unrelated to the labels."""
    rng = np.random.default_rng(17)
    cases: list[dict[str, Any]] = []
    for n in (5, 10, 30, 100, 400):
        for big_n in (1, 20, 300, 3000):
            for kind in ("agree70", "unrelated", "scale", "scale_unrelated", "biased"):
                total = n + big_n
                if kind.startswith("scale"):
                    y = rng.integers(1, 6, total).astype(float)
                    f = (
                        rng.integers(1, 6, total).astype(float)
                        if kind == "scale_unrelated"
                        else np.clip(y + rng.integers(-1, 2, total), 1, 5).astype(float)
                    )
                else:
                    y = (rng.random(total) < 0.6).astype(float)
                    f = _judge(rng, y, kind)
                if np.ptp(y[:n]) == 0 or np.ptp(f) == 0:
                    y[0] = 1 - y[0] if not kind.startswith("scale") else (y[0] % 5) + 1
                    f[0] = 1 - f[0] if not kind.startswith("scale") else (f[0] % 5) + 1
                cases.append({"kind": kind, "y": y[:n].tolist(), "f": f[:n].tolist(), "fu": f[n:].tolist()})
    return cases


def test_equals_ppi_python() -> None:
    python = _reference_python()
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI without ppi-python's venv (make test builds it): {BUILD}")
        pytest.skip(f"ppi-python's separate venv is missing: {BUILD}")
    cases = _datasets()
    done = subprocess.run(
        [str(python), "-I", "-c", REFERENCE],
        input=json.dumps(cases), capture_output=True, text=True, timeout=120, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    reference = json.loads(done.stdout)
    assert len(reference) == len(cases) == 100
    lams = []
    for case, (point, low, high) in zip(cases, reference, strict=True):
        ours = ppi_mean(case["y"], case["f"], case["fu"])
        assert isinstance(ours, PPIEstimate), case["kind"]
        assert abs(ours.estimate - point) <= 1e-6, (case["kind"], ours.estimate, point)
        assert abs(ours.ci[0] - low) <= 1e-3, (case["kind"], ours.ci, low)
        assert abs(ours.ci[1] - high) <= 1e-3, (case["kind"], ours.ci, high)
        lams.append(ours.lam)
    # The data sets exercise the clip at 0 and tuned values in between, not just lambda = 1.
    assert min(lams) == 0.0 and any(0.2 < lam < 1.0 for lam in lams)


def test_reference_venv_is_separate() -> None:
    """ppi-python is not importable in this project's venv (its `tests` cannot shadow ours)."""
    import importlib.util

    assert importlib.util.find_spec("ppi_py") is None
    import tests

    assert [Path(p).resolve() for p in tests.__path__] == [ROOT / "tests"]


def _simulate(
    sessions: int, n: int, big_n: int, judge: str, seed: int, rate: float = 0.6
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`sessions` synthetic sessions of n random labels and N more judged items, each
    drawn with a true yes rate of `rate`; returns PPI covered, human-only covered, the
    width ratio PPI/human-only and n_effective / n per session."""
    rng = np.random.default_rng(seed)
    covered, classical_covered, ratio, gain = [], [], [], []
    for _ in range(sessions):
        y = (rng.random(n + big_n) < rate).astype(float)
        f = _judge(rng, y, judge)
        est = ppi_mean(y[:n], f[:n], f[n:])
        assert isinstance(est, PPIEstimate)
        assert all(math.isfinite(v) for v in (est.estimate, *est.ci, est.lam))
        covered.append(est.ci[0] <= rate <= est.ci[1])
        classical_covered.append(est.classical_ci[0] <= rate <= est.classical_ci[1])
        ratio.append((est.ci[1] - est.ci[0]) / (est.classical_ci[1] - est.classical_ci[0]))
        assert est.n_effective is not None
        gain.append(est.n_effective / n)
    return np.array(covered), np.array(classical_covered), np.array(ratio), np.array(gain)


def test_simulation_judge_agreeing_on_70_percent() -> None:
    """500 sessions, 200 random labels and 1,800 more judged items, a judge right on 70% of
    items: the PPI interval is narrower than the human-only one on average and covers the
    true rate in at least 93% of sessions (over 5,000 sessions: 94.9%, width ratio 0.925,
    n_effective 1.17 n; at 100 labels the CLT interval's coverage is 93.9%, too close to
    the bar for 500 sessions to clear it on every seed)."""
    covered, classical_covered, ratio, gain = _simulate(500, 200, 1800, "agree70", seed=1)
    assert covered.mean() >= 0.93, covered.mean()
    assert ratio.mean() < 0.95, ratio.mean()
    assert gain.mean() > 1.1
    print(f"agree70: coverage {covered.mean():.3f} (human-only {classical_covered.mean():.3f}), "
          f"width ratio {ratio.mean():.3f}, n_effective/n {gain.mean():.2f}")  # fmt: skip


def test_simulation_unrelated_judge_gives_no_gain_and_no_bias() -> None:
    """A judge unrelated to the labels: n_effective ≈ n (lambda near 0) and the interval
    still covers: no gain, never a biased number. A biased judge (yes far too often) still
    covers, as the rectifier measures its bias on the sample."""
    covered, _, ratio, gain = _simulate(500, 200, 1800, "unrelated", seed=2)
    assert covered.mean() >= 0.93
    assert 0.97 <= gain.mean() <= 1.05 and gain.max() < 1.25, (gain.mean(), gain.max())
    assert ratio.mean() > 0.97
    covered, _, _, _ = _simulate(500, 200, 1800, "biased", seed=3)
    assert covered.mean() >= 0.93


def test_chosen_labels_break_coverage() -> None:
    """The negative case: labels chosen where the judge said yes (not a random sample) move
    the rectifier, and the interval misses the true rate: why only the random sample counts."""
    rng = np.random.default_rng(4)
    misses = 0
    for _ in range(200):
        y = (rng.random(1000) < 0.6).astype(float)
        f = _agreeing(rng, y, 0.7)
        chosen = np.flatnonzero(f == 1)[:100]
        rest = np.setdiff1d(np.arange(1000), chosen)
        est = ppi_mean(y[chosen], f[chosen], f[rest])
        assert isinstance(est, PPIEstimate)
        misses += not est.ci[0] <= 0.6 <= est.ci[1]
    assert misses / 200 > 0.5


def test_degenerate_cases_never_nan() -> None:
    assert ppi_mean([], [], [1.0, 0.0]) == NoPPI("too_few_labels", 0, 2)
    assert ppi_mean([1.0], [1.0], [1.0, 0.0]) == NoPPI("too_few_labels", 1, 2)
    # Every label the same and a judge that says nothing about it: a zero-width interval.
    assert ppi_mean([1.0] * 12, [1.0, 0.0] * 6, [1.0, 0.0] * 50) == NoPPI("no_variance", 12, 100)
    # No unlabelled items: the human-only estimate (lambda 0), where ppi-python gives NaN.
    alone = ppi_mean([1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0], [])
    assert isinstance(alone, PPIEstimate)
    assert alone.lam == 0.0 and alone.estimate == 0.75 and alone.n_effective == 4
    # A judge that never varies: no weight (ppi-python divides 0 by 0).
    flat = ppi_mean([1.0, 0.0, 1.0, 1.0], [1.0] * 4, [1.0] * 30)
    assert isinstance(flat, PPIEstimate) and flat.lam == 0.0 and flat.ci == alone.ci
    # Labels all the same but the judge weighted: an interval, no n_effective (0 / 0).
    same = ppi_mean([1.0] * 10, [1.0] * 9 + [0.0], [1.0, 0.0] * 20)
    assert isinstance(same, (PPIEstimate, NoPPI))
    if isinstance(same, PPIEstimate):
        assert same.n_effective is None
    with pytest.raises(ValueError):
        ppi_mean([1.0, 0.0], [1.0], [1.0])
    with pytest.raises(ValueError):
        ppi_mean([1.0, math.nan], [1.0, 0.0], [1.0])


def test_lambda_zero_is_the_human_only_interval() -> None:
    """A judge whose errors run against your labels is clipped to lambda 0: exactly the
    human-only estimate and interval, n_effective = n."""
    y = [1.0, 0.0] * 10
    est = ppi_mean(y, [0.0, 1.0] * 10, [0.0, 1.0] * 100)
    assert isinstance(est, PPIEstimate)
    assert est.lam == 0.0 and est.estimate == est.classical and est.ci == est.classical_ci
    assert est.n_effective == 20


def test_labels_needed() -> None:
    """About m more labels reach ±0.05: the projection at n + m (and N - m) meets it, at
    m - 1 it does not; labelling the same population that much more does reach about 0.05."""
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.6).astype(float)
    f = _agreeing(rng, y, 0.9)
    est = ppi_mean(y[:60], f[:60], f[60:])
    assert isinstance(est, PPIEstimate) and est.half_width > 0.05
    more = labels_needed(est)
    assert more is not None and 0 < more < 2940
    later = ppi_mean(y[: 60 + more], f[: 60 + more], f[60 + more :])
    assert isinstance(later, PPIEstimate)
    assert abs(later.half_width - 0.05) < 0.01, (more, later.half_width)
    # Already there: 0. A wider target needs fewer labels.
    assert labels_needed(est, half_width=est.half_width + 1e-9) == 0
    assert (labels_needed(est, half_width=0.08) or 0) < more
    # Unreachable: 40 judged items cannot give ±0.05 on a yes/no rate (None, not a guess).
    small = ppi_mean(y[:20], f[:20], f[20:40])
    assert isinstance(small, PPIEstimate) and labels_needed(small) is None
