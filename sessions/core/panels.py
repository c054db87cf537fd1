"""Judge panels as sources: each panel's verdict on each item, derived after the fold.

A panel's verdict is never written: it is computed from its members' `judge` events every
time a session is read, so a member judged again changes the panel too. It is placed in
`ItemState.judges` under the panel's name, as a record marked `"panel": [members]`, so
every reader that iterates an item's judges (the report, the export, the agreement with
you) sees the panel as one more source. Readers that count a judge's own work (judge
health: failures, latency) leave records with `panel` out: a panel has none.
"""

from __future__ import annotations

from typing import Any

from sftscope.scorers.panel import PanelSpec, panels_in
from sftscope.scorers.rubric import Criterion, Rubric, RubricError, load_rubric
from sftscope.scorers.stats.panels import majority, median_verdict
from sftscope.sessions.core.events import Judged, Record
from sftscope.sessions.core.state import ItemState, SessionState, fold


def is_panel(event: Record) -> bool:
    """Whether a record in `ItemState.judges` is a panel's derived verdict."""
    return "panel" in event


def _answer(criterion: Criterion, event: Record | None) -> Any:
    """A member's accepted value for `criterion` on the item (None: failed, no verdict, or
    a value the rubric does not accept: that judge did not answer)."""
    if event is None or event.get("error") or is_panel(event):
        return None
    scores = event.get("scores")
    if not isinstance(scores, dict):
        return None
    value = scores.get(criterion.name)
    if criterion.kind == "binary":
        return value if type(value) is bool else None
    if type(value) is not int or not criterion.accepts(value):
        return None
    return value


def panel_record(item: ItemState, panel: PanelSpec, criteria: list[Criterion]) -> Record | None:
    """The panel's verdict on the item as a judge record, None when none of its members has
    judged the current answer. A criterion without a majority (yes/no) or without more
    than half of the members answering (a scale) has no value."""
    events = [item.judges.get(judge) for judge in panel.judges]
    if all(event is None for event in events):
        return None
    configured = len(panel.judges)
    scores: dict[str, Any] = {}
    for criterion in criteria:
        answers = [_answer(criterion, event) for event in events]
        if criterion.kind == "binary":
            verdict = majority(answers, configured)
        elif criterion.kind == "likert":
            verdict = median_verdict(answers, configured)
        else:
            continue
        if verdict is not None:
            scores[criterion.name] = verdict
    return {
        "type": Judged.TYPE,
        "item": item.item.id,
        "judge": panel.name,
        "panel": list(panel.judges),
        "model": f"panel of {', '.join(panel.judges)}",
        "template": "panel",
        "scores": scores,
        "gen": item.gen,
    }


def apply_panels(state: SessionState, header: dict[str, Any]) -> SessionState:
    """Add each panel of the header to every item's judges (in place; returned)."""
    panels = panels_in(header)
    if not panels:
        return state
    saved = header.get("rubric")
    try:  # a header without a rubric was scored on the built-in one
        rubric = Rubric.from_dict(saved) if isinstance(saved, dict) and saved else load_rubric(None)
    except RubricError:
        return state  # the report says so; a panel has nothing to read without its scales
    criteria = [c for c in rubric.criteria if c.kind in ("binary", "likert")]
    for item in state.items.values():
        for panel in panels:
            record = panel_record(item, panel, criteria)
            if record is not None:
                item.judges[panel.name] = record
    return state


def fold_with_panels(events: list[Record], header: dict[str, Any]) -> SessionState:
    """The fold of a saved session, its panels' verdicts included."""
    return apply_panels(fold(events), header)
