"""The persisted event kinds of `events.jsonl`, and the check every read makes.

A log is the truth a session is folded from, so a line that has the right type
but wrong fields (a `score` without `criterion`, `turn: "second"`) must stop
the reader with the file and line, not crash the fold later with a traceback.
Event types this version does not know (written by a newer sftscope) are kept
in the file and skipped by the fold, with one warning.
"""

from __future__ import annotations

from typing import Any

# type -> {field: (accepted types, required)}
_ID = (str, int)
_INT = (int,)
_STR = (str,)
_NUM = (int, float)
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "item": {"item": (_ID, True), "index": (_INT, False), "data": ((dict,), True)},
    "run_start": {"engine": (_STR, False), "params": ((dict,), False)},
    "generation": {
        "item": (_ID, True),
        "turn": (_INT, True),
        "text": (_STR, True),
        "finish_reason": (_STR, True),
        "tokens": (_INT, False),
        "seconds": (_NUM, False),
    },
    "error": {"item": (_ID, True), "turn": (_INT, False), "error": (_STR, True)},
    "skip": {"item": (_ID, True), "turn": (_INT, False), "by": (_STR, False), "reason": (_STR, False)},
    "regenerate": {"item": (_ID, True), "turn": (_INT, False)},
    "score": {"item": (_ID, True), "criterion": (_STR, True), "value": ((str, int, float, bool, list), True)},
    "undo": {"item": (_ID, True)},
    "flag": {"item": (_ID, True), "on": ((bool,), False)},
    "comment": {"item": (_ID, True), "text": (_STR, True)},
    "judge": {"item": (_ID, True), "judge": (_STR, True), "scores": ((dict,), False)},
    "checks": {"item": (_ID, True), "checks": ((dict,), False), "metrics": ((dict,), False)},
    # Says once what the operator should know about the run (e.g. concurrency lowered).
    "notice": {"text": (_STR, True)},
}
KNOWN = frozenset(SCHEMA)


def problem(event: dict[str, Any]) -> str | None:
    """What is wrong with a known event, or None. Unknown types are not checked here."""
    fields = SCHEMA.get(str(event.get("type")))
    if fields is None:
        return None
    for name, (types, required) in fields.items():
        if name not in event or event[name] is None:
            if required:
                return f"{event['type']} event without {name!r}"
            continue
        value = event[name]
        if isinstance(value, bool) and bool not in types:
            return f"{event['type']} event with {name} {value!r} (expected {_names(types)})"
        if not isinstance(value, types):
            return f"{event['type']} event with {name} {value!r} (expected {_names(types)})"
    if event["type"] == "item":
        data = event["data"]
        turns = data.get("turns")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
            return "item event whose data has no list of turns"
        if not isinstance(data.get("id"), (str, int)):
            return "item event whose data has no id"
    if event["type"] in ("generation", "error", "skip", "regenerate") and int(event.get("turn") or 0) < 0:
        return f"{event['type']} event with a negative turn"
    return None


def _names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)
