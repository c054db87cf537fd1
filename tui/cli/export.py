"""`sftscope export DIR`: a run session's items (JSONL, CSV) or a comparison's pairs and
preferences (JSONL, CSV, DPO), to `-o FILE` or standard output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import UsageError, fail, run_errors
from sftscope.tui.cli.output import emit

if TYPE_CHECKING:
    from sftscope.sessions.compare.comparison import ComparisonState


def export_command(args: argparse.Namespace) -> int:
    from sftscope.sessions.core.raters import read_ratings
    from sftscope.sessions.core.store import load_session
    from sftscope.sessions.run.export import export_rows, export_text

    try:
        header, events, warnings = load_session(Path(args.session))
        ratings = read_ratings(Path(args.session), header, events)  # every rater's file, checked
    except run_errors() as exc:
        return fail(str(exc))
    for warning in warnings:
        print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
    if header.get("kind") == "comparison":
        try:
            text, closing = comparison_export(header, events, ratings, args)
        except UsageError as exc:
            return fail(str(exc))
        code = emit(text, Path(args.output) if args.output else None, flag=args.output, data=True)
        if code == 0 and closing:
            print(f"sftscope: {inert_line(closing)}", file=sys.stderr)
        return code
    if args.format == "dpo":
        return fail(
            f"{args.session}: is a run session; --format dpo exports a comparison's preferences "
            "(sftscope compare A B, then export the comparison)"
        )
    else:
        rows = export_rows(header, events, ratings)
        text = export_text(rows, args.format, raw=args.csv_raw)

    return emit(text, Path(args.output) if args.output else None, flag=args.output, data=True)


def comparison_export(
    header: dict[str, Any],
    events: list[dict[str, Any]],
    ratings: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
) -> tuple[str, str | None]:
    """The comparison's export and the closing line to say after it (None: nothing to say):
    with raters' votes, how many DPO pairs came from whose votes, and how many disputed
    pairs gave none (sessions/compare/export.py's `dpo_source` reads `--source`)."""
    from sftscope.sessions.compare.comparison import (
        check_sources,
        fold_comparison_for,
        read_comparison,
        votes_by_rater,
    )
    from sftscope.sessions.compare.export import (
        DpoError,
        DpoOptions,
        comparison_rows,
        comparison_text,
        dpo_rows,
        dpo_source,
    )
    from sftscope.sessions.compare.summary import apply_pair_panels
    from sftscope.sessions.core.files import to_jsonl

    state = apply_pair_panels(read_comparison(args.session, header, events), header)  # panels: one more judge
    votes = votes_by_rater(events, ratings) if args.format == "dpo" else {}
    raters = sorted({name for of in votes.values() for name in of})
    source = None
    if args.format == "dpo":
        judges = {name for pair in state.pairs.values() for name in pair.judges}
        try:
            source = dpo_source(args.source, judges, raters)
        except DpoError as exc:
            raise UsageError(str(exc)) from None
        if source.rater is not None:  # that rater's votes alone, the judges' verdicts as before
            state = apply_pair_panels(fold_comparison_for(events, ratings, source.rater), header)
    for note in check_sources(state, header, args.session):
        print(f"sftscope: note: {inert_line(note)}", file=sys.stderr)
    if source is not None:
        options = DpoOptions(
            style=args.dpo_style, source=source.decision, system=args.dpo_system, label=source.label
        )
        try:
            rows = dpo_rows(header, state, options)
        except DpoError as exc:
            raise UsageError(str(exc)) from None
        return to_jsonl(rows), _closing(len(rows), source.rater, source.decision, raters, state, votes)
    if getattr(args, "dpo_system", None) is not None:
        raise UsageError("--dpo-system: only with --format dpo")
    rows = comparison_rows(header, state)
    return comparison_text(rows, args.format, raw=bool(getattr(args, "csv_raw", False))), None


def _closing(
    count: int,
    rater: str | None,
    decision: str,
    raters: list[str],
    state: ComparisonState,
    votes: dict[str, dict[str, str]],
) -> str | None:
    """Whose votes the DPO pairs are: one rater's, or the consensus of 2+ raters with the
    disputed pairs that gave none; nothing to say for a judge's or a lone rater's."""
    from sftscope.sessions.compare.export import disputed_pairs

    if rater is not None:
        return f"{count} DPO pairs from rater {rater}'s votes"
    if decision not in ("human", "agree") or len(raters) < 2:
        return None
    disputed = disputed_pairs(state, votes)
    of = f"the consensus of {len(raters)} raters ({', '.join(raters)})"
    agree = " where every judge agrees" if decision == "agree" else ""
    return f"{count} DPO pairs from {of}{agree}; {disputed} disputed pairs give none (no strict majority)"
