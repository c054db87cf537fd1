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
import time
from collections.abc import AsyncIterator
from typing import Any

from sftscope.engines.base import (
    Capabilities,
    Chunk,
    EngineError,
    EngineInfo,
    Generation,
    GenerationFailed,
    GenerationRequest,
)
from sftscope.engines.retry import backoff_delay

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}

# Structured output, in the order tried: OpenAI's json_schema (vLLM, SGLang, OpenAI),
# then llama.cpp server's json_object with a schema, then plain text. A 4xx here is a
# refusal of the form; llama.cpp server refuses with a 500, every time, so a 500 is
# asked once more before it counts as a refusal (a single transient 500 must not turn
# structured output off for the whole run).
REFUSALS = frozenset({400, 404, 415, 422, 500, 501})
REFUSALS_AT_ONCE = REFUSALS - {500}
CUT = "the server ended the stream without finishing"
# Streams cut because they overlapped are asked again without using up the retries
# (the lowered concurrency stops the cutting), but never more than this many times.
MAX_OVERLAP_RETRIES = 12


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


class StreamCut(Exception):
    """A stream that ended without a finish reason, or whose connection dropped."""


class ServerSlots:
    """Streams in flight to one server, across every client in this process.

    llama-cpp-python's server (its default `interrupt_requests`) cuts a running
    stream when another request arrives: the cut stream ends with `[DONE]` and
    no finish reason. When that happens while streams overlap, the limit for
    that server is halved (down to 1), so the engine and a judge on the same
    server stop cutting each other. Servers that serve many at once (vLLM,
    SGLang) never cut, so they keep their concurrency.
    """

    def __init__(self) -> None:
        self.limit: int | None = None  # None: no limit beyond each client's own
        self.active = 0
        self.lowered = 0
        self.announced = False
        self._changed = asyncio.Condition()

    async def acquire(self) -> int:
        """Wait for a slot; returns how many times the limit had been lowered then.
        Until a server has cut a stream there is no limit and nothing to wait for."""
        if self.limit is not None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.limit is None or self.active < self.limit)
        self.active += 1
        return self.lowered

    async def release(self) -> None:
        self.active -= 1
        if self.limit is not None:
            async with self._changed:
                self._changed.notify_all()

    def lower(self, seen: int, overlapping: int) -> int | None:
        """Halve the limit after a cut; `seen` (from `acquire`) stops several streams cut
        by the same overlap from halving it once each. Returns the new limit, if lowered."""
        if seen != self.lowered or self.limit == 1:
            return None
        current = self.limit if self.limit is not None else overlapping
        self.limit = max(1, current // 2)
        self.lowered += 1
        return self.limit


_SLOTS: dict[tuple[int, str], ServerSlots] = {}


def server_slots(base_url: str) -> ServerSlots:
    """The shared slots of one server in this event loop (asyncio primitives are per loop)."""
    key = (id(asyncio.get_running_loop()), base_url)
    if key not in _SLOTS:
        _SLOTS[key] = ServerSlots()
    return _SLOTS[key]


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
        self,
        path: str,
        payload: dict[str, Any],
        fail_fast: frozenset[int] = frozenset(),
        *,
        retries: int | None = None,
    ) -> Any:
        """POST and return the response once it is 200, retrying transient failures.

        Statuses in `fail_fast` are never retried (a server refusing a request form)."""
        import aiohttp

        session = await self.session()
        url = f"{self.base_url}{path}"
        retries = self.retries if retries is None else retries
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
                error = GenerationFailed(self.redact(_reason(exc)))  # the URL is said once, below
                retriable = True
            status = error.status if isinstance(error, HTTPStatusError) else None
            if status in fail_fast:
                retriable = False
            if not retriable or attempt >= retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise GenerationFailed(
                    f"{url}: {error}{tries}", status=status, requests=attempt + 1
                ) from None
            await asyncio.sleep(self.backoff(attempt, retry_after))
            attempt += 1

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        return backoff_delay(attempt, self.backoff_base, self.backoff_cap, retry_after)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _reason(exc: BaseException) -> str:
    """Why a request failed, without the URL (the caller names it once)."""
    import aiohttp

    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp's own text repeats the host ("Cannot connect to host H:P ssl:default [...]").
        why = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return f"cannot connect ({why})"
    return str(exc) or type(exc).__name__


class OpenAIEngine:
    """Streams chat completions over SSE from an OpenAI-compatible server.

    An answer is final only when the server says it finished (`finish_reason`
    stop or length, or another reason, recorded as it is). A stream that ends
    without one, or whose connection drops, is asked again from the start with
    the same backoff as other transient failures; the consumer is told with a
    `reset` chunk so it can clear the partial text.
    """

    # The structured-output forms negotiated with the server, in the order tried.
    capabilities = Capabilities(structured_output=("json_schema", "json_object"))

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
        self.structured_output: str | None = self.capabilities.structured_output[0]
        self.structured_confirmed = False
        self._negotiating = asyncio.Lock()

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

    def lower_priority(self, nice: int) -> None:
        """The model runs on the server: nothing here to lower."""

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
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
        schema = request.json_schema
        if schema is not None and self.structured_output is not None:
            payload["response_format"] = structured_format(self.structured_output, schema)
        return payload

    async def _open(self, payload: dict[str, Any], schema: dict[str, Any] | None, state: _StreamState) -> Any:
        """Open the stream, counting its requests on `state`. Structured output is
        negotiated once per engine: the first request that needs it finds the form the
        server takes while the others wait, so concurrent judgments never each probe (and
        downgrade) on their own."""
        if schema is not None and not self.structured_confirmed:
            async with self._negotiating:
                if not self.structured_confirmed:
                    return await self._negotiate(payload, schema, state)
        if schema is not None:
            if self.structured_output is None:
                payload.pop("response_format", None)
            else:
                payload["response_format"] = structured_format(self.structured_output, schema)
        response, attempts = await self.client.open_stream("/chat/completions", payload)
        state.requests += attempts
        return response

    async def _negotiate(self, payload: dict[str, Any], schema: dict[str, Any], state: _StreamState) -> Any:
        """Try each form of structured output in turn, then plain text (parsed all the same).

        A 4xx refuses a form at once; a 500 (llama.cpp server's way of refusing) is asked
        once more first, so a single transient 500 never turns structured output off.
        """
        asked_again = False
        while True:
            if self.structured_output is None:
                payload.pop("response_format", None)
                self.structured_confirmed = True
                response, attempts = await self.client.open_stream("/chat/completions", payload)
                state.requests += attempts
                return response
            payload["response_format"] = structured_format(self.structured_output, schema)
            try:
                response, attempts = await self.client.open_stream(
                    "/chat/completions", payload, fail_fast=REFUSALS
                )
            except GenerationFailed as exc:
                if exc.status not in REFUSALS:
                    raise
                state.requests += exc.requests
                if exc.status not in REFUSALS_AT_ONCE and not asked_again:
                    asked_again = True
                    await asyncio.sleep(self.client.backoff(0))
                    continue
                asked_again = False
                forms = self.capabilities.structured_output
                later = forms[forms.index(self.structured_output) + 1 :]
                self.structured_output = later[0] if later else None  # None: plain text
                continue
            state.requests += attempts
            self.structured_confirmed = True
            return response

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if self.model is None:
            await self.start()
        payload = self._payload(request)
        schema = request.json_schema
        self._cancelled.discard(request.key)
        await self.client.session()
        slots = server_slots(self.client.base_url)
        started = time.monotonic()
        attempt = overlaps = 0
        requests = 0  # over every attempt: a cut stream asked again is one more request
        try:
            while True:
                async with self.client.semaphore:
                    seen = await slots.acquire()
                    try:
                        state = _StreamState(started, requests)
                        try:
                            async for chunk in self._attempt(payload, schema, request.key, state):
                                yield chunk
                        except GenerationFailed as exc:
                            made = state.requests + exc.requests  # earlier ones and its own
                            raise GenerationFailed(str(exc), status=exc.status, requests=made) from None
                        except StreamCut as cut:
                            requests = state.requests
                            overlapping = slots.active
                            lowered = slots.lower(seen, overlapping) if overlapping > 1 else None
                            reason = str(cut)
                        else:
                            break
                    finally:
                        await slots.release()
                notice = None
                if lowered is not None and not slots.announced:
                    slots.announced = True  # said once; later halvings are quiet
                    notice = (
                        f"{self.client.base_url} cuts overlapping streams (as llama-cpp-python's server "
                        f"does): concurrency for this server lowered to {lowered} (down to 1 if needed)"
                    )
                if overlapping > 1 and overlaps < MAX_OVERLAP_RETRIES:
                    overlaps += 1  # cut by another request: not the server's fault
                elif attempt < self.client.retries:
                    attempt += 1
                else:
                    tries = attempt + overlaps + 1
                    raise GenerationFailed(
                        f"{self.client.base_url}: {reason} ({tries} attempts)", requests=requests
                    )
                yield Chunk(reset=True, notice=notice)
                await asyncio.sleep(self.client.backoff(attempt))
        finally:
            self._cancelled.discard(request.key)
        yield Chunk(final=state.final(time.monotonic() - started))

    async def _attempt(
        self,
        payload: dict[str, Any],
        schema: dict[str, Any] | None,
        key: tuple[str, int],
        state: _StreamState,
    ) -> AsyncIterator[Chunk]:
        """One request: stream its text into `state`; raise StreamCut when it ends unfinished."""
        import aiohttp

        response = await self._open(payload, schema, state)
        try:
            kind = response.content_type or ""
            if kind == "application/json":
                state.whole(await _json_body(response, self.client.read_timeout))
                if state.text:
                    yield Chunk(text="".join(state.text), tokens=state.tokens)
                return
            async for data in _sse_events(response, kind):
                if key in self._cancelled:
                    state.finish = "cancelled"
                    return
                if data == "[DONE]":
                    break
                piece = state.event(data)
                if piece:
                    yield Chunk(text=piece, tokens=1)
        except asyncio.TimeoutError:
            raise GenerationFailed(
                f"{self.client.base_url}: no data for {self.client.read_timeout:g}s mid-answer"
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionError) as exc:
            raise StreamCut(f"the connection dropped mid-answer ({_reason(exc)})") from None
        finally:
            response.release()
        if state.finish is None or state.finish == "abort":  # vLLM's word for a dropped request
            raise StreamCut(CUT)

    async def close(self) -> None:
        await self.client.close()


class _StreamState:
    """What one attempt has received so far."""

    def __init__(self, started: float, requests: int = 0) -> None:
        self.started = started
        self.requests = requests  # made so far for this answer, earlier attempts included
        self.text: list[str] = []
        self.tokens = 0
        self.usage_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.ttft: float | None = None
        self.finish: str | None = None

    def event(self, data: str) -> str:
        """Fold one SSE event in; returns its new text."""
        try:
            event = json.loads(data)
        except ValueError:
            raise GenerationFailed(f"bad stream data from server: {data[:120]!r}") from None
        if not isinstance(event, dict):
            raise GenerationFailed(f"bad stream data from server: {data[:120]!r}")
        if "error" in event:
            raise GenerationFailed(f"server error: {str(event['error'])[:200]}")
        self._usage(event.get("usage"))
        new = []
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                if self.ttft is None:
                    self.ttft = time.monotonic() - self.started
                self.text.append(piece)
                self.tokens += 1
                new.append(piece)
            if choice.get("finish_reason"):
                self.finish = str(choice["finish_reason"])
        return "".join(new)

    def whole(self, body: Any) -> None:
        """A complete (non-streamed) answer to a streamed request: taken as the answer."""
        if not isinstance(body, dict):
            raise GenerationFailed("the server answered with JSON that is not a chat completion")
        if "error" in body:
            raise GenerationFailed(f"server error: {str(body['error'])[:200]}")
        choices = body.get("choices")
        if not choices or not isinstance(choices[0], dict) or not isinstance(choices[0].get("message"), dict):
            raise GenerationFailed("the server answered with JSON that is not a chat completion")
        content = choices[0]["message"].get("content") or ""
        if content:
            self.ttft = time.monotonic() - self.started
            self.text.append(str(content))
        self.finish = choices[0].get("finish_reason") or None
        self._usage(body.get("usage"))
        if self.usage_tokens is None and content:
            self.tokens = 1

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.usage_tokens = usage.get("completion_tokens", self.usage_tokens)
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)

    def final(self, seconds: float) -> Generation:
        finish = self.finish or "stop"
        if finish in ("eos", "end_turn"):
            finish = "stop"
        return Generation(
            text="".join(self.text),
            tokens=self.usage_tokens if self.usage_tokens is not None else self.tokens,
            prompt_tokens=self.prompt_tokens,
            ttft=self.ttft,
            seconds=seconds,
            finish_reason=finish,
            requests=max(1, self.requests),
        )


async def _json_body(response: Any, timeout: float) -> Any:
    text = await asyncio.wait_for(response.text(), timeout)
    try:
        return json.loads(text)
    except ValueError:
        raise GenerationFailed("the server answered with a body that is not JSON") from None


async def _sse_events(response: Any, kind: str) -> AsyncIterator[str]:
    """Yield the data of each server-sent event (multi-line data joined).

    Lines are split here rather than by aiohttp's `readline`, whose line-length
    limit turns one large event (a 5 MB answer in a single chunk) into an error.
    A body that is not an event stream (an HTML error page behind a proxy) is an
    error naming what it was, never an empty answer.
    """
    buffer = b""
    data: list[str] = []
    checked = kind == "text/event-stream"
    async for block in response.content.iter_any():
        buffer += block
        if not checked:
            head = buffer.lstrip()
            if len(head) < 5 and len(buffer) < 64:
                continue
            if not head.startswith((b"data:", b":", b"event:", b"id:", b"retry:")):
                snippet = head[:80].decode("utf-8", "replace")
                raise GenerationFailed(
                    f"the server answered HTTP 200 with {kind or 'no content type'}, "
                    f"not an event stream: {snippet!r}"
                )
            checked = True
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip("\r")
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
    if not checked and buffer.strip():
        snippet = buffer.strip()[:80].decode("utf-8", "replace")
        raise GenerationFailed(
            f"the server answered HTTP 200 with {kind or 'no content type'}, not an event stream: {snippet!r}"
        )
    tail = buffer.decode("utf-8", "replace").rstrip("\r")
    if tail.startswith("data:"):
        data.append(tail[5:].lstrip(" ") if tail[5:6] == " " else tail[5:])
    if data:
        yield "\n".join(data)
