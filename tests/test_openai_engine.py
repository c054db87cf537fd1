"""The OpenAI-compatible engine against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sftscope.engines.base import (
    EngineError,
    GenerationFailed,
    GenerationRequest,
    OutputConstraint,
    SamplingParams,
)
from sftscope.engines.openai_compat import OpenAIEngine, parse_retry_after

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


# --- streams that end without finishing, and replies that are not what they seem ---------


async def collect_all(engine: OpenAIEngine, req: GenerationRequest) -> tuple[list[Any], Any]:
    chunks = [chunk async for chunk in engine.stream(req)]
    return chunks, chunks[-1].final


async def test_a_cut_stream_is_asked_again_never_saved_as_finished(server: ScriptedServer) -> None:
    # llama-cpp-python's server ends a cut stream with [DONE] and no finish_reason.
    server.script = [{"text": "half an ans", "finish": None}, {"text": "The whole answer."}]
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    chunks, final = await collect_all(engine, request())
    await engine.close()
    assert len(server.requests) == 2
    assert final.text == "The whole answer." and final.finish_reason == "stop"
    resets = [n for n, chunk in enumerate(chunks) if chunk.reset]
    assert len(resets) == 1  # the consumer is told to clear the partial text once
    after = "".join(c.text for c in chunks[resets[0] :])
    assert after == "The whole answer."


async def test_a_stream_cut_every_time_is_an_error_after_the_retries(server: ScriptedServer) -> None:
    server.default = {"text": "never finished", "finish": None}
    engine = OpenAIEngine(f"{server.url}#m", retries=2)
    engine.client.backoff_base = 0.01
    with pytest.raises(GenerationFailed, match="the server ended the stream without finishing"):
        await collect_all(engine, request())
    await engine.close()
    assert len(server.requests) == 3  # the first try and two retries


async def test_a_dropped_connection_mid_answer_is_retried(server: ScriptedServer) -> None:
    async def drop(req: Any, body: Any) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(req)
        chunk = {"choices": [{"index": 0, "delta": {"content": "par"}, "finish_reason": None}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        req.transport.close()
        return response

    server.script = [drop, {"text": "complete"}]
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    chunks, final = await collect_all(engine, request())
    await engine.close()
    assert final.text == "complete" and len(server.requests) == 2
    assert any(chunk.reset for chunk in chunks)


async def test_html_with_status_200_is_an_error_not_an_empty_answer(server: ScriptedServer) -> None:
    async def html(req: Any, body: Any) -> Any:
        from aiohttp import web

        return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")

    server.script = [html]
    engine = OpenAIEngine(f"{server.url}#m")
    with pytest.raises(GenerationFailed, match=r"HTTP 200 with text/html, not an event stream"):
        await collect_all(engine, request())
    await engine.close()


async def test_a_whole_json_answer_to_a_streamed_request_is_taken(server: ScriptedServer) -> None:
    async def whole(req: Any, body: Any) -> Any:
        from aiohttp import web

        return web.json_response(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "All at once."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4},
            }
        )

    server.script = [whole]
    engine = OpenAIEngine(f"{server.url}#m")
    chunks, final = await collect_all(engine, request())
    await engine.close()
    assert final.text == "All at once." and final.tokens == 4 and final.finish_reason == "stop"
    assert "".join(c.text for c in chunks) == "All at once."


async def test_other_finish_reasons_are_kept_as_they_are(server: ScriptedServer) -> None:
    server.script = [{"text": "I can't", "finish": "content_filter"}]
    engine = OpenAIEngine(f"{server.url}#m")
    _, final = await collect_all(engine, request())
    await engine.close()
    assert final.finish_reason == "content_filter" and len(server.requests) == 1


async def test_a_5_mb_event_is_read(server: ScriptedServer) -> None:
    big = "word " * 1_000_000  # 5 MB in one SSE event (one line)
    server.script = [{"text": big, "pieces": [big]}]
    engine = OpenAIEngine(f"{server.url}#m")
    _, final = await collect_all(engine, request())
    await engine.close()
    assert final.text == big and final.finish_reason == "stop"


def judge_request() -> GenerationRequest:
    """A request for structured output, as a judge sends."""
    return GenerationRequest(
        messages=[{"role": "user", "content": "judge"}],
        key=("j", 0),
        constraint=OutputConstraint(json_schema={"type": "object"}),
    )


def overlapping_server(srv: ScriptedServer, text: str) -> None:
    """Behave like llama-cpp-python's server with interrupt_requests: a new request cuts the
    stream running now (it ends with [DONE] and no finish_reason); one answer at a time."""
    from aiohttp import web

    running: list[asyncio.Event] = []

    async def answer(req: Any, body: Any) -> Any:
        for other in running:
            other.set()  # cut whoever is streaming
        cut = asyncio.Event()
        running.append(cut)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(req)
        try:
            for piece in text.split(" "):
                await asyncio.sleep(0.01)
                if cut.is_set():
                    await response.write(b"data: [DONE]\n\n")
                    return response
                chunk = {"choices": [{"index": 0, "delta": {"content": piece + " "}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await response.write(f"data: {json.dumps(done)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            return response
        finally:
            running.remove(cut)

    srv.default = answer


async def test_a_server_that_cuts_overlapping_streams_gets_lower_concurrency(server: ScriptedServer) -> None:
    text = "one two three four five six seven eight"
    overlapping_server(server, text)
    engine = OpenAIEngine(f"{server.url}#m")  # the default concurrency: 8
    engine.client.backoff_base = 0.01
    results = await asyncio.gather(*(collect_all(engine, request(key=(str(i), 0))) for i in range(6)))
    await engine.close()
    finals = [final for _, final in results]
    assert [f.text for f in finals] == [text + " "] * 6
    assert all(f.finish_reason == "stop" for f in finals)
    notices = [c.notice for chunks, _ in results for c in chunks if c.notice]
    assert len(notices) == 1 and "concurrency for this server lowered" in notices[0]


async def test_a_server_that_serves_many_at_once_keeps_its_concurrency(server: ScriptedServer) -> None:
    server.default = {"text": "parallel answer", "delay": 0.2}
    engine = OpenAIEngine(f"{server.url}#m")
    results = await asyncio.gather(*(collect_all(engine, request(key=(str(i), 0))) for i in range(8)))
    await engine.close()
    assert server.peak == 8
    assert not [c for chunks, _ in results for c in chunks if c.notice or c.reset]


async def test_one_http_500_does_not_turn_structured_output_off(server: ScriptedServer) -> None:
    server.script = [{"status": 500}, {"text": '{"a": 1}'}, {"text": '{"a": 2}'}]
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    schema_request = judge_request()
    await collect_all(engine, schema_request)
    await collect_all(engine, schema_request)
    await engine.close()
    forms = [body.get("response_format", {}).get("type") for body in server.requests]
    assert forms == ["json_schema", "json_schema", "json_schema"]
    assert engine.structured_output == "json_schema"


async def test_a_server_that_always_refuses_with_500_gets_the_next_form(server: ScriptedServer) -> None:
    server.script = [{"status": 500}, {"status": 500}, {"text": '{"a": 1}'}]
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    schema_request = judge_request()
    await collect_all(engine, schema_request)
    await engine.close()
    forms = [body.get("response_format", {}).get("type") for body in server.requests]
    assert forms == ["json_schema", "json_schema", "json_object"]


async def test_structured_output_is_negotiated_once_for_concurrent_requests(server: ScriptedServer) -> None:
    """Four judgments at once against a server that refuses json_schema with a 500 (as
    llama.cpp's does): the form is found once; nobody falls through to plain text."""
    from aiohttp import web

    async def answer(req: Any, body: dict[str, Any]) -> Any:
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return web.json_response({"error": {"message": "validation error"}}, status=500)
        await asyncio.sleep(0.05)
        return await server.sse(req, body, {"text": '{"a": 1}'})

    server.default = answer
    engine = OpenAIEngine(f"{server.url}#m")
    engine.client.backoff_base = 0.01
    schema_request = judge_request()
    await asyncio.gather(*(collect_all(engine, schema_request) for _ in range(4)))
    await engine.close()
    forms = [(body.get("response_format") or {}).get("type") for body in server.requests]
    assert forms.count("json_schema") == 2  # asked twice (a 500 may be transient), then refused
    assert forms.count("json_object") == 4 and None not in forms
