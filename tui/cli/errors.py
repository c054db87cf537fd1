"""How every command fails: one line on stderr and exit code 2.

The leaf of the command line: every command imports it, it imports no command, so
the commands never import each other (or the parser) to fail.
"""

from __future__ import annotations

import sys


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def fail(message: str) -> int:
    """One line on stderr, exit code 2. The message may quote a path, an item id or a
    judge's reply: shown inert, so it cannot drive the terminal or break the line."""
    from sftscope.sessions.core.inert import inert_line

    print(f"sftscope: error: {inert_line(message)}", file=sys.stderr)
    return 2


def known_errors() -> tuple[type[Exception], ...]:
    """The failures every command turns into one line: bad input, a session, a judge or
    an engine that cannot be used. Imported when a command runs, not at --help."""
    from sftscope.engines.base import EngineError
    from sftscope.scorers.judge import JudgeConfigError
    from sftscope.sessions.core.store import SessionError

    return (EngineError, JudgeConfigError, SessionError, UsageError)


def run_errors() -> tuple[type[Exception], ...]:
    """A run's, a replay's, a judging's and an export's: also its settings, its prompt set,
    its rubric and its start."""
    from sftscope.scorers.rubric import RubricError
    from sftscope.sessions.run.config import ConfigError
    from sftscope.sessions.run.launch import LaunchError
    from sftscope.sessions.run.prompts import PromptSetError

    return (*known_errors(), ConfigError, LaunchError, PromptSetError, RubricError)


def compare_errors() -> tuple[type[Exception], ...]:
    """A comparison's: also the sessions it compares (the run machinery is not loaded)."""
    from sftscope.sessions.compare.comparison import CompareError

    return (*known_errors(), CompareError)
