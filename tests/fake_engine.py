"""A fast, scripted engine for UI-flow and timing tests (never instead of the real ones).

Answers are deterministic ("Answer N to: <prompt>"), streamed in small pieces
with a configurable pause, and cancellable within one piece.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sftscope.engines.base import Capabilities, Chunk, EngineInfo, Generation, GenerationRequest


class FakeEngine:
    concurrency = 1
    capabilities = Capabilities()

    def __init__(self, *, delay: float = 0.0, pieces: int = 8, words: int = 24) -> None:
        self.delay = delay
        self.pieces = pieces
        self.words = words
        self.info = EngineInfo(name="fake", spec="fake:", model="fake-model", device="cpu")
        self.calls: list[tuple[str, int]] = []
        self._cancelled: set[tuple[str, int]] = set()

    async def start(self) -> None:
        return None

    def answer(self, request: GenerationRequest) -> str:
        prompt = request.messages[-1]["content"]
        body = " ".join(f"word{i}" for i in range(self.words))
        return f"Answer {len(self.calls)} to: {prompt[:40]}\n\n{body}"

    def cancel(self, key: tuple[str, int]) -> None:
        self._cancelled.add(key)

    def lower_priority(self, nice: int) -> None:
        """No model thread: nothing to lower."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.calls.append(request.key)
        self._cancelled.discard(request.key)
        text = self.answer(request)
        step = max(1, -(-len(text) // self.pieces))
        sent = ""
        for start in range(0, len(text), step):
            if request.key in self._cancelled:
                yield Chunk(final=Generation(sent, len(sent.split()), 10, 0.05, 0.5, "cancelled"))
                return
            piece = text[start : start + step]
            sent += piece
            yield Chunk(text=piece, tokens=len(piece.split()))
            if self.delay:
                await asyncio.sleep(self.delay)
            else:
                await asyncio.sleep(0)
        # Fixed figures so snapshots do not depend on the machine's speed.
        yield Chunk(final=Generation(text, len(text.split()), 10, 0.05, 0.5, "stop"))

    async def close(self) -> None:
        return None


class FakeJudgeEngine(FakeEngine):
    """Answers every judge request with the same verdict (UI-flow tests only)."""

    VERDICT = (
        '{"helpfulness": 4, "instruction_following": 4, "harmless": "yes", "format": "no", '
        '"justification": "ok"}'
    )

    def __init__(self) -> None:
        super().__init__()
        self.info = EngineInfo(name="fake", spec="fake:judge", model="fake-judge", device="cpu")

    def answer(self, request: GenerationRequest) -> str:
        return self.VERDICT
