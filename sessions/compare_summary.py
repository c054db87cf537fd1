"""A comparison's numbers as the console line and the headless print show them.

The statistics live in compare_stats (scipy, scikit-learn); this module turns a
comparison's fold into its typed input and the results into text.
"""

from __future__ import annotations

from typing import Any

from sftscope.sessions.compare_stats import (
    ComparisonSummary,
    JudgeRecord,
    PairRecord,
    summarize,
)
from sftscope.sessions.comparison import ComparisonState


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


def summary_of(state: ComparisonState, *, resamples: int = 2000, seed: int = 0) -> ComparisonSummary:
    return summarize(pair_records(state), resamples=resamples, seed=seed)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _ci(ci: Any) -> str:
    if not ci or ci[0] is None:
        return ""
    return f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def summary_lines(summary: ComparisonSummary) -> list[str]:
    """The headless print: per pair of sessions, a row per source, then agreement."""
    lines: list[str] = []
    for group in summary.groups:
        lines.append(f"{group.b} (B) against {group.a} (A): {group.pairs} pairs")
        lines.append(
            f"  {'source':<18}{'n':>5}{'A':>5}{'tie':>5}{'B':>5}  {'B win rate [95% CI]':<24}"
            f"{'LC':>6}{'flip':>6}{'first':>7}{'longer':>8}"
        )
        for name, source in group.sources.items():
            rate = (
                "n too small"
                if not source.enough
                else f"{_rate(source.win_rate_b)}{_ci(source.win_rate_b_ci)}"
            )
            lines.append(
                f"  {name[:17]:<18}{source.n:>5}{source.wins_a:>5}{source.ties:>5}{source.wins_b:>5}  "
                f"{rate:<24}{_rate(source.lc_win_rate_b):>6}{_rate(source.flip_rate):>6}"
                f"{_rate(source.first_position_rate):>7}{_rate(source.prefer_longer_rate):>8}"
            )
            if source.lc_warning:
                lines.append(f"    {name}: {source.lc_warning}")
        for judge, agreement in group.agreement.items():
            if not agreement.n:
                lines.append(f"  you vs {judge}: no decisive pair in common yet")
            elif not agreement.enough:
                lines.append(f"  you vs {judge}: n={agreement.n}, n too small")
            else:
                lines.append(
                    f"  you vs {judge}: n={agreement.n} agree {100 * agreement.agreement:.0f}% "
                    f"κ {_rate(agreement.kappa)}{_ci(agreement.kappa_ci)}"
                )
    for source, ratings in summary.ratings.items():
        lines.append(f"Bradley-Terry ({source}):")
        lines += [f"  {rating.line()}" for rating in ratings]
    if summary.stale:
        lines.append(f"{summary.stale} stale pairs left out (a source's answer changed)")
    return lines
