"""Opening a console from the command line, and ending the process once it is closed.

The only module of the command line that reaches the consoles, and only inside its
functions (textual is imported when a console opens, never at `--help`). The consoles
never import the command line.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import fail

if TYPE_CHECKING:
    from sftscope.sessions.compare.comparison import Comparison
    from sftscope.sessions.run.adjudication import Adjudication
    from sftscope.sessions.run.launch import Launch


def run_console(launch: Launch, *, ahead: int = 3) -> int:
    """Open the run console on a prepared (validated, locked) session.

    The session is closed (fsynced, status written, unlocked) before the console
    lets go of the terminal, so the process then ends at once: freeing a model
    and unwinding its threads would keep a quit waiting for a second or more.
    """
    from sftscope.tui.console.app import SftscopeApp

    app = SftscopeApp(launch, ahead=ahead)
    return run_console_app(app, f"session saved in {launch.directory}")


def rater_console(launch: Launch, rater: str | None) -> int:
    """One browser tab of `sftscope serve`: the replay console as one rater (None: it asks)."""
    from sftscope.tui.console.rater import RaterConsole

    return run_console_app(RaterConsole(launch, rater), f"labels saved in {launch.directory}")


def compare_console(comparison: Comparison, *, revisit: bool = False) -> int:
    """The A/B console; the comparison is closed (status, unlock) before the process ends."""
    from sftscope.tui.compare.app import CompareApp

    app = CompareApp(comparison, revisit=revisit)
    return run_console_app(app, f"comparison saved in {comparison.directory}")


def adjudicate_console(adjudication: Adjudication) -> int:
    """The adjudicate console; the adjudicator's file is released before the process ends."""
    from sftscope.tui.adjudicate.app import AdjudicateApp

    return run_console_app(AdjudicateApp(adjudication), f"decisions saved in {adjudication.file}")


def run_console_app(app: Any, saved: str) -> int:
    """Run a console (the run console or the A/B console) and end the process at once.

    A SIGTERM/SIGHUP before the console is up is noted and handled once it is. After the
    app returns, its session is already closed: the lines it has to say, then `os._exit`,
    never waiting on a model or its threads."""

    def early(signum: int, frame: Any) -> None:  # a signal before the console is up
        app.early_signal = True

    previous = {sig: signal.signal(sig, early) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if app.error_message:
        code = fail(app.error_message)
    else:
        for problem in app.close_problems:
            print(f"sftscope: error: {inert_line(problem)}", file=sys.stderr)
        print(f"sftscope: {inert_line(saved)}", file=sys.stderr)
        for line in app.next_steps():  # resume, report, export: the commands, with this path
            print(line, file=sys.stderr)
        code = int(code or 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
