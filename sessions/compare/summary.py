"""A comparison's numbers as the console line and the headless print show them.

The statistics live in scorers.stats.pairwise (numbers in, numbers out: scipy,
scikit-learn); this module turns a comparison's fold into their typed input and their
results into text, every figure written by scorers.intervals' one rule. It is the
comparison's public face: the report (sessions.report) uses `pair_records` and nothing
else of sessions.compare's internals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.scorers.intervals import TOO_SMALL, figure_text, p_text
from sftscope.scorers.panel import panels_in
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.scorers.stats.paired import sign_test
from sftscope.scorers.stats.pairwise import (
    HUMAN,
    LC_SEPARATED,
    ComparisonSummary,
    JudgeRecord,
    PairAgreement,
    PairRecord,
    Rating,
    SourceSummary,
    source_summary,
    summarize,
)
from sftscope.scorers.stats.panels import majority
from sftscope.sessions.compare.comparison import ComparisonState
from sftscope.sessions.core.events import PairJudged
from sftscope.sessions.core.inert import inert_line
from sftscope.sessions.core.store import SessionError, read_header

NO_CATEGORY = "(none)"
EXCERPT = 160  # characters of an answer shown beside a disagreement
_VALUE = {"a": 0.0, "b": 1.0, "tie": 0.5, "both_bad": 0.5}


def apply_pair_panels(state: ComparisonState, header: dict[str, Any]) -> ComparisonState:
    """Each panel of the comparison's header as one more judge of every pair (in place;
    returned): the verdict (a, b or tie) that more than half of the panel's configured
    judges gave, never written, derived on every read (sessions/core/panels.py says why).
    A pair without such a majority has no panel verdict; `ab` and `ba` are None, so the
    order biases of single-order verdicts are a judge's own, never a panel's."""
    panels = panels_in(header)
    for pair in state.pairs.values() if panels else ():
        for panel in panels:
            votes = [(pair.judges.get(j) or {}).get("verdict") for j in panel.judges]
            verdict = majority([v if v in ("a", "b", "tie") else None for v in votes], len(panel.judges))
            if verdict is not None:
                pair.judges[panel.name] = {
                    "type": PairJudged.TYPE,
                    "item": pair.item.id,
                    "pair": pair.pair,
                    "judge": panel.name,
                    "verdict": verdict,
                    "ab": None,
                    "ba": None,
                    "panel": list(panel.judges),
                }
    return state


def sign_tests(sources: dict[str, SourceSummary]) -> dict[str, dict[str, Any]]:
    """Per source (you, each judge, each panel), the sign test of B's wins against A's on
    its verdicts, ties (and both bad) dropped: {"n", "wins_b", "wins_a", "ties", "p",
    "reason"}; p = 1.0 with a reason when only ties, None when there is no verdict."""
    out = {}
    for name, source in sources.items():
        test = sign_test(source.wins_b, source.wins_a, source.ties)
        out[name] = {
            "n": test.n,
            "wins_b": source.wins_b,
            "wins_a": source.wins_a,
            "ties": source.ties,
            "p": test.p,
            "reason": test.reason,
        }
    return out


def sign_text(test: Mapping[str, Any]) -> str:
    """A sign test as the summary writes it: "p = 0.021", "p = 1.000 (only ties)", "–"."""
    shown = p_text(test.get("p"))
    if not shown:
        return "–"
    return f"{shown} ({test['reason']})" if test.get("reason") else shown


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The start of an answer on one line (whitespace folded), cut at `limit` characters
    with an ellipsis; made inert and escaped by whoever shows it."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"


def pair_disagreements(state: ComparisonState, count: int = 5) -> list[dict[str, Any]]:
    """The `count` pairs where your vote and the judges' verdicts differ most: per pair,
    the largest gap between your vote and a judge's verdict (B's win counted 1, a tie or
    both bad 0.5, A's 0), ties broken by the summed gap over judges, then pair order;
    pairs without a vote, or where every judge agrees, are left out."""
    ranked: list[tuple[float, float, int, dict[str, Any]]] = []
    for index, pair in enumerate(state.ordered()):
        human = pair.human
        if human not in _VALUE:
            continue
        gaps = {
            name: abs(_VALUE[human] - _VALUE[str(event.get("verdict"))])
            for name, event in pair.judges.items()
            if str(event.get("verdict")) in _VALUE
        }
        if not gaps or max(gaps.values()) <= 0:
            continue
        entry = {
            "pair": pair.pair,
            "item": pair.item.id,
            "category": pair.item.category,
            "a": pair.a,
            "b": pair.b,
            "human": human,
            "judges": {name: str(pair.judges[name].get("verdict")) for name in gaps},
            "gap": max(gaps.values()),
            "excerpt_a": excerpt(pair.answer_a),
            "excerpt_b": excerpt(pair.answer_b),
        }
        ranked.append((-entry["gap"], -sum(gaps.values()), index, entry))
    return [entry for *_, entry in sorted(ranked, key=lambda r: r[:3])[:count]]


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


@dataclass(frozen=True)
class CategoryGroup:
    """One category's pairs of sessions a and b: each source's win rate of b on them
    (FastChat's MT-Bench breakdown), from scorers.stats.pairwise's `source_summary`."""

    category: str
    a: str
    b: str
    sources: dict[str, SourceSummary]

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "a": self.a,
            "b": self.b,
            "sources": {name: source.to_dict() for name, source in self.sources.items()},
        }


def category_groups(
    state: ComparisonState, records: list[PairRecord], *, resamples: int = RESAMPLES, seed: int = SEED
) -> list[CategoryGroup]:
    """Per category of the prompt set (items without one under "(none)" when others have
    one) and pair of sessions, the human's and each judge's win rate of b; [] when no item
    has a category. `records` are `pair_records(state)`, in the same order."""
    categories = [pair.item.category for pair in state.ordered()]
    if not any(categories):
        return []
    judges = list(dict.fromkeys(name for r in records for name in r.judges))
    split: dict[tuple[str, str, str], list[PairRecord]] = {}
    for record, category in zip(records, categories, strict=True):
        split.setdefault((category or NO_CATEGORY, record.a, record.b), []).append(record)
    return [
        CategoryGroup(
            category,
            a,
            b,
            {s: source_summary(group, s, resamples=resamples, seed=seed) for s in (HUMAN, *judges)},
        )
        for (category, a, b), group in split.items()
    ]


def compared_sides(header: dict[str, Any], state: ComparisonState) -> list[dict[str, Any]]:
    """Each compared session as the comparison's header names it: engine (read from the
    source's own session.toml where it still is), model, system message (None: none), and
    the average length in characters of its answers on the pairs in force (the length the
    win-rate statistics use). Tokens are not in a comparison's log: null."""
    lengths: dict[str, list[int]] = {}
    for pair in state.ordered():
        lengths.setdefault(pair.a, []).append(len(pair.answer_a))
        lengths.setdefault(pair.b, []).append(len(pair.answer_b))
    out = []
    for source in header.get("sources") or []:
        if not isinstance(source, dict):
            continue
        name = str(source.get("name", ""))
        got = lengths.get(name, [])
        system = source.get("system")
        out.append(
            {
                "name": name,
                "engine": _source_engine(source),
                "model": source.get("model"),
                "system": system if isinstance(system, str) and system else None,
                "reference": bool(source.get("reference")),
                "length": {"n": len(got), "chars": sum(got) / len(got) if got else None, "tokens": None},
            }
        )
    return out


def _source_engine(source: dict[str, Any]) -> str | None:
    """The engine of a compared run session, from its session.toml (None when the source
    moved, is the prompt set's reference answers, or names none)."""
    path = source.get("path")
    if source.get("reference") or not isinstance(path, str) or not (Path(path) / "session.toml").is_file():
        return None
    try:
        engine = read_header(Path(path)).get("engine")
    except (SessionError, OSError):
        return None
    if not isinstance(engine, dict):
        return None
    requested = engine.get("requested")
    kind = requested.split(":", 1)[0] if isinstance(requested, str) and requested else None
    return engine.get("name") or kind


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


def summary_lines(summary: ComparisonSummary, panels: Iterable[str] = ()) -> list[str]:
    """The headless print: per pair of sessions, a row per source (with a judge's failed
    pairs; a panel, one of `panels`, named as one), its bias rates, then agreement. Names
    are shown inert: a session or judge name cannot move the cursor or break a row."""
    panel_names = set(panels)
    lines: list[str] = []
    for group in summary.groups:
        a, b = inert_line(group.a), inert_line(group.b)
        lines.append(f"{b} (B) against {a} (A): {group.pairs} pairs")
        lines.append(
            f"  {'source':<18}{'n':>5}{'A':>5}{'tie':>5}{'B':>5}{'failed':>7}  "
            f"{'B win rate [95% CI]':<24}{'LC':>6}"
        )
        for name, source in group.sources.items():
            shown = inert_line(f"{name} (panel)" if name in panel_names else name)
            failed = str(source.errors) if name != HUMAN and name not in panel_names else "–"
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
        tested = [f"{inert_line(name)} {sign_text(test)}" for name, test in sign_tests(group.sources).items()]
        if tested:
            lines.append(f"  sign test of B's wins against A's, ties dropped: {' · '.join(tested)}")
        for judge, agreement in group.agreement.items():
            if not agreement.n:
                lines.append(f"  you vs {inert_line(judge)}: no decisive pair in common yet")
            else:
                lines.append(f"  {agreement_line(agreement)}")
    for source, ratings in summary.ratings.items():
        lines.append(f"Bradley-Terry ({inert_line(source)}):")
        lines += [f"  {rating_line(rating)}" for rating in ratings]
    if summary.stale:
        lines.append(f"{summary.stale} stale pairs left out (a source's answer changed)")
    return lines


# ---------------------------------------------------------------------------------------
# Compact lines (the console's status line, a line per source, agreement and rating).


def source_line(source: SourceSummary) -> str:
    """Compact text for the console's status line, B's wins/ties/losses after the rate:
    "B over A: 0.62 [0.48, 0.75] n=40 · W12 T8 L20", and a judge's failed pairs
    ("· 3 failed"): a judge's numbers never appear without its errors."""
    head = f"{inert_line(source.b)} over {inert_line(source.a)}: "
    tally = f"W{source.wins_b} T{source.ties} L{source.wins_a}"
    failed = f" · {source.errors} failed" if source.errors else ""
    if not source.n:
        return (f"{head}n=0" if source.a or source.b else "n=0") + failed
    text = f"{head}{figure_text(source.win_rate_b, source.win_rate_b_ci, source.n)} n={source.n} · {tally}"
    if source.enough and source.lc_win_rate_b is not None:
        text += f" · LC {figure_text(source.lc_win_rate_b, None, source.n)}"
    if (
        source.enough
        and source.lc_warning
        and (source.lc_win_rate_b is not None or source.lc_warning == LC_SEPARATED)
    ):
        text += " (length!)"
    return text + failed


def agreement_line(agreement: PairAgreement) -> str:
    """Text like "you vs J: n=40 agree 80% [68%, 90%] κ +0.58 [+0.31, +0.80]"; below MIN_N,
    "n too small for κ"."""
    head = f"you vs {inert_line(agreement.judge)}: n={agreement.n}"
    if not agreement.n or agreement.agreement is None:
        return head
    text = f"{head} agree {100 * agreement.agreement:.0f}%"
    if not agreement.enough:
        return f"{text}, {TOO_SMALL} for κ"
    if agreement.agreement_ci:
        low, high = agreement.agreement_ci
        text += f" [{100 * low:.0f}%, {100 * high:.0f}%]"
    kappa = figure_text(agreement.kappa, agreement.kappa_ci, agreement.n, signed=True, missing="–")
    return f"{text} κ {kappa}"


def rating_line(rating: Rating) -> str:
    """Text like "1. sft-b 1062 [1010, 1120] n=80"."""
    interval = f"[{rating.ci_low:.0f}, {rating.ci_high:.0f}]"
    text = f"{rating.rank}. {inert_line(rating.session)} {rating.rating:.0f} {interval} n={rating.n}"
    if not rating.enough:
        text += f" ({TOO_SMALL})"
    return text + (" (unbounded)" if rating.unbounded else "")


def comparison_lines(summary: ComparisonSummary) -> list[str]:
    """Compact text, a line per source and agreement of each pair of sessions, then the
    ratings."""
    out: list[str] = []
    for group in summary.groups:
        out += [f"{inert_line(name)}: {source_line(source)}" for name, source in group.sources.items()]
        out += [agreement_line(agreement) for agreement in group.agreement.values() if agreement.n]
    for source, ratings in summary.ratings.items():
        out.append(f"{inert_line(source)}: " + " · ".join(rating_line(r) for r in ratings))
    return out
