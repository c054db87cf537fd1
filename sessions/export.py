"""Exports: one row per item, in prompt-set order, computed from the fold."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sftscope.sessions.state import fold

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
    "judge",
    "judges",
    "judge_error",
    "checks",
    "metrics",
    "flagged",
    "comment",
]


def export_rows(header: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = fold(events)
    engine = str((header.get("engine") or {}).get("spec", ""))
    system = header.get("system")
    rows = []
    for item_state in state.ordered():
        item = item_state.item
        last = item_state.turns[-1] if item_state.turns else {}
        values = {
            "item": item.id,
            "category": item.category,
            "status": "pending" if item_state.status == "partial" else item_state.status,
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
            "flagged": item_state.flagged,
            "comment": item_state.comment,
            **_judge_columns(item_state),
            "checks": item_state.checks.get("checks", {}),
            "metrics": item_state.checks.get("metrics", {}),
        }
        rows.append({column: values[column] for column in COLUMNS})  # every column, in order
    return rows


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Nested values (transcript, scores) and true/false are JSON inside their cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = {}
        for key in COLUMNS:
            value = row.get(key)
            if isinstance(value, (dict, list, bool)):  # JSON in the cell: true/false, not True/False
                value = json.dumps(value, ensure_ascii=False)
            flat[key] = "" if value is None else value
        writer.writerow(flat)
    return buffer.getvalue()


def _judge_columns(item_state: Any) -> dict[str, Any]:
    """`judge`: the first judge's scores; `judges`: every judge by name; `judge_error`."""
    judges = item_state.judges
    first = next(iter(judges.values()), None)
    return {
        "judge": (first.get("scores") or {}) if first else {},
        "judges": {name: event.get("scores") for name, event in judges.items()},
        "judge_error": first.get("error") if first else None,
    }
