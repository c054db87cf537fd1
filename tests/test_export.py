"""Exports: JSONL and CSV carry the same columns, from one list, as the docs list them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from sftscope.sessions.run.export import COLUMNS

from tests.conftest import ROOT, run_cli, run_headless, write_jsonl


def readme_columns() -> list[str]:
    """The export columns the docs name: the session format's Export list (docs/sessions.md),
    plus the columns the judges and checks add ("Export rows gain …", docs/judges.md)."""
    text = (ROOT / "docs" / "sessions.md").read_text(encoding="utf-8")
    section = text[text.index("## Export") :]
    listing = section[section.index("writes one row per item") : section.index("In CSV")]
    judges = (ROOT / "docs" / "judges.md").read_text(encoding="utf-8")
    gained = judges[judges.index("Export rows gain") :].split("\n\n")[0]
    names: list[str] = []
    for part in (listing, gained):
        part = re.sub(r"\([^)]*\)", "", part)  # asides: `status` (`done`, `cancelled`, …)
        names += [name for name in re.findall(r"`([a-z_]+)`", part) if name not in names]
    return names


def test_csv_and_jsonl_have_every_readme_column(tmp_path: Path, server_url: str) -> None:
    from sftscope.sessions.core.store import SessionStore

    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "a", "prompt": "first", "category": "c"}, {"id": "b", "prompt": "second"}],
    )
    session = tmp_path / "s"
    run = run_headless(server_url, prompts, session)
    assert run.returncode == 0, run.stderr
    store = SessionStore(session)
    store.open()
    store.append({"type": "score", "item": "a", "criterion": "helpfulness", "value": 4}, durable=True)
    store.append({"type": "flag", "item": "a", "on": True}, durable=True)
    store.append({"type": "comment", "item": "a", "text": "too short, but right"}, durable=True)
    store.close()

    jsonl = run_cli("export", str(session), "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    table = run_cli("export", str(session), "--format", "csv")
    assert table.returncode == 0, table.stderr
    header = next(csv.reader(io.StringIO(table.stdout)))
    cells = list(csv.DictReader(io.StringIO(table.stdout)))

    assert header == list(rows[0]) == COLUMNS  # same columns, same order, one list
    assert sorted(header) == sorted(readme_columns())
    assert {"flagged", "comment"} <= set(header)
    by_id = {row["item"]: row for row in rows}
    assert by_id["a"]["flagged"] is True and by_id["a"]["comment"] == "too short, but right"
    assert by_id["b"]["flagged"] is False and by_id["b"]["comment"] is None
    assert by_id["a"]["human"] == {"helpfulness": 4}
    first, second = cells
    assert (first["flagged"], first["comment"]) == ("true", "too short, but right")
    assert (second["flagged"], second["comment"]) == ("false", "")
    assert json.loads(first["human"]) == {"helpfulness": 4}
