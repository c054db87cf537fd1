"""`sftscope merge DIR [DIR ...] -o DIR`: copies of one session, labelled on different
machines, into one new session (sessions/core/merge.py). Says what it kept where the
copies differ, each conflict of one rater with themselves (a line each, then the count),
and what it wrote; refusals are one line, exit 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftscope.tui.cli.errors import fail

if TYPE_CHECKING:
    from sftscope.sessions.core.merge import Conflict


def merge_command(args: argparse.Namespace) -> int:
    from sftscope.sessions.core.inert import inert_line
    from sftscope.sessions.core.merge import merge_sessions, when
    from sftscope.sessions.core.store import SessionError

    try:
        result = merge_sessions([Path(source) for source in args.sessions], Path(args.output))
    except SessionError as exc:
        return fail(str(exc))
    for note in result.notes:
        print(f"note: {inert_line(note)}")
    for conflict in result.conflicts:
        labels = " · ".join(f"{_value(value)} in {copy} ({when(ts)})" for copy, value, ts in conflict.labels)
        print(
            inert_line(
                f"conflict: rater {conflict.rater}, item {conflict.item}, {conflict.criterion}: "
                f"{labels}; kept {_value(conflict.kept)} ({_why(conflict)})"
            )
        )
    raters = ", ".join(f"{name} ({count} lines)" for name, count in result.labels.items()) or "none"
    print(f"{len(result.conflicts)} conflict(s)")
    print(
        inert_line(
            f"merged {len(args.sessions)} copies into {result.output}: raters {raters}; "
            f"{result.duplicates} line(s) found in several copies written once"
        )
    )
    return 0


def _why(conflict: Conflict) -> str:
    """The later label is in force, unless the rater's undos, replayed in time order, took
    it back (the merged file is their actions as if made on one machine)."""
    later = max(conflict.labels, key=lambda label: label[2])[1] if conflict.labels else None
    return "the later" if later == conflict.kept else "in force after the rater's undos, in time order"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
