"""Helpers for comparison tests: real run sessions written through the real Session writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftscope.sessions.core.events import Generated
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore


def write_run_session(
    directory: Path,
    answers: dict[str, Any],
    *,
    prompts: dict[str, Any] | None = None,
    system: str | None = None,
    references: dict[str, Any] | None = None,
    model: str = "scripted",
) -> Path:
    """A finished run session: one item per key of `answers` (a str answers one turn, a
    list each turn, None leaves the item unanswered). `prompts` overrides an item's turns."""
    prompts = prompts or {}
    references = references or {}
    items = []
    for item_id, answer in answers.items():
        turns = prompts.get(item_id) or (
            [f"question {item_id}"]
            if not isinstance(answer, list)
            else [f"q{n} {item_id}" for n in range(len(answer))]
        )
        items.append(Item(id=item_id, turns=list(turns), reference=references.get(item_id)))
    header = {
        "format_version": 1,
        "engine": {"requested": f"openai:http://127.0.0.1:1#{model}", "model": model},
        "params": {"temperature": 0.0},
        "prompts": {"path": "test.jsonl", "sha256": "x", "count": len(items)},
        "status": "complete",
    }
    if system:
        header["system"] = system
    store = SessionStore(directory)
    store.open(header=header)
    session = Session(store)
    session.add_items(items)
    for item in items:
        answer = answers[item.id]
        if answer is None:
            continue
        for turn, text in enumerate(answer if isinstance(answer, list) else [answer]):
            session.record(Generated(item.id, turn, text, "stop", tokens=len(text.split())))
    store.close(status="complete")
    return directory
