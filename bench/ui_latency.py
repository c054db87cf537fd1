"""Console responsiveness on the bundled model, in a headless Textual session.

1. Keypress-to-screen latency while an answer streams at full speed: a key is
   posted to the app, and the time until the first frame is written after the
   app has handled it is measured (p50/p95/p99). Goal: p95 <= 50 ms, p99 <= 100 ms.
2. The operator's wait per item when labelling one item every 3 seconds: on
   arriving at an item, how long until its answer is complete (0 when it is
   already there). Goal: no wait on at least 95% of items.

    .venv/bin/python bench/ui_latency.py [--keys 200] [--items 30] [--pace 3] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events

from sessions.launch import prepare
from tui.app import SftscopeApp
from tui.cli import RUN_DEFAULTS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def make_app(directory: Path, max_tokens: int, ahead: int) -> SftscopeApp:
    options = dict(RUN_DEFAULTS)
    options.update(session=str(directory), max_tokens=max_tokens, _given=set())
    return SftscopeApp(prepare(options), ahead=ahead)


async def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


async def key_latency(keys: int, max_tokens: int) -> list[float]:
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp) / "latency", max_tokens, ahead=3)
        frames: list[float] = []
        original = app._display

        def display(screen, renderable) -> None:  # type: ignore[no-untyped-def]
            original(screen, renderable)
            if renderable is not None:
                frames.append(time.perf_counter())

        app._display = display  # type: ignore[method-assign]
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(lambda: app.ready and bool(app.generating))
            streamed_while = 0
            for number in range(keys):
                if not app.generating:
                    # Keep an answer streaming: regenerate the current item.
                    await app.action_regenerate()
                    await wait_for(lambda: bool(app.generating))
                key = "tab" if number % 2 == 0 else "shift+tab"
                before = app.criterion
                count = len(frames)
                sent = time.perf_counter()
                app.post_message(events.Key(key, None))
                await wait_for(lambda b=before: app.criterion != b, timeout=5)
                await wait_for(lambda c=count, s=sent: len(frames) > c and frames[-1] > s, timeout=5)
                first = next(f for f in frames[count:] if f > sent)
                latencies.append((first - sent) * 1000)
                streamed_while += bool(app.generating)
                await pilot.pause(0.03)
            print(f"  keys sent while an answer was streaming: {streamed_while}/{keys}")
    return latencies


async def operator_wait(items: int, pace: float, max_tokens: int, ahead: int) -> list[float]:
    waits: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp) / "operator", max_tokens, ahead=ahead)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(lambda: app.ready)
            for _ in range(min(items, len(app.item_ids))):
                state = app.current
                arrived = time.monotonic()
                await wait_for(lambda s=state: s.status == "done", timeout=300)
                waits.append(time.monotonic() - arrived)
                await asyncio.sleep(pace)  # the operator reads
                index = app.index
                await pilot.press("4", "4", "y", "y")  # scores and auto-advances
                if app.index == index:
                    break
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--pace", type=float, default=3.0)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--ahead", type=int, default=3)
    args = parser.parse_args()

    print(f"keypress-to-screen latency while streaming (bundled model, {args.keys} keys):")
    latencies = asyncio.run(key_latency(args.keys, max_tokens=1024))
    print(
        f"  p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
        f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms "
        "(goal p95 <= 50 ms, p99 <= 100 ms)"
    )
    print(
        f"operator labelling one item every {args.pace:g}s, max_tokens {args.max_tokens}, "
        f"ahead {args.ahead}, {args.items} items:"
    )
    waits = asyncio.run(operator_wait(args.items, args.pace, args.max_tokens, args.ahead))
    no_wait = sum(1 for w in waits if w < 0.05)
    print(
        f"  no wait on {no_wait}/{len(waits)} items ({100 * no_wait / len(waits):.0f}%, goal >= 95%); "
        f"mean wait {statistics.mean(waits):.2f}s, longest {max(waits):.2f}s"
    )


if __name__ == "__main__":
    main()
