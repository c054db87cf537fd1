"""The report's prediction-powered estimates (sessions/report/ppi.py) on real sessions
written through the Session writer: the JSON's fixed keys equal scorers.stats.ppi on the
same arrays (your random-sample labels, the judge on them, the judge on every other item it
judged, chosen labels left out), text, Markdown and HTML show them, a session written
before labels recorded their sample says it has no random sample, and the negative cases
(only chosen labels, a sample under MIN_N, a comparison's votes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from compare_helpers import write_run_session
from sftscope.scorers.stats.intervals import MIN_N
from sftscope.scorers.stats.ppi import PPIEstimate, ppi_mean
from sftscope.sessions.report.layout import fmt, fmt_ci
from sftscope.sessions.report.ppi import NO_SAMPLE_CHOSEN, NO_SAMPLE_OLD
from test_report_cli import judged_comparison, labelled_run

N = 120


def build(*directories: Path) -> dict[str, Any]:
    from sftscope.sessions.report.document import build_report

    return json.loads(json.dumps(build_report(list(directories), resamples=200, seed=0).to_dict()))


def sampled_run(directory: Path, random: int = 40, chosen: int = 10) -> tuple[Path, dict[str, Any]]:
    """N items; your labels on the first `random` (walking the random order) and on
    `chosen` more (after a jump); judge "qwen" agrees with you on about 70% of items, "coin"
    is unrelated to your labels; both judge every item. Returns the arrays PPI should read."""
    from sftscope.sessions.core.events import Judged
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    write_run_session(directory, {str(i): f"answer {i}" for i in range(N)})
    rng = np.random.default_rng(7)
    truth = rng.random(N) < 0.6
    qwen = np.where(rng.random(N) < 0.7, truth, ~truth)
    coin = rng.random(N) < 0.5
    scale = rng.integers(1, 6, N)
    scale_judge = np.clip(scale + rng.integers(-1, 2, N), 1, 5)
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    for i in range(N):
        item = str(i)
        session.record(Judged(item, "qwen", {"harmless": bool(qwen[i]), "helpfulness": int(scale_judge[i])}))
        session.record(Judged(item, "coin", {"harmless": bool(coin[i]), "helpfulness": 3}))
        if i < random + chosen:
            sample = "random" if i < random else "chosen"
            session.score(item, "harmless", bool(truth[i]), sample=sample)
            session.score(item, "helpfulness", int(scale[i]), sample=sample)
    store.close(status="complete")
    arrays = {"harmless": (truth.astype(float), {"qwen": qwen.astype(float), "coin": coin.astype(float)})}
    arrays["helpfulness"] = (scale.astype(float), {"qwen": scale_judge.astype(float)})
    return directory, {"random": random, **arrays}


def test_run_ppi_equals_scorers_stats(tmp_path: Path) -> None:
    directory, arrays = sampled_run(tmp_path / "run")
    doc = build(directory)
    k = arrays["random"]
    for criterion, key in (("harmless", "rate"), ("helpfulness", "mean")):
        entry = doc["criteria"][criterion]
        assert entry["n_random"] == k and "ppi_note" not in entry
        human, judges = arrays[criterion]
        for judge, values in judges.items():
            got = entry["ppi"][judge]
            assert set(got) >= {"n_random", "n_judged", key, "ci", "lambda", "n_effective"}
            # The chosen labels (items k..k+9) are not in the sample: their items are unlabelled.
            want = ppi_mean(human[:k], values[:k], values[k:])
            assert isinstance(want, PPIEstimate)
            assert got["n_random"] == k and got["n_judged"] == N
            assert got[key] == want.estimate and got["ci"] == list(want.ci)
            assert got["lambda"] == want.lam and got["n_effective"] == want.n_effective
    # The helpfulness judge "coin" always says 3: no variance, no weight (lambda 0).
    assert doc["criteria"]["helpfulness"]["ppi"]["coin"]["lambda"] == 0.0


def test_every_format_shows_it(tmp_path: Path) -> None:
    from sftscope.tui.render.report import render_html, render_markdown, render_text

    directory, _ = sampled_run(tmp_path / "run")
    doc = build(directory)
    got = doc["criteria"]["harmless"]["ppi"]["qwen"]
    number, interval = fmt(got["rate"]), fmt_ci(got["ci"])
    text = render_text(doc, width=120)
    assert "harmless: prediction-powered (your 40 random-sample labels + a judge)" in text
    for drawn in (text, render_markdown(doc), render_html(doc)):
        assert number in drawn and interval in drawn and f"≈ {got['n_effective']:.0f}" in drawn
        assert "prediction-powered" in drawn


def test_old_session_has_no_random_sample(tmp_path: Path) -> None:
    from sftscope.tui.render.report import render_text

    doc = build(labelled_run(tmp_path / "old"))
    for criterion in ("helpfulness", "harmless"):
        entry = doc["criteria"][criterion]
        assert entry["n_random"] == 0 and entry["ppi"] == {} and entry["ppi_note"] == NO_SAMPLE_OLD
    assert "no random sample: these labels were written before" in " ".join(
        render_text(doc, width=200).split()
    )
    # The checked-in session of an older version too.
    v2 = build(Path(__file__).parent / "data" / "v2-session")
    assert all(c.get("n_random", 0) == 0 for c in v2["criteria"].values())


def test_only_chosen_labels_and_a_small_sample(tmp_path: Path) -> None:
    from sftscope.tui.render.report import render_text

    chosen = build(sampled_run(tmp_path / "chosen", random=0, chosen=30)[0])
    assert chosen["criteria"]["harmless"]["ppi"] == {}
    assert chosen["criteria"]["harmless"]["ppi_note"] == NO_SAMPLE_CHOSEN
    small = build(sampled_run(tmp_path / "small", random=MIN_N - 2, chosen=5)[0])
    got = small["criteria"]["harmless"]["ppi"]["qwen"]
    assert got["n_random"] == MIN_N - 2 and got["enough"] is False and got["rate"] is not None
    text = render_text(small, width=160)
    lines = text.splitlines()
    at = lines.index(f"harmless: prediction-powered (your {MIN_N - 2} random-sample labels + a judge)")
    row = lines[at + 3]
    assert row.split()[:3] == ["qwen", str(MIN_N - 2), str(N)], row
    assert "n too small" in row and fmt(got["rate"]) not in row
    # A criterion nobody labelled says nothing about a random sample.
    assert small["criteria"]["format"]["n_random"] == 0 and "ppi_note" not in small["criteria"]["format"]
    assert "format: no random sample" not in text


def test_comparison_win_rate(tmp_path: Path) -> None:
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
    from sftscope.sessions.core.events import PairJudged

    a = write_run_session(tmp_path / "A", {str(i): f"short {i}" for i in range(40)})
    b = write_run_session(tmp_path / "B", {str(i): f"a longer answer {i}" for i in range(40)})
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "cmp")))
    votes, verdicts = [], []
    for index, pair in enumerate(comparison.state.ordered()):
        verdict = "b" if index % 4 else "a"
        comparison.session.record(PairJudged(pair.item.id, pair.pair, "qwen", verdict, verdict, verdict))
        verdicts.append({"a": 0.0, "b": 1.0}[verdict])
        if index < 24:
            choice = ("b", "tie", "a", "both_bad")[index % 4] if index % 3 else verdict
            comparison.session.prefer(pair.pair, choice, sample="random")
            votes.append({"a": 0.0, "b": 1.0}.get(choice, 0.5))
    comparison.close("stopped")
    doc = build(tmp_path / "cmp")
    got = doc["comparison"]["ppi"]["qwen"]
    want = ppi_mean(votes, verdicts[:24], verdicts[24:])
    assert isinstance(want, PPIEstimate)
    assert doc["comparison"]["n_random"] == 24 and got["n_random"] == 24 and got["n_judged"] == 40
    assert got["win_rate_b"] == want.estimate and got["win_rate_b_ci"] == list(want.ci)
    assert got["lambda"] == want.lam and got["n_effective"] == want.n_effective
    assert doc["comparison"]["groups"][0]["ppi"] == doc["comparison"]["ppi"]
    # A comparison whose votes record no sample (written before): none, and it says why.
    old = build(judged_comparison(tmp_path / "old"))
    assert old["comparison"]["ppi"] == {} and old["comparison"]["ppi_note"] == NO_SAMPLE_OLD


def test_without_a_judge_the_report_still_says_how_many_labels_are_random(tmp_path: Path) -> None:
    """Issue 17 §1: the report states each criterion's random-sample count even when no
    judge scored it (nothing to combine); a criterion with only chosen labels says so."""
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore
    from sftscope.sessions.report.document import build_report
    from sftscope.tui.render.report import render_text

    directory = write_run_session(tmp_path / "run", {str(i): f"answer {i}" for i in range(12)})
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    for i in range(12):
        session.score(str(i), "harmless", i % 3 > 0, sample="random" if i < 7 else "chosen")
        session.score(str(i), "format", True, sample="chosen")
    store.close(status="complete")
    doc = json.loads(json.dumps(build_report([directory], resamples=200, seed=0).to_dict()))
    assert doc["criteria"]["harmless"]["n_random"] == 7
    text = render_text(doc, width=100)
    assert "harmless: 7 of your labels are in the random sample" in text
    assert "format: no random sample: every label was chosen" in text
    assert "format: 0 of your labels" not in text
