"""The OpenAI-compatible engine against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engines.base import EngineError, GenerationFailed, GenerationRequest, SamplingParams
from engines.openai_compat import OpenAIEngine, parse_retry_after
from tests.conftest import ScriptedServer


async def collect(engine: OpenAIEngine, request: GenerationRequest) -> tuple[str, Any]:
    text = []
    final = None
    async for chunk in engine.stream(request):
        text.append(chunk.text)
        if chunk.final is not None:
            final = chunk.final
    return "".join(text), final


def request(content: str = "hi", key: tuple[str, int] = ("1", 0), **params: Any) -> GenerationRequest:
    return GenerationRequest(
        messages=[{"role": "user", "content": content}], params=SamplingParams(**params), key=key
    )


async def test_streams_text_and_reads_usage(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    server.script = [{"text": "The answer is 42.", "pieces": ["The ", "answer ", "is ", "42."]}]
    engine = OpenAIEngine(f"{server.url}#my-model")
    await engine.start()
    streamed, final = await collect(engine, request(max_tokens=33, temperature=0.5, top_p=0.9, seed=7))
    await engine.close()
    assert streamed == final.text == "The answer is 42."
    assert final.tokens == 4 and final.prompt_tokens == 7 and final.finish_reason == "stop"
    assert final.ttft is not None and final.ttft <= final.seconds
    body = server.requests[0]
    assert body["model"] == "my-model" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (33, 0.5, 0.9, 7)
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret"


async def test_model_is_discovered_from_models_listing(server: ScriptedServer) -> None:
    server.models = ["first-model", "second"]
    engine = OpenAIEngine(server.url)
    await engine.start()
    assert engine.model == "first-model"
    assert engine.info.spec == f"openai:{server.url}#first-model"
    await collect(engine, request())
    await engine.close()
    assert server.requests[0]["model"] == "first-model"


async def test_429_with_retry_after_is_honoured_then_succeeds(server: ScriptedServer) -> None:
    server.script = [{"status": 429, "headers": {"Retry-After": "1"}}, {"text": "ok"}]
    engine = OpenAIEngine(f"{server.url}#m")
    started = time.monotonic()
    _, final = await collect(engine, request())
    waited = time.monotonic() - started
    await engine.close()
    assert final.text == "ok"
    assert len(server.requests) == 2
    assert waited >= 0.95  # the server asked for one second


async def test_500_then_success(server: ScriptedServer) -> None:
    server.script = [{"status": 500}, {"status": 503}, {"text": "fine"}]
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    _, final = await collect(engine, request())
    await engine.close()
    assert final.text == "fine" and len(server.requests) == 3


async def test_401_is_not_retried_and_key_is_not_in_the_error(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")

    async def unauthorised(req: Any, body: Any) -> Any:
        from aiohttp import web

        return web.json_response({"error": {"message": "bad key sk-very-secret"}}, status=401)

    server.script = [unauthorised]
    engine = OpenAIEngine(f"{server.url}#m")
    with pytest.raises(GenerationFailed) as caught:
        await collect(engine, request())
    await engine.close()
    assert "HTTP 401" in str(caught.value)
    assert "sk-very-secret" not in str(caught.value)
    assert len(server.requests) == 1


async def test_stall_mid_answer_times_out(server: ScriptedServer) -> None:
    server.script = [{"text": "partial answer", "stall_after": 1, "stall": 5}]
    engine = OpenAIEngine(f"{server.url}#m", read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(GenerationFailed, match=r"no data for 0\.5s mid-answer"):
        await collect(engine, request())
    assert time.monotonic() - started < 4
    await engine.close()


async def test_concurrency_is_bounded(server: ScriptedServer) -> None:
    server.default = {"text": "slow answer", "delay": 0.2}
    engine = OpenAIEngine(f"{server.url}#m", concurrency=3)
    results = await asyncio.gather(*(collect(engine, request(key=(str(i), 0))) for i in range(9)))
    await engine.close()
    assert all(final.text == "slow answer" for _, final in results)
    assert server.peak == 3


async def test_cancel_stops_the_stream(server: ScriptedServer) -> None:
    server.script = [{"text": "x" * 400, "gap": 0.01}]
    engine = OpenAIEngine(f"{server.url}#m")
    req = request()
    got = []
    final = None
    async for chunk in engine.stream(req):
        got.append(chunk.text)
        if len(got) == 3:
            engine.cancel(req.key)
        if chunk.final:
            final = chunk.final
    await engine.close()
    assert final.finish_reason == "cancelled"
    assert len(final.text) < 400


async def test_unreachable_server_and_bad_url() -> None:
    with pytest.raises(EngineError, match="must start with http"):
        OpenAIEngine("localhost:1234")
    engine = OpenAIEngine("http://127.0.0.1:9/v1")
    with pytest.raises(EngineError, match="cannot reach the server"):
        await engine.start()
    await engine.close()


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= parse_retry_after(date) <= 31
