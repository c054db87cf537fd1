"""Exports: one row per item, in prompt-set order, computed from the fold.

What is written is safe to open: JSON is strict (a NaN or infinity, which no
log holds but a row from elsewhere might, is written as null), and a CSV cell
that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or
a carriage return) is written with a leading `'`, as OWASP advises, unless the
caller asks for the raw text (`export --csv-raw`).

Beside the nested fields (`human`, `judges`, `checks`, `metrics`: objects, JSON inside a
CSV cell), every row carries them flat, one value a column, so that `pandas.read_csv` sees
numbers and booleans and `datasets` a plain schema: `human.CRITERION`,
`judge.NAME.CRITERION`, `check.NAME` and `metric.NAME`. Every row has every column (an
empty cell, or null, where the item has no value); a name is made safe for a column by
`safe_names` (sessions/core/files.py).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sftscope.scorers.rubric import Rubric, load_rubric
from sftscope.sessions.core.consensus import Panel, reading_state
from sftscope.sessions.core.files import safe_names, to_csv, to_jsonl
from sftscope.sessions.core.panels import apply_panels
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
    "prompt",
    "system",
]

# The flat columns, after COLUMNS, each family in this order (docs/sessions.md, "Export").
# `sample.CRITERION`: how the item's label for the criterion entered the log, "random" (walking
# the session's shuffled order: the random sample estimates need) or "chosen" (ItemState.sampled).
HUMAN, SAMPLE, JUDGE, CHECK, METRIC = "human.", "sample.", "judge.", "check.", "metric."
# With two or more raters (issue 18): `human.` holds their consensus, `rater.NAME.CRITERION`
# each rater's label and `consensus.CRITERION` how it was reached (sessions/core/consensus.py).
RATER, CONSENSUS = "rater.", "consensus."
SAMPLED = {True: "random", False: "chosen", None: None}


def export_rows(
    header: dict[str, Any],
    events: list[dict[str, Any]],
    ratings: dict[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """One row per item: COLUMNS, then the flat columns, the same keys in every row.
    `ratings`: the raters' records (sessions.core.raters.read_ratings); the labels of the
    one rater, or with two or more their consensus, with the raters' columns beside it."""
    with paused_gc():
        return _rows(header, events, ratings or {})


def export_text(rows: list[dict[str, Any]], form: str, *, raw: bool = False) -> str:
    """The rows as CSV (every column of the first row: they all have the same) or JSONL."""
    if form == "csv":
        return to_csv(rows, list(rows[0]) if rows else COLUMNS, raw=raw)
    return to_jsonl(rows)


def _criteria(header: dict[str, Any]) -> list[str]:
    """The rubric's criteria in its order: their `human.` columns exist, empty, before any label."""
    rubric = header.get("rubric")
    criteria = rubric.get("criteria") if isinstance(rubric, dict) else None
    if not isinstance(criteria, list):
        return []
    return [str(c["name"]) for c in criteria if isinstance(c, dict) and c.get("name") is not None]


def _last_user(messages: list[dict[str, str]]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message.get("content")
    return None


def _system(messages: list[dict[str, str]]) -> str | None:
    """The system message the model was sent: the item's own, else the session's."""
    for message in messages:
        if message.get("role") == "system":
            return message.get("content")
    return None


def _flatten(
    rows: list[dict[str, Any]], criteria: list[str], samples: list[dict[str, str | None]] | None
) -> list[dict[str, Any]]:
    """The rows with the flat columns added, every column in every row; `samples` holds
    each row's sample status per labelled criterion (None: no `sample.` columns)."""
    # The names each family holds, in the order first seen (the keys count, not the values:
    # dict.update keeps the first place of a key and copies in C).
    judged: dict[str, dict[str, Any]] = {}  # judge -> its criteria
    labelled: dict[str, Any] = dict.fromkeys(criteria)
    checks: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    for row in rows:
        labelled.update(row["human"])
        for name, scores in row["judges"].items():
            seen = judged.setdefault(name, {})
            if isinstance(scores, dict):
                seen.update(scores)
        checks.update(row["checks"])
        metrics.update(row["metrics"])
    # One mapping for every criterion, so that human.X and judge.J.X name the same X.
    criterion = safe_names([*labelled, *(c for seen in judged.values() for c in seen)])
    judge = safe_names(judged)
    check, metric = safe_names(checks), safe_names(metrics)
    humans = list(labelled)
    scored = {name: list(seen) for name, seen in judged.items()}  # judge -> its criteria
    check_names, metric_names = list(checks), list(metrics)
    columns = [
        *(HUMAN + criterion[c] for c in humans),
        *(SAMPLE + criterion[c] for c in (humans if samples is not None else ())),
        *(f"{JUDGE}{judge[name]}.{criterion[c]}" for name, seen in scored.items() for c in seen),
        *(CHECK + check[name] for name in check_names),
        *(METRIC + metric[name] for name in metric_names),
    ]
    # In place (the rows are this module's own), one zip a row, the values in the columns'
    # order (a judge with no scores on an item: its cells empty).
    empty: dict[str, Any] = {}
    for row, sample in zip(rows, samples if samples is not None else [None] * len(rows), strict=True):
        judges = row["judges"]
        values = [map(row["human"].get, humans)]
        if sample is not None:
            values.append(map(sample.get, humans))
        for name, seen in scored.items():
            scores = judges.get(name)
            values.append(map((scores if isinstance(scores, dict) else empty).get, seen))
        values.append(map(row["checks"].get, check_names))
        values.append(map(row["metrics"].get, metric_names))
        row.update(zip(columns, chain.from_iterable(values), strict=True))
    return rows


def _rows(
    header: dict[str, Any], events: list[dict[str, Any]], ratings: dict[str, Any]
) -> list[dict[str, Any]]:
    raw = header.get("rubric")
    rubric = Rubric.from_dict(raw) if isinstance(raw, dict) and raw else load_rubric(None)
    state = apply_panels(reading_state(events, ratings, rubric), header)  # panels: one more judge
    engine = str((header.get("engine") or {}).get("spec", ""))
    system = header.get("system")
    rows = []
    samples = []
    ordered = "order" in header
    for item_state in state.ordered():
        item = item_state.item
        last = item_state.turns[-1] if item_state.turns else {}
        status = item_state.status
        # `judge`: the first judge's scores; `judges`: every judge by name; `judge_error`.
        judges = item_state.judges
        first = next(iter(judges.values()), None)
        checks = item_state.checks
        transcript = item_state.transcript(system)
        rows.append(
            {  # every column of COLUMNS, in its order (tests/test_scale.py checks it)
                "item": item.id,
                "category": item.category,
                "status": "pending" if status == "partial" else status,
                "response": item_state.response,
                "transcript": transcript,
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
                "prompt": _last_user(transcript),  # the user turn the response answers
                "system": _system(transcript),
            }
        )
        if ordered:  # only a session made with an order has sample columns
            samples.append({name: SAMPLED[item_state.sampled(name)] for name in item_state.human})
    # A session made before the audit order (no `order` in its header) has no random sample:
    # its export keeps the columns it always had.
    rows = _flatten(rows, _criteria(header), samples if ordered else None)
    panel = Panel.read(events, ratings, rubric) if len(ratings) > 1 else None
    return (
        _with_raters(rows, _criteria(header), panel) if panel is not None and len(panel.names) > 1 else rows
    )


def _with_raters(rows: list[dict[str, Any]], criteria: list[str], panel: Panel) -> list[dict[str, Any]]:
    """Each row with `rater.NAME.CRITERION` for every rater and `consensus.CRITERION` (the
    consensus status, empty without a label) placed after the `human.`/`sample.` columns,
    for the criteria those name (the same safe names)."""
    labelled: dict[str, Any] = dict.fromkeys(criteria)
    for row in rows:
        labelled.update(row["human"])
    for row in rows:
        for name in panel.names:
            labelled.update(panel.views[name].items[row["item"]].human)
    safe = safe_names(labelled)
    rater = safe_names(panel.names)
    out = []
    for row in rows:
        extra: dict[str, Any] = {}
        item = panel.views[panel.names[0]].items[row["item"]]
        statuses = {}
        for criterion in labelled:
            found = panel.consensus(row["item"], criterion, item)
            statuses[CONSENSUS + safe[criterion]] = None if found is None else found.status
            for name in panel.names:
                extra[f"{RATER}{rater[name]}.{safe[criterion]}"] = (found.labels if found else {}).get(name)
        extra.update(statuses)
        keys = list(row)
        cut = (
            max(n for n, key in enumerate(keys) if key.startswith((HUMAN, SAMPLE))) + 1
            if labelled
            else len(keys)
        )
        out.append({**{k: row[k] for k in keys[:cut]}, **extra, **{k: row[k] for k in keys[cut:]}})
    return out
