"""The default settings against llama-cpp-python's own server, the most common local peer.

That server cuts a running stream when another request arrives (its
`interrupt_requests` setting, on by default); the cut stream ends with `[DONE]`
and no finish reason. At the defaults (8 requests in flight, 4 judgments per
judge), sftscope must notice, lower its concurrency for that server, and still
save only full answers, each equal to the server's own non-streamed answer.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_jsonl

pytestmark = pytest.mark.slow

PROMPTS = [
    "What is the capital of France?",
    "Name three primary colours.",
    "Write one sentence about the sea.",
    "What is 12 times 12?",
    "Give a synonym for happy.",
    "Say hello in Spanish.",
]
MAX_TOKENS = 40


def non_streamed(url: str, prompt: str) -> str:
    body = {
        "model": "smol-judge",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
    }
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())["choices"][0]["message"]["content"]


def test_defaults_give_full_answers_equal_to_the_servers_own(llama_server: str, tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"q{i}", "prompt": p} for i, p in enumerate(PROMPTS)])
    session = tmp_path / "s"
    result = run_cli(
        "run", "--headless", "--engine", f"openai:{llama_server}", "--prompts", str(prompts),
        "--session", str(session), "--max-tokens", str(MAX_TOKENS), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in run_cli("export", str(session)).stdout.splitlines()]
    assert [row["status"] for row in rows] == ["done"] * 6, rows
    for row, prompt in zip(rows, PROMPTS, strict=True):
        assert row["tokens"] > 0 and row["finish_reason"] in ("stop", "length")
        assert row["response"] == non_streamed(llama_server, prompt), row["item"]
    # It said so once, on screen and in the header.
    assert result.stderr.count("cuts overlapping streams") == 1, result.stderr
    assert "cuts overlapping streams" in (session / "session.toml").read_text()

    judged = run_cli(
        "judge", str(session), "--judge", f"openai:{llama_server}#smol-judge", "--timeout", "300",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=900,
    )  # fmt: skip
    assert judged.returncode == 0, judged.stderr
    rows = [json.loads(line) for line in run_cli("export", str(session)).stdout.splitlines()]
    parsed = [row for row in rows if row["judges"].get("smol-judge") is not None]
    print(f"figure: llama_cpp.server as judge at the defaults: {len(parsed)}/6 verdicts parse")
    assert len(parsed) >= 5, [row["judge_error"] for row in rows]
