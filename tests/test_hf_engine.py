"""The transformers engine on CPU, from a checkpoint built out of the bundled GGUF."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sftscope.engines.base import EngineError, GenerationRequest, PromptTooLong, SamplingParams
from sftscope.engines.hf import HFEngine

pytestmark = pytest.mark.slow

MESSAGES = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}],
    [{"role": "user", "content": "Write a haiku about rain."}],
]


async def stream_all(engine: HFEngine, request: GenerationRequest) -> tuple[str, Any]:
    parts, final = [], None
    async for chunk in engine.stream(request):
        parts.append(chunk.text)
        if chunk.final is not None:
            final = chunk.final
    return "".join(parts), final


@pytest.fixture
async def engine(hf_checkpoint: Path) -> Any:
    eng = HFEngine(str(hf_checkpoint), threads=2)
    await eng.start()
    yield eng
    await eng.close()


async def test_stream_matches_transformers_generate(engine: HFEngine) -> None:
    """Streaming changes nothing: the answer equals a plain greedy `generate`."""
    import torch

    tok, model = engine.tokenizer, engine.model
    assert engine.info.device == "cpu" and engine.info.dtype == "float32"
    for number, messages in enumerate(MESSAGES):
        request = GenerationRequest(
            messages=messages, params=SamplingParams(max_tokens=40), key=(str(number), 0)
        )
        streamed, final = await stream_all(engine, request)
        ids = tok.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=40, do_sample=False)
        expected = tok.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
        assert final.text == expected
        assert streamed.strip() == final.text.strip()
        assert final.tokens == out.shape[1] - ids["input_ids"].shape[1]
        assert final.finish_reason in ("stop", "length")
        assert final.ttft is not None and final.ttft <= final.seconds


async def test_batched_generation_matches_single(engine: HFEngine) -> None:
    requests = [
        GenerationRequest(messages=m, params=SamplingParams(max_tokens=24), key=(str(i), 0))
        for i, m in enumerate(MESSAGES)
    ]
    batch = await engine.generate_batch(requests)
    for request, result in zip(requests, batch, strict=True):
        _, single = await stream_all(engine, request)
        assert result.text == single.text
        assert result.tokens == single.tokens


async def test_cancel_through_stopping_criteria(engine: HFEngine) -> None:
    request = GenerationRequest(
        messages=[{"role": "user", "content": "Write a long story about a ship."}],
        params=SamplingParams(max_tokens=300),
        key=("c", 0),
    )
    seen = 0
    final = None
    async for chunk in engine.stream(request):
        seen += chunk.tokens
        if chunk.final is not None:
            final = chunk.final
        elif seen >= 3:
            engine.cancel(request.key)
    assert final.finish_reason == "cancelled"
    assert final.tokens < 300


async def test_base_model_uses_the_prompt_template(hf_checkpoint: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(hf_checkpoint, base)
    config_path = base / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    (base / "chat_template.json").unlink(missing_ok=True)
    engine = HFEngine(str(base))
    await engine.start()
    assert engine.info.extra["chat_template"] == "prompt-template"
    assert engine.render([{"role": "user", "content": "Say hi"}]) == "Instruction: Say hi\nResponse:"
    _, final = await stream_all(
        engine,
        GenerationRequest(
            messages=[{"role": "user", "content": "Say hi"}], params=SamplingParams(max_tokens=5)
        ),
    )
    assert final.tokens == 5
    await engine.close()


async def test_prompt_too_long(engine: HFEngine) -> None:
    limit = engine.info.context_length
    request = GenerationRequest(messages=[{"role": "user", "content": "hello " * (limit + 10)}])
    with pytest.raises(PromptTooLong):
        await stream_all(engine, request)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="model path not found"):
        HFEngine(str(tmp_path / "nope"))
    with pytest.raises(EngineError, match=r"no config\.json"):
        HFEngine(str(tmp_path))
