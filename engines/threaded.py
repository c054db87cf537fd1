"""One dedicated thread per local model, and a batched hand-over of text to asyncio.

Local engines (llama.cpp, transformers) are blocking and not thread-safe, so
every call into a model goes through one `ModelThread`. Streaming text crosses
to the event loop in batches (every `FLUSH_SECONDS`), never one
`call_soon_threadsafe` per token: at hundreds of tokens a second the per-call
overhead would otherwise land on the UI's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sftscope.engines.base import Chunk, Generation

T = TypeVar("T")

FLUSH_SECONDS = 0.04

# emit(text, tokens): called on the model thread for every decoded piece.
Emit = Callable[[str, int], None]
# work(emit, cancelled) -> Generation: the blocking token loop.
Work = Callable[[Emit, threading.Event], Generation]


class ModelThread:
    """Serialises every call into one model on a single named thread.

    `nice` (set before the first call) lowers the thread's scheduling priority;
    threads the model library starts from it (llama.cpp's compute pool) inherit
    it. The console sets it so that a keypress never waits behind a matrix
    multiply on a machine with few cores; headless runs leave it at 0.
    """

    def __init__(self, name: str, nice: int = 0) -> None:
        self.nice = nice
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._init)

    def lower_priority(self, nice: int) -> None:
        """At least `nice` (never raises the priority back); takes effect when the thread starts."""
        self.nice = max(self.nice, nice)

    def _init(self) -> None:
        if self.nice and hasattr(os, "setpriority"):
            with contextlib.suppress(OSError):  # not permitted here: normal priority
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def stream(self, work: Work, cancelled: threading.Event) -> AsyncIterator[Chunk]:
        """Run `work` on the model thread and yield its text in batches.

        The last chunk carries the `Generation` that `work` returned. If the
        consumer stops early (its task was cancelled), `cancelled` is set so the
        token loop stops within one token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | BaseException] = asyncio.Queue()
        lock = threading.Lock()
        pending: list[str] = []
        pending_tokens = 0
        last_flush = time.monotonic()

        def flush_locked() -> None:
            nonlocal pending_tokens, last_flush
            if pending or pending_tokens:
                chunk = Chunk(text="".join(pending), tokens=pending_tokens)
                pending.clear()
                pending_tokens = 0
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            last_flush = time.monotonic()

        def emit(text: str, tokens: int) -> None:
            nonlocal pending_tokens
            with lock:
                if text:
                    pending.append(text)
                pending_tokens += tokens
                if time.monotonic() - last_flush >= FLUSH_SECONDS:
                    flush_locked()

        def run() -> None:
            try:
                result = work(emit, cancelled)
            except BaseException as exc:  # handed to the consumer, never lost
                with lock:
                    flush_locked()
                loop.call_soon_threadsafe(queue.put_nowait, exc)
                return
            with lock:
                flush_locked()
            loop.call_soon_threadsafe(queue.put_nowait, Chunk(final=result))

        future = loop.run_in_executor(self._executor, run)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.final is not None:
                    break
        finally:
            if not future.done():
                cancelled.set()
            # Wait for the thread to leave the token loop so the next request
            # never overlaps it; shield so a cancelled consumer still waits.
            await asyncio.shield(future)

    def stream_request(
        self,
        cancels: CancelRegistry,
        key: tuple[str, int],
        generate: Callable[[Emit, threading.Event], Generation],
    ) -> AsyncIterator[Chunk]:
        """`stream` for one request whose cancel flag `Engine.cancel(key)` can reach."""
        cancelled = cancels.open(key)

        def work(emit: Emit, flag: threading.Event) -> Generation:
            try:
                return generate(emit, flag)
            finally:
                cancels.close(key)

        return self.stream(work, cancelled)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class ThreadedEngine:
    """What the local engines (llama.cpp, transformers) share: the model on one
    `ModelThread`, loaded there by `start` (through the engine's `_load`), and a
    `CancelRegistry` through which `cancel(key)` reaches the token loop."""

    concurrency = 1

    def __init__(self, thread_name: str) -> None:
        self.thread = ModelThread(thread_name)
        self.cancels = CancelRegistry()

    def _load(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        await self.thread.call(self._load)

    def cancel(self, key: tuple[str, int]) -> None:
        self.cancels.cancel(key)

    def lower_priority(self, nice: int) -> None:
        self.thread.lower_priority(nice)


class CancelRegistry:
    """Maps a request key to its cancel flag, so `Engine.cancel(key)` can reach the loop."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, int], threading.Event] = {}

    def open(self, key: tuple[str, int]) -> threading.Event:
        event = threading.Event()
        self._events[key] = event
        return event

    def close(self, key: tuple[str, int]) -> None:
        self._events.pop(key, None)

    def cancel(self, key: tuple[str, int]) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def cancel_all(self) -> None:
        for event in self._events.values():
            event.set()
