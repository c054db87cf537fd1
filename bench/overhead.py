"""Headless sftscope against raw llama-cpp-python streaming, same prompts, greedy.

Prints tokens/s for each and the ratio sftscope / raw (floor 0.97; above 1.0
means sftscope is faster, since the library re-detokenizes the whole answer on
every streamed token). Also checks that both produced the same answers.
Exits 1 below the floor or when any answer differs.

    .venv/bin/python bench/overhead.py [--max-tokens 256] [--prompts N] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftscope.engines.base import SamplingParams
from sftscope.engines.llama import LlamaEngine, default_threads
from sftscope.engines.registry import bundled_model_path
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.run.generator import Generator
from sftscope.sessions.run.prompts import load_prompt_set


async def measure(model: Path, items: list, max_tokens: int, n_ctx: int, rounds: int) -> dict:
    """Interleave the two paths prompt by prompt on one loaded model.

    This machine's speed drifts by ±10% over a minute, so two long passes one
    after the other would measure the drift. Each prompt runs through both
    paths back to back, in alternating order, with the KV cache cleared before
    each, on the same `Llama` object and the same model thread.
    """
    engine = LlamaEngine(str(model), n_ctx=n_ctx)
    await engine.start()
    llama = engine.llama
    raw_time = our_time = 0.0
    raw_tokens = our_tokens = 0
    same = 0

    def raw(messages: list) -> tuple[float, str, int]:
        llama.reset()
        parts, count = [], 0
        started = time.perf_counter()
        for chunk in llama.create_chat_completion(
            messages, max_tokens=max_tokens, temperature=0.0, stream=True
        ):
            delta = chunk["choices"][0]["delta"].get("content")
            if delta:
                parts.append(delta)
                count += 1
        return time.perf_counter() - started, "".join(parts), count

    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "bench")
        store.open({"status": "running"})
        session = Session(store)
        generator = Generator(session, engine, SamplingParams(max_tokens=max_tokens, temperature=0.0))
        session.add_items(items)
        for round_ in range(rounds):
            for index, item in enumerate(items):

                async def ours(item=item, round_=round_) -> tuple[float, str, int]:
                    await engine.thread.call(llama.reset)
                    if round_:
                        generator.regenerate(item.id)
                    else:
                        generator.queue([item.id])
                    started = time.perf_counter()
                    await generator.run()
                    state = session.state.items[item.id]
                    return time.perf_counter() - started, state.response, state.tokens

                messages = item.messages_for_turn(0, [])
                if (index + round_) % 2:
                    ours_result = await ours()
                    raw_result = await engine.thread.call(raw, messages)
                else:
                    raw_result = await engine.thread.call(raw, messages)
                    ours_result = await ours()
                raw_time += raw_result[0]
                our_time += ours_result[0]
                our_tokens += ours_result[2]
                raw_tokens += ours_result[2]  # same answers, same token count
                same += raw_result[1] == ours_result[1]
        store.close()
    await engine.close()
    return {
        "raw_time": raw_time,
        "our_time": our_time,
        "tokens": our_tokens,
        "same": same,
        "total": len(items) * rounds,
    }


FLOOR = 0.97


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--prompts", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--n-ctx", type=int, default=4096)
    args = parser.parse_args()
    model = bundled_model_path()
    items = load_prompt_set(None).items[: args.prompts]
    result = asyncio.run(measure(model, items, args.max_tokens, args.n_ctx, args.rounds))
    raw_rate = result["tokens"] / result["raw_time"]
    our_rate = result["tokens"] / result["our_time"]
    print(
        f"model {model.name}, {len(items)} prompts x {args.rounds} rounds, max_tokens {args.max_tokens}, "
        f"{default_threads()} threads"
    )
    print(f"raw create_chat_completion(stream=True): {raw_rate:7.1f} tok/s ({result['raw_time']:.1f}s)")
    print(f"sftscope headless runner:                {our_rate:7.1f} tok/s ({result['our_time']:.1f}s)")
    print(f"identical answers: {result['same']}/{result['total']}")
    ratio = our_rate / raw_rate
    print(f"throughput ratio sftscope/raw: {ratio:.3f} (floor {FLOOR})")
    failed = []
    if ratio < FLOOR:
        failed.append(f"ratio {ratio:.3f} < {FLOOR}")
    if result["same"] != result["total"]:
        failed.append(f"{result['total'] - result['same']} answers differ from the library's")
    if failed:
        print("BELOW FLOOR: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
