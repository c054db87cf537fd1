"""Any OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, OpenAI).

This is how a run scales past one machine: many requests in flight over one
`aiohttp.ClientSession`, bounded by a semaphore sized to the server. Transient
failures (connection errors, 408, 429, 5xx) are retried with exponential
backoff and jitter, honouring `Retry-After`; other 4xx fail at once. The API
key comes from the environment and never appears in a message or a log.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from engines.base import (
    Chunk,
    EngineError,
    EngineInfo,
    Generation,
    GenerationFailed,
    GenerationRequest,
)

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}

# Structured output, in the order tried: OpenAI's json_schema (vLLM, SGLang, OpenAI),
# then llama.cpp server's json_object with a schema, then plain text.
REFUSALS = frozenset({400, 404, 415, 422, 500, 501})  # how servers refuse a response_format
STRUCTURED_FORMS: dict[str, str | None] = {"json_schema": "json_object", "json_object": None}


def structured_format(form: str, schema: dict[str, Any]) -> dict[str, Any]:
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}}
    return {"type": "json_object", "schema": schema}


class HTTPStatusError(Exception):
    def __init__(self, status: int, body: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins when longer."""
    delay = random.uniform(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, 120.0))
    return delay


class OpenAIClient:
    """The HTTP half, shared by the engine and (later) the judges."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = os.environ.get(api_key_env) or None
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = max(0, retries)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._session: Any = None
        self._semaphore: asyncio.Semaphore | None = None

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    async def session(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=self.connect_timeout,
                sock_connect=self.connect_timeout,
                sock_read=self.read_timeout,
            )
            headers = {"Content-Type": "application/json"}
            if self._key:
                headers["Authorization"] = f"Bearer {self._key}"
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            self._session = aiohttp.ClientSession(timeout=timeout, headers=headers, connector=connector)
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._session

    @property
    def semaphore(self) -> asyncio.Semaphore:
        assert self._semaphore is not None
        return self._semaphore

    async def get_json(self, path: str) -> Any:
        import aiohttp

        session = await self.session()
        url = f"{self.base_url}{path}"
        try:
            async with session.get(url) as response:
                body = await response.text()
                if response.status != 200:
                    raise EngineError(self.redact(f"{url}: HTTP {response.status}: {body[:200].strip()}"))
                return json.loads(body)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise EngineError(self.redact(f"{url}: cannot reach the server ({_reason(exc)})")) from None
        except ValueError:
            raise EngineError(f"{url}: the server did not answer with JSON") from None

    async def open_stream(
        self, path: str, payload: dict[str, Any], fail_fast: frozenset[int] = frozenset()
    ) -> Any:
        """POST and return the response once it is 200, retrying transient failures.

        Statuses in `fail_fast` are never retried (a server refusing a request form)."""
        import aiohttp

        session = await self.session()
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = await session.post(url, json=payload)
                if response.status == 200:
                    return response, attempt + 1
                body = (await response.text())[:300].strip()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                response.release()
                error: Exception = HTTPStatusError(response.status, self.redact(body), retry_after)
                retriable = response.status in RETRY_STATUS
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                error = GenerationFailed(self.redact(f"{url}: {_reason(exc)}"))
                retriable = True
            if isinstance(error, HTTPStatusError) and error.status in fail_fast:
                retriable = False
            if not retriable or attempt >= self.retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise GenerationFailed(f"{url}: {error}{tries}") from None
            await asyncio.sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, retry_after))
            attempt += 1

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class OpenAIEngine:
    """Streams chat completions over SSE from an OpenAI-compatible server."""

    def __init__(
        self,
        target: str,
        *,
        concurrency: int = 8,
        api_key_env: str = "OPENAI_API_KEY",
        read_timeout: float = 120.0,
        retries: int = 4,
        **_: Any,
    ) -> None:
        base, _sep, model = target.partition("#")
        if not base.startswith(("http://", "https://")):
            raise EngineError(f"--engine openai:{target}: the base URL must start with http:// or https://")
        self.client = OpenAIClient(
            base, api_key_env=api_key_env, concurrency=concurrency, read_timeout=read_timeout, retries=retries
        )
        self.model = model or None
        self.concurrency = self.client.concurrency
        self.info = EngineInfo(name="openai", spec=f"openai:{target}", model=model or "?", device="remote")
        self._cancelled: set[tuple[str, int]] = set()
        # Which form of structured output the server takes; None: plain text only.
        self.structured_output: str | None = "json_schema"
        self.structured_confirmed = False

    async def start(self) -> None:
        if self.model is None:
            listing = await self.client.get_json("/models")
            models = listing.get("data") if isinstance(listing, dict) else None
            if not models:
                raise EngineError(
                    f"{self.client.base_url}/models: the server lists no models; use openai:URL#MODEL"
                )
            self.model = str(models[0].get("id"))
        else:
            await self.client.session()
        self.info.model = self.model
        self.info.extra = {"base_url": self.client.base_url}
        self.info.spec = f"openai:{self.client.base_url}#{self.model}"

    def cancel(self, key: tuple[str, int]) -> None:
        self._cancelled.add(key)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if self.model is None:
            await self.start()
        params = request.params
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.seed is not None:
            payload["seed"] = params.seed
        schema = request.extra.get("json_schema")
        if schema is not None and self.structured_output is not None:
            payload["response_format"] = structured_format(self.structured_output, schema)
        self._cancelled.discard(request.key)
        await self.client.session()
        async with self.client.semaphore:
            started = time.monotonic()
            while True:
                probing = "response_format" in payload and not self.structured_confirmed
                try:
                    # An untried form of structured output gets one attempt: servers that do
                    # not know it answer 400, 422 or even 500 (llama.cpp server), every time.
                    response, _attempts = await self.client.open_stream(
                        "/chat/completions", payload, fail_fast=REFUSALS if probing else frozenset()
                    )
                    if probing:
                        self.structured_confirmed = True
                    break
                except GenerationFailed as exc:
                    if not probing or not any(f"HTTP {status}" in str(exc) for status in REFUSALS):
                        raise
                    # The server refused this form of structured output: try the next
                    # form, and plain text (parsed all the same) after the last.
                    self.structured_output = STRUCTURED_FORMS.get(self.structured_output or "")
                    if self.structured_output is None:
                        payload.pop("response_format")
                    else:
                        payload["response_format"] = structured_format(self.structured_output, schema or {})
            text: list[str] = []
            tokens = 0
            usage_tokens: int | None = None
            prompt_tokens: int | None = None
            ttft: float | None = None
            finish = "stop"
            try:
                async for data in _sse_events(response):
                    if request.key in self._cancelled:
                        finish = "cancelled"
                        break
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise GenerationFailed(f"bad stream data from server: {data[:120]!r}") from None
                    if "error" in event:
                        raise GenerationFailed(f"server error: {str(event['error'])[:200]}")
                    usage = event.get("usage")
                    if isinstance(usage, dict):
                        usage_tokens = usage.get("completion_tokens", usage_tokens)
                        prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            if ttft is None:
                                ttft = time.monotonic() - started
                            text.append(piece)
                            tokens += 1
                            yield Chunk(text=piece, tokens=1)
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
            except asyncio.TimeoutError:
                raise GenerationFailed(
                    f"{self.client.base_url}: no data for {self.client.read_timeout:g}s mid-answer"
                ) from None
            finally:
                response.release()
                self._cancelled.discard(request.key)
        if finish not in ("stop", "length", "cancelled"):
            finish = "stop" if finish in ("eos", "end_turn") else finish
        yield Chunk(
            final=Generation(
                text="".join(text),
                tokens=usage_tokens if usage_tokens is not None else tokens,
                prompt_tokens=prompt_tokens,
                ttft=ttft,
                seconds=time.monotonic() - started,
                finish_reason=finish,
            )
        )

    async def close(self) -> None:
        await self.client.close()


async def _sse_events(response: Any) -> AsyncIterator[str]:
    """Yield the data of each server-sent event (multi-line data joined)."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
