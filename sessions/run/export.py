"""Exports: one row per item, in prompt-set order, computed from the fold.

What is written is safe to open: JSON is strict (a NaN or infinity, which no
log holds but a row from elsewhere might, is written as null), and a CSV cell
that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or
a carriage return) is written with a leading `'`, as OWASP advises, unless the
caller asks for the raw text (`export --csv-raw`).
"""

from __future__ import annotations

from typing import Any

from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import paused_gc

# The one list of export columns, in order: JSONL keys and the CSV header both come from it.
COLUMNS = [
    "item",
    "category",
    "status",
    "response",
    "transcript",
    "reference",
    "error",
    "finish_reason",
    "tokens",
    "seconds",
    "ttft",
    "engine",
    "human",
    "stale_labels",
    "judge",
    "judges",
    "judge_error",
    "checks",
    "metrics",
    "flagged",
    "comment",
]


def export_rows(header: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with paused_gc():
        return _rows(header, events)


def _rows(header: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = fold(events)
    engine = str((header.get("engine") or {}).get("spec", ""))
    system = header.get("system")
    rows = []
    for item_state in state.ordered():
        item = item_state.item
        last = item_state.turns[-1] if item_state.turns else {}
        status = item_state.status
        # `judge`: the first judge's scores; `judges`: every judge by name; `judge_error`.
        judges = item_state.judges
        first = next(iter(judges.values()), None)
        checks = item_state.checks
        rows.append(
            {  # every column of COLUMNS, in its order (tests/test_scale.py checks it)
                "item": item.id,
                "category": item.category,
                "status": "pending" if status == "partial" else status,
                "response": item_state.response,
                "transcript": item_state.transcript(system),
                "reference": item.reference,
                "error": item_state.error or item_state.skipped,
                "finish_reason": last.get("finish_reason"),
                "tokens": item_state.tokens,
                "seconds": item_state.seconds,
                "ttft": item_state.ttft,
                "engine": engine,
                "human": item_state.human,
                # labels given on an earlier answer of the item: on record, in no number
                "stale_labels": item_state.stale_labels,
                "judge": (first.get("scores") or {}) if first else {},
                "judges": {name: event.get("scores") for name, event in judges.items()},
                "judge_error": first.get("error") if first else None,
                "checks": checks.get("checks", {}),
                "metrics": checks.get("metrics", {}),
                "flagged": item_state.flagged,
                "comment": item_state.comment,
            }
        )
    return rows
