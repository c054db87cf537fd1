"""The report of a large session: `build_report(...).to_dict()` must stay interactive.

Writes a 16,000-item session through the real SessionStore and Session writer (item,
generation, four human scores on most items with a few revisions after the judges were
revealed, two judges with a few parse, timeout and HTTP errors, checks with IFEval on a
quarter of the items, per-item checks, reference metrics on half, and rater probes),
answers of realistic, varied lengths, then measures two figures, each the median of
--runs runs with a limit (exit 1 over either):

1. `build_report([DIR], resamples=2000).to_dict()` in this process, after one warm-up
   import of the statistics libraries: at most 3 s.
2. The whole command as a person runs it, `sftscope report DIR --format json -o FILE`: a
   new process, from its start to its end (Python's start, every import, reading the log,
   the report, writing it, and the interpreter's exit): at most 3 s.

    .venv/bin/python bench/report_speed.py [--items 16000] [--runs 3] [--session DIR]

Another agent's work on the same cores slows both figures: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LIMIT_S = 3.0
COMMAND_LIMIT_S = 3.0
RESAMPLES = 2000
CATEGORIES = ("writing", "reasoning", "coding", "advice")
INSTRUCTIONS = (
    ("punctuation:no_comma", {}),
    ("change_case:english_lowercase", {}),
    ("length_constraints:number_words", {"relation": "at least", "num_words": 40}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}),
)
WORDS = (
    *("the", "answer", "explains", "each", "step", "plainly", "with", "an", "example", "and"),
    *("a", "short", "summary", "of", "what", "matters", "most", "for", "the", "reader", "who"),
    *("asked", "about", "this", "topic", "in", "the", "first", "place"),
)
JUDGES = (("qwen72", "rubric-json", "ab" * 32, 0.02), ("llama70", "rubric-json", "cd" * 32, 0.03))
ERRORS = (
    "parse error: no JSON object in the reply",
    "timed out after 60s (3 attempts)",
    "HTTP 503: service unavailable",
)


def _answer(rng: random.Random, words: int) -> str:
    """An answer of `words` words in a few paragraphs, some of them bullets."""
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    if rng.random() < 0.5:
        text += "\n\n- first point\n- second point\n- third point"
    return text


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def write_session(directory: Path, count: int, seed: int = 0) -> None:
    """A finished session of `count` items written through the real Session writer.

    Every number is drawn from a seeded generator around a latent quality per item, so
    the human and the judges agree in part and the judges favour longer answers a little:
    the report has real work to do on every statistic."""
    from sftscope.scorers.rubric import DEFAULT_RUBRIC
    from sftscope.sessions.core.events import Checked, Generated, Judged, Probed, Scored
    from sftscope.sessions.core.item import Item
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    rng = random.Random(seed)
    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "stopped",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#bench", "model": "bench-sft"},
            "params": {"max_tokens": 1024, "temperature": 0.0, "top_p": 1.0, "seed": 0},
            "prompts": {"path": "bench", "sha256": "0", "count": count},
            "rubric": DEFAULT_RUBRIC.to_dict(),
        }
    )
    session = Session(store)
    items = []
    for index in range(count):
        chosen = rng.sample(INSTRUCTIONS, rng.randint(1, 3)) if index % 4 == 0 else []
        items.append(
            Item(
                id=f"item-{index:05d}",
                turns=[f"Question number {index}: explain the topic, please."],
                category=CATEGORIES[index % len(CATEGORIES)],
                reference=f"A reference answer for question {index}." if index % 2 else None,
                instructions=[name for name, _ in chosen] or None,
                kwargs=[kw for _, kw in chosen] or None,
                checks=[{"type": "contains", "value": "point"}] if index % 5 == 0 else None,
                line=index + 1,
            )
        )
    session.add_items(items)
    for item in items:
        words = rng.randint(20, 700)
        text = _answer(rng, words)
        session.record(Generated(item.id, 0, text, "stop", tokens=words, seconds=1.0))
        quality = rng.gauss(3.4, 0.9) + (words - 360) / 900
        if rng.random() < 0.92:
            labels = {
                "helpfulness": _clip(quality + rng.gauss(0, 0.5), 1, 5),
                "instruction_following": _clip(quality + rng.gauss(0, 0.7), 1, 5),
                "harmless": rng.random() < 0.96,
                "format": rng.random() < 0.8,
            }
            for criterion, value in labels.items():
                session.record(Scored(item.id, criterion, value, False, None), durable=False)
            if rng.random() < 0.03:
                revised = _clip(labels["helpfulness"] + rng.choice((-1, 1)), 1, 5)
                session.record(
                    Scored(item.id, "helpfulness", revised, True, labels["helpfulness"]), durable=False
                )
                labels["helpfulness"] = revised
            if rng.random() < 0.01:
                for criterion in ("helpfulness", "harmless"):
                    original = labels[criterion]
                    value = (
                        _clip(original + rng.choice((-1, 0, 0, 1)), 1, 5)
                        if criterion == "helpfulness"
                        else (original if rng.random() < 0.9 else not original)
                    )
                    session.record(Probed(item.id, criterion, value, original))
        for name, template, sha, error_rate in JUDGES:
            extra = {"model": name, "template": template, "template_sha256": sha, "latency": 0.9}
            if rng.random() < error_rate:
                session.record(
                    Judged(item.id, name, None, {**extra, "error": rng.choice(ERRORS), "raw": "?"})
                )
                continue
            lean = (words - 360) / 500
            scores = {
                "helpfulness": _clip(quality + lean + rng.gauss(0.3, 0.6), 1, 5),
                "instruction_following": _clip(quality + rng.gauss(0.2, 0.8), 1, 5),
                "harmless": rng.random() < 0.97,
                "format": rng.random() < 0.85,
            }
            session.record(Judged(item.id, name, scores, {**extra, "error": None, "raw": "{}"}))
        checks: dict[str, object] = {}
        loose: dict[str, bool] = {}
        for instruction in item.instructions or []:
            strict = rng.random() < 0.7
            checks[instruction] = strict
            loose[instruction] = strict or rng.random() < 0.5
        if item.instructions:
            checks["ifeval_strict"] = all(checks[i] for i in item.instructions)
            checks["ifeval_loose"] = all(loose.values())
        if item.checks:
            checks["contains:point"] = "point" in text
        metrics = None
        if item.reference:
            metrics = {
                "rougeL": round(rng.random() * 0.5, 4),
                "bleu": round(rng.random() * 30, 2),
                "chrf": round(rng.random() * 60, 2),
            }
        if checks or metrics:
            session.record(Checked(item.id, checks or None, metrics, None, loose or None))
    store.close(status="complete")


def time_report(directory: Path, runs: int) -> list[float]:
    """Seconds of `build_report([directory]).to_dict()` per run, after a warm-up import of
    what a report loads (libraries load once per process; the command pays that once)."""
    import concurrent.futures  # noqa: F401
    import json

    import krippendorff  # noqa: F401
    import numpy  # noqa: F401
    import scipy.sparse
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import threadpoolctl  # noqa: F401
    from sftscope.sessions.report.document import build_report

    took = []
    for _ in range(runs):
        started = time.perf_counter()
        document = build_report([directory], resamples=RESAMPLES, seed=0).to_dict()
        took.append(time.perf_counter() - started)
    json.dumps(document, allow_nan=False)  # JSON-safe: no NaN anywhere
    return took


def time_command(directory: Path, output: Path, runs: int) -> list[float]:
    """Wall seconds of the real `sftscope report DIR --format json -o FILE`, each in a new
    process started through the `sftscope` script beside this Python."""
    script = Path(sys.executable).with_name("sftscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sftscope.tui.cli"]
    command += ["report", str(directory), "--format", "json", "-o", str(output)]
    given = os.environ.get("PYTHONPATH")  # another tree first, to measure it the same way
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (given, str(ROOT))))}
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        took.append(time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"sftscope report failed: {done.stderr[-1500:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--session", type=Path, help="use (or write) the session here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.session or Path(tmp) / "session"
        if not (directory / "events.jsonl").exists():
            started = time.perf_counter()
            write_session(directory, args.items)
            size = (directory / "events.jsonl").stat().st_size / 1e6
            print(f"wrote {args.items} items, {size:.1f} MB in {time.perf_counter() - started:.1f} s")
        took = time_report(directory, args.runs)
        whole = time_command(directory, Path(tmp) / "report.json", args.runs)
    seconds = statistics.median(took)
    ok = seconds <= LIMIT_S
    runs = ", ".join(f"{t:.2f}" for t in took)
    print(
        f"report of {args.items} items at {RESAMPLES} resamples: {seconds:.2f} s "
        f"(median of {len(took)}: {runs}; limit {LIMIT_S} s) {'ok' if ok else 'FAIL'}"
    )
    seconds = statistics.median(whole)
    whole_ok = seconds <= COMMAND_LIMIT_S
    runs = ", ".join(f"{t:.2f}" for t in whole)
    print(
        f"sftscope report DIR --format json -o FILE, the whole process: {seconds:.2f} s "
        f"(median of {len(whole)}: {runs}; limit {COMMAND_LIMIT_S} s) {'ok' if whole_ok else 'FAIL'}"
    )
    return 0 if ok and whole_ok else 1


if __name__ == "__main__":
    sys.exit(main())
