"""`sftscope export DIR`: a run session's items (JSONL, CSV) or a comparison's pairs and
preferences (JSONL, CSV, DPO), to `-o FILE` or standard output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import UsageError, fail, run_errors
from sftscope.tui.cli.output import emit


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
            text = comparison_export(header, events, args)
        except UsageError as exc:
            return fail(str(exc))
    elif args.format == "dpo":
        return fail(
            f"{args.session}: is a run session; --format dpo exports a comparison's preferences "
            "(sftscope compare A B, then export the comparison)"
        )
    else:
        rows = export_rows(header, events, ratings)
        text = export_text(rows, args.format, raw=args.csv_raw)

    return emit(text, Path(args.output) if args.output else None, flag=args.output, data=True)


def comparison_export(header: dict[str, Any], events: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from sftscope.sessions.compare.comparison import check_sources, read_comparison
    from sftscope.sessions.compare.export import (
        DpoError,
        DpoOptions,
        comparison_rows,
        comparison_text,
        dpo_rows,
    )
    from sftscope.sessions.compare.summary import apply_pair_panels
    from sftscope.sessions.core.files import to_jsonl

    state = apply_pair_panels(read_comparison(args.session, header, events), header)  # panels: one more judge
    for note in check_sources(state, header, args.session):
        print(f"sftscope: note: {inert_line(note)}", file=sys.stderr)
    if args.format == "dpo":
        options = DpoOptions(style=args.dpo_style, source=args.source, system=args.dpo_system)
        try:
            rows = dpo_rows(header, state, options)
        except DpoError as exc:
            raise UsageError(str(exc)) from None
        return to_jsonl(rows)
    if getattr(args, "dpo_system", None) is not None:
        raise UsageError("--dpo-system: only with --format dpo")
    rows = comparison_rows(header, state)
    return comparison_text(rows, args.format, raw=bool(getattr(args, "csv_raw", False)))
