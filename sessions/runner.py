"""The runner: the only writer of a session.

It owns the engine and the event log, generates answers for the items in
order (several at once when the engine can serve them), and publishes every
event to subscribers: the headless progress display is one, the console
another. Both send commands back (cancel, regenerate, skip, focus), so headless
and interactive runs share every line of evaluation logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
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
from sftscope.sessions.prompts import Item
from sftscope.sessions.state import ItemState, SessionState
from sftscope.sessions.store import SessionStore, SessionWriteError

Subscriber = Callable[[dict[str, Any]], None]


@dataclass
class RunSummary:
    done: int = 0
    skipped: int = 0
    errors: int = 0
    cancelled: int = 0
    incomplete: int = 0
    tokens: int = 0
    seconds: float = 0.0


class Runner:
    """Generates answers for a session's items and records everything that happens."""

    def __init__(
        self,
        store: SessionStore,
        engine: Engine,
        params: SamplingParams,
        *,
        system: str | None = None,
        concurrency: int | None = None,
        batch_size: int = 1,
        judges: list[Any] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.params = params
        self.system = system
        self.concurrency = max(1, concurrency or engine.concurrency)
        self.batch_size = max(1, batch_size)
        self.state = SessionState()
        for event in store.events:
            self.state.apply(event)
        self._subscribers: list[Subscriber] = []
        self._pending: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._active: dict[str, int] = {}  # item -> turn being generated
        self._closed = False
        self.subscriber_errors: list[str] = []
        self.judges = list(judges or [])
        self._judge_tasks: set[asyncio.Task[Any]] = set()
        # A write that failed (disk full, read-only): generation waits until a write
        # succeeds again; events that could not be written wait here, in order.
        self.write_error: str | None = None
        self._unwritten: list[dict[str, Any]] = []
        self._writable = asyncio.Event()
        self._writable.set()
        self.notices: list[str] = list(store.header.get("notices", []))
        self.stopping = False
        self._workers: list[asyncio.Task[Any]] = []

    # --- setup -----------------------------------------------------------------
    def add_items(self, items: list[Item]) -> None:
        """Register the prompt set in the log (once); a resumed session already has it."""
        for index, item in enumerate(items):
            if item.id not in self.state.items:
                self.record({"type": "item", "item": item.id, "index": index, "data": item.to_dict()})

    def subscribe(self, callback: Subscriber) -> None:
        self._subscribers.append(callback)

    # --- events ----------------------------------------------------------------
    def detach(self) -> None:
        """Stop writing (the session was closed under us, e.g. on SIGHUP): later
        generation events are dropped and regenerated on resume."""
        self._closed = True
        self._subscribers.clear()

    def record(self, event: dict[str, Any], *, durable: bool = False) -> dict[str, Any]:
        """Append to the log, fold into the state, and tell every subscriber.

        A human action (`durable`) that cannot be written raises SessionWriteError
        to the caller, who shows "not saved". Any other event that cannot be
        written is kept in memory, generation pauses, and the events are written
        in order as soon as a write succeeds again (`retry_writes`).
        """
        if self._closed or not self.store.is_open:
            return event
        if not durable and self._unwritten:
            self._unwritten.append(event)  # keep the order of what happened
            return event
        try:
            saved = self.store.append(event, durable=durable)
        except SessionWriteError as exc:
            self._write_failed(str(exc))
            if durable:
                raise
            self._unwritten.append(event)
            return event
        self._write_ok()
        self.state.apply(saved)
        self.publish(saved)
        return saved

    def _write_failed(self, reason: str) -> None:
        first = self.write_error is None
        self.write_error = reason
        self._writable.clear()
        if first:
            self.publish({"type": "write_error", "error": reason})

    def _write_ok(self) -> None:
        if self.write_error is not None and not self._unwritten:
            self.write_error = None
            self._writable.set()
            self.publish({"type": "write_ok"})

    def retry_writes(self) -> bool:
        """Write what is waiting; True once everything is on disk."""
        while self._unwritten and not self._closed and self.store.is_open:
            event = self._unwritten[0]
            try:
                saved = self.store.append(event)
            except SessionWriteError as exc:
                self.write_error = str(exc)
                return False
            self._unwritten.pop(0)
            self.state.apply(saved)
            self.publish(saved)
            self._after_late_write(saved)
        self._write_ok()
        return not self._unwritten

    def _after_late_write(self, saved: dict[str, Any]) -> None:
        """A generation written late: carry on as if it had been written at once."""
        if saved.get("type") != "generation" or saved.get("finish_reason") not in FINISHED:
            return
        state = self.state.items.get(str(saved.get("item")))
        if state is None:
            return
        if state.complete:
            self.check_item(state.item.id)
            self.judge_item(state.item.id)
        elif state.item.id not in self._pending:
            self._pending.appendleft(state.item.id)  # its next turn

    async def _wait_writable(self) -> None:
        """Generation pauses while the disk refuses writes; retried every second."""
        while self.write_error is not None and not self._closed and not self.stopping:
            if self.retry_writes():
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._writable.wait(), timeout=1.0)

    def notice(self, text: str) -> None:
        """Something the operator should read once: in the log, the header and on screen."""
        if text in self.notices:
            return
        self.notices.append(text)
        self.record({"type": "notice", "text": text})
        with contextlib.suppress(SessionWriteError):
            if self.store.has_header:
                self.store.update_header(notices=list(self.notices))

    def publish(self, event: dict[str, Any]) -> None:
        """Tell every subscriber. A failing subscriber (a display bug) never stops
        generation or loses an event: the event is already on disk."""
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception as exc:  # reported, then ignored
                self.subscriber_errors.append(f"{type(exc).__name__}: {exc}")

    # --- commands --------------------------------------------------------------
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
        start = self.state.position(item_id)
        if start is None:
            return
        window = [s.item.id for s in self.state.ordered()[start : start + ahead + 1]]
        self._pending = deque(
            i
            for i in window
            if self.state.items[i].status in ("pending", "partial") and i not in self._active
        )
        self._wakeup.set()

    # --- checks and judges -------------------------------------------------------
    def check_item(self, item_id: str) -> None:
        """Deterministic checks and reference metrics: instant, so done inline."""
        from sftscope.scorers.checks import evaluate_item

        state = self.state.items[item_id]
        if not state.complete or state.checks:
            return
        result = evaluate_item(state.item, state.response)
        if result:
            self.record({"type": "checks", "item": item_id, **result})

    def judge_item(self, item_id: str, judges: list[Any] | None = None, *, only_missing: bool = True) -> None:
        """Judge a finished item in the background; the console never waits on it."""
        state = self.state.items[item_id]
        if not state.complete:
            return
        for judge in judges if judges is not None else self.judges:
            if only_missing and judge.spec.name in state.judges:
                continue
            task = asyncio.create_task(self._run_judge(judge, item_id))
            self._judge_tasks.add(task)
            task.add_done_callback(self._judge_tasks.discard)

    async def _run_judge(self, judge: Any, item_id: str) -> None:
        state = self.state.items[item_id]
        answer = state.response
        try:
            event = await judge.judge(state.judge_input())
        except Exception as exc:  # recorded on the item; the run goes on
            event = {
                "type": "judge",
                "item": item_id,
                "judge": judge.spec.name,
                "scores": None,
                "error": _describe(exc),
                "raw": None,
            }
        if self.state.items[item_id].response == answer:  # not regenerated meanwhile
            self.record(event)

    def cancel_judges(self) -> None:
        for task in list(self._judge_tasks):
            task.cancel()

    async def wait_judges(self) -> None:
        while self._judge_tasks:
            await asyncio.gather(*list(self._judge_tasks), return_exceptions=True)

    @property
    def judging(self) -> int:
        return len(self._judge_tasks)

    # --- the operator's labels (fsynced before they are shown as saved) ---------
    def score(
        self, item_id: str, criterion: str, value: Any, *, judge_visible: bool = False
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "score",
            "item": item_id,
            "criterion": criterion,
            "value": value,
            "judge_visible": judge_visible,
        }
        previous = self.state.items[item_id].human.get(criterion)
        if previous is not None:
            event["previous"] = previous
        return self.record(event, durable=True)

    def undo(self, item_id: str) -> dict[str, Any] | None:
        state = self.state.items[item_id]
        if not state.actions:
            return None
        last = state.actions[-1]
        return self.record({"type": "undo", "item": item_id, "undoes": last["type"]}, durable=True)

    def skip(self, item_id: str) -> dict[str, Any]:
        return self.record(
            {"type": "skip", "item": item_id, "by": "human", "reason": "skipped by the operator"},
            durable=True,
        )

    def flag(self, item_id: str) -> dict[str, Any]:
        on = not self.state.items[item_id].flagged
        return self.record({"type": "flag", "item": item_id, "on": on}, durable=True)

    def comment(self, item_id: str, text: str) -> dict[str, Any]:
        return self.record({"type": "comment", "item": item_id, "text": text}, durable=True)

    def regenerate(self, item_id: str) -> None:
        self.cancel(item_id)
        self.record({"type": "regenerate", "item": item_id, "turn": 0})
        if item_id in self._pending:
            self._pending.remove(item_id)
        self._pending.appendleft(item_id)
        self._wakeup.set()

    @property
    def idle(self) -> bool:
        return not self._pending and not self._active

    # --- the loop --------------------------------------------------------------
    async def run(self, *, until_idle: bool = True) -> RunSummary:
        """Generate everything queued. With `until_idle` False, keep serving new work."""
        self.record({"type": "run_start", "engine": self.engine.info.spec, "params": self.params.to_dict()})
        workers = [asyncio.create_task(self._worker(until_idle)) for _ in range(self.concurrency)]
        self._workers = workers
        try:
            results = await asyncio.gather(*workers, return_exceptions=True)
            for result in results:  # a worker cancelled by stop() is no error; a bug is
                if isinstance(result, Exception):
                    raise result
            if until_idle and not self.stopping:
                await self.wait_judges()  # a headless run ends once its judges have
        finally:
            for task in workers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*workers, return_exceptions=True)
            with contextlib.suppress(SessionWriteError):
                if self.store.is_open and not self.store.read_only:
                    self.store.sync()
        return self.summary()

    def stop(self, grace: float = 0.3) -> None:
        """Stop generating and judging (quit, Ctrl+C, a signal): cancel what is in flight,
        queue nothing more, and end the workers; a stream that does not notice its cancel
        within `grace` seconds (a stalled server) has its task cancelled."""
        self.stopping = True
        self._pending.clear()
        self.cancel_all()
        self.cancel_judges()
        self._wakeup.set()
        self._writable.set()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to cancel later
            loop = asyncio.get_running_loop()
            for task in self._workers:
                loop.call_later(grace, task.cancel)

    def summary(self) -> RunSummary:
        out = RunSummary()
        for state in self.state.items.values():
            status = state.status
            if status == "done":
                out.done += 1
            elif status == "skipped":
                out.skipped += 1
            elif status == "error":
                out.errors += 1
            elif status == "cancelled":
                out.cancelled += 1
            elif status == "incomplete":
                out.incomplete += 1
            out.tokens += state.tokens
            out.seconds += state.seconds
        return out

    async def _worker(self, until_idle: bool) -> None:
        while not self.stopping:
            if self.write_error is not None:
                await self._wait_writable()
                if self._closed or self.stopping:
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
        for turn in range(state.next_turn, len(state.item.turns)):
            request = self._request(state, turn)
            self._active[item_id] = turn
            self.publish({"type": "started", "item": item_id, "turn": turn, "ts": time.time()})
            try:
                final = await self._stream(request)
            except PromptTooLong as exc:
                self.record(
                    {"type": "skip", "item": item_id, "turn": turn, "reason": str(exc), "by": "engine"}
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # recorded on the item; the run goes on
                self.record({"type": "error", "item": item_id, "turn": turn, "error": _describe(exc)})
                return
            finally:
                self._active.pop(item_id, None)
            self.record(_generation_event(item_id, turn, final))
            if final.finish_reason not in FINISHED or self._unwritten:
                return  # not finished, or not on disk yet (retry_writes carries on)
        self.check_item(item_id)
        self.judge_item(item_id)

    async def _stream(self, request: GenerationRequest) -> Generation:
        item_id, turn = request.key
        stream = self.engine.stream(request)
        try:
            async for chunk in stream:
                if chunk.reset:
                    # The engine asks again from the start (a cut stream): the partial
                    # text shown so far is void.
                    self.publish({"type": "restart", "item": item_id, "turn": turn})
                if chunk.notice:
                    self.notice(chunk.notice)
                if chunk.text or chunk.tokens:
                    self.publish(
                        {
                            "type": "chunk",
                            "item": item_id,
                            "turn": turn,
                            "text": chunk.text,
                            "tokens": chunk.tokens,
                        }
                    )
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
            for state in states:
                requests.append(self._request(state, state.next_turn))
                self._active[state.item.id] = state.next_turn
                self.publish(
                    {"type": "started", "item": state.item.id, "turn": state.next_turn, "ts": time.time()}
                )
            try:
                results = await self.engine.generate_batch(requests)  # type: ignore[attr-defined]
            except Exception as exc:
                results = [exc] * len(requests)
            finally:
                for state in states:
                    self._active.pop(state.item.id, None)
            remaining = []
            for state, request, result in zip(states, requests, results, strict=True):
                item_id, turn = request.key
                if isinstance(result, PromptTooLong):
                    self.record(
                        {"type": "skip", "item": item_id, "turn": turn, "reason": str(result), "by": "engine"}
                    )
                elif isinstance(result, BaseException):
                    self.record({"type": "error", "item": item_id, "turn": turn, "error": _describe(result)})
                else:
                    self.record(_generation_event(item_id, turn, result))
                    if result.finish_reason in ("stop", "length") and state.next_turn < len(state.item.turns):
                        remaining.append(state)
                    elif state.complete:
                        self.check_item(item_id)
                        self.judge_item(item_id)
            states = remaining


def _generation_event(item_id: str, turn: int, final: Generation) -> dict[str, Any]:
    return {
        "type": "generation",
        "item": item_id,
        "turn": turn,
        "text": final.text,
        "tokens": final.tokens,
        "prompt_tokens": final.prompt_tokens,
        "ttft": None if final.ttft is None else round(final.ttft, 4),
        "seconds": round(final.seconds, 4),
        "finish_reason": final.finish_reason,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
