"""The real command in a real terminal (tmux): keys in, kill -9 and SIGHUP, nothing lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_jsonl
from tests.tmux_helpers import Terminal, alive

SETTLE = 0.3  # past the console's 150 ms (tui.base.app.SETTLE), with room for a slow pane

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def console_on_server(tmp_path: Path, server_url: str, prompts: Path, session: Path) -> Terminal:
    """The real console in tmux, generating from the threaded scripted server."""
    command = [
        sys.executable,
        "-m",
        "sftscope.tui.cli",
        "run",
        "--order",
        "file",
        "--session",
        str(session),
        "--prompts",
        str(prompts),
        "--engine",
        f"openai:{server_url}#m",
    ]
    return Terminal(command)


def streaming_text(screen: str) -> bool:
    """An answer is streaming and some of its text is on screen (labels need an answer)."""
    found = re.search(r"streaming · (\d+) tok", screen)
    return found is not None and int(found.group(1)) >= 8


def export(session: Path) -> dict[str, dict]:
    result = run_cli("export", str(session))
    assert result.returncode == 0, result.stderr
    return {row["item"]: row for row in map(json.loads, result.stdout.splitlines())}


def score_row(screen: str, item: str) -> str:
    return next(line for line in screen.splitlines() if item[:12] in line[:16])


@pytest.mark.slow
def test_kill_9_mid_stream_loses_no_label_shown_as_saved(tmp_path: Path) -> None:
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": f"item{i}", "prompt": f"Write a long story about the number {i}."} for i in range(1, 4)],
    )
    session = tmp_path / "session"
    term = Terminal(
        [
            sys.executable,
            "-m",
            "sftscope.tui.cli",
            "run",
            "--order",
            "file",
            "--session",
            str(session),
            "--prompts",
            str(prompts),
            "--max-tokens",
            "400",
            "--n-ctx",
            "1024",
            "--ahead",
            "1",
        ],
    )
    try:
        term.wait_for(streaming_text, timeout=90)
        time.sleep(SETTLE)  # keys typed ahead of an answer's first paint label nothing
        shown: dict[str, object] = {}
        for key, value in (("4", 4), ("2", 2), ("y", True)):
            term.keys(key)
            screen = term.wait_for(lambda s, v=value: "saved ✓" in s and _row_has(s, "item1", v))
            shown[key] = value
        assert "streaming" in screen  # labels were saved while the answer was still streaming
        os.kill(term.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(term.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(term.pid)
    finally:
        term.close()
    rows = export(session)
    # Every label shown as saved is on record, bound to the answer it was given on: that
    # answer never finished (killed mid-stream), so the labels are kept as stale, never
    # counted for the answer a resume generates.
    labels = {"helpfulness": 4, "instruction_following": 2, "harmless": True}
    assert rows["item1"]["stale_labels"] == labels and rows["item1"]["human"] == {}
    # The killed session resumes: the lock died with the process.
    resumed = run_cli("run", "--headless", "--session", str(session), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = export(session)["item1"]
    assert after["stale_labels"] == labels and after["human"] == {} and after["response"]


def _row_has(screen: str, item: str, value: object) -> bool:
    try:
        row = score_row(screen, item)
    except StopIteration:
        return False
    marks = row[15:].strip()
    symbol = {True: "y", False: "n"}.get(value, str(value))  # type: ignore[arg-type]
    return symbol in marks


def test_sighup_saves_marks_interrupted_and_unlocks(tmp_path: Path, server_url: str) -> None:
    rows = [{"id": f"q{i}", "prompt": f"question {i}"} for i in range(1, 6)]
    prompts = write_jsonl(tmp_path / "p.jsonl", rows)
    session = tmp_path / "session"
    term = console_on_server(tmp_path, server_url, prompts, session)
    try:
        term.wait_for(lambda s: "0/5 scored" in s and "○ q1" in s)
        time.sleep(SETTLE)  # keys typed ahead of an answer's first paint label nothing
        term.keys("5")
        term.wait_for(lambda s: "saved ✓" in s)
        started = time.monotonic()
        term.tmux("kill-session", "-t", term.name)  # the terminal goes away: SIGHUP
        while alive(term.pid) and time.monotonic() - started < 10:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        term.close()
    assert not alive(term.pid)
    assert elapsed < 5, f"took {elapsed:.1f}s to exit after SIGHUP"
    header = (session / "session.toml").read_text()
    assert 'status = "interrupted"' in header
    assert export(session)["q1"]["human"] == {"helpfulness": 5}
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(session)
    store.open()  # the lock was released
    store.close()


def test_sigterm_also_saves_and_exits(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": "q1", "prompt": "question"}])
    session = tmp_path / "session"
    term = console_on_server(tmp_path, server_url, prompts, session)
    try:
        term.wait_for(lambda s: "○ q1" in s)
        time.sleep(SETTLE)  # keys typed ahead of an answer's first paint label nothing
        term.keys("n")  # not a binary criterion: nothing saved, a bell
        term.keys("3")
        term.wait_for(lambda s: "saved ✓" in s)
        os.kill(term.pid, signal.SIGTERM)
        started = time.monotonic()
        while alive(term.pid) and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert time.monotonic() - started < 5
    finally:
        term.close()
    assert 'status = "interrupted"' in (session / "session.toml").read_text()
    assert export(session)["q1"]["human"] == {"helpfulness": 3}


def _wait_gone(pid: int, limit: float = 10.0) -> float:
    started = time.monotonic()
    while alive(pid) and time.monotonic() - started < limit:
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.slow
def test_q_while_streaming_and_judging_is_gone_within_half_a_second(tmp_path: Path) -> None:
    """The bundled model streams and the local judge works: q must not wait for either."""
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": f"item{i}", "prompt": f"Write a long story about the number {i}."} for i in range(1, 4)],
    )
    session = tmp_path / "session"
    term = Terminal(
        [sys.executable, "-m", "sftscope.tui.cli", "run", "--order", "file", "--session", str(session),
         "--prompts", str(prompts), "--max-tokens", "400", "--n-ctx", "1024",
         "--judge", "local", "--judge-timeout", "300"],
    )  # fmt: skip
    try:
        term.wait_for(streaming_text, timeout=90)
        time.sleep(SETTLE)  # keys typed ahead of an answer's first paint label nothing
        term.keys("4")
        term.wait_for(lambda s: "saved ✓" in s)
        term.keys("q")
        took = _wait_gone(term.pid)
    finally:
        term.close()
    assert not alive(term.pid)
    print(f"figure: q to process gone: {took:.3f}s")
    assert took < 0.5, f"the process took {took:.2f}s to end after q"
    assert 'status = "stopped"' in (session / "session.toml").read_text()
    # Given while the answer streamed, on an answer quitting left unwritten: kept, as stale.
    assert export(session)["item1"]["stale_labels"] == {"helpfulness": 4}


def test_ctrl_c_in_the_console_saves_and_marks_interrupted(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(
        tmp_path / "p.jsonl", [{"id": "q1", "prompt": "question"}, {"id": "q2", "prompt": "b"}]
    )
    session = tmp_path / "session"
    term = console_on_server(tmp_path, server_url, prompts, session)
    try:
        term.wait_for(lambda s: "○ q1" in s)
        time.sleep(SETTLE)  # keys typed ahead of an answer's first paint label nothing
        term.keys("2")
        term.wait_for(lambda s: "saved ✓" in s)
        term.keys("C-c")
        took = _wait_gone(term.pid)
        screen = term.screen()
    finally:
        term.close()
    assert took < 2
    assert "Traceback" not in screen
    assert 'status = "interrupted"' in (session / "session.toml").read_text()
    assert export(session)["q1"]["human"] == {"helpfulness": 2}


def test_sigterm_while_the_model_loads_restores_the_terminal(tmp_path: Path) -> None:
    """A signal before the console is up: no traceback, no half header, the terminal restored."""
    session = tmp_path / "session"
    term = Terminal([sys.executable, "-m", "sftscope.tui.cli", "run", "--session", str(session)])
    term.tmux("set-option", "-t", term.name, "remain-on-exit", "on")  # keep the screen to read
    try:
        deadline = time.monotonic() + 30
        while not (session / "session.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(term.pid, signal.SIGTERM)
        _wait_gone(term.pid)
        screen = term.tmux("capture-pane", "-p", "-e", "-t", term.name)
        mode = term.tmux("display-message", "-p", "-t", term.name, "#{alternate_on}")
    finally:
        term.close()
    assert not alive(term.pid)
    assert "Traceback" not in screen
    assert mode.strip() in ("0", "")  # the alternate screen was left
    assert (
        not (session / "session.toml").exists() or "format_version" in (session / "session.toml").read_text()
    )


EVIL = "\x1b[2J\x1b[H\x1b[31mFAKE: saved ✓ all items scored\x1b[0m\x1b]0;pwned-title\x07"


def evil_session(tmp_path: Path) -> Path:
    """A session whose answer (and item id) carry escape sequences, generated headless by a
    scripted engine: what a hostile or broken model can put in a log."""
    import asyncio

    from sftscope.sessions.run.config import RunConfig
    from sftscope.sessions.run.launch import open_run

    from tests.test_trust_console import Scripted

    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "evil\nid", "prompt": "Say \x1b]0;prompt-title\x07hi"}, {"id": "q2", "prompt": "Fine?"}],
    )
    directory = tmp_path / "evil"
    flags = {"session": str(directory), "prompts": str(prompts), "order": "file"}  # hostile item first

    async def record() -> None:
        launch = open_run(RunConfig.build(flags=flags), engine=Scripted({"evil\nid": (EVIL, "stop", 9)}))
        await launch.start()
        launch.generator.queue()
        await launch.generator.run(until_idle=True)
        await launch.close("stopped")

    asyncio.run(record())
    return directory


def test_escape_sequences_in_an_answer_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """Replayed in a real pane: the screen is not cleared, the fake line is not drawn at the
    top left, the pane keeps its title, and the sequences are shown as symbols."""
    directory = evil_session(tmp_path)
    term = Terminal([sys.executable, "-m", "sftscope.tui.cli", "replay", str(directory), "--speed", "0"])
    try:
        title = term.tmux("display-message", "-p", "-t", term.name, "#{pane_title}").strip()
        screen = term.wait_for(lambda s: "FAKE" in s and "␛[2J" in s, timeout=60)
        time.sleep(0.5)
        screen = term.screen()
        rows = screen.splitlines()
        assert rows[0].startswith(" sftscope "), rows[0]  # the status line, not the fake one
        assert not rows[0].startswith("FAKE") and "FAKE" not in rows[0]
        assert "␛[2J␛[H␛[31mFAKE" in screen and "␛]0;pwned-title␇" in screen
        # The id's newline does not break its row: the next item is on the very next row.
        assert "evil␊id" in rows[1][:20] and "q2" in rows[2][:20], rows[:3]
        now = term.tmux("display-message", "-p", "-t", term.name, "#{pane_title}").strip()
        assert "pwned" not in now and "prompt-title" not in now and now == title
        term.keys("m")  # the raw text: just as inert
        screen = term.wait_for(lambda s: "raw text" in s, timeout=10)
        assert screen.splitlines()[0].startswith(" sftscope ") and "␛[2J" in screen
        assert "pwned" not in term.tmux("display-message", "-p", "-t", term.name, "#{pane_title}")
        term.keys("q")
    finally:
        term.close()
