"""Session durability: torn tail, mid-file corruption, lock, atomic TOML, fsync."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from sftscope.sessions.core.store import (
    SessionError,
    SessionStore,
    load_session,
    read_events,
    write_toml_atomic,
)


def _new(tmp_path: Path) -> SessionStore:
    store = SessionStore(tmp_path / "s")
    store.open({"status": "running", "engine": {"spec": "x"}, "prompts": {"count": 0}})
    return store


def test_append_and_reload_round_trip(tmp_path: Path) -> None:
    store = _new(tmp_path)
    store.append({"type": "item", "item": "a", "data": {"id": "a", "turns": ["?"]}})
    store.append({"type": "generation", "item": "a", "turn": 0, "text": "héllo", "finish_reason": "stop"})
    store.append({"type": "score", "item": "a", "criterion": "helpfulness", "value": 3}, durable=True)
    store.close(status="complete")
    header, events, warnings = load_session(tmp_path / "s")
    assert header["status"] == "complete"
    assert header["format_version"] == 2
    assert [e["type"] for e in events] == ["item", "generation", "score"]
    assert events[1]["text"] == "héllo" and events[1]["v"] == 2 and "ts" in events[1]
    assert warnings == []


def test_torn_tail_is_dropped_with_offset_and_truncated(tmp_path: Path) -> None:
    store = _new(tmp_path)
    store.append({"type": "generation", "item": "a", "turn": 0, "text": "one", "finish_reason": "stop"})
    store.close()
    path = tmp_path / "s" / "events.jsonl"
    good = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b'{"type": "generation", "item": "b", "te')
    loaded = read_events(path)
    assert len(loaded.events) == 1
    assert loaded.warnings == [f"{path}: dropped a torn final line at byte {good} (an interrupted write)"]
    store = SessionStore(tmp_path / "s")
    store.open()
    assert path.stat().st_size == good  # truncated before the next append
    store.append({"type": "generation", "item": "b", "turn": 0, "text": "two", "finish_reason": "stop"})
    store.close()
    events = [json.loads(x) for x in path.read_text().splitlines()]
    assert [e["item"] for e in events] == ["a", "b"]


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    store = _new(tmp_path)
    store.close()
    path = tmp_path / "s" / "events.jsonl"
    path.write_bytes(b'{"type": "generation", "item": "a", "turn": 0, "text": "", "finish_reason": "stop"}')
    store = SessionStore(tmp_path / "s")
    store.open()
    store.append({"type": "generation", "item": "b", "turn": 0, "text": "", "finish_reason": "stop"})
    store.close()
    assert [e["item"] for e in read_events(path).events] == ["a", "b"]


def test_corruption_in_the_middle_names_the_line(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    _new(tmp_path).close()
    path = directory / "events.jsonl"
    path.write_text(
        '{"type": "regenerate", "item": "a"}\nnot json at all\n{"type": "regenerate", "item": "b"}\n'
    )
    with pytest.raises(SessionError, match=r"events\.jsonl:2: corrupt event line"):
        load_session(directory)
    with pytest.raises(SessionError, match=r":2: corrupt"):
        SessionStore(directory).open()


def _try_lock(directory: str, queue: multiprocessing.Queue) -> None:
    store = SessionStore(Path(directory))
    try:
        store.open()
        queue.put("opened")
        store.close()
    except SessionError as exc:
        queue.put(str(exc))


def test_lock_stops_a_second_writer_and_names_the_holder(tmp_path: Path) -> None:
    store = _new(tmp_path)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_try_lock, args=(str(tmp_path / "s"), queue))
    child.start()
    child.join(30)
    message = queue.get(timeout=5)
    assert "in use by another sftscope" in message
    assert f"pid {os.getpid()}" in message
    store.close()


def test_stale_lock_of_a_dead_process_does_not_block(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    _new(tmp_path).close()
    (directory / "session.lock").write_text("pid 999999 on elsewhere\n")  # left by a kill -9
    store = SessionStore(directory)
    store.open()  # flock is free: the holder is gone
    assert f"pid {os.getpid()}" in (directory / "session.lock").read_text()
    store.close()


def test_atomic_toml_leaves_no_temp_files_and_drops_none(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    write_toml_atomic(path, {"a": 1, "b": None, "nested": {"c": "x", "d": None}})
    write_toml_atomic(path, {"a": 2})
    assert path.read_text().strip() == "a = 2"
    assert [p.name for p in tmp_path.iterdir()] == ["h.toml"]


def test_durable_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _new(tmp_path)
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    store.append({"type": "generation", "item": "a", "turn": 0, "text": "", "finish_reason": "stop"})
    before = len(synced)
    store.append(
        {"type": "generation", "item": "b", "turn": 0, "text": "", "finish_reason": "stop"}
    )  # within the batch interval: no fsync
    assert len(synced) == before
    store.append(
        {"type": "score", "item": "a", "criterion": "c", "value": 1}, durable=True
    )  # a human action: fsync now
    assert len(synced) == before + 1
    store.close()


def test_not_a_session(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="no such session"):
        load_session(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SessionError, match="not a session"):
        load_session(tmp_path / "empty")
