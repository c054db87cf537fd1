"""The real command in a real terminal: one tmux session on a tmux server of its own."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT


class Terminal:
    """One tmux session at 80x24 running a command, with its own server socket, so a test
    only ever kills the server it started."""

    def __init__(self, command: list[str], *, size: tuple[int, int] = (80, 24)) -> None:
        # tmux's socket path must stay short (108 bytes for a UNIX socket).
        self.socket = tempfile.mktemp(prefix="sft-", suffix=".sock", dir="/tmp")
        self.name = "sftscope-test"
        # COLUMNS and LINES (set in a test process, inherited by the tmux server) would tell
        # the console a size other than the pane's.
        env = f"-u COLUMNS -u LINES PYTHONPATH={ROOT} HF_HUB_OFFLINE=1"
        width, height = size
        line = "exec env " + env + " " + " ".join(_quote(c) for c in command)
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), line)
        self.pid = int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.03)
        raise AssertionError(f"screen never matched:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, limit: float = 10.0) -> float:
    started = time.monotonic()
    while alive(pid) and time.monotonic() - started < limit:
        time.sleep(0.01)
    return time.monotonic() - started
