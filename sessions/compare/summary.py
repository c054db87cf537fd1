"""A comparison's numbers as the console line and the headless print show them.

The statistics live in compare_stats (scipy, scikit-learn); this module turns a
comparison's fold into its typed input and the results into text.
"""

from __future__ import annotations

from sftscope.scorers.intervals import RESAMPLES, SEED, figure_text
from sftscope.sessions.compare.comparison import ComparisonState
from sftscope.sessions.compare.stats import (
    HUMAN,
    ComparisonSummary,
    JudgeRecord,
    PairRecord,
    SourceSummary,
    summarize,
)
from sftscope.sessions.core.inert import inert_line


def pair_records(state: ComparisonState) -> list[PairRecord]:
    """Every pair in force, as compare_stats reads it."""
    records = []
    for pair in state.ordered():
        judges = {
            name: JudgeRecord(str(event.get("verdict")), event.get("ab"), event.get("ba"))
            for name, event in pair.judges.items()
        }
        human = pair.human
        records.append(
            PairRecord(
                item=pair.item.id,
                a=pair.a,
                b=pair.b,
                len_a=len(pair.answer_a),
                len_b=len(pair.answer_b),
                human=human,
                human_first=pair.first,
                judges=judges,
            )
        )
    return records


def summary_of(state: ComparisonState, *, resamples: int = RESAMPLES, seed: int = SEED) -> ComparisonSummary:
    """The comparison's numbers with the intervals every screen shows (scorers.intervals'
    resample count and seed, unless told otherwise)."""
    return summarize(pair_records(state), resamples=resamples, seed=seed)


BIASES = (
    ("flip_rate", "flip"),
    ("first_position_rate", "first position"),
    ("prefer_longer_rate", "prefer longer"),
)


def _bias_text(source: SourceSummary) -> str:
    """Each bias rate the source has, with its interval and its own n, "n too small" below
    MIN_N of it: the same rule as the win rate's."""
    parts = []
    for key, label in BIASES:
        value, n = getattr(source, key), getattr(source, f"{key}_n")
        if value is None:
            continue
        parts.append(f"{label} {figure_text(value, getattr(source, f'{key}_ci'), n)} n={n}")
    return " · ".join(parts)


def summary_lines(summary: ComparisonSummary) -> list[str]:
    """The headless print: per pair of sessions, a row per source (with a judge's failed
    pairs), its bias rates, then agreement. Names are shown inert: a session or judge
    name cannot move the cursor or break a row."""
    lines: list[str] = []
    for group in summary.groups:
        a, b = inert_line(group.a), inert_line(group.b)
        lines.append(f"{b} (B) against {a} (A): {group.pairs} pairs")
        lines.append(
            f"  {'source':<18}{'n':>5}{'A':>5}{'tie':>5}{'B':>5}{'failed':>7}  "
            f"{'B win rate [95% CI]':<24}{'LC':>6}"
        )
        for name, source in group.sources.items():
            shown = inert_line(name)
            failed = str(source.errors) if name != HUMAN else "–"
            rate = figure_text(source.win_rate_b, source.win_rate_b_ci, source.n)
            lc = "–" if source.lc_win_rate_b is None else figure_text(source.lc_win_rate_b, None, source.n)
            lines.append(
                f"  {shown[:17]:<18}{source.n:>5}{source.wins_a:>5}{source.ties:>5}{source.wins_b:>5}"
                f"{failed:>7}  {rate:<24}{lc:>6}"
            )
            biases = _bias_text(source)
            if biases:
                lines.append(f"    {shown}: {biases}")
            if source.lc_warning:
                lines.append(f"    {shown}: {source.lc_warning}")
        for judge, agreement in group.agreement.items():
            if not agreement.n:
                lines.append(f"  you vs {inert_line(judge)}: no decisive pair in common yet")
            else:
                lines.append(f"  {agreement.line()}")
    for source, ratings in summary.ratings.items():
        lines.append(f"Bradley-Terry ({inert_line(source)}):")
        lines += [f"  {rating.line()}" for rating in ratings]
    if summary.stale:
        lines.append(f"{summary.stale} stale pairs left out (a source's answer changed)")
    return lines
