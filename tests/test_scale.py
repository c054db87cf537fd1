"""Large sessions: the item list renders only the rows on screen, and the fast read and
export paths (orjson) give what the json-module paths gave, line for line.

bench/session_scale.py measures the 16,000-item figures; these are the fast checks on a
2,000-item session written by the same code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.core.events import KNOWN, problem
from sftscope.sessions.core.files import to_csv, to_jsonl
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import LoadResult, SessionError, SessionStore, load_session, read_events
from sftscope.sessions.run.export import COLUMNS, export_rows, export_text
from sftscope.tui.console.widgets import ItemList

from bench.session_scale import write_session
from tests.console_helpers import make_app, settle, wait_until
from tests.fake_engine import FakeEngine

ITEMS = 2_000


@pytest.fixture(scope="module")
def big_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("scale") / "session"
    write_session(directory, ITEMS)
    return directory


def fresh_copy(source: Path, tmp_path: Path) -> Path:
    """Opening a session in the console appends to its log: each test gets its own."""
    import shutil

    target = tmp_path / "session"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("session.lock"))
    return target


# --- the item list ---------------------------------------------------------------------


async def test_item_list_renders_only_the_rows_on_screen(big_session: Path, tmp_path: Path) -> None:
    app = make_app(fresh_copy(big_session, tmp_path), engine=FakeEngine())
    rendered: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready, timeout=60)
        items = app.screen.query_one("#items", ItemList)
        row = items.row

        def counting_row(state: Any, rubric: Any, generating: bool) -> Any:
            rendered.append(state.item.id)
            return row(state, rubric, generating)

        items.row = counting_row  # type: ignore[method-assign]
        items._rendered.clear()  # render what is on screen again, counting
        items.refresh()
        await pilot.pause(0.1)
        height = items.scrollable_content_region.height
        assert items.virtual_size.height == ITEMS
        assert len(items.children) == 0  # no widget (or option) per item
        assert 0 < len(set(rendered)) <= height  # the rows in view, not 2,000
        assert set(rendered) <= {f"item-{n:05d}" for n in range(height)}
        assert app.index == 0 and items.highlighted == 0 and items.scroll_offset.y == 0

        # Far down the list: the current item is highlighted and scrolled into view, and
        # only the rows around it are rendered.
        rendered.clear()
        app.goto(1500)
        await wait_until(pilot, lambda: app.index == 1500)
        await pilot.pause(0.1)
        assert items.highlighted == 1500
        top = items.scroll_offset.y
        assert top <= 1500 < top + height
        assert "item-01500" in rendered
        assert 0 < len(set(rendered)) <= 2 * height
        line = items.render_line(1500 - top)
        assert "item-01500" in line.text and line.text.startswith("● ")

        # A click on a row shows that item.
        await pilot.click(ItemList, offset=(4, 2))
        await wait_until(pilot, lambda: app.index == top + 2)
        assert items.highlighted == top + 2
        await pilot.press("q")


async def test_item_list_rows_follow_the_state(big_session: Path, tmp_path: Path) -> None:
    """refresh_item re-renders the row (a flag shows at once), as the OptionList did."""
    app = make_app(fresh_copy(big_session, tmp_path), engine=FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready, timeout=60)
        items = app.screen.query_one("#items", ItemList)
        assert "⚑" not in items.render_line(0).text
        await settle(pilot, app)  # a flag is a label: only on an answer on screen 150 ms
        await pilot.press("f")  # flag the current item (the first)
        await wait_until(pilot, lambda: app.session.state.items["item-00000"].flagged)
        await pilot.pause(0.1)
        assert items.render_line(0).text.rstrip().endswith("⚑")
        await pilot.press("q")


# --- read and export against the json-module implementation ------------------------------


def add_edge_cases(directory: Path) -> None:
    """Events whose values orjson reads or writes otherwise than json, or that exercise
    every export column: tiny floats, integers past 64 bits, control characters,
    characters outside the BMP, multi-turn items, errors, undo, flags, unknown types."""
    store = SessionStore(directory)
    store.open()
    weird = 'tab\there, quote " backslash \\ ctrl \x01\x1f, sep \u2028, emoji 😀, 水, e-6 and 0.00001 in text'
    items = [
        {"id": "multi", "turns": ["first?", "second?"], "reference": ["r1", "r2"], "category": "mt-bench",
         "prefix": [{"role": "system", "content": "Be brief."}]},
        {"id": "big", "turns": ["big numbers?"], "reference": 123456789012345678901234567890},
        {"id": "broken", "turns": ["fails?"]},
        {"id": "human", "turns": ["labelled?"], "reference": "a reference"},
    ]  # fmt: skip
    for index, data in enumerate(items, start=ITEMS):
        store.append({"type": "item", "item": data["id"], "index": index, "data": data})
    for turn, text in enumerate(("one " + weird, "two " + weird)):
        store.append(
            {"type": "generation", "item": "multi", "turn": turn, "text": text, "tokens": 5,
             "prompt_tokens": 3, "ttft": 3e-05, "seconds": 1e-07, "finish_reason": "stop"}
        )  # fmt: skip
    store.append(
        {"type": "checks", "item": "multi", "checks": {"x": True},
         "metrics": {"rougeL": 1.5e-05, "bleu": 2.5e-06, "chrf": 1e-300, "big": 1e16}}
    )  # fmt: skip
    store.append({"type": "generation", "item": "big", "turn": 0, "text": "1" * 30, "seconds": 2,
                  "ttft": 18446744073709551616, "finish_reason": "stop"})  # fmt: skip
    store.append({"type": "judge", "item": "big", "judge": "j", "scores": None, "error": "timeout"})
    store.append({"type": "error", "item": "broken", "turn": 0, "error": "server said no"})
    store.append({"type": "generation", "item": "human", "turn": 0, "text": "yes", "finish_reason": "length",
                  "seconds": 2.5e-06})  # fmt: skip
    for event in (
        {"type": "score", "item": "human", "criterion": "helpfulness", "value": 2},
        {"type": "flag", "item": "human", "on": True},
        {"type": "comment", "item": "human", "text": "first " + weird},
        {"type": "undo", "item": "human", "undoes": "comment"},
        {"type": "comment", "item": "human", "text": "kept"},
        {"type": "skip", "item": "human", "by": "human", "reason": "skipped by the operator"},
        {"type": "from_the_future", "item": "human", "what": 1},
    ):
        store.append(event, durable=True)
    store.close()
    with open(directory / "events.jsonl", "ab") as handle:  # what only the json module reads
        handle.write(b'{"v":1,"ts":1.0,"type":"comment","item":"multi","text":"lone \\ud800 surrogate"}\n')
        handle.write(b'{"v":1,"ts":1.0,"type":"checks","item":"human","metrics":{"x":1e-7,"y":-0.0}}\n')


def json_read_events(path: Path) -> LoadResult:
    """read_events as it was before orjson (json.loads on the whole file, split on newlines)."""
    from sftscope.sessions.core.store import _check, _torn

    warnings: list[str] = []
    unknown: dict[str, int] = {}
    if not path.exists():
        return LoadResult([], warnings)
    data = path.read_bytes()
    events: list[dict[str, Any]] = []
    offset = 0
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for number, raw in enumerate(complete, start=1):
        start = offset
        offset += len(raw) + 1
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError("not an event object")
        except ValueError as exc:
            if number == len(complete) and not tail:
                warnings.append(_torn(path, start))
                return LoadResult(events, warnings)
            raise SessionError(f"{path}:{number}: corrupt event line ({exc})") from None
        _check(event, path, number, unknown)
        events.append(event)
    if tail.strip():
        try:
            event = json.loads(tail)
            if not isinstance(event, dict) or "type" not in event:
                raise ValueError
            _check(event, path, len(complete) + 1, unknown)
            events.append(event)
        except ValueError:
            warnings.append(_torn(path, offset))
    for kind, count in unknown.items():
        warnings.append(
            f"{path}: {count} event(s) of type {kind!r} from a newer sftscope were kept and skipped"
        )
    return LoadResult(events, warnings)


def json_export_rows(header: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """export_rows as it was before (one dict built, then put in COLUMNS order)."""
    state = fold(events)
    engine = str((header.get("engine") or {}).get("spec", ""))
    system = header.get("system")
    rows = []
    for item_state in state.ordered():
        item = item_state.item
        last = item_state.turns[-1] if item_state.turns else {}
        judges = item_state.judges
        first = next(iter(judges.values()), None)
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
            "stale_labels": item_state.stale_labels,
            "flagged": item_state.flagged,
            "comment": item_state.comment,
            "judge": (first.get("scores") or {}) if first else {},
            "judges": {name: event.get("scores") for name, event in judges.items()},
            "judge_error": first.get("error") if first else None,
            "checks": item_state.checks.get("checks", {}),
            "metrics": item_state.checks.get("metrics", {}),
        }
        messages = values["transcript"]
        values["prompt"] = [m["content"] for m in messages if m["role"] == "user"][-1]
        values["system"] = next((m["content"] for m in messages if m["role"] == "system"), None)
        rows.append({column: values[column] for column in COLUMNS})
    return rows


def test_read_and_export_equal_the_json_module_on_a_real_session(big_session: Path, tmp_path: Path) -> None:
    directory = fresh_copy(big_session, tmp_path)
    add_edge_cases(directory)
    header, events, warnings = load_session(directory)
    old = json_read_events(directory / "events.jsonl")
    assert warnings == old.warnings and len(warnings) == 1  # the unknown type
    assert len(events) == len(old.events) == 7 * ITEMS + 1 + 20
    # repr: the same values of the same types, keys in the same order.
    assert [repr(e) for e in events] == [repr(e) for e in old.events]
    (big,) = [e for e in events if e["type"] == "generation" and e["item"] == "big"]
    assert type(big["ttft"]) is int  # 2**64: orjson alone would have made it a float

    rows = export_rows(header, events)
    old_rows = json_export_rows(header, old.events)
    assert [list(row)[: len(COLUMNS)] for row in rows] == [COLUMNS] * len(rows)
    assert len({tuple(row) for row in rows}) == 1  # the flat columns after them, in every row
    assert repr([{column: row[column] for column in COLUMNS} for row in rows]) == repr(old_rows)
    text = to_jsonl(rows)
    old_text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in old_rows)
    # (split on newlines only: str.splitlines also splits at \u2028 and \x1c, which are in the text)
    lines, old_lines = text.split("\n")[:-1], old_text.split("\n")[:-1]
    assert len(lines) == len(old_lines) == ITEMS + 4
    # Byte for byte what json.dumps writes, but compact (orjson puts no space after , and :):
    # the same keys in the same order, non-ASCII as UTF-8, the same escapes and floats.
    for line, row in zip(lines, rows, strict=True):
        assert line == json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    for line, old_line in zip(lines, old_lines, strict=True):
        assert repr({c: v for c, v in json.loads(line).items() if c in COLUMNS}) == repr(json.loads(old_line))
    multi = json.loads(lines[ITEMS])
    assert multi["item"] == "multi" and "😀" in lines[ITEMS] and "\\u0001" in lines[ITEMS]
    assert '"ttft":3e-05,"engine"' in lines[ITEMS] and '"rougeL":1.5e-05' in lines[ITEMS]
    assert '"bleu":2.5e-06' in lines[ITEMS] and "\ud800" in multi["comment"]
    assert '"reference":123456789012345678901234567890' in lines[ITEMS + 1]
    assert to_csv(rows, COLUMNS) == to_csv(old_rows, COLUMNS)
    assert export_text(rows, "csv").startswith(",".join(COLUMNS) + ",")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n",
        b'{"type":"notice","text":"a"}\n',
        b'{"type":"notice","text":"a"}',  # the newline missing
        b'{"type":"notice","text":"a"}\n{"type":"notice","te',  # torn
        b'{"type":"notice","text":"a"}\n{"type":"notice","te\n',  # torn, with its newline
        b'{"type":"notice","text":"a"}\n{"type":"notice","te\n\n',  # corrupt, not last
        b'{"type":"notice","text":"a"}\n{"type":"notice","te\n  ',  # corrupt, a blank tail
        b'{"type":"notice","text":"a"}\nnot json\n{"type":"notice","text":"b"}\n',
        b'[1, 2]\n{"type":"notice","text":"b"}\n',
        b'{"type":"notice"}\n{"type":"notice","te\n',  # a bad event before a torn line
        b'{"type":"notice","text":"a"}\n  \n\t\n{"type":"notice","text":"b"}\n',
        b'{"type":"score","item":"a","criterion":"c","value":NaN}\n',
        b'{"type":"score","item":"a","criterion":"c","value":1e400}\n',
        b'{"type":"score","item":"a","criterion":"c","value":true,"judge_visible":1}\n',
        b'{"type":"generation","item":"a","turn":-1,"text":"","finish_reason":"stop"}\n',
        b'{"type":"generation","item":"a","turn":0,"text":"","finish_reason":"stop","tokens":99999999999999999999}\n',
        b'{"type":["odd"],"x":1}\n{"type":5}\n{"type":"later"}\n',
        b'\xef\xbb\xbf{"type":"notice","text":"bom"}\n',
        b'{"type":"notice","text":"\xff"}\n{"type":"notice","text":"b"}\n',
        b'{"type":"notice","text":"a"}\r\n{"type":"notice","text":"b"}\r\n',
        b'{"type":"notice","text":"' + b"x" * 3_000_000 + b'"}\n' * 2,  # lines past one chunk
    ],
)
def test_read_events_equals_the_json_module_on_odd_logs(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(content)

    def outcome(read: Any) -> Any:
        try:
            loaded = read(path)
        except SessionError as exc:
            return "error", str(exc)
        return repr(loaded.events), loaded.warnings

    assert outcome(read_events) == outcome(json_read_events)


def test_problem_messages_are_kept() -> None:
    """The validator's fast path changes no message (tests/test_store.py checks more)."""
    assert problem({"type": "score", "item": "a", "value": 1}) == "score event without 'criterion'"
    turn = {"type": "generation", "item": "a", "turn": "second", "text": "", "finish_reason": "stop"}
    assert problem(turn) == "generation event with turn 'second' (expected int)"
    assert problem({"type": "flag", "item": "a", "on": 1}) == "flag event with on 1 (expected bool)"
    wrong_id = problem({"type": "error", "item": True, "error": "x"})
    assert wrong_id == "error event with item True (expected str or int)"
    assert problem({"type": "score", "item": 1, "criterion": "c", "value": [1]}) is None
    assert problem({"type": "nope"}) is None and "nope" not in KNOWN
