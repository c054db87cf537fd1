"""`sftscope compare` in a real terminal (tmux, a private server): votes with real keys,
q, then `sftscope export` of the comparison; and SIGTERM saves and marks it interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sftscope.tui.compare.app import KEY_SETTLE

from tests.compare_helpers import write_run_session
from tests.conftest import run_cli
from tests.tmux_helpers import Terminal, alive, wait_gone

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    words = {"q1": "one", "q2": "two", "q3": "three"}
    a = write_run_session(tmp_path / "runA", {i: f"Alpha answer {w}." for i, w in words.items()})
    b = write_run_session(tmp_path / "runB", {i: f"Beta answer {w}." for i, w in words.items()})
    return a, b


def compare_in_tmux(tmp_path: Path, size: tuple[int, int] = (80, 24)) -> tuple[Terminal, Path]:
    a, b = two_runs(tmp_path)
    target = tmp_path / "cmp"
    compare = ["compare", str(a), str(b), "--session", str(target), "--order", "file"]  # pairs as made
    command = [sys.executable, "-m", "sftscope.tui.cli", *compare]
    return Terminal(command, size=size), target


def exported(target: Path) -> dict[str, dict]:
    result = run_cli("export", str(target))
    assert result.returncode == 0, result.stderr
    return {row["item"]: row for row in map(json.loads, result.stdout.splitlines())}


def read_it() -> None:
    """An operator reads a pair before voting: a key sooner than KEY_SETTLE after the pair
    appeared is taken as typed ahead and dropped."""
    time.sleep(KEY_SETTLE + 0.15)


def showing(word: str) -> Callable[[str], bool]:
    """Both answers of the item whose answers end in `word` are on screen."""
    return lambda s: f"Alpha answer {word}." in s and f"Beta answer {word}." in s


def test_compare_votes_with_real_keys_quit_and_export(tmp_path: Path) -> None:
    term, target = compare_in_tmux(tmp_path)
    try:
        term.wait_for(lambda s: "pair 1/3" in s and showing("one")(s))
        read_it()
        term.keys("1")
        screen = term.wait_for(lambda s: "saved ✓" in s)
        assert "1 = run" in screen and "2 = run" in screen  # the moment the names are shown
        term.wait_for(lambda s: "pair 2/3" in s and showing("two")(s))  # moved on by itself
        read_it()
        term.keys("2")
        term.wait_for(lambda s: "pair 3/3" in s and showing("three")(s))
        read_it()
        term.keys("t")
        term.wait_for(lambda s: "voted 3" in s and "saved ✓" in s)
        term.keys("q")
        took = wait_gone(term.pid)
        screen = term.screen()
    finally:
        term.close()
    assert not alive(term.pid)
    assert took < 3, f"took {took:.1f}s to end after q"
    assert "Traceback" not in screen
    rows = exported(target)
    other = {"a": "b", "b": "a"}
    assert rows["q1"]["human"] == rows["q1"]["human_shown_first"]  # 1: the answer shown first
    assert rows["q2"]["human"] == other[rows["q2"]["human_shown_first"]]  # 2: the other one
    assert rows["q3"]["human"] == "tie"
    assert {rows[i]["a"] for i in rows} == {"runA"} and {rows[i]["b"] for i in rows} == {"runB"}
    assert 'status = "complete"' in (target / "session.toml").read_text()


def test_sigterm_saves_the_votes_and_marks_the_comparison_interrupted(tmp_path: Path) -> None:
    term, target = compare_in_tmux(tmp_path)
    try:
        term.wait_for(showing("one"))
        read_it()
        term.keys("b")
        term.wait_for(lambda s: "saved ✓" in s)
        os.kill(term.pid, signal.SIGTERM)
        took = wait_gone(term.pid)
    finally:
        term.close()
    assert not alive(term.pid) and took < 5
    assert 'status = "interrupted"' in (target / "session.toml").read_text()
    assert exported(target)["q1"]["human"] == "both_bad"
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(target)
    store.open()  # the lock was released
    store.close()


def test_a_60x20_split_shows_both_answers_and_the_keys(tmp_path: Path) -> None:
    """A tmux split of 60x20: both answers, the running line and the voting keys fit."""
    term, target = compare_in_tmux(tmp_path, size=(60, 20))
    try:
        screen = term.wait_for(lambda s: "pair 1/3" in s and showing("one")(s))
        assert "1/2 better" in screen and "q quit" in screen
        assert max(len(line) for line in screen.splitlines()) <= 60
        read_it()
        term.keys("2")
        term.wait_for(lambda s: "pair 2/3" in s)
        term.keys("q")
        wait_gone(term.pid)
    finally:
        term.close()
    assert exported(target)["q1"]["human"] in ("a", "b")
