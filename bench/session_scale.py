"""A large session: export and the console's first paint must not grow with its size.

Writes a 16,000-item session (about 7 events per item: item, generation, four scores,
then a judge or a checks event; 112,001 events, about 27 MB) through the real
`SessionStore`, then measures two figures, each with a limit (exit 1 over it):

1. `sftscope export DIR -o FILE` (the real command, a subprocess): wall time and peak
   RSS, at most 1.5 s.
2. The console's first paint: the real app (FakeEngine, every answer already there) in
   a subprocess of its own, from process start to the first screen that shows the
   first item's answer: at most 2 s and 200 MB of peak RSS.

    .venv/bin/python bench/session_scale.py [--items 16000] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXPORT_LIMIT_S = 1.5
PAINT_LIMIT_S = 2.0
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
    from sftscope.sessions.prompts import Item
    from sftscope.sessions.store import SessionStore

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
    return {**os.environ, "PYTHONPATH": str(ROOT)}


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
        paints = [measure_paint(directory, Path(tmp)) for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in paints)
        peak = max(m for _, m in paints)
        ok = seconds <= PAINT_LIMIT_S and peak <= PAINT_LIMIT_MB
        failed |= not ok
        runs = ", ".join(f"{t:.2f}" for t, _ in paints)
        verdict = "ok" if ok else "FAIL"
        print(
            f"console first paint: {seconds:.2f} s (runs {runs}), peak RSS {peak:.0f} MB "
            f"(limits {PAINT_LIMIT_S} s, {PAINT_LIMIT_MB:.0f} MB) {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
