"""Console responsiveness on the bundled model, measured from outside, as the operator sees it.

The real command (`python -m tui.cli run`, what the `sftscope` script runs) is started in
a pseudo-terminal of 80x24; keys are written to the terminal as bytes, and what the
console writes back is read through a terminal emulator (pyte) into a screen.

1. Keypress-to-screen latency while an answer streams at full speed: from the
   write() of a key's bytes to the first screen state that shows its effect:
   - tab: the ▶ focus marker on the next criterion's row;
   - 1-5 (likert) and y/n (binary): the chosen value highlighted on the scored
     criterion's row and "saved ✓" on screen (the label is fsynced before that).
   Every key is sent while the answer on screen is streaming (long prompts,
   --ahead 0; when an answer has finished, `r` generates it again). The rubric
   is the default one with auto_advance off, so a score key stays on its item.
   Goal (docs/figures.md): p95 <= 50 ms and p99 <= 100 ms, per key kind and overall.
2. The operator's wait per item when labelling one item every 3 seconds (30
   built-in prompts, --max-tokens 256, --ahead 3): on arriving at an item, how long
   until the screen shows its answer complete (0 when it is already there).
   Goal: no wait (under 50 ms) on at least 95% of items.

Exits 1 when a goal is missed or a key's effect never shows.

    .venv/bin/python bench/ui_latency.py [--keys 300] [--items 30] [--pace 3]

`--items 0` measures the keys only (its run time: docs/figures.md).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import queue
import random
import re
import signal
import struct
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parent.parent
COLUMNS, LINES = 80, 24
SAVED = "saved ✓"
REFUSED = "no answer yet"  # a score key before any answer text: refused, said in the status line
# The default rubric (docs/console.md), as the score panel names its rows.
CRITERIA = [
    ("helpfulness", "likert"),
    ("instruction_following", "likert"),
    ("harmless", "binary"),
    ("format", "binary"),
]
RUBRIC = "auto_advance = false\n" + "".join(
    f'\n[[criteria]]\nname = "{name}"\nkind = "{kind}"\n' for name, kind in CRITERIA
)
# Long answers, so that one generation streams for several seconds.
PROMPTS = [
    "Write a detailed essay of at least 600 words on the history of computing, from the abacus "
    "to the smartphone.",
    "Explain in great detail, step by step and with examples, how a bicycle works.",
    "Write a long story about a lighthouse keeper and a storm.",
]
KEY_TIMEOUT = 5.0
GOAL_P95, GOAL_P99 = 50.0, 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Terminal:
    """A command in a pseudo-terminal, its output read into a pyte screen.

    `predicate` is armed before a key is written; it is checked after every chunk
    the terminal receives, and `matched_at` keeps the arrival time of the first
    chunk that made it true.
    """

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.cond = threading.Condition()
        self.predicate: Callable[[Terminal], bool] | None = None
        self.matched_at: float | None = None
        self.read_at = 0.0  # when the bytes now on the screen arrived
        self.armed_at = 0.0
        self.closed = False
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        # One thread only reads and timestamps, another parses: a chunk's arrival time
        # never waits behind the parsing of the one before (pyte is pure Python).
        self.chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        sys.setswitchinterval(0.0005)  # the reader gets the GIL back within half a millisecond
        for target in (self._read, self._parse):
            threading.Thread(target=target, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            self.chunks.put((time.perf_counter(), data))
            if not data:
                return

    def _parse(self) -> None:
        while True:
            arrived, data = self.chunks.get()
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.stream.feed(data)
                self.read_at = arrived
                if (
                    self.predicate is not None
                    and self.matched_at is None
                    and arrived >= self.armed_at  # bytes written before the key cannot show it
                    and self.predicate(self)
                ):
                    self.matched_at = arrived
                self.cond.notify_all()

    # --- reading the screen (call with self.cond held, or from a predicate) ----------
    def text(self) -> str:
        return "\n".join(self.screen.display)

    def row_of(self, name: str) -> tuple[int, int, bool] | None:
        """(row, column just past the name, focused) of a criterion in the score panel."""
        pattern = re.compile(r"(▶ |  )" + re.escape(name) + " ")
        for y, line in enumerate(self.screen.display):
            match = pattern.search(line)
            if match:
                return y, match.end() - 1, match.group(1) == "▶ "
        return None

    def focus(self) -> int | None:
        for index, (name, _) in enumerate(CRITERIA):
            row = self.row_of(name)
            if row is not None and row[2]:
                return index
        return None

    def chosen(self, index: int) -> str | None:
        """The value shown highlighted on a criterion's row (None when none is)."""
        row = self.row_of(CRITERIA[index][0])
        if row is None:
            return None
        y, end, _ = row
        cells = self.screen.buffer[y]
        plain = cells[end - 1].bg  # the panel's own background, behind the name
        options = "12345" if CRITERIA[index][1] == "likert" else "yn"
        for x in range(end, COLUMNS):
            cell = cells[x]
            if cell.data in options and (cell.reverse or cell.bg != plain):
                return cell.data
        return None

    def streaming(self) -> bool:
        return " streaming · " in self.text()

    # --- driving it -------------------------------------------------------------------
    def wait(self, predicate: Callable[[Terminal], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return False
                self.cond.wait(min(left, 0.1))
        return True

    def timed_key(self, key: bytes, effect: Callable[[Terminal], bool], timeout: float) -> float | None:
        """Write a key; seconds from write() to the first screen state showing `effect`."""
        with self.cond:
            self.predicate, self.matched_at = effect, None
            sent = self.armed_at = time.perf_counter()
            os.write(self.fd, key)
        try:
            self.wait(lambda t: t.matched_at is not None, timeout)
            return None if self.matched_at is None else self.matched_at - sent
        finally:
            with self.cond:
                self.predicate = None

    def send(self, key: bytes) -> None:
        os.write(self.fd, key)

    def close(self) -> int | None:
        """Quit with q; SIGTERM, then SIGKILL, if it does not exit."""
        self.send(b"q")
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                os.kill(self.pid, sig)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    os.close(self.fd)
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.05)
        return None


def console(session: Path, *extra: str) -> Terminal:
    argv = [sys.executable, "-m", "sftscope.tui.cli", "run", "--session", str(session)]
    argv += ["--max-tokens", "256", *extra]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COLUMNS", "LINES", "TEXTUAL_DRIVER", "NO_COLOR")
    }
    env.update(TERM="xterm-256color", COLORTERM="truecolor", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return Terminal(argv, env, ROOT)


@dataclass
class Latencies:
    by_kind: dict[str, list[float]] = field(default_factory=lambda: {"tab": [], "1-5": [], "y/n": []})
    missed: int = 0  # keys whose effect never showed
    refused: int = 0  # score keys the console refused (no answer text on screen yet)
    regenerations: int = 0
    streaming_at_effect: int = 0  # effects shown while the answer was still streaming
    rates: list[float] = field(default_factory=list)  # tok/s of each answer that finished


def key_latency(keys: int, workdir: Path) -> Latencies:
    """tab, a likert score, tab, a binary score, ... on the focused criterion, answer streaming."""
    rubric = workdir / "rubric.toml"
    rubric.write_text(RUBRIC)
    prompts = workdir / "long.jsonl"
    rows = [json.dumps({"id": f"long{i}", "prompt": p}) + "\n" for i, p in enumerate(PROMPTS)]
    prompts.write_text("".join(rows))
    term = console(workdir / "latency", "--rubric", str(rubric), "--prompts", str(prompts), "--ahead", "0")
    result = Latencies()
    rng = random.Random(0)
    plan = ["tab", "1-5", "tab", "y/n"]
    step = 0
    trace = bool(os.environ.get("BENCH_TRACE"))
    try:
        if not term.wait(lambda t: t.focus() is not None and t.streaming(), 180):
            raise SystemExit(f"the console never showed a streaming answer:\n{term.text()}")
        for number in range(keys):
            if not term.streaming():  # keep an answer streaming: generate it again
                result.regenerations += 1
                with term.cond:
                    rate = re.search(r"\d+ tok · (\d+\.\d) tok/s", term.text())
                if rate:
                    result.rates.append(float(rate.group(1)))
                term.send(b"r")
                if not term.wait(lambda t: t.streaming(), 60):
                    raise SystemExit(f"`r` did not start a new stream:\n{term.text()}")
                time.sleep(0.2)  # until its first words are on screen
            with term.cond:
                focus = term.focus()
                assert focus is not None, term.text()
                current = term.chosen(focus)
                refused_before = REFUSED in term.text()
            kind = plan[step % len(plan)]
            on = "1-5" if CRITERIA[focus][1] == "likert" else "y/n"
            if kind != "tab" and kind != on:
                kind = "tab"  # move on to a criterion of the kind wanted; the plan waits
            else:
                step += 1
            if kind == "tab":
                key = b"\t"
                target = (focus + 1) % len(CRITERIA)

                def effect(t: Terminal, target: int = target) -> bool:
                    return t.focus() == target

            else:
                if kind == "1-5":
                    value = rng.choice([d for d in "12345" if d != current])
                else:
                    value = "n" if current == "y" else "y"
                key = value.encode()

                def effect(t: Terminal, focus: int = focus, value: str = value) -> bool:
                    return t.chosen(focus) == value and SAVED in t.text()

            def refused(t: Terminal, before: bool = refused_before) -> bool:
                return not before and REFUSED in t.text()

            elapsed = term.timed_key(key, lambda t, e=effect, r=refused: e(t) or r(t), KEY_TIMEOUT)
            with term.cond:
                screen = term.text()
                was_refused = refused(term) and not effect(term)
            if trace:
                print(f"{number} focus {focus} was {current} {kind} {key!r} {elapsed}", file=sys.stderr)
            if was_refused:
                result.refused += 1
            elif elapsed is None:
                result.missed += 1
                print(
                    f"  {kind} {key!r} on {CRITERIA[focus][0]} (was {current}): no effect on screen "
                    f"within {KEY_TIMEOUT:g}s; the screen:\n{screen}",
                    file=sys.stderr,
                )
            else:
                result.by_kind[kind].append(elapsed * 1000)
                result.streaming_at_effect += " streaming · " in screen
            time.sleep(rng.uniform(0.03, 0.12))  # not in step with the console's frames
        return result
    finally:
        code = term.close()
        if code not in (0, None):
            print(f"  the console exited with {code}", file=sys.stderr)


def operator_wait(items: int, pace: float, workdir: Path) -> list[float]:
    """Label one item every `pace` seconds (4 4 y y, auto-advance); time each arrival's wait."""
    term = console(workdir / "operator")
    waits: list[float] = []
    finished = re.compile(r"\d+ tok · \d+\.\d tok/s")

    def at(t: Terminal, number: int) -> bool:
        # The conversation's title (" q3 · 3/30 · writing "), not the status line's "3/30 scored".
        return re.search(rf"· {number}/\d+(?!\d| scored)", t.text()) is not None

    def complete(t: Terminal) -> bool:
        text = t.text()
        return bool(finished.search(text)) and " streaming · " not in text and "waiting for" not in text

    def arrival(number: int) -> tuple[Callable[[Terminal], bool], dict[str, float]]:
        """Matches once item `number` is on screen with its answer complete; keeps both times."""
        times: dict[str, float] = {}

        def watch(t: Terminal) -> bool:
            if "arrived" not in times:
                if not (at(t, number) and t.focus() is not None):
                    return False
                times["arrived"] = t.read_at
            if complete(t):
                times["ready"] = t.read_at
                return True
            return False

        return watch, times

    try:
        number = 1
        while True:
            watch, times = arrival(number)
            with term.cond:
                term.predicate, term.matched_at = watch, None
            if number > 1:
                for key in (b"4", b"4", b"y", b"y"):  # the last one auto-advances
                    term.send(key)
                    time.sleep(0.03)
            term.wait(lambda t: t.matched_at is not None, 300 if number > 1 else 480)
            with term.cond:
                term.predicate = None
                if "ready" not in times:
                    raise SystemExit(f"item {number} never shown complete:\n{term.text()}")
                total = int(re.search(r"· \d+/(\d+)(?!\d| scored)", term.text()).group(1))  # type: ignore[union-attr]
            waits.append(times["ready"] - times["arrived"])
            if number >= min(items, total):
                return waits
            time.sleep(pace)  # the operator reads
            number += 1
    finally:
        term.close()


def report(name: str, values: list[float]) -> bool:
    if not values:
        print(f"  {name:8} no keys")
        return False
    p95, p99 = percentile(values, 95), percentile(values, 99)
    ok = p95 <= GOAL_P95 and p99 <= GOAL_P99
    print(
        f"  {name:8} n={len(values):3}  p50 {percentile(values, 50):5.1f} ms  p95 {p95:5.1f} ms  "
        f"p99 {p99:5.1f} ms  max {max(values):5.1f} ms  {'ok' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--pace", type=float, default=3.0)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"keypress-to-screen latency through a pty ({COLUMNS}x{LINES}), answer streaming, "
            f"bundled model, {args.keys} keys (goal p95 <= {GOAL_P95:g} ms, p99 <= {GOAL_P99:g} ms):"
        )
        result = key_latency(args.keys, Path(tmp))
        for name, values in result.by_kind.items():
            ok &= report(name, values)
        everything = [v for values in result.by_kind.values() for v in values]
        ok &= report("overall", everything)
        print(
            f"  {result.streaming_at_effect}/{len(everything)} effects shown while the answer streamed; "
            f"answers regenerated to keep one streaming: {result.regenerations}; "
            f"keys refused (no answer text yet): {result.refused}; keys without effect: {result.missed}"
        )
        if result.rates:  # "full speed": compare with bench/overhead.py's tok/s on this machine
            rates = ", ".join(f"{r:.1f}" for r in result.rates)
            print(f"  the answers streamed meanwhile at {rates} tok/s")
        ok &= result.missed == 0
        if args.items > 0:  # --items 0: keys only
            print(
                f"operator labelling one item every {args.pace:g}s through a pty, max_tokens 256, "
                f"ahead 3, {args.items} items:"
            )
            waits = operator_wait(args.items, args.pace, Path(tmp))
            no_wait = sum(1 for w in waits if w < 0.05)
            share = no_wait / len(waits)
            print(
                f"  no wait on {no_wait}/{len(waits)} items ({100 * share:.0f}%, goal >= 95%); "
                f"mean wait {sum(waits) / len(waits):.2f}s, longest {max(waits):.2f}s "
                f"(item {waits.index(max(waits)) + 1})"
            )
            ok &= share >= 0.95
    print("ok" if ok else "BELOW GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
