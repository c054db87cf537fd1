"""The llama.cpp engine on the real bundled model, and the parity rule."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sftscope.engines.base import EngineError, GenerationRequest, PromptTooLong, SamplingParams
from sftscope.engines.llama import LlamaEngine, default_threads

pytestmark = pytest.mark.slow

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
    ],
    [{"role": "user", "content": "Write a Python function that reverses a string."}],
    [
        {"role": "user", "content": "Name three colours."},
        {"role": "assistant", "content": "Red, green and blue."},
        {"role": "user", "content": "Now name three more."},
    ],
    [{"role": "user", "content": "Écris une phrase en français avec des accents: é, è, à, ç."}],
    [{"role": "user", "content": "Reply with an emoji and the Japanese word for cat."}],
]


async def stream_all(engine: LlamaEngine, request: GenerationRequest) -> tuple[str, Any, int]:
    parts: list[str] = []
    final = None
    chunks = 0
    async for chunk in engine.stream(request):
        parts.append(chunk.text)
        chunks += 1
        if chunk.final is not None:
            final = chunk.final
    return "".join(parts), final, chunks


@pytest.fixture
async def engine(bundled_gguf: Path) -> Any:
    eng = LlamaEngine(str(bundled_gguf), n_ctx=2048)
    await eng.start()
    yield eng
    await eng.close()


async def test_parity_with_create_chat_completion(engine: LlamaEngine, bundled_gguf: Path) -> None:
    """Greedy answers equal the library's own create_chat_completion, byte for byte."""
    from llama_cpp import Llama

    reference = Llama(model_path=str(bundled_gguf), n_ctx=2048, n_threads=default_threads(), verbose=False)
    for number, messages in enumerate(CONVERSATIONS):
        for max_tokens in (96, 7):
            expected = reference.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0)
            want = expected["choices"][0]
            request = GenerationRequest(
                messages=messages,
                params=SamplingParams(max_tokens=max_tokens, temperature=0.0),
                key=(str(number), 0),
            )
            streamed, final, _ = await stream_all(engine, request)
            assert final.text == want["message"]["content"], (number, max_tokens)
            assert final.finish_reason == want["finish_reason"]
            assert final.tokens == expected["usage"]["completion_tokens"]
            assert final.prompt_tokens == expected["usage"]["prompt_tokens"]
            assert streamed == final.text  # the screen shows exactly what is saved
    reference.close()


async def test_engine_facts(engine: LlamaEngine) -> None:
    info = engine.info.to_dict()
    assert info["name"] == "llama" and info["device"] == "cpu"
    assert info["quantization"] == "Q4_1"
    assert len(info["sha256"]) == 64 and info["file_size"] > 50_000_000
    assert info["threads"] == default_threads()
    assert info["context_length"] == 2048


async def test_stream_arrives_in_batches_not_per_token(engine: LlamaEngine) -> None:
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
        params=SamplingParams(max_tokens=120),
    )
    _, final, chunks = await stream_all(engine, request)
    assert final.tokens == 120 and final.finish_reason == "length"
    assert chunks < final.tokens  # batched hand-over, not one call per token


async def test_cancel_within_one_token(engine: LlamaEngine) -> None:
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Count from one to five hundred in words."}],
        params=SamplingParams(max_tokens=400),
        key=("c", 0),
    )
    tokens_at_cancel = 0
    final = None
    async for chunk in engine.stream(request):
        tokens_at_cancel += chunk.tokens
        if chunk.final is not None:
            final = chunk.final
        elif tokens_at_cancel >= 5 and not final:
            engine.cancel(request.key)
            cancelled_at = tokens_at_cancel
    assert final.finish_reason == "cancelled"
    # At most one more token after the flag, plus what was already in the hand-over batch.
    assert final.tokens <= cancelled_at + 1 + 40
    assert final.tokens < 400


async def test_consumer_going_away_stops_the_loop(engine: LlamaEngine) -> None:
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Write a very long essay about rivers."}],
        params=SamplingParams(max_tokens=500),
    )

    async def consume() -> None:
        async for _ in engine.stream(request):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The model thread is free again at once: a new request is served.
    quick = GenerationRequest(
        messages=[{"role": "user", "content": "Hi"}], params=SamplingParams(max_tokens=3)
    )
    _, final, _ = await asyncio.wait_for(stream_all(engine, quick), timeout=30)
    assert final.tokens == 3


async def test_prompt_longer_than_context_is_refused(bundled_gguf: Path) -> None:
    small = LlamaEngine(str(bundled_gguf), n_ctx=256)
    await small.start()
    request = GenerationRequest(messages=[{"role": "user", "content": "word " * 600}])
    with pytest.raises(PromptTooLong, match="context window is 256"):
        await stream_all(small, request)
    await small.close()


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="model file not found"):
        LlamaEngine(str(tmp_path / "missing.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model")
    with pytest.raises(EngineError, match="not a GGUF file"):
        LlamaEngine(str(text))
    with pytest.raises(EngineError, match="is a directory"):
        LlamaEngine(str(tmp_path))


async def test_truncated_gguf_is_a_clear_error(tmp_path: Path, bundled_gguf: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with open(bundled_gguf, "rb") as source:
        cut.write_bytes(source.read(5_000_000))
    engine = LlamaEngine(str(cut))
    with pytest.raises(EngineError, match="cannot load this model"):
        await engine.start()
