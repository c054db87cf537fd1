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
from sftscope.sessions.core.progress import LiveAnswer, Replayed, Started, Text
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import ItemState, SessionState, fold
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


class Playback:
    """A saved session's answers played again to the console, the item on screen only, at
    the recorded pace: what the console plays in place of a live Generator. Display only:
    nothing is written, nothing is generated or asked for again."""

    def __init__(self, session: Session, source: ReplaySource, *, system: str | None = None) -> None:
        self.session = session
        self.source = source  # reads the Session's own fold: the log is not read twice
        self.system = system
        self.live: dict[str, LiveAnswer] = {}  # the item playing now, as the Generator's
        self.stopping = False
        self._playing: asyncio.Task[None] | None = None

    def focus(self, item_id: str, ahead: int) -> None:
        """The operator is on `item_id`: its recorded answers play from the first turn (what
        played before stops). It is streaming from now on: the console shows it so."""
        self._stop_playing()
        state = self.session.state.items.get(item_id)
        if state is None or not state.turns or self.stopping:
            return
        self.live[item_id] = LiveAnswer(0, time.monotonic())
        self._playing = asyncio.get_running_loop().create_task(self._play(state))

    async def _play(self, state: ItemState) -> None:
        item_id = state.item.id
        for turn in range(len(state.turns)):
            live = self.live[item_id] = LiveAnswer(turn, time.monotonic())
            if turn:  # the first was on screen as streaming since `focus`
                self.session.progress(Started(item_id, turn))
            async for chunk in self.source.stream(GenerationRequest(messages=[], key=(item_id, turn))):
                if chunk.text:
                    if live.first is None:
                        live.first = time.monotonic()
                    live.parts.append(chunk.text)
                    live.tokens += chunk.tokens
                    self.session.progress(Text(item_id, turn, chunk.text, chunk.tokens))
        self.live.pop(item_id, None)
        self.session.progress(Replayed(item_id))

    def _stop_playing(self) -> None:
        if self._playing is not None and not self._playing.done():
            self._playing.cancel()
        self._playing = None
        for item_id in list(self.live):  # stopped part-way: shown as recorded
            del self.live[item_id]
            self.session.progress(Replayed(item_id))

    def cancel(self, item_id: str) -> None:
        """A recorded answer is not stopped: it is there already."""

    def regenerate(self, item_id: str) -> None:
        """A recorded answer is never asked for again (Launch.regenerates is False)."""

    async def run(self, *, until_idle: bool = True) -> None:
        """Nothing runs ahead of the operator: each item plays when it is on screen."""

    def stop(self) -> None:
        self.stopping = True
        self._stop_playing()
