"""`sftscope adjudicate SESSION [--rater NAME]`: settle a session's disputed labels (issue 18 §4).

Nothing disputed is one line and exit 0; a directory that is no session, a comparison, or
a session with fewer than 2 raters is one line and exit 2 (before anything is locked); a
second adjudicate (or console) of the same rater on the session is refused in one line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import fail, run_errors


def adjudicate_command(args: argparse.Namespace, rater: str) -> int:
    from sftscope.sessions.run.adjudication import Adjudication, open_adjudication
    from sftscope.tui.cli.consoles import adjudicate_console

    directory = Path(args.session)
    try:
        opened = open_adjudication(directory, rater)
    except run_errors() as exc:
        return fail(str(exc))
    if not isinstance(opened, Adjudication):
        among = inert_line(", ".join(opened.raters))
        print(
            f"sftscope: {inert_line(directory)}: nothing to adjudicate: no disputed labels among {among}",
            file=sys.stderr,
        )
        return 0
    return adjudicate_console(opened)
