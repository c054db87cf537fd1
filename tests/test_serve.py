"""`sftscope serve` in a real browser: the real command serves a finished session, headless
Chromium opens the page, a rater types their name in the terminal in the page (or the page
is opened as /?rater=NAME), presses score keys, and the labels are read back from that
rater's file on disk (ratings/NAME.jsonl). The terminal in the page is a canvas: what it
shows is read from the bytes the page's websocket receives, escapes stripped.

Browser tests are skipped without a browser (failed under CI); none passes without one.
Run under the model lock (one browser at a time):

    flock /tmp/sftscope-model.lock .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_serve.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser_helpers import chromium
from tests.conftest import ROOT, one_line_error, run_cli

# The bytes every websocket of the page receives, kept as text for the test to read.
TAP = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__tty = "";
  window.WebSocket = function (url, protocols) {
    const socket = new Native(url, protocols);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") window.__tty += decoder.decode(event.data, { stream: true });
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""
ESCAPE = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[@-Z\\-_])")


def finished_session(directory: Path) -> Path:
    """Four answered items, no labels, written through the real writer."""
    from sftscope.sessions.core.events import Generated
    from sftscope.sessions.core.item import Item
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "complete",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#m", "model": "m"},
            "params": {"temperature": 0.0},
            "prompts": {"path": "p.jsonl", "sha256": "0", "count": 4},
        }
    )
    session = Session(store)
    items = [Item(id=f"q{i}", turns=[f"question number {i}"]) for i in range(4)]
    session.add_items(items)
    for item in items:
        session.record(Generated(item.id, 0, f"the answer to {item.id}", "stop", tokens=4))
    store.close(status="complete")
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(session: Path, log: Path, *extra: str) -> Iterator[str]:
    """The real `sftscope serve` on a free port until the test is done; Ctrl+C ends it
    quietly (exit 0, no traceback)."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "sftscope.tui.cli", "serve", str(session), "--port", str(port), *extra],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert server.stderr is not None
        banner = [server.stderr.readline() for _ in range(4)]
        try:
            assert f"http://127.0.0.1:{port}" in banner[0], banner
            assert "no authentication" in banner[1], banner
            yield f"http://127.0.0.1:{port}"
        finally:
            server.send_signal(signal.SIGINT)
            rest = server.stderr.read()
            assert server.wait(timeout=30) == 0, rest
            assert "Traceback" not in rest + log.read_text(), rest


def screen(page: Any) -> str:
    return ESCAPE.sub("", page.evaluate("window.__tty"))


def wait_for(what: Callable[[], Any], timeout: float = 30.0, why: str = "") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out: {why}")


def scores(session: Path, rater: str) -> list[tuple[str, Any, str]]:
    path = session / "ratings" / f"{rater}.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["item"], r["value"], r["rater"]) for r in records if r.get("type") == "score"]


def open_tab(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.add_init_script(TAP)
    page.goto(url)
    return page


def label(page: Any, session: Path, rater: str, keys: str) -> None:
    """Press each score key once the answer is on screen, and wait for it to be on disk."""
    page.locator("#terminal").click()
    wait_for(lambda: "the answer to q0" in screen(page), why="the first answer in the page")
    for n, key in enumerate(keys, start=1):
        time.sleep(0.4)  # a key typed before the answer settled on screen labels nothing
        page.keyboard.press(key)
        try:
            wait_for(lambda n=n: len(scores(session, rater)) >= n, timeout=10, why=f"label {n} of {rater}")
        except AssertionError:
            print(sorted(p.name for p in (session / "ratings").iterdir()))
            raise


@pytest.mark.slow
def test_a_rater_named_in_the_page_labels_into_their_own_file(tmp_path: Path) -> None:
    session = finished_session(tmp_path / "s")
    with chromium("open the labelling console in") as browser, serving(session, tmp_path / "log") as url:
        started = time.monotonic()
        alice = open_tab(browser, url)
        wait_for(lambda: "rater name" in screen(alice), why="the rater-name screen")
        print(f"tab start to the rater question: {time.monotonic() - started:.2f} s")
        alice.locator("#terminal").click()
        alice.keyboard.type("no way!")  # not a rater name: asked again, nothing written
        alice.keyboard.press("Enter")
        wait_for(lambda: "not a rater name" in screen(alice), why="the bad name refused")
        alice.keyboard.press("Control+u")  # the field emptied in one key (Input: delete left of it all)
        alice.keyboard.type("alice")
        alice.keyboard.press("Enter")
        label(alice, session, "alice", "42")
        # A second tab, a second rater (named in the URL): their own file, blind to alice's.
        bob = open_tab(browser, f"{url}/?rater=bob")
        label(bob, session, "bob", "5")
        alice.close()  # a closed tab loses nothing: every label was on disk before this
        bob.close()
    assert [(value, who) for _, value, who in scores(session, "alice")] == [(4, "alice"), (2, "alice")]
    assert [(value, who) for _, value, who in scores(session, "bob")] == [(5, "bob")]
    events = (session / "events.jsonl").read_text()
    assert '"type":"score"' not in events.replace(" ", "")  # labels only in the raters' files


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    session = finished_session(tmp_path / "s")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        one_line_error(run_cli("serve", str(session), "--port", port), f"--port {port}", "in use")
    one_line_error(run_cli("serve", str(session), "--port", "70000"), "--port 70000")
    one_line_error(run_cli("serve", str(session), "--host", "nohost.invalid"), "--host nohost.invalid")
    one_line_error(run_cli("serve", str(tmp_path / "none")), "not a session")
    one_line_error(run_cli("serve", str(session), "--rater", "../x"), "--rater")
