"""Pairwise judges on a comparison's pairs, in the background.

Each judge has its own workers (as many as its concurrency), so the console never
waits on a judge and a headless run shows a progress bar. Every pair is judged in
both orders by the scorer (`Judge.judge_pair`); the verdict, both single-order
verdicts and both raw replies are written as one `pair_judge` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from sftscope.sessions.compare.comparison import ComparisonSession, PairState
from sftscope.sessions.core.events import PairJudged

if TYPE_CHECKING:  # a type only: judges are built (and scorers.judge imported) by whoever opens
    from sftscope.scorers.judge import Judge


def pair_input(pair: PairState) -> Any:
    """What a pairwise judge sees (scorers know nothing of sessions)."""
    from sftscope.scorers.judge import PairInput

    return PairInput(
        item=pair.item.id,
        turns=tuple(pair.item.turns),
        answers_a=tuple(pair.answers_a),
        answers_b=tuple(pair.answers_b),
        reference=pair.item.reference,
    )


class PairJudging:
    """Judge every pair that a judge has not judged yet; `wait` for the headless run."""

    def __init__(self, session: ComparisonSession, judges: list[Any]) -> None:
        self.session = session
        self.judges = judges
        self._tasks: list[asyncio.Task[Any]] = []
        self.total = 0
        self.done = 0
        self.errors = 0

    def start(self) -> None:
        for judge in self.judges:
            todo = [p for p in self.session.state.ordered() if judge.spec.name not in p.judges]
            if not todo:
                continue
            self.total += len(todo)
            queue: asyncio.Queue[PairState] = asyncio.Queue()
            for pair in todo:
                queue.put_nowait(pair)
            for _ in range(judge.spec.concurrency):
                self._tasks.append(asyncio.create_task(self._worker(judge, queue)))

    @property
    def pending(self) -> int:
        return self.total - self.done

    async def _worker(self, judge: Judge, queue: asyncio.Queue[PairState]) -> None:
        while True:
            try:
                pair = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await judge.judge_pair(pair_input(pair))
            self.done += 1
            if result.verdict == "error":
                self.errors += 1
            if pair.stale is not None or self.session.closed:
                continue
            extra = {k: v for k, v in result.to_dict().items() if k not in ("verdict", "ab", "ba")}
            extra.update(
                model=judge.model, template=judge.template.name, template_sha256=judge.template.sha256
            )
            self.session.record(
                PairJudged(
                    pair.item.id, pair.pair, judge.spec.name, result.verdict, result.ab, result.ba, extra
                )
            )

    async def wait(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=False)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def stop(self) -> None:
        self.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
