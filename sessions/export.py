"""Exports: one row per item, in prompt-set order, computed from the fold."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import orjson
from sftscope.sessions.state import fold
from sftscope.sessions.store import paused_gc

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


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    """One JSON object per line, non-ASCII as UTF-8, floats written as Python writes them.

    orjson writes the rows of a large session in half the time json.dumps takes (compact:
    no space after `,` and `:`). A row it cannot write (an integer past 64 bits, a lone
    surrogate) or would write otherwise (NaN, a float below 1e-4) is written by json.dumps
    with the same separators.
    """
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    lines = []
    for row in rows:
        try:
            line = dumps(row, option=option)
        except TypeError:
            line = None
        # Checked after orjson took the row: it refuses cycles and nesting past 254 levels.
        if line is None or not _orjson_writes_as_json(row):
            text = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
            line = text.encode("utf-8", "surrogatepass")
        lines.append(line)
    data = b"".join(lines)
    del lines
    return data.decode("utf-8", "surrogatepass")


def _orjson_writes_as_json(row: dict[str, Any]) -> bool:
    """Whether orjson writes every value in `row` as json.dumps does. It does not for
    NaN and infinity (null), nor for floats below 1e-4 (1e-05 as 0.00001, 1e-06 as 1e-6)."""
    stack: list[Any] = [row]
    pop, extend, plain, inf = stack.pop, stack.extend, _PLAIN, math.inf
    while stack:
        value = pop()
        kind = type(value)
        if kind in plain:
            continue
        if kind is dict:
            extend(value.values())
        elif kind is list:
            extend(value)
        elif kind is float:
            if not (value == 0.0 or 1e-4 <= abs(value) < inf):
                return False
        else:  # a tuple, a subclass, ...: json.dumps decides
            return False
    return True


_PLAIN = frozenset((str, int, bool, type(None)))


def to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Nested values (transcript, scores) and true/false are JSON inside their cell."""
    columns = COLUMNS if columns is None else columns
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        flat = {}
        for key in columns:
            value = row.get(key)
            if isinstance(value, (dict, list, bool)):  # JSON in the cell: true/false, not True/False
                value = json.dumps(value, ensure_ascii=False)
            flat[key] = "" if value is None else value
        writer.writerow(flat)
    return buffer.getvalue()
