"""What a comparison compares, said once when it opens: the command line prints these
lines (each after `sftscope: `), the A/B console shows them on its note line.

Here, in the presentation layer both use, so that neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sftscope.sessions.compare.comparison import Comparison


def opening_lines(comparison: Comparison) -> list[str]:
    """The sessions and the items in common; a saved source that moved; the items left out
    and why; the pairs made anew because a source's answer changed."""
    state = comparison.state
    names = ", ".join(s.name for s in comparison.sources) or "the saved pairs"
    lines = [
        f"comparing {names}: {len(state.items)} items in common, {len(state.ordered())} pairs"
        f"; session {comparison.directory}"
    ]
    lines.extend(comparison.notes)  # a saved source moved or unreadable: its pairs kept
    if comparison.left_out:
        reasons = comparison.left_out_reasons or {"answered in only some sessions": comparison.left_out}
        why = "; ".join(f"{count} {reason}" for reason, count in reasons.items())
        lines.append(f"{comparison.left_out} items left out ({why})")
    if comparison.stale_marked:
        lines.append(f"{comparison.stale_marked} pairs stale (a source's answer changed); new pairs made")
    return lines
