"""Issue 14, the numbers' part: honest intervals (Wilson where the bootstrap has nothing to
say, one resample count and seed, one "n too small" rule), judges' failures in every
report format, report text that is inert, and Bradley-Terry ratings that average 1000.

Real sessions written through the real Session writer, the real build_report and the
real renderers; each test has the case that must stay as it was beside the one fixed."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sftscope.scorers.intervals import TOO_SMALL, figure_text
from sftscope.scorers.stats import agreement as agreement_module
from sftscope.scorers.stats import intervals as intervals_module
from sftscope.scorers.stats import pairwise as compare_stats
from sftscope.scorers.stats.aggregates import level_means, rate_of
from sftscope.scorers.stats.agreement import agreement_stats
from sftscope.scorers.stats.intervals import MIN_N, RESAMPLES, SEED, proportion_interval, wilson_interval
from sftscope.scorers.stats.pairwise import JudgeRecord, PairRecord, bradley_terry, source_summary, summarize
from sftscope.sessions.compare.summary import comparison_lines, summary_lines
from sftscope.sessions.report import layout as report_render
from sftscope.sessions.report.document import build_report
from sftscope.sessions.report.layout import layout, render_json
from sftscope.tui.render.report import render_html, render_markdown, render_text

from tests.compare_helpers import write_run_session

RESAMPLED = 300  # enough for the properties checked here
HOSTILE = "evil\x1b[2J\x1b[H\x1b[31mFAKE\x1b]0;pwned\x07|x\nrow"


# ---------------------------------------------------------------------------------------
# Real sessions.


def run_with_labels(
    directory: Path,
    *,
    n: int = 16,
    harmless: list[bool] | None = None,
    judge: str = "qwen",
    judge_fails: int = 0,
    dead_judge: str | None = None,
    category: str | None = None,
) -> Path:
    """A finished run session of `n` items: the human's helpfulness and harmless labels,
    one judge (its first `judge_fails` judgments failed with a parse error), and
    optionally a judge that failed on every item."""
    from sftscope.sessions.core.events import Judged, Scored
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    write_run_session(directory, {str(i): "word " * (3 + i) for i in range(n)})
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    harmless = harmless if harmless is not None else [True] * n
    for i in range(n):
        item = str(i)
        session.record(Scored(item, "helpfulness", 1 + i % 5))
        session.record(Scored(item, "harmless", harmless[i]))
        if i < judge_fails:
            session.record(Judged(item, judge, None, {"error": "parse error: no JSON object"}))
        else:
            session.record(Judged(item, judge, {"helpfulness": 1 + (i + 1) % 5, "harmless": True}))
        if dead_judge is not None:
            session.record(Judged(item, dead_judge, None, {"error": "parse error: no [[rating]]"}))
    store.close(status="complete")
    return directory


def report(*directories: Path) -> dict[str, Any]:
    return json.loads(render_json(build_report(list(directories), resamples=RESAMPLED).to_dict()))


def comparison(tmp_path: Path, *, pairs: int = 14, judge: str = "local", verdict: str = "error") -> Path:
    """A comparison of two real run sessions: the human votes, and `judge` gives `verdict`
    on every pair ("error": it failed on all of them)."""
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
    from sftscope.sessions.core.events import PairJudged

    a = write_run_session(tmp_path / "runA", {str(i): f"short {i}" for i in range(pairs)})
    b = write_run_session(tmp_path / "runB", {str(i): f"a longer answer number {i}" for i in range(pairs)})
    target = tmp_path / "cmp"
    opened = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    for index, pair in enumerate(opened.state.ordered()):
        if verdict == "error":
            extra = {"error": "parse error: no [[A]], [[B]] or [[C]]"}
            opened.session.record(PairJudged(pair.item.id, pair.pair, judge, "error", None, None, extra))
        else:
            opened.session.record(PairJudged(pair.item.id, pair.pair, judge, verdict, verdict, verdict))
        opened.session.prefer(pair.pair, "b" if index % 3 else "a")
    opened.close("stopped")
    return target


# ---------------------------------------------------------------------------------------
# 1. A degenerate proportion never has a zero-width interval.


def test_wilson_is_scipys_and_sixteen_of_sixteen_is_not_one_to_one() -> None:
    from scipy.stats import binomtest

    low, high = wilson_interval(16, 16)
    assert (round(low, 2), high) == (0.81, 1.0)
    expected = binomtest(3, 16).proportion_ci(method="wilson")
    assert wilson_interval(3, 16) == pytest.approx((expected.low, expected.high))
    # Ties counted half: 8.5 of 17 is "between 8 and 9 of 17".
    assert wilson_interval(8.5, 17) == pytest.approx((wilson_interval(8, 17)[0], wilson_interval(9, 17)[1]))
    # The bootstrap's own interval is kept whenever it has a width.
    assert proportion_interval(0.75, 16, (0.5, 0.9)) == (0.5, 0.9)
    assert proportion_interval(1.0, 1, None) is None  # one unit: no interval, as before


def test_a_yes_rate_of_every_item_gets_wilson_not_a_zero_width_interval() -> None:
    all_yes = rate_of([True] * 16, RESAMPLED, 0)
    assert all_yes.rate == 1.0 and all_yes.ci == pytest.approx(wilson_interval(16, 16))
    none = rate_of([False] * 16, RESAMPLED, 0)
    assert none.ci[0] == 0.0 and none.ci[1] == pytest.approx(0.194, abs=1e-3)
    # Negative: a rate that varies keeps the percentile bootstrap, unchanged.
    mixed = [True] * 12 + [False] * 4
    drawn = level_means([1.0] * 12 + [0.0] * 4, RESAMPLED, 0)
    assert rate_of(mixed, RESAMPLED, 0).ci == pytest.approx(tuple(np.percentile(drawn, [2.5, 97.5])))


def test_a_real_report_shows_wilson_for_a_criterion_and_an_error_rate_all_alike(tmp_path: Path) -> None:
    doc = report(run_with_labels(tmp_path / "run"))
    harmless = doc["criteria"]["harmless"]["human"]
    assert harmless["rate"] == 1.0 and harmless["ci"] == pytest.approx(list(wilson_interval(16, 16)))
    health = doc["judge_health"]["qwen"]
    assert health["errors"] == 0 and health["error_rate_ci"] == pytest.approx(list(wilson_interval(0, 16)))
    exact = doc["agreement"]["harmless"]["qwen"]
    assert exact["exact"] == 1.0 and exact["exact_ci"][0] < 0.85  # every item agrees: Wilson
    text = render_text(doc)
    assert "[0.81, 1.00]" in text and "[1.00, 1.00]" not in text and "[0.00, 0.00]" not in text
    # Negative: a rate that varies keeps its bootstrap interval.
    mixed = report(run_with_labels(tmp_path / "mixed", harmless=[True] * 12 + [False] * 4))
    ci = mixed["criteria"]["harmless"]["human"]["ci"]
    assert ci != pytest.approx(list(wilson_interval(12, 16))) and ci[0] < 0.75 < ci[1]


def test_win_and_bias_rates_whose_verdicts_are_all_alike_get_wilson() -> None:
    pairs = [
        PairRecord(f"q{i}", "A", "B", 10, 200, "b", "b" if i % 2 else "a", {"j": JudgeRecord("b", "b", "b")})
        for i in range(16)
    ]
    for source in ("human", "j"):
        s = source_summary(pairs, source, resamples=RESAMPLED)
        assert s.win_rate_b == 1.0 and s.win_rate_b_ci == pytest.approx(wilson_interval(16, 16))
        assert s.prefer_longer_rate == 1.0
        assert s.prefer_longer_rate_ci == pytest.approx(wilson_interval(16, 16))
    judge = source_summary(pairs, "j", resamples=RESAMPLED)
    assert judge.flip_rate == 0.0 and judge.flip_rate_ci == pytest.approx(wilson_interval(0, 16))
    # Every pair a tie: 0.5 everywhere, still an interval with a width.
    ties = [PairRecord(f"q{i}", "A", "B", 10, 10, "tie", "a", {}) for i in range(16)]
    tied = source_summary(ties, "human", resamples=RESAMPLED)
    assert tied.win_rate_b == 0.5 and tied.win_rate_b_ci == pytest.approx(wilson_interval(8, 16))
    # Negative: verdicts that vary keep the bootstrap.
    varied = [PairRecord(f"q{i}", "A", "B", 10, 10, "b" if i % 4 else "a", "a", {}) for i in range(16)]
    s = source_summary(varied, "human", resamples=RESAMPLED)
    assert s.win_rate_b == 0.75 and s.win_rate_b_ci != pytest.approx(wilson_interval(12, 16))
    assert s.win_rate_b_ci[0] < 0.75 < s.win_rate_b_ci[1]


def test_exact_agreement_of_every_item_gets_wilson() -> None:
    same = agreement_stats([3] * 8 + [4] * 8, [3] * 8 + [4] * 8, "likert", (1, 5), resamples=RESAMPLED)
    assert same.exact == 1.0 and same.exact_ci == pytest.approx(wilson_interval(16, 16))
    half = agreement_stats([3] * 16, [3] * 8 + [4] * 8, "likert", (1, 5), resamples=RESAMPLED)
    assert half.exact_ci != pytest.approx(wilson_interval(8, 16))
    assert half.exact_ci[0] < 0.5 < half.exact_ci[1]


# ---------------------------------------------------------------------------------------
# 1b. One resample count and seed, one "n too small" rule.


def test_one_resample_count_and_seed_everywhere() -> None:
    import inspect

    from sftscope.sessions.compare.summary import summary_of
    from sftscope.tui.cli.parser import build_parser
    from sftscope.tui.compare import app as compare_app
    from sftscope.tui.console import app

    assert (RESAMPLES, SEED) == (2000, 0)
    args = build_parser().parse_args(["report", "somewhere"])
    assert (args.resamples, args.seed) == (RESAMPLES, SEED)
    assert app.AGREEMENT_RESAMPLES == app.REPORT_RESAMPLES == compare_app.TALLY_RESAMPLES == RESAMPLES
    for function in (build_report, summarize, summary_of, agreement_stats, bradley_terry, source_summary):
        parameters = inspect.signature(function).parameters
        assert parameters["resamples"].default == RESAMPLES, function
        assert parameters["seed"].default == SEED, function
    # One MIN_N, defined in scorers.stats.intervals and imported from there, never
    # re-exported: the statistics, the report layout and the comparison read the same one.
    root = Path(intervals_module.__file__).parents[2]
    defined = [
        path.relative_to(root).as_posix()
        for folder in ("tui", "sessions", "scorers", "engines")
        for path in (root / folder).rglob("*.py")
        if re.search(r"^MIN_N\s*=|MIN_N as MIN_N", path.read_text(encoding="utf-8"), re.M)
    ]
    assert defined == ["scorers/stats/intervals.py"]
    assert compare_stats.MIN_N is MIN_N and not hasattr(agreement_module, "MIN_N")
    assert not hasattr(report_render, "MIN_N")


def test_every_bias_rate_is_too_small_below_min_n_of_its_own() -> None:
    """Twelve decisive pairs: the win rate shows; the first-position rate rests on four
    votes and the prefer-longer rate on five, so both say "n too small"."""
    pairs = []
    for i in range(12):
        long_b = 200 if i < 5 else 10  # only five pairs differ in length by more than the margin
        first = ("a" if i < 4 else None) if i % 2 == 0 or i < 4 else None
        pairs.append(PairRecord(f"q{i}", "A", "B", 10, long_b, "b" if i % 3 else "a", first, {}))
    summary = summarize(pairs, resamples=RESAMPLED)
    human = summary.groups[0].sources["human"]
    assert human.n == 12 and human.first_position_rate_n == 4 and human.prefer_longer_rate_n == 5
    lines = "\n".join(summary_lines(summary))
    assert f"first position {TOO_SMALL} n=4" in lines and f"prefer longer {TOO_SMALL} n=5" in lines
    assert figure_text(human.win_rate_b, human.win_rate_b_ci, human.n) in lines  # shown at n = 12
    # Negative: from MIN_N on, each rate is shown with its interval.
    many = [PairRecord(f"q{i}", "A", "B", 10, 200, "b" if i % 3 else "a", "a", {}) for i in range(MIN_N)]
    shown = "\n".join(summary_lines(summarize(many, resamples=RESAMPLED)))
    assert TOO_SMALL not in shown and "first position 0.40 [" in shown and "prefer longer 0.60 [" in shown


def test_figure_text_is_the_one_rule() -> None:
    assert figure_text(0.5, (0.3, 0.7), MIN_N) == "0.50 [0.30, 0.70]"
    assert figure_text(0.5, (0.3, 0.7), MIN_N - 1) == TOO_SMALL
    assert figure_text(None, None, MIN_N) == "undefined"
    assert figure_text(0.5, None, 3, shown=True) == "0.50"  # the data's own `enough` wins


# ---------------------------------------------------------------------------------------
# 2. A judge's failures wherever its numbers appear.


def test_a_comparison_report_shows_a_dead_judges_failures_in_every_format(tmp_path: Path) -> None:
    doc = report(comparison(tmp_path, judge="local", verdict="error"))
    source = doc["comparison"]["sources"]["local"]
    assert (source["n"], source["errors"]) == (0, 14)
    text = render_text(doc)
    row = next(line for line in text.splitlines() if line.startswith("local "))
    assert row.split()[:6] == ["local", "0", "0", "0", "0", "14"], row  # n A B tie failed
    assert "local: 14 of 14 pairs failed" in text
    md = render_markdown(doc)
    assert re.search(r"\| local \| 0 \| 0 \| 0 \| 0 \| 14 \|", md), md
    page = render_html(doc)
    assert "<td>local</td>" in page and '<td class="r">14</td>' in page
    assert "local: 14 of 14 pairs failed" in page
    # Negative: a judge that never failed shows 0 and no note.
    ok = report(comparison(tmp_path / "ok", judge="fine", verdict="b"))
    text = render_text(ok)
    row = next(line for line in text.splitlines() if line.startswith("fine "))
    assert row.split()[5] == "0" and "pairs failed" not in text


def test_a_run_report_shows_judges_failures_beside_their_numbers(tmp_path: Path) -> None:
    doc = report(run_with_labels(tmp_path / "run", judge_fails=3, dead_judge="local"))
    for render in (render_text, render_markdown, render_html):
        out = render(doc)
        assert "qwen: 3 of 16 judgments failed (parse 3)" in out, render
        assert "local: 16 of 16 judgments failed (parse 16)" in out, render
    _, sections = layout(doc)
    scores = next(s for s in sections if s.title == "Scores")
    table = scores.blocks[0]
    assert table.columns[-1] == "failed"
    rows = {row[0]: row for row in table.rows}
    assert rows["human"][-1] == "–" and rows["qwen"][-1] == "3" and rows["qwen"][1] == "13"
    assert rows["local"][1:] == ["0", "–", "", "16"]  # a judge with no figure still shows
    # Negative: a judge without failures has 0 in the column and no note anywhere.
    clean = report(run_with_labels(tmp_path / "clean"))
    assert "judgments failed" not in render_text(clean)
    _, sections = layout(clean)
    scores = next(s for s in sections if s.title == "Scores")
    assert {row[0]: row[-1] for row in scores.blocks[0].rows} == {"human": "–", "qwen": "0"}


# ---------------------------------------------------------------------------------------
# 3. Report text is inert.


def test_untrusted_names_are_inert_in_every_report_format(tmp_path: Path) -> None:
    doc = report(run_with_labels(tmp_path / "run", judge=HOSTILE, judge_fails=2))
    assert HOSTILE in doc["judge_health"]  # the data keeps the name as it was
    text = render_text(doc)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil␛[2J␛[H␛[31mFAKE␛]0;pwned␇|x␊row" in text  # the row is not broken
    md = render_markdown(doc)
    assert "\x1b" not in md and "\nrow" not in md
    rows = 0
    lines = md.splitlines()
    for index, line in enumerate(lines):  # every row of a table has its header's cells
        if line.startswith("|") and not lines[index - 1].startswith("|"):
            width = len(_md_cells(line))
        elif line.startswith("|"):
            assert len(_md_cells(line)) == width, line
            rows += line.startswith("| evil")
    assert rows >= 2
    page = render_html(doc)
    assert "\x1b" not in page and "\x07" not in page
    assert html.escape("evil␛[2J␛[H␛[31mFAKE␛]0;pwned␇|x␊row") in page
    raw = render_json(doc)
    assert "\x1b" not in raw and json.loads(raw)["judge_health"][HOSTILE]["errors"] == 2


def _md_cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_json_escapes_c1_controls_and_bidi_marks_but_keeps_the_string() -> None:
    doc = {"name": "a\x9b2Jb\u202ec", "plain": "é ü 日本"}
    raw = render_json(doc)
    assert "\x9b" not in raw and "\u202e" not in raw and "\\u009b" in raw
    assert json.loads(raw) == doc
    assert "é ü 日本" in raw  # negative: ordinary text is written as it is


def test_headless_comparison_lines_are_inert() -> None:
    pairs = [PairRecord(f"q{i}", "A\x1b[2J", "B\nfake", 10, 10, "b", "a", {}) for i in range(12)]
    judged = [PairRecord(p.item, p.a, p.b, 10, 10, "b", "a", {"j\x1b]0;t\x07": JudgeRecord("b", "b", "b")})
              for p in pairs]  # fmt: skip
    summary = summarize(judged, resamples=RESAMPLED)
    for lines in (summary_lines(summary), comparison_lines(summary)):
        assert all("\x1b" not in line and "\n" not in line and "\x07" not in line for line in lines)
    assert summary_lines(summary)[0].startswith("B␊fake (B) against A␛[2J (A)")
    assert any(line.startswith("j␛]0;t␇: B␊fake over A␛[2J: ") for line in comparison_lines(summary))


# ---------------------------------------------------------------------------------------
# 4. Bradley-Terry: the documented anchor.


def test_bradley_terry_of_a_baseline_comparison_averages_1000() -> None:
    """--baseline base: top beats the baseline on every item, mid is even with it. Before,
    the ratings were centred on a mean weighted by comparisons and averaged 1203."""
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(20):
        pairs.append(PairRecord(f"q{i}", "base", "top", 10, 10, "b", "a", {}))
        pairs.append(PairRecord(f"q{i}", "base", "mid", 10, 10, ("a", "b", "tie")[rng.integers(3)], "a", {}))
    ratings = bradley_terry(pairs, "human", ["base", "top", "mid"], resamples=RESAMPLED)
    assert np.mean([r.rating for r in ratings]) == pytest.approx(1000.0)
    assert ratings[0].session == "top" and all(r.ci_low <= r.rating <= r.ci_high for r in ratings)
    # Negative: a design where every pair is compared equally was already at 1000, and
    # the gaps between sessions are what the fit says (400 points per factor of 10).
    even = [PairRecord(f"q{i}", x, y, 10, 10, ("a", "b")[(i + k) % 2], "a", {})
            for i in range(20) for k, (x, y) in enumerate((("p", "q"), ("p", "r"), ("q", "r")))]  # fmt: skip
    rated = bradley_terry(even, "human", ["p", "q", "r"], resamples=RESAMPLED)
    assert np.mean([r.rating for r in rated]) == pytest.approx(1000.0)
    assert max(r.rating for r in rated) - min(r.rating for r in rated) < 1.0


def test_error_and_revision_rates_follow_the_same_n_too_small_rule(tmp_path: Path) -> None:
    few = report(run_with_labels(tmp_path / "few", n=6, judge_fails=2))
    _, sections = layout(few)
    errors = next(s for s in sections if s.title == "Judge health").blocks[0]
    assert errors.rows[0][:4] == ["qwen", "6", "2", TOO_SMALL]  # 2 of 6: no rate at n = 6
    # Negative: from MIN_N judgments on, the rate and its interval are shown.
    many = report(run_with_labels(tmp_path / "many", n=12, judge_fails=2))
    _, sections = layout(many)
    errors = next(s for s in sections if s.title == "Judge health").blocks[0]
    assert errors.rows[0][3].startswith("0.17 [")

