"""`sftscope report DIR [DIR ...]`: one session's (or several, or a comparison's) numbers
as text, JSON, Markdown or a self-contained HTML page.

The flags are checked before any statistic is computed (a bootstrap over a large session
takes a while; a typo in -o should not cost that). Every known failure is one line on
stderr and exit code 2, as for the other commands.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import sys
from pathlib import Path

from sftscope.tui.cli.errors import UsageError, fail
from sftscope.tui.cli.output import emit, output_target
from sftscope.tui.cli.parser import check_bounds


def check_args(args: argparse.Namespace) -> tuple[list[Path], Path | None]:
    """The session directories and the output path, or UsageError naming the bad one."""
    check_bounds(args)
    directories = []
    for text in args.directories:
        path = Path(text)
        if not path.exists():
            raise UsageError(f"{text}: no such session directory")
        if not path.is_dir():
            raise UsageError(f"{text}: not a session directory (a file)")
        directories.append(path)
    output = Path(args.output) if args.output else None
    if output is not None:
        target = output_target(output, args.output)
        if target.regular:
            folder = target.path.parent
            if not folder.is_dir():
                raise UsageError(f"-o {args.output}: folder {folder} does not exist")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UsageError(f"-o {args.output}: folder {folder} is not writable")
    return directories, output


def report_command(args: argparse.Namespace) -> int:
    try:
        directories, output = check_args(args)
    except UsageError as exc:
        return fail(str(exc))
    from sftscope.sessions.core.store import SessionError
    from sftscope.sessions.report.document import ReportError, build_report

    try:
        # Items and pairs only for the HTML viewer: in JSON they would make a 16,000-item
        # report 45 MB (the exports carry every item for scripts; docs/reports.md).
        views = args.format == "html"
        doc = build_report(directories, resamples=args.resamples, seed=args.seed, items=views).to_dict()
    except (ReportError, SessionError) as exc:
        return fail(str(exc))
    from sftscope.sessions.core.inert import inert_line
    from sftscope.tui.render.report import render

    for warning in doc.get("warnings") or []:  # also in the report; said here for -o FILE
        print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)

    to_terminal = output is None and args.format == "text" and sys.stdout.isatty()
    width = max(60, shutil.get_terminal_size((80, 24)).columns) if to_terminal else 80
    text = render(doc, args.format, width=width, color=to_terminal)
    # The process ends after this: at exit the interpreter's collections would walk every
    # object scipy and scikit-learn made (a third of a second after the report is written).
    # Frozen, they are still freed, only never walked again.
    atexit.register(gc.freeze)
    return emit(text, output, flag=args.output)
