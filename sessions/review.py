"""Review policy: the evaluation rules, in the core, so every front end applies the same ones.

The console, headless runs and exports all ask here what counts as scored, when a
judge's scores may be shown (blind until the operator has scored, or reveals them),
which item is next, which labels pair up for agreement, and what a session's status
means. None of this is display code: a second front end gets it for free.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sftscope.scorers.rubric import Rubric
from sftscope.sessions.state import ItemState

# A session's status, one meaning everywhere (session.toml, headless, the console):
RUNNING = "running"  # a run holds the session now
COMPLETE = "complete"  # every item has an answer and every criterion a label (or is skipped)
STOPPED = "stopped"  # the run ended (quit, or generation done) before that
INTERRUPTED = "interrupted"  # Ctrl+C or a signal (SIGINT, SIGTERM, SIGHUP) ended it
STATUSES = (RUNNING, COMPLETE, STOPPED, INTERRUPTED)


def fully_scored(state: ItemState, rubric: Rubric) -> bool:
    """Every required criterion (all but notes) has a label."""
    human = state.human
    return all(c.name in human for c in rubric.criteria if c.required)


def is_finished(state: ItemState, rubric: Rubric) -> bool:
    """Nothing is left to do on this item: skipped, or answered and fully scored."""
    return state.status == "skipped" or (state.complete and fully_scored(state, rubric))


def judge_visible(state: ItemState, rubric: Rubric, *, revealed: bool = False) -> bool:
    """Blind, then reveal: a judge's scores show once the operator has scored every
    criterion of the item, or asked to see them (recorded on each label as
    `judge_visible`, so anchoring can be measured)."""
    return revealed or fully_scored(state, rubric)


def next_unfinished(states: list[ItemState], rubric: Rubric, after: int) -> int | None:
    """The index of the next item not finished, after `after`, wrapping around."""
    count = len(states)
    for step in range(1, count + 1):
        index = (after + step) % count
        if not is_finished(states[index], rubric):
            return index
    return None


def agreement_pairs(states: Iterable[ItemState], judge: str, criteria: Iterable[str]) -> dict[str, list[Any]]:
    """(human, judge) value pairs per criterion, over every item both have scored."""
    pairs: dict[str, list[tuple[Any, Any]]] = {name: [] for name in criteria}
    for state in states:
        theirs = (state.judges.get(judge) or {}).get("scores") or {}
        if not theirs:
            continue
        human = state.human
        for name, found in pairs.items():
            if name in human and name in theirs:
                found.append((human[name], theirs[name]))
    return pairs


def final_status(states: Iterable[ItemState], rubric: Rubric, *, interrupted: bool = False) -> str:
    """The status a run leaves in session.toml."""
    if interrupted:
        return INTERRUPTED
    items = list(states)
    if items and all(is_finished(state, rubric) for state in items):
        return COMPLETE
    return STOPPED
