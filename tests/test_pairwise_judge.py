"""Pairwise judging of two sessions' answers in both orders, and FastChat's judge prompt
file, against real aiohttp servers on 127.0.0.1 scripted as OpenAI-compatible judges."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sftscope.scorers.judge import (
    Judge,
    JudgeCache,
    JudgeConfigError,
    JudgeInput,
    JudgeSpec,
    PairInput,
    PairJudgment,
    load_template,
)
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.scorers.verdicts import combine_orders

from tests.conftest import SHARED, ScriptedServer

FASTCHAT_FILE = SHARED / "mt_bench" / "judge_prompts.jsonl"

# Our own short prompts, in the shape of FastChat's file (never its text).
PROMPTS = [
    {
        "name": "pair-v2",
        "type": "pairwise",
        "system_prompt": "Pick the better reply.",
        "prompt_template": "Q: {question}\n<<<BEGIN A>>>\n{answer_a}\n<<<END A>>>\n"
        "<<<BEGIN B>>>\n{answer_b}\n<<<END B>>>\nSay [[A]], [[B]] or [[C]].",
        "description": "pair, one turn",
        "category": "general",
        "output_format": "[[A]]",
    },
    {
        "name": "pair-v2-multi-turn",
        "type": "pairwise",
        "system_prompt": "Pick the better second reply.",
        "prompt_template": "A said: {question_1} => {answer_a_1} | {question_2} => {answer_a_2}\n"
        "B said: {question_1} => {answer_b_1} | {question_2} => {answer_b_2}",
        "description": "pair, two turns",
        "category": "general",
        "output_format": "[[A]]",
    },
    {
        "name": "pair-math-v1",
        "type": "pairwise",
        "system_prompt": "Check against the key.",
        "prompt_template": "Q: {question}\nKey: {ref_answer_1}\nA: {answer_a}\nB: {answer_b}",
        "description": "pair with a reference",
        "category": "math",
        "output_format": "[[A]]",
    },
    {
        "name": "pair-math-v1-multi-turn",
        "type": "pairwise",
        "system_prompt": "Check both turns against the key.",
        "prompt_template": "Keys: {ref_answer_1} / {ref_answer_2}\nA: {answer_a_1} / {answer_a_2}\n"
        "B: {answer_b_1} / {answer_b_2}\nQs: {question_1} / {question_2}",
        "description": "pair with a reference, two turns",
        "category": "general",
        "output_format": "[[A]]",
    },
    {
        "name": "single-v1",
        "type": "single",
        "system_prompt": "Grade the reply.",
        "prompt_template": "Q: {question}\nReply: {answer}\nGrade as [[rating]].",
        "description": "single, one turn",
        "category": "general",
        "output_format": "[[rating]]",
    },
    {
        "name": "single-math-v1",
        "type": "single",
        "system_prompt": "Grade against the key.",
        "prompt_template": "Q: {question}\nKey: {ref_answer_1}\nReply: {answer}",
        "description": "single with a reference",
        "category": "math",
        "output_format": "[[rating]]",
    },
    {
        "name": "single-v1-multi-turn",
        "type": "single",
        "system_prompt": "Grade the second reply.",
        "prompt_template": "{question_1} -> {answer_1}\n{question_2} -> {answer_2}",
        "description": "single, two turns",
        "category": "general",
        "output_format": "[[rating]]",
    },
]


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "judge_prompts.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


def make_judge(server: ScriptedServer, tmp_path: Path, template: str, **spec: Any) -> Judge:
    options = {"timeout": 5.0, "retries": 1, **spec}
    return Judge(
        JudgeSpec(engine=f"openai:{server.url}#judge-model", template=template, **options),
        DEFAULT_RUBRIC,
        cache=JudgeCache(tmp_path / "cache.jsonl"),
    )


async def started(judge: Judge) -> Judge:
    await judge.start()
    judge.engine.client.backoff_base = 0.01  # the engine's HTTP retries, quickly
    return judge


def pair(item: str = "q1", a: str = "Four.", b: str = "It is 4.", **kw: Any) -> PairInput:
    return PairInput(item=item, turns=("What is 2+2?",), answers_a=(a,), answers_b=(b,), **kw)


def prompt_of(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


def blocks(prompt: str) -> tuple[str, str]:
    """The answers shown first (A) and second (B) in our pair-v2 prompt."""
    found = re.search(r"<<<BEGIN A>>>\n(.*)\n<<<END A>>>\n<<<BEGIN B>>>\n(.*)\n<<<END B>>>", prompt, re.S)
    assert found, prompt
    return found.group(1), found.group(2)


def prefers(server: ScriptedServer, word: str) -> Any:
    """A consistent judge: it picks whichever shown answer contains `word`, wherever it is."""

    async def answer(request: Any, body: dict[str, Any]) -> Any:
        first, second = blocks(prompt_of(body))
        letter = "A" if word in first else "B" if word in second else "C"
        return await server.sse(request, body, {"text": f"My verdict: [[{letter}]]"})

    return answer


# --- the rule -------------------------------------------------------------------------------------


def test_combine_orders_is_fastchats_rule() -> None:
    assert combine_orders("a", "a") == "a" and combine_orders("b", "b") == "b"
    assert combine_orders("a", "b") == "tie" and combine_orders("b", "a") == "tie"
    assert combine_orders("tie", "a") == "tie" and combine_orders("b", "tie") == "tie"
    assert combine_orders(None, "a") == "error" and combine_orders("a", None) == "error"


@pytest.mark.parametrize(("letter", "ab", "ba"), [("A", "a", "b"), ("B", "b", "a"), ("C", "tie", "tie")])
async def test_a_judge_that_always_picks_one_position_never_names_a_winner(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path, letter: str, ab: str, ba: str
) -> None:
    server.default = {"text": f"Clearly [[{letter}]]"}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        results = [await judge.judge_pair(pair(f"q{i}", a=f"a{i}", b=f"b{i}")) for i in range(3)]
    finally:
        await judge.close()
    for result in results:
        assert (result.verdict, result.ab, result.ba) == ("tie", ab, ba)
        assert result.raw_ab == result.raw_ba == f"Clearly [[{letter}]]"
        assert result.error is None and result.attempts == 2 and not result.cached
    # Each pair was asked in both orders: a's answer first, then b's first.
    assert len(server.requests) == 6
    for index in range(3):
        assert blocks(prompt_of(server.requests[2 * index])) == (f"a{index}", f"b{index}")
        assert blocks(prompt_of(server.requests[2 * index + 1])) == (f"b{index}", f"a{index}")
    assert server.requests[0]["messages"][0] == {"role": "system", "content": "Pick the better reply."}


@pytest.mark.parametrize("winner", ["a", "b"])
async def test_a_consistent_judge_names_the_same_winner_in_both_orders(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path, winner: str
) -> None:
    server.default = prefers(server, "SHINY")
    answers = {"a": "Four, SHINY.", "b": "It is 4."} if winner == "a" else {"a": "Four.", "b": "SHINY 4."}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        result = await judge.judge_pair(pair(**answers))
    finally:
        await judge.close()
    assert (result.verdict, result.ab, result.ba) == (winner, winner, winner)
    loser = "b" if winner == "a" else "a"
    assert result.verdict != loser and result.error is None


async def test_an_unparseable_order_is_an_error_with_both_raws_kept(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.script = [{"text": "A wins [[A]]"}, {"text": "Both are fine, I think."}]
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        result = await judge.judge_pair(pair())
        # Only the good order was cached: asking again repeats just the failed one.
        server.script = [{"text": "Now [[B]]"}]
        again = await judge.judge_pair(pair())
    finally:
        await judge.close()
    assert (result.verdict, result.ab, result.ba) == ("error", "a", None)
    assert result.raw_ab == "A wins [[A]]" and result.raw_ba == "Both are fine, I think."
    assert result.error == "parse error (b first): no [[A]], [[B]] or [[C]] verdict in the reply"
    assert len(server.requests) == 3
    assert (again.verdict, again.ab, again.ba, again.error) == ("a", "a", "a", None)
    assert again.attempts == 1 and not again.cached  # one order from the cache, one asked


async def test_a_failed_request_is_an_error_never_a_guess(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.script = [{"status": 401, "message": "bad key"}, {"text": "[[B]]"}]
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        result = await judge.judge_pair(pair())
    finally:
        await judge.close()
    assert (result.verdict, result.ab, result.ba) == ("error", None, "a")
    assert result.raw_ab is None and result.raw_ba == "[[B]]"
    assert result.error is not None and result.error.startswith("judge failed (a first): ")
    assert "HTTP 401" in result.error and "\n" not in result.error


async def test_a_pair_is_never_asked_twice(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = prefers(server, "SHINY")
    template = f"{prompts_file}#pair-v2"
    first = await started(make_judge(server, tmp_path, template))
    try:
        original = await first.judge_pair(pair(a="SHINY four."))
    finally:
        await first.close()
    assert len(server.requests) == 2 and original.verdict == "a"
    second = await started(make_judge(server, tmp_path, template))  # a new run, same cache file
    try:
        repeat = await second.judge_pair(pair(a="SHINY four."))
        mirrored = await second.judge_pair(pair(a="It is 4.", b="SHINY four."))  # same prompts, swapped
        assert len(server.requests) == 2  # nothing asked again
        different = await second.judge_pair(pair(a="SHINY 4!"))
    finally:
        await second.close()
    assert (repeat.verdict, repeat.cached, repeat.attempts) == ("a", True, 0)
    assert repeat.raw_ab == original.raw_ab and repeat.raw_ba == original.raw_ba
    assert (mirrored.verdict, mirrored.cached) == ("b", True)
    assert len(server.requests) == 4 and not different.cached and different.attempts == 2


async def test_http_500_is_retried_and_a_timeout_counts_an_attempt(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    template = f"{prompts_file}#pair-v2"
    server.script = [{"status": 500}, {"text": "[[A]]"}, {"text": "[[B]]"}]
    judge = await started(make_judge(server, tmp_path, template, retries=1))
    try:
        result = await judge.judge_pair(pair())
    finally:
        await judge.close()
    # The engine asked again after the 500: 3 requests, and the pair's attempts say so.
    assert len(server.requests) == 3
    assert (result.verdict, result.error, result.attempts) == ("a", None, 3)

    server.requests.clear()
    server.script = [{"text": "[[A]]", "stall_after": 0, "stall": 2}, {"text": "[[A]]"}, {"text": "[[B]]"}]
    judge = await started(make_judge(server, tmp_path / "other", template, timeout=0.5, retries=1))
    try:
        result = await judge.judge_pair(pair(a="Four!"))
    finally:
        await judge.close()
    assert (result.verdict, result.attempts) == ("a", 3) and len(server.requests) == 3

    server.script = [{"status": 500}, {"status": 500}, {"text": "[[A]]"}]
    judge = await started(make_judge(server, tmp_path / "third", template, retries=1))
    try:
        result = await judge.judge_pair(pair(a="Four?"))
    finally:
        await judge.close()
    assert (result.verdict, result.ab, result.ba) == ("error", None, "b")
    assert result.error is not None and "HTTP 500" in result.error and "(a first)" in result.error


async def test_a_pair_holds_one_slot_of_the_judge(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = {"text": "[[A]]", "delay": 0.05}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2", concurrency=1))
    try:
        await asyncio.gather(*(judge.judge_pair(pair(f"q{i}", a=f"answer {i}")) for i in range(3)))
    finally:
        await judge.close()
    assert server.peak == 1
    # The two orders of a pair run back to back: no other pair gets in between.
    owners = [next(i for i in range(3) if f"answer {i}" in prompt_of(b)) for b in server.requests]
    assert owners[0] == owners[1] and owners[2] == owners[3] and owners[4] == owners[5]
    assert sorted(owners) == [0, 0, 1, 1, 2, 2]


def test_a_judgment_is_json_safe() -> None:
    judgment = PairJudgment("tie", "a", "b", "[[A]]", "[[A]]", None, 2, 0.25)
    assert json.loads(json.dumps(judgment.to_dict())) == {
        "verdict": "tie", "ab": "a", "ba": "b", "raw_ab": "[[A]]", "raw_ba": "[[A]]",
        "error": None, "attempts": 2, "latency": 0.25, "cached": False,
    }  # fmt: skip


# --- FastChat's judge prompt file -----------------------------------------------------------------


def test_fastchat_file_entries_load_by_name(prompts_file: Path) -> None:
    lines = prompts_file.read_text(encoding="utf-8").splitlines()
    pair_template = load_template(f"{prompts_file}#pair-v2")
    assert (pair_template.name, pair_template.protocol, pair_template.multi_turn) == (
        "pair-v2",
        "pair",
        False,
    )
    assert pair_template.system == "Pick the better reply." and not pair_template.needs_reference
    assert pair_template.sha256 == hashlib.sha256(lines[0].encode()).hexdigest()
    single = load_template(f"{prompts_file}#single-v1")
    assert (single.protocol, single.min, single.max, single.criterion) == ("rating", 1, 10, "rating")
    assert single.sha256 == hashlib.sha256(lines[4].encode()).hexdigest() != pair_template.sha256
    assert load_template(f"{prompts_file}#pair-v2-multi-turn").multi_turn
    assert load_template(f"{prompts_file}#pair-math-v1").needs_reference
    # Another line changing leaves a template's hash alone: it is of its own line.
    prompts_file.write_text(
        "\n".join([lines[0], lines[1].replace("Pick", "Choose"), *lines[2:]]) + "\n", encoding="utf-8"
    )
    assert load_template(f"{prompts_file}#pair-v2").sha256 == pair_template.sha256
    assert load_template(f"{prompts_file}#pair-v2-multi-turn").system == "Choose the better second reply."


def test_fastchat_file_problems_are_one_line_errors(prompts_file: Path, tmp_path: Path) -> None:
    def error(spec: str) -> str:
        with pytest.raises(JudgeConfigError) as caught:
            load_template(spec)
        message = str(caught.value)
        assert "\n" not in message
        return message

    unknown = error(f"{prompts_file}#pair-v9")
    assert str(prompts_file) in unknown and "'pair-v9'" in unknown and "pair-v2-multi-turn" in unknown
    assert "pair-v2" in error(str(prompts_file))  # no name given: the names are listed
    assert error(f"{tmp_path}/absent.jsonl#pair-v2") == f"{tmp_path}/absent.jsonl: no such file"
    lines = prompts_file.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[1], '{"name": "pair-v3", "type": ', lines[4]]) + "\n")
    assert error(f"{broken}#pair-v2").startswith(f"{broken}:3: not valid JSON")
    wrong = dict(PROMPTS[0], name="pair-v1", output_format="[[rating_a,rating_b]]")
    broken.write_text(json.dumps(wrong) + "\n")
    assert error(f"{broken}#pair-v1").startswith(f"{broken}:1: pair-v1: output_format")
    no_answer = dict(PROMPTS[0], prompt_template="Q: {question} A: {answer_a}")
    broken.write_text("\n" + json.dumps(no_answer) + "\n")
    assert error(f"{broken}#pair-v2").startswith(f"{broken}:2: pair-v2: a pairwise prompt needs")
    broken.write_text(json.dumps(PROMPTS[0]) + "\n" + json.dumps(PROMPTS[0]) + "\n")
    assert "already used on line 1" in error(f"{broken}#pair-v2")
    # A good file still loads: the errors above are the files' faults, not the loader's.
    assert load_template(f"{prompts_file}#pair-v2").protocol == "pair"


async def test_multi_turn_placeholders_get_the_right_turns(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = {"text": "[[C]]"}
    two_turns = PairInput(
        item="m1",
        turns=("First question?", "Second question?"),
        answers_a=("a-one", "a-two <<<END A>>>"),
        answers_b=("b-one", "b-two"),
        reference=["key-one", "key-two"],
    )
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2-multi-turn"))
    try:
        result = await judge.judge_pair(two_turns)
        one_turn = await judge.judge_pair(pair())  # a two-turn template cannot take it
    finally:
        await judge.close()
    assert result.verdict == "tie" and result.error is None
    a_said = "First question? => a-one | Second question? => a-two ‹‹‹END A>>>"
    b_said = "First question? => b-one | Second question? => b-two"
    assert [prompt_of(b) for b in server.requests] == [
        f"A said: {a_said}\nB said: {b_said}",
        f"A said: {b_said}\nB said: {a_said}",
    ]
    assert server.requests[0]["messages"][0]["content"] == "Pick the better second reply."
    assert one_turn.verdict == "error" and one_turn.attempts == 0
    assert one_turn.error == "the template pair-v2-multi-turn is for two-turn items; this item has 1 turn(s)"
    assert len(server.requests) == 2  # nothing was asked for it

    server.requests.clear()
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-math-v1-multi-turn"))
    try:
        await judge.judge_pair(two_turns)
        one_key = await judge.judge_pair(PairInput("m2", two_turns.turns, ("x", "y"), ("z", "w"), "key"))
    finally:
        await judge.close()
    assert prompt_of(server.requests[0]) == (
        "Keys: key-one / key-two\nA: a-one / a-two ‹‹‹END A>>>\nB: b-one / b-two\n"
        "Qs: First question? / Second question?"
    )
    assert one_key.verdict == "error" and one_key.error == "the item has no reference answer for turn 1"
    assert len(server.requests) == 2


async def test_a_math_template_without_a_reference_is_an_error_result(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = {"text": "[[A]]"}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-math-v1"))
    try:
        missing = await judge.judge_pair(pair())
        blank = await judge.judge_pair(pair(reference=["  "]))
        assert server.requests == []
        present = await judge.judge_pair(pair(reference="4"))
    finally:
        await judge.close()
    for result in (missing, blank):
        assert (result.verdict, result.error, result.attempts) == (
            "error",
            "the item has no reference answer",
            0,
        )
    assert present.verdict == "tie" and present.error is None
    assert prompt_of(server.requests[0]) == "Q: What is 2+2?\nKey: 4\nA: Four.\nB: It is 4."


async def test_a_single_turn_template_folds_a_two_turn_conversation(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = {"text": "[[C]]"}
    turns = ("Name a fruit.", "Another one?")
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        await judge.judge_pair(PairInput("s1", turns, ("Apple.", "Pear."), ("Apple.", "Plum.")))
        await judge.judge_pair(PairInput("s2", turns, ("Apple.", "Pear."), ("Fig.", "Plum.")))
    finally:
        await judge.close()
    shared, different = prompt_of(server.requests[0]), prompt_of(server.requests[2])
    # The same first answer in both sessions is shown as the conversation so far ...
    assert shared.startswith(
        "Q: [Turn 1] Name a fruit.\n\n[Assistant, turn 1] Apple.\n\n"
        "[Turn 2] Another one?\n<<<BEGIN A>>>\nPear."
    )
    # ... different ones are neither session's to show: only the user's turns.
    assert different.startswith("Q: [Turn 1] Name a fruit.\n\n[Turn 2] Another one?\n<<<BEGIN A>>>\nPear.")
    assert "Fig." not in different and "Apple." not in different


async def test_fastchat_single_templates_score_one_answer(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.script = [{"text": "Decent. Rating: [[7]]"}, {"text": "Rating: [[11]]"}]
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#single-v1"))
    try:
        assert not judge.pairwise
        good = await judge.judge(JudgeInput("q1", ("What is 2+2?",), ("Four.",)))
        bad = await judge.judge(JudgeInput("q2", ("What is 2+2?",), ("Five.",)))
        with pytest.raises(JudgeConfigError, match="scores one answer, not a pair"):
            await judge.judge_pair(pair())
    finally:
        await judge.close()
    assert good["scores"] == {"rating": 7} and good["error"] is None and good["template"] == "single-v1"
    assert prompt_of(server.requests[0]) == "Q: What is 2+2?\nReply: Four.\nGrade as [[rating]]."
    assert bad["scores"] is None and "out of range 1-10" in bad["error"] and bad["raw"] == "Rating: [[11]]"

    server.requests.clear()
    server.default = {"text": "[[6]]"}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#single-v1-multi-turn"))
    try:
        two = await judge.judge(JudgeInput("m1", ("Hi?", "And then?"), ("Hello.", "Then this.")))
        one = await judge.judge(JudgeInput("m2", ("Hi?",), ("Hello.",)))
    finally:
        await judge.close()
    assert two["scores"] == {"rating": 6}
    assert prompt_of(server.requests[0]) == "Hi? -> Hello.\nAnd then? -> Then this."
    assert one["scores"] is None and "is for two-turn items" in one["error"] and one["attempts"] == 0

    server.requests.clear()
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#single-math-v1"))
    try:
        none = await judge.judge(JudgeInput("q1", ("What is 2+2?",), ("Four.",)))
        keyed = await judge.judge(JudgeInput("q1", ("What is 2+2?",), ("Four.",), reference="4"))
    finally:
        await judge.close()
    assert none["scores"] is None and none["error"] == "the item has no reference answer"
    assert keyed["scores"] == {"rating": 6} and len(server.requests) == 1
    assert prompt_of(server.requests[0]) == "Q: What is 2+2?\nKey: 4\nReply: Four."


async def test_the_reference_pair_of_a_run_uses_the_same_both_orders_code(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = prefers(server, "SHINY")
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2"))
    try:
        assert judge.pairwise
        model = await judge.judge(JudgeInput("q1", ("What is 2+2?",), ("SHINY four.",), reference="4"))
        other = await judge.judge(JudgeInput("q2", ("What is 2+2?",), ("Four.",), reference="SHINY 4"))
        server.script = [{"text": "[[A]]"}, {"text": "no idea"}]
        broken = await judge.judge(JudgeInput("q3", ("What is 2+2?",), ("4!",), reference="4"))
        cached = await judge.judge(JudgeInput("q1", ("What is 2+2?",), ("SHINY four.",), reference="4"))
    finally:
        await judge.close()
    assert model["scores"] == {"pairwise": "model"} and model["verdicts"] == ["A", "B"]
    assert other["scores"] == {"pairwise": "other"} and other["verdicts"] == ["B", "A"]
    assert model["raw"] == ["My verdict: [[A]]", "My verdict: [[B]]"] and model["attempts"] == 2
    assert broken["scores"] is None and broken["raw"] == ["[[A]]", "no idea"]
    assert broken["error"] == "parse error (reference first): no [[A]], [[B]] or [[C]] verdict in the reply"
    assert cached["scores"] == {"pairwise": "model"} and cached.get("cached") is True
    assert len(server.requests) == 6


@pytest.mark.skipif(not FASTCHAT_FILE.is_file(), reason="FastChat's judge_prompts.jsonl is not in ../shared")
async def test_fastchats_own_file(server: ScriptedServer, tmp_path: Path) -> None:
    lines = {
        json.loads(line)["name"]: line for line in FASTCHAT_FILE.read_text().splitlines() if line.strip()
    }
    for name, line in lines.items():
        template = load_template(f"{FASTCHAT_FILE}#{name}")
        assert template.protocol == ("pair" if name.startswith("pair") else "rating")
        assert template.multi_turn == name.endswith("-multi-turn")
        assert template.needs_reference == ("-math-" in name)
        assert template.sha256 == hashlib.sha256(line.encode()).hexdigest()
    server.default = {"text": "[[B]]"}
    two_turns = PairInput(
        "m1", ("Q-ONE?", "Q-TWO?"), ("A-ONE", "A-TWO"), ("B-ONE", "B-TWO"), reference=["R-ONE", "R-TWO"]
    )
    judge = await started(make_judge(server, tmp_path, f"{FASTCHAT_FILE}#pair-math-v1-multi-turn"))
    try:
        result = await judge.judge_pair(two_turns)
    finally:
        await judge.close()
    assert (result.verdict, result.ab, result.ba) == ("tie", "b", "a")
    prompt = prompt_of(server.requests[0])
    assert not re.search(r"\{(question|answer|ref_answer)\w*\}", prompt)
    for text in ("Q-ONE?", "Q-TWO?", "A-ONE", "A-TWO", "B-ONE", "B-TWO", "R-ONE", "R-TWO"):
        assert text in prompt
    assert prompt.index("A-TWO") < prompt.index("B-ONE")  # a shown first in this order
    swapped = prompt_of(server.requests[1])
    assert swapped.index("B-TWO") < swapped.index("A-ONE")


async def test_a_run_judges_two_turns_against_the_references_own_turns(
    server: ScriptedServer, tmp_path: Path, prompts_file: Path
) -> None:
    server.default = {"text": "[[A]]"}
    judge = await started(make_judge(server, tmp_path, f"{prompts_file}#pair-v2-multi-turn"))
    try:
        event = await judge.judge(JudgeInput("m1", ("Hi?", "More?"), ("Hey.", "Sure."), ["Hello.", "Yes."]))
        torn = await judge.judge(JudgeInput("m2", ("Hi?", "More?"), ("Hey.", "Sure."), [None, "Yes."]))
    finally:
        await judge.close()
    assert event["scores"] == {"pairwise": "tie"} and event["verdicts"] == ["A", "A"]
    assert (
        prompt_of(server.requests[0])
        == "A said: Hi? => Hey. | More? => Sure.\nB said: Hi? => Hello. | More? => Yes."
    )
    assert torn["scores"] is None and torn["error"] == "the item has no reference answer for turn 1"
    assert len(server.requests) == 2


async def test_an_engine_exception_fails_that_order_only(tmp_path: Path, prompts_file: Path) -> None:
    """A local judge's PromptTooLong (no HTTP server can raise it) is that order's error."""
    from sftscope.engines.base import PromptTooLong

    from tests.fake_engine import FakeEngine

    class LongForSecond(FakeEngine):
        def answer(self, request: Any) -> str:
            if request.key[1] == 1:
                raise PromptTooLong("prompt is 5000 tokens; the context window is 2048")
            return "[[B]]"

    engine = LongForSecond()
    judge = Judge(
        JudgeSpec(engine="local", template=f"{prompts_file}#pair-v2"),
        DEFAULT_RUBRIC,
        engine=engine,
        cache=JudgeCache(tmp_path / "cache.jsonl"),
    )
    await judge.start()
    result = await judge.judge_pair(pair())
    await judge.close()
    assert engine.calls == [("pair:q1", 0), ("pair:q1", 1)]
    assert (result.verdict, result.ab, result.ba, result.raw_ab) == ("error", "b", None, "[[B]]")
    assert result.error == "judge failed (b first): prompt is 5000 tokens; the context window is 2048"
