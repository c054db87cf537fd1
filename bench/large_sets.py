"""Large prompt sets: time per item must not grow with the size of the set.

Two figures, each with a floor (exit 1 below it):
1. 5,000 prompts headless (`sftscope run --headless`, the real command) against a
   loopback OpenAI-compatible server that answers at once: at most 60 s on 2 cores.
2. Key presses in the console on a 20,000-item session against a 30-item one
   (the real app under Textual's Pilot, every answer already there): the median
   per key may be at most 2x the small session's plus 5 ms.

    .venv/bin/python bench/large_sets.py [--items 5000] [--big 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import ScriptedServer, serve_in_thread  # noqa: E402

HEADLESS_LIMIT_S = 60.0


def headless(items: int, work: Path) -> float:
    prompts = work / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"id": f"p{i}", "prompt": f"Say {i}."}) + "\n" for i in range(items))
    )
    server = ScriptedServer()
    server.default = {"text": "ok", "pieces": ["ok"]}
    with serve_in_thread(server) as url:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "sftscope.tui.cli", "run", "--headless", "--engine", f"openai:{url}#m",
             "--prompts", str(prompts), "--session", str(work / "s"), "--max-tokens", "8"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"headless run failed: {done.stderr[-500:]}")
    return took


def write_session(directory: Path, count: int) -> None:
    """A session with `count` answered items, written through the real store."""
    from sftscope.scorers.rubric import DEFAULT_RUBRIC
    from sftscope.sessions.core.item import Item
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "stopped",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#fake", "spec": "fake:"},
            "params": {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": 0},
            "prompts": {"path": "bench", "sha256": "0", "count": count},
            "rubric": DEFAULT_RUBRIC.to_dict(),
        }
    )
    for index in range(count):
        item = Item(id=f"i{index:05d}", turns=[f"Question number {index}?"])
        store.append({"type": "item", "item": item.id, "index": index, "data": item.to_dict()})
    for index in range(count):
        store.append(
            {"type": "generation", "item": f"i{index:05d}", "turn": 0, "text": f"Answer {index}. " * 20,
             "tokens": 60, "seconds": 0.5, "ttft": 0.05, "finish_reason": "stop"}
        )  # fmt: skip
    store.close()


async def key_times(directory: Path, keys: int) -> list[float]:
    from tests.console_helpers import make_app, wait_until
    from tests.fake_engine import FakeEngine

    app = make_app(directory, engine=FakeEngine())
    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready, timeout=120)
        await pilot.pause(0.5)
        sequence = ["4", "3", "y", "n", "left", "right"]  # scores (fsynced), then move on
        for n in range(keys):
            key = sequence[n % len(sequence)]
            started = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            times.append(time.perf_counter() - started)
            if key in ("left", "right"):
                # A key within 150 ms of an answer's first paint is dropped as typed ahead:
                # wait as a person would, outside the timing, so the next score lands.
                await pilot.pause(0.2)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--big", type=int, default=20000)
    parser.add_argument("--keys", type=int, default=60)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        took = headless(args.items, work)
        per_item = took / args.items * 1000
        ok = took <= HEADLESS_LIMIT_S
        failed |= not ok
        verdict = "ok" if ok else "FAIL"
        print(
            f"headless: {args.items} prompts against an instant server in {took:.1f} s "
            f"({per_item:.2f} ms per item; floor {HEADLESS_LIMIT_S:.0f} s) {verdict}"
        )
        medians = {}
        for count in (30, args.big):
            directory = work / f"console-{count}"
            write_session(directory, count)
            times = asyncio.run(key_times(directory, args.keys))
            medians[count] = statistics.median(times)
            p95 = sorted(times)[int(len(times) * 0.95) - 1]
            print(
                f"console, {count:>6} items: per key p50 {medians[count] * 1000:.1f} ms, "
                f"p95 {p95 * 1000:.1f} ms"
            )
        limit = 2 * medians[30] + 0.005
        ok = medians[args.big] <= limit
        failed |= not ok
        big, small = medians[args.big] * 1000, medians[30] * 1000
        verdict = "ok" if ok else "FAIL"
        print(
            f"console: {args.big} items vs 30: p50 {big:.1f} vs {small:.1f} ms "
            f"(floor: at most {limit * 1000:.1f} ms) {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
