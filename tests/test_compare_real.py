"""Comparisons end to end: sessions answered by the bundled model (two system prompts) and
by a scripted OpenAI-compatible server, judged pairwise by a scripted judge on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedServer, run_cli, run_headless, serve_in_thread, write_jsonl

PROMPTS = [
    {"id": "p1", "prompt": "Name a colour."},
    {"id": "p2", "prompt": "What is 2 + 2?"},
    {"id": "p3", "prompt": "Say hello."},
]


@pytest.fixture(autouse=True)
def own_judge_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every judgment asked for real here: the cache stays in this test's directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def bundled_run(tmp_path: Path, name: str, system: str) -> Path:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    target = tmp_path / name
    result = run_cli(
        "run", "--headless", "--prompts", str(prompts), "--session", str(target),
        "--max-tokens", "24", "--system", system,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


def first_judge() -> ScriptedServer:
    """A judge with pure position bias: whatever is shown first wins."""
    srv = ScriptedServer()
    srv.default = {"text": "Assistant A is better. [[A]]"}
    return srv


def consistent_judge() -> ScriptedServer:
    """A judge that always prefers the answer with the most characters, wherever it is."""
    srv = ScriptedServer()

    async def pick_longer(request: Any, body: dict[str, Any]) -> Any:
        prompt = body["messages"][-1]["content"]
        a = re.search(r"<<<BEGIN ANSWER A>>>\n(.*?)\n<<<END ANSWER A>>>", prompt, re.S)
        b = re.search(r"<<<BEGIN ANSWER B>>>\n(.*?)\n<<<END ANSWER B>>>", prompt, re.S)
        assert a and b
        verdict = "[[A]]" if len(a.group(1)) >= len(b.group(1)) else "[[B]]"
        return await srv.sse(request, body, {"text": f"The longer one. {verdict}"})

    srv.default = pick_longer
    srv.script = []
    return srv


@pytest.mark.slow
def test_bundled_model_sessions_compared_with_pairwise_judges(tmp_path: Path) -> None:
    terse = bundled_run(tmp_path, "terse", "Answer in as few words as possible.")
    chatty = bundled_run(tmp_path, "chatty", "You are a friendly assistant who explains at length.")
    srv_prompts = write_jsonl(tmp_path / "p.jsonl", PROMPTS)
    scripted = ScriptedServer()
    # Longer than anything 24 tokens of the bundled model can say.
    scripted.default = {"text": "A scripted answer that goes on and on. " * 12}
    with serve_in_thread(scripted) as url:
        result = run_headless(url, srv_prompts, tmp_path / "server")
        assert result.returncode == 0, result.stderr

    biased = first_judge()
    with serve_in_thread(biased) as url:
        result = run_cli(
            "compare", str(terse), str(chatty), "--headless", "--session", str(tmp_path / "c1"),
            "--judge", f"openai:{url}#first",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(biased.requests) == 6  # 3 pairs, both orders
    rows = [json.loads(x) for x in run_cli("export", str(tmp_path / "c1")).stdout.splitlines()]
    assert [r["judges"]["first"]["verdict"] for r in rows] == ["tie"] * 3
    assert all(r["judges"]["first"]["ab"] == "a" and r["judges"]["first"]["ba"] == "b" for r in rows)
    assert all(r["judges"]["first"]["raw_ab"].endswith("[[A]]") for r in rows)
    # n=3, all ties (every verdict flipped with the order, shown above): too few for a rate or an
    # interval, so the summary says so with its n instead of printing 1.00
    assert re.search(r"first\s+3\s+0\s+3\s+0\s+0\s+n too small", result.stdout), result.stdout
    assert "first: flip n too small n=3 · first position n too small n=6" in result.stdout
    # (the sign test's p is exact at any n: "p = 1.000 (only ties)" is its honest value)
    assert "first p = 1.000 (only ties)" in result.stdout
    assert " 1.00" not in result.stdout.replace("p = 1.000", "")

    fair = consistent_judge()
    with serve_in_thread(fair) as url:
        result = run_cli(
            "compare", str(terse), str(chatty), str(tmp_path / "server"), "--headless",
            "--session", str(tmp_path / "c2"), "--judge", f"openai:{url}#longer",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in run_cli("export", str(tmp_path / "c2")).stdout.splitlines()]
    assert len(rows) == 9  # three sessions: every pair of sessions, per item
    for row in rows:
        judged = row["judges"]["longer"]
        assert judged["ab"] == judged["ba"] == judged["verdict"] != "tie"
        assert judged["verdict"] == ("b" if row["b"] == "server" else judged["verdict"])
    print(result.stdout)
    assert "Bradley-Terry (longer)" in result.stdout
    ranking = result.stdout.split("Bradley-Terry (longer):")[1].splitlines()
    assert "server" in ranking[1]  # the longest answers rank first under a judge that likes length
