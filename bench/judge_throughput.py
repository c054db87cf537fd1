"""Judge throughput against a loopback OpenAI-compatible server of known capacity.

The server (its own process) answers each judge request after a fixed latency
and serves at most `capacity` requests at once, so it can do at most
capacity / latency judgments per second. The client judges N finished items
with `--judge-concurrency` = capacity. Printed: achieved judgments/s divided by
the server's capacity (goal >= 0.95) and the client's CPU time per judgment.
Exits 1 below the goal (or when a judgment fails).

    .venv/bin/python bench/judge_throughput.py [--items 1000] [--capacity 16] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VERDICT = (
    '{"helpfulness": 4, "instruction_following": 3, "harmless": "yes", "format": "yes", '
    '"justification": "ok"}'
)


def serve(port_queue: multiprocessing.Queue, capacity: int, latency: float) -> None:
    from aiohttp import web

    async def main() -> None:
        gate = asyncio.Semaphore(capacity)

        async def chat(request: web.Request) -> web.StreamResponse:
            await request.json()
            async with gate:
                await asyncio.sleep(latency)
                response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await response.prepare(request)
                for piece in (VERDICT[:40], VERDICT[40:]):
                    chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
                done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                return response

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.sleep(3600)

    asyncio.run(main())


async def judge_all(url: str, items: int, capacity: int) -> tuple[float, float]:
    from sftscope.scorers.judge import Judge, JudgeCache, JudgeSpec
    from sftscope.scorers.rubric import DEFAULT_RUBRIC
    from sftscope.sessions.core.state import fold

    events = []
    for number in range(items):
        item_id = f"q{number}"
        events.append(
            {
                "type": "item",
                "item": item_id,
                "index": number,
                "data": {"id": item_id, "turns": [f"Question {number}?"], "form": "prompt"},
            }
        )
        events.append(
            {
                "type": "generation",
                "item": item_id,
                "turn": 0,
                "text": f"Answer {number}.",
                "tokens": 3,
                "finish_reason": "stop",
            }
        )
    states = fold(events).ordered()
    with tempfile.TemporaryDirectory() as tmp:
        judge = Judge(
            JudgeSpec(engine=f"openai:{url}#bench-judge", concurrency=capacity, timeout=60),
            DEFAULT_RUBRIC,
            cache=JudgeCache(Path(tmp) / "cache.jsonl"),
        )
        await judge.start()
        cpu = time.process_time()
        started = time.perf_counter()
        results = await asyncio.gather(*(judge.judge(state.judge_input()) for state in states))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        await judge.close()
    failures = [r for r in results if r["error"]]
    if failures:
        raise SystemExit(f"{len(failures)} judgments failed: {failures[0]['error']}")
    return elapsed, cpu


GOAL = 0.95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, args.capacity, args.latency), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
        elapsed, cpu = asyncio.run(judge_all(url, args.items, args.capacity))
    finally:
        server.terminate()
    capacity = args.capacity / args.latency
    achieved = args.items / elapsed
    each = f"{args.capacity} at once, {args.latency * 1000:.0f} ms each"
    print(f"server capacity {capacity:.1f} judgments/s ({each})")
    ratio = achieved / capacity
    print(f"achieved {achieved:.1f} judgments/s over {args.items} items: ratio {ratio:.3f} (goal >= {GOAL})")
    print(f"client CPU time per judgment: {1000 * cpu / args.items:.2f} ms")
    if ratio < GOAL:
        print(f"BELOW GOAL: ratio {ratio:.3f} < {GOAL}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
