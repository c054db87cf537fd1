"""What broke when the product was tried as a new user would: each test reproduces one.

Full and read-only disks (a real tmpfs when this machine lets us mount one, else the
write is made to fail), damaged sessions, servers whose replies are not what they
seem, key storms, signals, and large prompt sets.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ROOT,
    ScriptedServer,
    one_line_error,
    prompts_file,
    run_cli,
    run_headless,
    serve_in_thread,
    write_jsonl,
)
from tests.console_helpers import make_app, wait_until
from tests.fake_engine import FakeEngine


def rows(session: Path) -> dict[str, dict[str, Any]]:
    result = run_cli("export", str(session))
    assert result.returncode == 0, result.stderr
    return {row["item"]: row for row in map(json.loads, result.stdout.splitlines())}


headless = run_headless


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small real filesystem, so a full disk is a real ENOSPC (skips where mount is refused)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# --- 1. cut streams, end to end -------------------------------------------------------------


def test_a_run_never_saves_a_cut_stream_as_done(tmp_path: Path) -> None:
    srv = ScriptedServer()
    srv.script = [{"text": "cut sho", "finish": None}, {"text": "A full answer."}]
    srv.default = {"text": "Another full answer."}
    session = tmp_path / "s"
    with serve_in_thread(srv) as url:
        result = headless(url, prompts_file(tmp_path, 2), session, "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    got = rows(session)
    assert got["q1"]["status"] == "done" and got["q1"]["response"] == "A full answer."
    assert got["q2"]["response"] == "Another full answer."


def test_a_stream_cut_on_every_try_is_an_error_naming_it_and_the_run_goes_on(tmp_path: Path) -> None:
    srv = ScriptedServer()
    srv.script = [{"text": "never", "finish": None}] * 5
    srv.default = {"text": "Fine."}
    session = tmp_path / "s"
    with serve_in_thread(srv) as url:
        result = headless(url, prompts_file(tmp_path, 2), session, "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    got = rows(session)
    assert got["q1"]["status"] == "error"
    assert "the server ended the stream without finishing (5 attempts)" in got["q1"]["error"]
    assert got["q2"]["status"] == "done" and got["q2"]["response"] == "Fine."


# --- 10. replies that are not what they seem ------------------------------------------------


def test_content_filter_is_recorded_as_it_is_and_never_regenerated(tmp_path: Path) -> None:
    srv = ScriptedServer()
    srv.script = [{"text": "I can", "finish": "content_filter"}]
    srv.default = {"text": "Fine."}
    session = tmp_path / "s"
    prompts = prompts_file(tmp_path, 2)
    with serve_in_thread(srv) as url:
        first = headless(url, prompts, session, "--concurrency", "1")
        assert first.returncode == 0, first.stderr
        assert "1 incomplete" in first.stderr
        again = headless(url, prompts, session)
    assert again.returncode == 0, again.stderr
    assert "0 of 2 items to generate" in again.stderr
    assert len(srv.requests) == 2  # nothing asked again on resume
    got = rows(session)["q1"]
    assert got["status"] == "incomplete" and got["finish_reason"] == "content_filter"
    header = (session / "session.toml").read_text()
    assert 'status = "stopped"' in header  # nothing left to generate, nothing labelled


def test_read_timeout_flag_reaches_the_engine(tmp_path: Path) -> None:
    srv = ScriptedServer()
    srv.default = {"text": "slow answer here", "stall_after": 1, "stall": 5}
    session = tmp_path / "s"
    with serve_in_thread(srv) as url:
        started = time.monotonic()
        result = headless(
            url, prompts_file(tmp_path, 1), session, "--read-timeout", "0.5", "--concurrency", "1"
        )
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "no data for 0.5s mid-answer" in rows(session)["q1"]["error"]
    assert took < 30  # not the default 120 s, retried


# --- 9. damaged sessions ------------------------------------------------------------------------


@pytest.fixture
def finished_session(tmp_path: Path, server_url: str) -> Path:
    session = tmp_path / "done"
    result = headless(server_url, prompts_file(tmp_path, 3), session)
    assert result.returncode == 0, result.stderr
    return session


def test_a_session_without_its_header_is_refused_not_merged(finished_session: Path, server_url: str) -> None:
    (finished_session / "session.toml").unlink()
    result = run_cli(
        "run", "--headless", "--session", str(finished_session), "--engine", f"openai:{server_url}#m"
    )
    one_line_error(result, "events.jsonl but no session.toml")
    assert not (finished_session / "session.toml").exists()  # nothing started on top of it


def test_a_deleted_log_is_refused_never_complete(finished_session: Path, server_url: str) -> None:
    (finished_session / "events.jsonl").unlink()
    missing = "events.jsonl is missing"
    one_line_error(run_cli("run", "--headless", "--session", str(finished_session)), missing)
    one_line_error(run_cli("export", str(finished_session)), missing)
    one_line_error(run_cli("replay", str(finished_session), "--headless"), missing)


def test_a_log_shorter_than_its_header_is_refused(finished_session: Path) -> None:
    log = finished_session / "events.jsonl"
    kept = [
        line for line in log.read_text().splitlines() if '"item","item":"q3"' not in line.replace(" ", "")
    ]
    kept = [
        line for line in kept if not (json.loads(line)["type"] == "item" and json.loads(line)["item"] == "q3")
    ]
    log.write_text("\n".join(kept) + "\n")
    one_line_error(run_cli("export", str(finished_session)), "holds 2 of the 3 items")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"v":1,"type":"item","item":"x","index":9}', "item event without 'data'"),
        ('{"v":1,"type":"score","item":"q1","value":3}', "score event without 'criterion'"),
        (
            '{"v":1,"type":"generation","item":"q1","turn":"second","text":"t","finish_reason":"stop"}',
            "generation event with turn 'second'",
        ),
    ],
)
def test_malformed_events_name_the_file_and_line(finished_session: Path, line: str, needle: str) -> None:
    log = finished_session / "events.jsonl"
    count = len(log.read_text().splitlines())
    with open(log, "a") as handle:
        handle.write(line + "\n" + '{"v":1,"type":"flag","item":"q1","on":true}\n')
    for result in (
        run_cli("export", str(finished_session)),
        run_cli("run", "--headless", "--session", str(finished_session)),
    ):
        one_line_error(result, f"events.jsonl:{count + 1}: {needle}")


def test_an_event_from_a_newer_version_is_kept_and_skipped_with_one_warning(finished_session: Path) -> None:
    log = finished_session / "events.jsonl"
    with open(log, "a") as handle:
        handle.write('{"v":2,"type":"hologram","item":"q1"}\n{"v":2,"type":"hologram","item":"q2"}\n')
    result = run_cli("export", str(finished_session))
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "hologram" in line]
    assert len(warnings) == 1 and "2 event(s)" in warnings[0]
    assert len(result.stdout.splitlines()) == 3


def test_a_header_that_is_not_utf8_or_cut_short_is_one_line(finished_session: Path) -> None:
    header = finished_session / "session.toml"
    header.write_bytes(b'status = "\xff\xfe"\n')
    one_line_error(run_cli("export", str(finished_session)), "session.toml")
    header.write_text('status = "interrupted"\nupdated = "2026-11-27T10:00:00Z"\n')
    one_line_error(run_cli("run", "--headless", "--session", str(finished_session)), "incomplete header")


def test_a_session_closed_before_its_model_loaded_writes_no_half_header(tmp_path: Path) -> None:
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(tmp_path / "s")
    store.open(create=True)  # as a run does before the model has loaded
    store.close(status="interrupted")  # SIGTERM while loading
    assert not (tmp_path / "s" / "session.toml").exists()


# --- 8. a full or read-only disk -----------------------------------------------------------------


def test_a_full_disk_pauses_generation_then_it_goes_on(tmp_path: Path) -> None:
    """A real ENOSPC on a small tmpfs: one line, no traceback, no torn line, nothing lost."""
    disk = tmp_path / "disk"
    with tmpfs(disk, "512k"):
        srv = ScriptedServer()
        srv.default = {"text": "x" * 3000, "pieces": ["x" * 3000]}
        prompts = prompts_file(tmp_path, 40)
        session = disk / "s"
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (512 * 1024 - 48 * 1024))
        with serve_in_thread(srv) as url:
            process = subprocess.Popen(
                [sys.executable, "-m", "sftscope.tui.cli", "run", "--headless", "--engine", f"openai:{url}#m",
                 "--prompts", str(prompts), "--session", str(session), "--concurrency", "2"],
                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            assert process.stderr is not None
            seen = []
            for line in process.stderr:
                seen.append(line)
                if "disk full" in line:
                    break
            assert any("not saved: disk full" in line and "generation paused" in line for line in seen), seen
            time.sleep(1.0)
            assert process.poll() is None  # paused, not dead
            filler.unlink()
            rest = process.stderr.read()
            assert process.wait(60) == 0, rest
        assert "Traceback" not in "".join(seen) + rest
        assert "writing again" in rest
        got = rows(session)
        assert [row["status"] for row in got.values()] == ["done"] * 40
        assert all(row["response"] == "x" * 3000 for row in got.values())


async def test_the_console_never_shows_saved_for_a_label_that_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sftscope.sessions.core.store as store_module

    real_write = os.write
    full = {"on": False}

    def write(fd: int, data: Any) -> int:
        if full["on"] and fd == app.launch.store._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", write)
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path, 3))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and app.session.state.items["q1"].complete)
        await pilot.pause(0.2)  # past the console's 150 ms: a key typed ahead of an answer is no label
        await pilot.press("4")
        assert app.saved_note == "saved ✓"
        size = (tmp_path / "s" / "events.jsonl").stat().st_size
        full["on"] = True
        await pilot.press("3")
        panel = str(app.screen.query_one("#scores").render())
        status = str(app.screen.query_one("#status").render())
        assert "saved ✓" not in panel and "not saved: disk full" in panel
        assert "not saved: disk full" in status
        assert app.session.state.items["q1"].human == {"helpfulness": 4}  # not kept in memory either
        assert (tmp_path / "s" / "events.jsonl").stat().st_size == size  # no torn line
        full["on"] = False
        await pilot.press("3")
        assert app.saved_note == "saved ✓"
        assert app.session.state.items["q1"].human == {"helpfulness": 4, "instruction_following": 3}
    events = [json.loads(x) for x in (tmp_path / "s" / "events.jsonl").read_text().splitlines()]
    assert [e["value"] for e in events if e["type"] == "score"] == [4, 3]


def test_a_read_only_session_replays_and_exports_and_refuses_writes(
    finished_session: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "ro"
    with tmpfs(disk, "4m"):
        copy = disk / "s"
        copy.mkdir()
        for name in ("session.toml", "events.jsonl"):
            (copy / name).write_bytes((finished_session / name).read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        exported = run_cli("export", str(copy))
        assert exported.returncode == 0 and len(exported.stdout.splitlines()) == 3
        replayed = run_cli("replay", str(copy), "--headless", "--speed", "0")
        assert replayed.returncode == 0 and "Traceback" not in replayed.stderr
        one_line_error(run_cli("run", "--headless", "--session", str(copy)), "read-only file system")
        one_line_error(
            run_cli("judge", str(copy), "--judge", "openai:http://127.0.0.1:9/v1#j"), "read-only file system"
        )


def test_export_to_a_full_stdout_is_one_line(finished_session: Path) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "sftscope.tui.cli", "export", str(finished_session)],
            stdout=full, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    one_line_error(result, "disk full")


# --- 7. a key storm -------------------------------------------------------------------------------


async def test_a_key_storm_labels_only_answers_that_are_on_screen(tmp_path: Path) -> None:
    engine = FakeEngine(delay=0.1, pieces=6)  # slower than the keys
    app = make_app(tmp_path / "s", engine=engine, prompts=prompts_file(tmp_path, 30), ahead=1)
    keys = ["4", "3", "y", "n"] * 50
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        answered_at_key: list[bool] = []
        for key in keys:
            state = app.current
            answered_at_key.append(state is not None and app.has_answer(state))
            await pilot.press(key)
        await pilot.pause(0.2)
    events = [json.loads(x) for x in (tmp_path / "s" / "events.jsonl").read_text().splitlines()]
    by_item: dict[str, list[str]] = {}
    for event in events:
        by_item.setdefault(str(event.get("item")), []).append(event["type"])
    for item, kinds in by_item.items():
        if "score" in kinds:  # every label is on an answer (scored while it streamed, or after)
            assert "generation" in kinds, (item, kinds)
    scores = sum(kind == "score" for kinds in by_item.values() for kind in kinds)
    # The storm outran the answers: keys on an item with no answer, or within 150 ms of its
    # answer appearing, labelled nothing.
    assert 0 < scores <= sum(answered_at_key) and scores < len(keys)
    exported = rows(tmp_path / "s")
    for row in exported.values():
        if row["human"]:  # never a label on a pending row with an empty response
            assert row["status"] in ("done", "cancelled") and row["response"], row
    if 'status = "complete"' in (tmp_path / "s" / "session.toml").read_text():
        assert all(row["status"] == "done" and len(row["human"]) == 4 for row in exported.values())


async def test_a_key_on_an_item_with_no_answer_says_so(tmp_path: Path) -> None:
    engine = FakeEngine(delay=5.0, pieces=2)  # the first piece, then a long wait
    app = make_app(tmp_path / "s", engine=engine, prompts=prompts_file(tmp_path, 3), ahead=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        await pilot.press("right")  # q2: nothing generated yet (ahead 0, q1 streaming)
        await pilot.press("4", "s")
        status = str(app.screen.query_one("#status").render())
        assert "no answer yet on q2" in status
        assert app.session.state.items["q2"].actions == []


# --- 2 and 12. quitting and signals ---------------------------------------------------------------


def test_sigint_during_a_headless_run_is_interrupted_rc_130(tmp_path: Path) -> None:
    srv = ScriptedServer()
    srv.default = {"text": "slow " * 40, "gap": 0.05}
    session = tmp_path / "s"
    with serve_in_thread(srv) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftscope.tui.cli", "run", "--headless", "--engine", f"openai:{url}#m",
             "--prompts", str(prompts_file(tmp_path, 20)), "--session", str(session), "--concurrency", "2"],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(srv.requests) < 3:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - started
    assert process.returncode == 130, err
    assert "Traceback" not in err and "CancelledError" not in err
    assert "interrupted" in err
    assert took < 3
    assert 'status = "interrupted"' in (session / "session.toml").read_text()


# --- 10. a very long answer in the console --------------------------------------------------------


async def test_a_5_mb_answer_is_shown_in_bounded_time_and_keys_stay_fast(tmp_path: Path) -> None:
    engine = FakeEngine(pieces=4, words=600_000)  # about 5 MB of text
    app = make_app(tmp_path / "s", engine=engine, prompts=prompts_file(tmp_path, 2), ahead=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and app.session.state.items["q1"].complete, timeout=120)
        assert len(app.session.state.items["q1"].response) > 4_000_000
        started = time.monotonic()
        await pilot.press("right", "left")  # show it again, from scratch
        await pilot.pause()
        took = time.monotonic() - started
        assert "shown: the first 24,000 of" in app.answer.source
        started = time.monotonic()
        await pilot.press("tab")
        await pilot.pause()
        key = time.monotonic() - started
    assert took < 3, f"showing the answer took {took:.1f}s"
    assert key < 0.5, f"a key took {key:.2f}s"
    # The whole answer is saved, not the part on screen.
    events = [json.loads(x) for x in (tmp_path / "s" / "events.jsonl").read_text().splitlines()]
    saved = next(e for e in events if e["type"] == "generation" and e["item"] == "q1")
    assert len(saved["text"]) > 4_000_000


def test_checks_are_recorded_on_every_finished_item(tmp_path: Path) -> None:
    """The JudgePool listens to the Session: an IFEval item's checks land with its answer."""
    srv = ScriptedServer()
    srv.default = {"text": "all lowercase here."}
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"key": 7, "prompt": "Answer in lowercase.",
          "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
         {"id": "plain", "prompt": "Hi?", "reference": "All lowercase here."}],
    )  # fmt: skip
    session = tmp_path / "s"
    with serve_in_thread(srv) as url:
        result = headless(url, prompts, session)
    assert result.returncode == 0, result.stderr
    got = rows(session)
    checks = {"change_case:english_lowercase": True, "ifeval_strict": True, "ifeval_loose": True}
    assert got["7"]["checks"] == checks
    assert set(got["plain"]["metrics"]) == {"rougeL", "bleu", "chrf"}
