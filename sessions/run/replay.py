"""Replay: a saved session's answers played back as a stream at their recorded pace.

A source, not an engine: it reads a session, so it lives in sessions/ (engines know
nothing of sessions) and offers the same interface as an engine, so the console and
the Generator play it like any other.

The answer for a request is found by (item id, turn). Pace: the recorded time
to first token, then the text spread evenly over the rest of the recorded
duration, divided by `speed` (0 = instant). Useful to demo, to re-score blind,
and to test the console without a model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
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
from sftscope.sessions.core.state import SessionState, fold
from sftscope.sessions.core.store import SessionError, load_session

PIECES_PER_SECOND = 25  # how finely a replayed answer is cut


class ReplaySource:
    capabilities = Capabilities()

    def __init__(
        self,
        target: str,
        *,
        speed: float = 1.0,
        state: SessionState | None = None,
        header: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        """`state` and `header`: the session already read and folded by whoever opened it
        (`sftscope replay` opens a Session on the same directory); reading and folding a
        16,000-item log a second time cost a second before the console's first paint.
        Without them the session is read here (`--engine replay:DIR` on another run)."""
        directory = Path(target)
        if state is None or header is None:
            try:
                header, events, _warnings = load_session(directory)
            except SessionError as exc:
                raise EngineError(str(exc)) from None
            state = fold(events)
        self.state = state
        if speed < 0:
            raise EngineError("--speed must be 0 (instant) or more")
        self.speed = speed
        self.concurrency = 4
        model = str((header.get("engine") or {}).get("model", "?"))
        self.info = EngineInfo(
            name="replay",
            spec=f"replay:{directory}",
            model=model,
            device="replay",
            extra={"source_engine": (header.get("engine") or {}).get("spec", "?")},
        )
        self._cancelled: set[tuple[str, int]] = set()

    async def start(self) -> None:
        return None

    def cancel(self, key: tuple[str, int]) -> None:
        self._cancelled.add(key)

    def lower_priority(self, nice: int) -> None:
        """No model runs here: nothing to lower."""

    def recorded(self, key: tuple[str, int]) -> dict[str, Any]:
        item_id, turn = key
        state = self.state.items.get(item_id)
        if state is None or turn >= len(state.turns):
            raise GenerationFailed(f"the replayed session has no answer for item {item_id!r} turn {turn + 1}")
        return state.turns[turn]

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        record = self.recorded(request.key)
        self._cancelled.discard(request.key)
        text = str(record.get("text", ""))
        total_tokens = int(record.get("tokens") or 0)
        ttft = float(record.get("ttft") or 0.0)
        seconds = float(record.get("seconds") or 0.0)
        started = time.monotonic()
        scale = 0.0 if self.speed == 0 else 1.0 / self.speed
        await asyncio.sleep(ttft * scale)
        pieces = max(1, int((seconds - ttft) * PIECES_PER_SECOND)) if scale else 1
        step = max(1, -(-len(text) // pieces))
        sent_tokens = 0
        first: float | None = None
        for start in range(0, len(text), step):
            if request.key in self._cancelled:
                self._cancelled.discard(request.key)
                done = text[:start]
                yield Chunk(
                    final=Generation(
                        done,
                        sent_tokens,
                        record.get("prompt_tokens"),
                        first,
                        time.monotonic() - started,
                        "cancelled",
                    )
                )
                return
            piece = text[start : start + step]
            share = round(total_tokens * (start + len(piece)) / max(1, len(text))) - sent_tokens
            sent_tokens += share
            if first is None:
                first = time.monotonic() - started
            yield Chunk(text=piece, tokens=share)
            if scale:
                await asyncio.sleep((seconds - ttft) * scale / pieces)
        yield Chunk(
            final=Generation(
                text=text,
                tokens=total_tokens,
                prompt_tokens=record.get("prompt_tokens"),
                ttft=first,
                seconds=time.monotonic() - started,
                finish_reason=str(record.get("finish_reason", "stop")),
            )
        )

    async def close(self) -> None:
        return None
