"""The Generator: answers for a session's items, from an engine, written through the Session.

It owns the engine's queue: the item on screen first and `ahead` items after it
(`focus`), everything unfinished for a headless run (`queue`), several streams at
once when the engine serves them, batches when it declares batching, and `stop`.
Streaming text goes out on the Session's progress channel; only the finished
turn (or its error, or its skip) is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from sftscope.engines.base import (
    FINISHED,
    Engine,
    Generation,
    GenerationFailed,
    GenerationRequest,
    PromptTooLong,
    SamplingParams,
)
from sftscope.sessions.core.events import Event, Failed, Generated, Regenerated, RunStarted, Skipped
from sftscope.sessions.core.progress import LiveAnswer, Restart, Started, Text
from sftscope.sessions.core.session import RunSummary, Session
from sftscope.sessions.core.state import ItemState
from sftscope.sessions.core.store import SessionWriteError
from sftscope.sessions.run.judging import JudgePool, describe


class Generator:
    def __init__(
        self,
        session: Session,
        engine: Engine,
        params: SamplingParams,
        *,
        system: str | None = None,
        concurrency: int | None = None,
        batch_size: int = 1,
        pool: JudgePool | None = None,
    ) -> None:
        self.session = session
        self.state = session.state
        self.engine = engine
        self.params = params
        self.system = system
        self.concurrency = max(1, concurrency or engine.concurrency)
        self.batch_size = max(1, batch_size)
        self.pool = pool
        self._pending: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._active: dict[str, int] = {}  # item -> turn being generated
        # Items whose stream is being stopped to be asked again (`r` while it streams).
        self._regenerating: set[str] = set()
        # item -> the answer streaming now (displays read it; it goes when the turn is written)
        self.live: dict[str, LiveAnswer] = {}
        self.stopping = False
        self._workers: list[asyncio.Task[Any]] = []
        # The order the operator walks (Launch.walk: a shuffled session's seeded random
        # order), so the items `focus` generates ahead are the ones shown next; None:
        # prompt-set order.
        self._order: list[str] | None = None
        self._position: dict[str, int] = {}
        session.late_writes.append(self._after_late_write)

    def set_order(self, item_ids: list[str]) -> None:
        """Generate ahead in this order of the items (the console's)."""
        self._order = list(item_ids)
        self._position = {item_id: n for n, item_id in enumerate(self._order)}

    def _after_late_write(self, event: Event) -> None:
        """A turn written late (after a full disk) that leaves more turns: ask for the next."""
        if not isinstance(event, Generated) or event.finish_reason not in FINISHED:
            return
        state = self.state.items.get(str(event.item))
        if state is not None and not state.complete and state.item.id not in self._pending:
            self._pending.appendleft(state.item.id)
            self._wakeup.set()

    def cancel(self, item_id: str) -> None:
        turn = self._active.get(item_id)
        if turn is not None:
            self.engine.cancel((item_id, turn))

    def cancel_all(self) -> None:
        for item_id in list(self._active):
            self.cancel(item_id)

    def queue(self, item_ids: list[str] | None = None) -> list[str]:
        """Queue every unfinished, unskipped item (or the given ones) for generation."""
        wanted = item_ids if item_ids is not None else [s.item.id for s in self.state.ordered()]
        queued = set(self._pending)
        for item_id in wanted:
            state = self.state.items[item_id]
            if state.complete or state.skipped is not None or state.status == "incomplete":
                continue
            if item_id not in queued and item_id not in self._active:
                self._pending.append(item_id)
                queued.add(item_id)
        self._wakeup.set()
        return list(self._pending)

    def focus(self, item_id: str, ahead: int) -> None:
        """The operator is on `item_id`: generate it first, then the next `ahead` items.

        Items that failed or were cancelled are not retried here (that is `regenerate`),
        so a broken server cannot make the console loop on one item.
        """
        if self._order is not None and item_id in self._position:
            start = self._position[item_id]
            window = self._order[start : start + ahead + 1]
        else:
            found = self.state.position(item_id)
            if found is None:
                return
            window = [s.item.id for s in self.state.ordered()[found : found + ahead + 1]]
        self._pending = deque(
            i
            for i in window
            if self.state.items[i].status in ("pending", "partial") and i not in self._active
        )
        self._wakeup.set()

    def regenerate(self, item_id: str) -> None:
        """Ask for a new answer from the first turn. While the item streams, its stream is
        stopped first: the stopped answer is written (it was on screen, and a label may be
        bound to it), then the regenerate request, then the new answer is asked for by the
        same worker, in that order. Asking for it here at once let the stopped stream's
        event land after the request, leaving the item "cancelled" and never asked again."""
        if item_id in self._active:
            self._regenerating.add(item_id)
            self.cancel(item_id)
            return
        self.session.record(Regenerated(item_id, 0))
        if item_id in self._pending:
            self._pending.remove(item_id)
        self._pending.appendleft(item_id)
        self._wakeup.set()

    def _regenerate_now(self, item_id: str) -> bool:
        """After a stream ends: whether it was stopped to be asked again (then the request
        is written here, after the stopped answer)."""
        if item_id not in self._regenerating:
            return False
        self._regenerating.discard(item_id)
        if self.stopping or self.session.closed:
            return False
        self.session.record(Regenerated(item_id, 0))
        return True

    @property
    def idle(self) -> bool:
        return not self._pending and not self._active

    # --- the loop --------------------------------------------------------------
    async def run(self, *, until_idle: bool = True) -> RunSummary:
        """Generate everything queued. With `until_idle` False, keep serving new work."""
        self.session.record(RunStarted(self.engine.info.spec, self.params.to_dict()))
        workers = [asyncio.create_task(self._worker(until_idle)) for _ in range(self.concurrency)]
        self._workers = workers
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
            for result in results:  # a worker cancelled by stop() is no error; a bug is
                if isinstance(result, Exception):
                    raise result
            if until_idle and not self.stopping and self.pool is not None:
                await self.pool.wait()  # a headless run ends once its judges have
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*workers, return_exceptions=True)
            store = self.session.store
            with contextlib.suppress(SessionWriteError):
                if store.is_open and not store.read_only:
                    store.sync()
        return self.session.summary()

    def stop(self, grace: float = 0.3) -> None:
        """Stop generating and judging (quit, Ctrl+C, a signal): cancel what is in flight,
        queue nothing more, and end the workers; a stream that does not notice its cancel
        within `grace` seconds (a stalled server) has its task cancelled."""
        self.stopping = True
        self._pending.clear()
        self._regenerating.clear()
        self.cancel_all()
        if self.pool is not None:
            self.pool.cancel()
        self._wakeup.set()
        self.session.writable.set()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to cancel later
            loop = asyncio.get_running_loop()
            for task in self._workers:
                loop.call_later(grace, task.cancel)

    async def _worker(self, until_idle: bool) -> None:
        while not self.stopping:
            if self.session.write_error is not None:
                await self.session.wait_writable(lambda: self.stopping)
                if self.session.closed or self.stopping:
                    return
            if not self._pending:
                if until_idle and not self._active:
                    self._wakeup.set()  # release the other idle workers
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.batch_size > 1 and self.engine.capabilities.batching:
                batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                await self._generate_batch(batch)
            else:
                item_id = self._pending.popleft()
                await self._generate_item(self.state.items[item_id])
            self._wakeup.set()

    def _request(self, state: ItemState, turn: int) -> GenerationRequest:
        messages = state.item.messages_for_turn(turn, state.answers, self.system)
        return GenerationRequest(messages=messages, params=self.params, key=(state.item.id, turn))

    async def _generate_item(self, state: ItemState) -> None:
        item_id = state.item.id
        while True:
            if not await self._generate_turns(state) or not self._regenerate_now(item_id):
                return

    async def _generate_turns(self, state: ItemState) -> bool:
        """The item's turns from the first unfinished one; False when the task must end
        at once (cancelled by stop), True when the attempts ended as the log says."""
        item_id = state.item.id
        for turn in range(state.next_turn, len(state.item.turns)):
            request = self._request(state, turn)
            gen = self.session.begin_attempt(item_id)
            self._active[item_id] = turn
            self.live[item_id] = LiveAnswer(turn, time.monotonic())
            self.session.progress(Started(item_id, turn))
            written = False
            try:
                final = await self._stream(request)
            except PromptTooLong as exc:
                written = True
                self.session.record(Skipped(item_id, by="engine", reason=str(exc), turn=turn, gen=gen))
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # recorded on the item; the run goes on
                written = True
                self.session.record(Failed(item_id, describe(exc), turn, gen=gen))
                return True
            finally:
                self._active.pop(item_id, None)
                self.live.pop(item_id, None)
                if not written:
                    self.session.end_attempt(item_id, gen)  # its event (if any) comes next
            self.session.record(_generation_event(item_id, turn, final, gen))
            if final.finish_reason not in FINISHED or self.session.unwritten:
                return True  # not finished, or not on disk yet (the late write carries on)
        return True

    async def _stream(self, request: GenerationRequest) -> Generation:
        item_id, turn = request.key
        stream = self.engine.stream(request)
        try:
            async for chunk in stream:
                live = self.live.get(item_id)
                if chunk.reset:
                    # The engine asks again from the start (a cut stream): the partial
                    # text shown so far is void.
                    if live is not None:
                        live = self.live[item_id] = LiveAnswer(turn, time.monotonic())
                    self.session.progress(Restart(item_id, turn))
                if chunk.notice:
                    self.session.notice(chunk.notice)
                if chunk.text or chunk.tokens:
                    if live is not None:
                        if live.first is None and chunk.text:
                            live.first = time.monotonic()
                        live.parts.append(chunk.text)
                        live.tokens += chunk.tokens
                    self.session.progress(Text(item_id, turn, chunk.text, chunk.tokens))
                if chunk.final is not None:
                    return chunk.final
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        raise GenerationFailed("the engine ended the stream without a final answer")

    async def _generate_batch(self, item_ids: list[str]) -> None:
        """One batched call per turn stage (transformers on GPU, headless)."""
        states = [self.state.items[i] for i in item_ids]
        while states:
            requests = []
            gens = []
            for state in states:
                requests.append(self._request(state, state.next_turn))
                gens.append(self.session.begin_attempt(state.item.id))
                self._active[state.item.id] = state.next_turn
                self.live[state.item.id] = LiveAnswer(state.next_turn, time.monotonic())
                self.session.progress(Started(state.item.id, state.next_turn))
            try:
                results = await self.engine.generate_batch(requests)  # type: ignore[attr-defined]
            except Exception as exc:
                results = [exc] * len(requests)
            finally:
                for state, gen in zip(states, gens, strict=True):
                    self._active.pop(state.item.id, None)
                    self.live.pop(state.item.id, None)
                    self.session.end_attempt(state.item.id, gen)  # its event comes next
            remaining = []
            for state, request, result, gen in zip(states, requests, results, gens, strict=True):
                item_id, turn = request.key
                if isinstance(result, PromptTooLong):
                    self.session.record(Skipped(item_id, by="engine", reason=str(result), turn=turn, gen=gen))
                elif isinstance(result, BaseException):
                    self.session.record(Failed(item_id, describe(result), turn, gen=gen))
                else:
                    self.session.record(_generation_event(item_id, turn, result, gen))
                    if result.finish_reason in FINISHED and state.next_turn < len(state.item.turns):
                        remaining.append(state)
                if self._regenerate_now(item_id):  # `r` during the batch: asked again next
                    if state in remaining:
                        remaining.remove(state)
                    self._pending.appendleft(item_id)
            states = remaining


def _generation_event(item_id: str, turn: int, final: Generation, gen: str) -> Generated:
    return Generated(
        gen=gen,
        item=item_id,
        turn=turn,
        text=final.text,
        finish_reason=final.finish_reason,
        tokens=final.tokens,
        prompt_tokens=final.prompt_tokens,
        ttft=None if final.ttft is None else round(final.ttft, 4),
        seconds=round(final.seconds, 4),
    )
