"""Issue 18's "done when", in a real terminal: two raters label one finished session at once,
`sftscope replay SESSION --rater alice` and `--rater bob` in two panes of one private tmux
server; each rater's labels land in their own file, neither pane ever shows the other's
label, and `sftscope report --format json` gives Krippendorff's alpha of the two as the
krippendorff package computes it, with its interval."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, run_headless, write_jsonl
from tests.tmux_helpers import alive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SETTLE = 0.3  # past the console's 150 ms (tui.base.app.SETTLE): a key then counts as read
# Item ids and prompts without digits, so a digit on an item's row is a label.
ITEMS = ("apple", "pear", "plum", "fig", "lime", "kiwi")
ALICE = (5, 4, 3, 2, 1, 5)
BOB = (5, 2, 3, 2, 4, 5)  # differs from alice on pear and lime


class Panes:
    """Two panes of one tmux server of this test's own (`tmux -L NAME`): only it is killed."""

    def __init__(self, first: list[str], second: list[str]) -> None:
        self.server = f"sftscope-raters-{os.getpid()}"
        env = f"exec env -u COLUMNS -u LINES -u SFTSCOPE_RATER PYTHONPATH={ROOT} HF_HUB_OFFLINE=1 "
        self.tmux("new-session", "-d", "-s", "raters", "-x", "100", "-y", "50", env + _line(first))
        self.tmux("split-window", "-v", "-t", "raters", env + _line(second))
        rows = self.tmux("list-panes", "-t", "raters", "-F", "#{pane_id} #{pane_pid} #{pane_top}").split("\n")
        panes = sorted(
            (int(top), pane, int(pid)) for pane, pid, top in (r.split() for r in rows if r.strip())
        )
        (_, self.top, self.top_pid), (_, self.bottom, self.bottom_pid) = panes

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def screen(self, pane: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", pane)

    def keys(self, pane: str, *keys: str) -> None:
        self.tmux("send-keys", "-t", pane, *keys)

    def wait_for(self, pane: str, predicate: object, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen(pane)
            if predicate(text):  # type: ignore[operator]
                return text
            time.sleep(0.03)
        raise AssertionError(f"pane {pane} never matched:\n{self.screen(pane)}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, timeout=10)


def _line(command: list[str]) -> str:
    return " ".join("'" + part.replace("'", "'\\''") + "'" for part in command)


def row_of(screen: str, item: str) -> str:
    """The item list's row of `item` (its marks: the labels given), as shown."""
    return next((line[:40] for line in screen.splitlines() if f" {item}" in line[:16]), "")


def _labels(path: Path) -> list[tuple[str, int, str]]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["item"], r["value"], r["rater"]) for r in records if r["type"] == "score"]


def test_two_raters_label_one_session_at_once_in_two_tmux_panes(tmp_path: Path, server_url: str) -> None:
    import krippendorff
    import numpy as np

    rubric = tmp_path / "rubric.toml"
    rubric.write_text('[[criteria]]\nname = "helpfulness"\nkind = "likert"\nmin = 1\nmax = 5\n')
    prompts = write_jsonl(
        tmp_path / "p.jsonl", [{"id": i, "prompt": f"Tell me about the {i}."} for i in ITEMS]
    )
    session = tmp_path / "session"
    made = run_headless(server_url, prompts, session, "--order", "file", "--rubric", str(rubric))
    assert made.returncode == 0, made.stderr

    def replay(rater: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sftscope.tui.cli",
            "replay",
            str(session),
            "--speed",
            "0",
            "--rater",
            rater,
        ]

    panes = Panes(replay("alice"), replay("bob"))
    alice, bob = panes.top, panes.bottom
    try:
        panes.wait_for(alice, lambda s: "rater alice" in s and "0/6 scored" in s)
        panes.wait_for(bob, lambda s: "rater bob" in s and "0/6 scored" in s)
        for item, mine, theirs in zip(ITEMS, ALICE, BOB, strict=True):
            time.sleep(SETTLE)
            panes.keys(alice, str(mine))
            time.sleep(SETTLE)
            panes.keys(bob, str(theirs))
            panes.wait_for(alice, lambda s, i=item, v=mine: str(v) in row_of(s, i))
            seen = panes.wait_for(bob, lambda s, i=item, v=theirs: str(v) in row_of(s, i))
            if mine != theirs:  # blind: alice's value never on bob's row of the item
                assert str(mine) not in row_of(seen, item), seen
        panes.wait_for(alice, lambda s: "6/6 scored" in s)
        screen = panes.wait_for(bob, lambda s: "6/6 scored" in s)
        for item, mine, theirs in zip(ITEMS, ALICE, BOB, strict=True):
            if mine != theirs:
                assert str(mine) not in row_of(screen, item), screen
        # On disk while both consoles are still open: each label written before saved ✓.
        ratings = session / "ratings"
        assert _labels(ratings / "alice.jsonl") == [
            (i, v, "alice") for i, v in zip(ITEMS, ALICE, strict=True)
        ]
        assert _labels(ratings / "bob.jsonl") == [(i, v, "bob") for i, v in zip(ITEMS, BOB, strict=True)]
        panes.keys(alice, "q")
        panes.keys(bob, "q")
        deadline = time.monotonic() + 15
        while (alive(panes.top_pid) or alive(panes.bottom_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(panes.top_pid) and not alive(panes.bottom_pid)
    finally:
        panes.close()
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["type"] == "score"]  # the labels live in the raters' files
    assert not (ratings / "alice.lock").exists() or not _locked(ratings / "alice.lock")

    report = run_cli("report", str(session), "--format", "json")
    assert report.returncode == 0, report.stderr
    raters = json.loads(report.stdout)["raters"]
    assert raters["names"] == ["alice", "bob"]
    alpha = raters["alpha"]["helpfulness"]
    expected = krippendorff.alpha(
        reliability_data=np.array([ALICE, BOB], dtype=float),
        level_of_measurement="ordinal",
        value_domain=[1, 2, 3, 4, 5],
    )
    assert alpha["n"] == len(ITEMS)
    assert alpha["alpha"] == pytest.approx(expected, abs=1e-9)
    low, high = alpha["ci"]
    assert low <= alpha["alpha"] <= high


def _locked(path: Path) -> bool:
    """Whether a console still holds a rater's lock (none should once both have quit)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
