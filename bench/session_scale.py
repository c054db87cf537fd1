"""A large session: export, replay and the console's first paint must not grow with its size.

Writes a 16,000-item session (about 7 events per item: item, generation, four scores,
then a judge or a checks event; 112,001 events, about 27 MB) through the real
`SessionStore`, then measures three figures, each the median of --runs runs with a limit
(exit 1 over it):

1. `sftscope export DIR -o FILE` (the real command, a subprocess): wall time and peak
   RSS, at most 1.5 s.
2. `sftscope replay DIR` as a person runs it: the installed `sftscope` script started in a
   pseudo-terminal of 80x24 (a new process), its output read through a terminal emulator
   (pyte, as bench/ui_latency.py does), from the start to the first screen that shows the
   first item's prompt and the beginning of its answer: at most 2 s. Then `q`, and the
   process must end.
3. The run console's first paint: the real app (FakeEngine, every answer already there)
   in a subprocess of its own, from process start to the first frame that shows the
   first item's answer: at most 2 s and 200 MB of peak RSS. (The app alone: this figure
   cannot see what the command does before the app starts, which is why 2. exists.)

    .venv/bin/python bench/session_scale.py [--items 16000] [--runs 3] [--session DIR]

Another agent's work on the same cores slows every figure: run it on a quiet machine (the
repository's helpers hold /tmp/sftscope-model.lock while they load models).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import pty
import queue
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXPORT_LIMIT_S = 1.5
REPLAY_LIMIT_S = 2.0
PAINT_LIMIT_S = 2.0
SCREEN = (80, 24)  # columns, lines of the replay's terminal
PAINT_LIMIT_MB = 200.0
CRITERIA = (("helpfulness", 4), ("instruction_following", 3), ("harmless", True), ("format", False))
ANSWER = (
    "Here is a careful answer to question {n}. First, the context: a naïve reading misses the "
    "point — the café's menu lists 水 and thé. Second, the steps: gather the facts, weigh them, "
    "and write the result down plainly. Third, a short example follows.\n\n"
    "- point one for item {n}\n- point two, with a detail\n- point three, to close\n\n"
    "That is the whole answer; ask again for more detail on any of the points above, "
    "or for a shorter version of it. "
)


def first_answer_marker(index: int = 0) -> str:
    """Text of item `index`'s answer that its first paint must show."""
    return f"careful answer to question {index}."


def write_session(directory: Path, count: int) -> None:
    """A finished, fully scored session of `count` items, written through the real store:
    item, generation, four scores, then a judge (even items) or a checks event (odd)."""
    from sftscope.scorers.rubric import DEFAULT_RUBRIC
    from sftscope.sessions.core.item import Item
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "stopped",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#fake", "spec": "fake:"},
            "params": {"max_tokens": 256, "temperature": 0.0, "top_p": 1.0, "seed": 0},
            "prompts": {"path": "bench", "sha256": "0", "count": count},
            "rubric": DEFAULT_RUBRIC.to_dict(),
        }
    )
    store.append({"type": "run_start", "engine": "fake:", "params": {"max_tokens": 256}})
    for index in range(count):
        item_id = f"item-{index:05d}"
        item = Item(
            id=item_id,
            turns=[f"Question number {index}: explain the topic in three short points, please."],
            category=("writing", "reasoning", "coding", "advice")[index % 4],
            # Items with a reference get a checks event (its metrics), so resuming adds none.
            reference=f"A reference answer for question {index}, in three points." if index % 2 else None,
            line=index + 1,
        )
        store.append({"type": "item", "item": item_id, "index": index, "data": item.to_dict()})
        store.append(
            {"type": "generation", "item": item_id, "turn": 0, "text": ANSWER.format(n=index),
             "tokens": 96 + index % 50, "prompt_tokens": 24, "ttft": round(0.031 + (index % 7) * 0.0011, 4),
             "seconds": round(1.2 + (index % 13) * 0.0173, 4), "finish_reason": "stop"}
        )  # fmt: skip
        for criterion, value in CRITERIA:
            store.append(
                {"type": "score", "item": item_id, "criterion": criterion, "value": value,
                 "judge_visible": False}
            )  # fmt: skip
        if index % 2 == 0:
            store.append(
                {"type": "judge", "item": item_id, "judge": "qwen72", "model": "Qwen2.5-72B-Instruct",
                 "template": "rubric-json", "template_sha256": "ab" * 32,
                 "scores": {"helpfulness": 4, "instruction_following": 4, "harmless": True, "format": True},
                 "error": None,
                 "raw": '{"helpfulness": 4, "instruction_following": 4, "harmless": "yes", "format": "yes", '
                        '"justification": "Clear and complete."}',
                 "latency": round(0.8 + (index % 11) * 0.013, 3), "attempts": 1,
                 "cache_key": hashlib.sha256(str(index).encode()).hexdigest()}
            )  # fmt: skip
        else:
            store.append(
                {"type": "checks", "item": item_id,
                 "checks": {"contains": True, "bullet_count": index % 5 != 0},
                 "metrics": {"rougeL": 0.2 + (index % 9) / 97, "bleu": 3.5 + (index % 7) / 3,
                             "chrf": 21.0 + (index % 5) / 7},
                 "errors": []}
            )  # fmt: skip
    store.close()


def child_env() -> dict[str, str]:
    """The environment of every command measured: this checkout importable (after any
    PYTHONPATH given, so that another tree can be measured the same way)."""
    given = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (given, str(ROOT))))}


def sftscope_command() -> list[str]:
    """The `sftscope` script installed beside this Python, as a person starts it."""
    script = Path(sys.executable).with_name("sftscope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sftscope.tui.cli"]


def first_screen(lines: list[str]) -> bool:
    """The replay's first screen: the first item's prompt and the beginning of its answer."""
    text = "\n".join(lines)
    return "Question number 0:" in text and "Here is a careful" in text


def measure_replay(directory: Path, work: Path) -> tuple[float, float]:
    """Seconds from starting `sftscope replay COPY` in a pseudo-terminal to its first screen
    (`first_screen`), and the process's peak RSS (MB), on a fresh copy of the session
    (opening one for labelling may append to its log).

    One thread only reads the terminal and notes when each chunk arrived; this one feeds
    the chunks to pyte, so a chunk's time never waits behind the parsing of the one before.
    Once the screen is there, `q` quits; the process must end within 30 s."""
    import pyte

    copy = work / "replay"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("session.lock"))
    columns, lines = SCREEN
    env = {k: v for k, v in child_env().items() if k not in ("COLUMNS", "LINES")}  # the pty's size rules
    env["TERM"] = "xterm-256color"
    argv = [*sftscope_command(), "replay", str(copy)]
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def read() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            chunks.put((time.perf_counter(), data))
            if not data:
                return

    threading.Thread(target=read, daemon=True).start()
    screen = pyte.Screen(columns, lines)
    stream = pyte.ByteStream(screen)
    shown: float | None = None
    deadline = started + 120
    try:
        while shown is None:
            try:
                arrived, data = chunks.get(timeout=max(0.1, deadline - time.perf_counter()))
            except queue.Empty:
                sys.exit("replay: the first screen never showed:\n" + "\n".join(screen.display))
            if not data:
                sys.exit("replay: ended before its first screen:\n" + "\n".join(screen.display))
            stream.feed(data)
            if first_screen(screen.display):
                shown = arrived
        os.write(fd, b"q")
        ended = time.monotonic() + 30
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > ended:
                os.kill(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                sys.exit("replay: still running 30 s after q")
            time.sleep(0.02)
    finally:
        os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"replay: exit status {os.waitstatus_to_exitcode(status)}")
    return shown - started, usage.ru_maxrss / 1024


# Runs one command and reports its wall time and peak RSS: a fresh parent, so that
# RUSAGE_CHILDREN holds that command's peak alone.
MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
took = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": took, "rss_mb": peak, "rc": done.returncode, "stderr": done.stderr[-500:]}))
"""


def measure_export(directory: Path, output: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the real `sftscope export` command."""
    command = [sys.executable, "-m", "sftscope.tui.cli", "export", str(directory), "-o", str(output)]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=child_env()
    )
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        sys.exit(f"export failed: {result['stderr']}")
    return result["seconds"], result["rss_mb"]


def measure_paint(directory: Path, work: Path) -> tuple[float, float]:
    """Seconds from process start to the first screen with the first answer, and peak RSS (MB),
    of a fresh process running the real app on a fresh copy of the session (opening one
    appends to its log)."""
    copy = work / "paint"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(directory, copy, ignore=shutil.ignore_patterns("session.lock"))
    started = time.time()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--paint", str(copy), "--started", repr(started)],
        capture_output=True, text=True, env=child_env(),
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"console failed: {done.stdout[-500:]} {done.stderr[-1500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["rss_mb"]


def paint(directory: Path, started: float) -> None:
    """In the child: open the console on `directory` and wait for the first answer on screen."""
    import asyncio

    from tests.console_helpers import make_app
    from tests.fake_engine import FakeEngine

    marker = first_answer_marker(0)
    seen: list[float] = []

    async def run() -> None:
        app = make_app(directory, engine=FakeEngine())
        display = app._display

        def watch(screen: object, renderable: object) -> None:
            """Every frame the app sends to the terminal: note the first with the answer."""
            display(screen, renderable)
            if not seen and renderable is not None and marker in update_text(renderable):
                seen.append(time.time())

        app._display = watch  # type: ignore[method-assign]
        async with app.run_test(size=(80, 24)) as pilot:
            while not seen:
                await pilot.pause(0.01)
                if time.time() - started > 120:
                    raise SystemExit("the first answer never showed")
            await pilot.press("q")

    asyncio.run(run())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seen[0] - started, "rss_mb": peak}))


def update_text(update: object) -> str:
    """The text of one frame (a full layout update or changed pieces of lines)."""
    strips = getattr(update, "strips", None)
    if strips is None:  # a ChopsUpdate: {x: strip} per changed line
        strips = [strip for chop in getattr(update, "chops", ()) for strip in chop.values() if strip]
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each figure; the median is reported")
    parser.add_argument("--session", type=Path, help="use (or write) the session here")
    parser.add_argument("--paint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paint:
        paint(args.paint, args.started)
        return 0
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.session or Path(tmp) / "session"
        if not (directory / "events.jsonl").exists():
            took = time.perf_counter()
            write_session(directory, args.items)
            took = time.perf_counter() - took
            size = (directory / "events.jsonl").stat().st_size / 1e6
            with open(directory / "events.jsonl", "rb") as log:
                lines = sum(1 for _ in log)
            print(f"wrote {args.items} items, {lines} events, {size:.1f} MB in {took:.1f} s")
        exports = [measure_export(directory, Path(tmp) / "export.jsonl") for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in exports)
        peak = max(m for _, m in exports)
        ok = seconds <= EXPORT_LIMIT_S
        failed |= not ok
        runs = ", ".join(f"{t:.2f}" for t, _ in exports)
        verdict = "ok" if ok else "FAIL"
        print(
            f"export: {seconds:.2f} s (runs {runs}), peak RSS {peak:.0f} MB "
            f"(limit {EXPORT_LIMIT_S} s) {verdict}"
        )
        replays = [measure_replay(directory, Path(tmp)) for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in replays)
        peak = max(m for _, m in replays)
        ok = seconds <= REPLAY_LIMIT_S
        failed |= not ok
        runs = ", ".join(f"{t:.2f}" for t, _ in replays)
        verdict = "ok" if ok else "FAIL"
        print(
            f"sftscope replay, first screen in a {SCREEN[0]}x{SCREEN[1]} terminal: {seconds:.2f} s "
            f"(runs {runs}), peak RSS {peak:.0f} MB (limit {REPLAY_LIMIT_S} s) {verdict}"
        )
        paints = [measure_paint(directory, Path(tmp)) for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in paints)
        peak = max(m for _, m in paints)
        ok = seconds <= PAINT_LIMIT_S and peak <= PAINT_LIMIT_MB
        failed |= not ok
        runs = ", ".join(f"{t:.2f}" for t, _ in paints)
        verdict = "ok" if ok else "FAIL"
        print(
            f"run console first paint (the app, FakeEngine): {seconds:.2f} s (runs {runs}), "
            f"peak RSS {peak:.0f} MB (limits {PAINT_LIMIT_S} s, {PAINT_LIMIT_MB:.0f} MB) {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
