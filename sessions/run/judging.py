"""The JudgePool: checks and LLM judges on finished answers, in the background.

It listens to the Session: when an item's answer is complete (written at once, or
late after a full disk), the deterministic checks run inline and each judge is
asked in its own task, bounded by the judge's own concurrency. Verdicts are
written through the Session bound to the answer judged (its `gen`), and dropped
when the answer changed meanwhile; a verdict that is written late (after a full
disk) still names its answer, so the fold never puts it beside a newer one. The
console never waits on a judge; a headless run waits for them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from sftscope.sessions.core.events import Checked, Event, Generated, Judged
from sftscope.sessions.core.session import Session

if TYPE_CHECKING:  # a type only: the judges are built by whoever opens the run
    from sftscope.scorers.judge import Judge


class JudgePool:
    def __init__(self, session: Session, judges: list[Any] | None = None) -> None:
        self.session = session
        self.judges = list(judges or [])
        self._tasks: set[asyncio.Task[Any]] = set()
        session.listen(self._on_event)
        session.late_writes.append(self._on_event)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, Generated):
            return
        item_id = str(event.item)
        state = self.session.state.items.get(item_id)
        if state is not None and state.complete:
            self.check_item(item_id)
            with contextlib.suppress(RuntimeError):  # no running loop: judged on resume
                self.judge_item(item_id)

    def catch_up(self) -> None:
        """Finished answers not yet checked or judged (a resumed session)."""
        for state in self.session.state.ordered():
            self.check_item(state.item.id)
            self.judge_item(state.item.id)

    def check_item(self, item_id: str) -> None:
        """Deterministic checks and reference metrics: instant, so done inline."""
        from sftscope.scorers.checks import evaluate_item

        state = self.session.state.items[item_id]
        if not state.complete or state.checks:
            return
        result = evaluate_item(state.item, state.response)
        if result:
            self.session.record(Checked(item_id, **result, gen=state.gen))

    def judge_item(self, item_id: str, judges: list[Any] | None = None, *, only_missing: bool = True) -> None:
        """Judge a finished item in the background; the console never waits on it."""
        state = self.session.state.items[item_id]
        if not state.complete:
            return
        for judge in judges if judges is not None else self.judges:
            if only_missing and judge.spec.name in state.judges:
                continue
            task = asyncio.create_task(self._run_judge(judge, item_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_judge(self, judge: Judge, item_id: str) -> None:
        state = self.session.state.items[item_id]
        gen = state.gen  # the answer sent to the judge
        try:
            verdict = await judge.judge(state.judge_input())
            verdict = {k: v for k, v in verdict.items() if k not in ("type", "item", "judge")}
        except Exception as exc:  # recorded on the item; the run goes on
            verdict = {"scores": None, "error": describe(exc), "raw": None}
        scores = verdict.pop("scores", None)
        if self.session.state.items[item_id].gen == gen:  # not regenerated meanwhile
            self.session.record(Judged(item_id, judge.spec.name, scores, extra=verdict, gen=gen))

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def judging(self) -> int:
        return len(self._tasks)


def describe(exc: BaseException) -> str:
    """An exception as the one line recorded on an item."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
