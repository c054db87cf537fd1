"""The headless display: a rich progress bar on a terminal, plain lines when piped.

It is one subscriber of the Session, like the console; it only reads events. The
JudgeTally counts each judge's judgments and failures, so a headless command ends
with one line per judge and a dead judge fails the command (exit 3) instead of
passing a CI step with "0 errors".
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sftscope.sessions.core import progress
from sftscope.sessions.core.events import Event, Generated, Judged, Notice, PairJudged, Regenerated, Turned
from sftscope.sessions.core.inert import inert_line
from sftscope.sessions.core.session import Session

# An item counts as finished in the bar once nothing more will be generated for it.
FINISHED_STATUSES = ("done", "skipped", "incomplete")
# The exit code of a headless command whose judge failed on every judgment it attempted:
# distinct from 2 (bad input) so a CI step can tell a dead judge from a typo.
DEAD_JUDGE_EXIT = 3


def failure_kind(error: str) -> str:
    """The kind of a recorded judge error, for the closing count: a reply that did not
    parse, a timeout, an item the template cannot take, else the request itself failed
    (HTTP error, the engine crashed), or never reached its server (connection)."""
    text = error.lower()
    if "parse error" in text:
        return "parse"
    if "timed out" in text:
        return "timeout"
    if text.startswith("the item has"):
        return "unjudgeable"
    if "cannot connect" in text or "connection refused" in text or "connect call failed" in text:
        return "connection"
    return "request"


def judgment_error(event: Judged | PairJudged) -> str | None:
    """A judge or pair_judge event's error, or None when it gave a verdict."""
    error = event.extra.get("error")
    if error:
        return str(error)
    if isinstance(event, PairJudged) and event.verdict == "error":
        return "no verdict"
    return None


@dataclass
class JudgeCount:
    """One judge's judgments in this command: how many, how many failed and why."""

    judged: int = 0
    failed: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None

    @property
    def dead(self) -> bool:
        """It failed on every judgment it attempted (and attempted some)."""
        return self.judged > 0 and self.failed == self.judged


class JudgeTally:
    """Counts every judge's judgments as the Session writes them (a subscriber)."""

    def __init__(self, names: list[str]) -> None:
        self.counts: dict[str, JudgeCount] = {name: JudgeCount() for name in names}

    def on_event(self, event: Event) -> None:
        if not isinstance(event, (Judged, PairJudged)):  # the kinds of events.Judgment
            return
        count = self.counts.setdefault(str(event.judge), JudgeCount())
        count.judged += 1
        error = judgment_error(event)
        if error is not None:
            count.failed += 1
            count.kinds[failure_kind(error)] += 1
            if count.first_error is None:
                count.first_error = error

    @property
    def judged(self) -> int:
        return sum(c.judged for c in self.counts.values())

    @property
    def dead(self) -> list[str]:
        return [name for name, count in self.counts.items() if count.dead]

    def lines(self) -> list[str]:
        """`judge NAME: 8 judged, 8 failed (parse 8)`, one per judge; a judge that failed
        on every judgment is an error line, with its first error."""
        out = []
        for name, count in self.counts.items():
            line = f"judge {inert_line(name)}: {count.judged} judged, {count.failed} failed"
            if count.kinds:
                line += " (" + ", ".join(f"{k} {n}" for k, n in count.kinds.most_common()) + ")"
            if count.dead and count.first_error:
                line += f"; first error: {inert_line(count.first_error)[:300]}"
            out.append(f"sftscope: error: {line}" if count.dead else f"sftscope: {line}")
        return out

    def exit_code(self) -> int:
        return DEAD_JUDGE_EXIT if self.dead else 0


class HeadlessDisplay:
    def __init__(self, session: Session, total: int, stream: Any = None, pool: Any = None) -> None:
        self.session = session
        self.total = total
        self.pool = pool  # the run's JudgePool: its judgments get a bar (or lines) of their own
        self.judges = [judge.spec.name for judge in pool.judges] if pool is not None else []
        self.judged = 0
        # (item, judge) judgments owed: every finished answer, for each judge that has not
        # judged it. Kept event by event (a recount per event would be quadratic).
        self.awaiting: set[tuple[str, str]] = set()
        for item_id, item_state in session.state.items.items():
            self.owe(item_id, item_state)
        self.judge_task: Any = None
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self.tty = self.stream.isatty()
        self.tokens = 0
        self.started = time.monotonic()
        # Kept up to date event by event: recounting every item on every event made a
        # 20,000-item run quadratic (bench/large_sets.py).
        self.finished: set[str] = {
            item_id for item_id, s in session.state.items.items() if s.status in FINISHED_STATUSES
        }
        self.progress: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> HeadlessDisplay:
        if self.tty:
            self.progress = Progress(
                TextColumn("[bold]{task.description:<10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>13}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "generating", total=self.total, completed=len(self.finished), rate="- tok/s"
            )
            if self.pool is not None and self.pool.judges:
                self.judge_task = self.progress.add_task("judging", total=0, rate="")
        self.session.subscribe(self.on_event)
        self.session.subscribe_progress(self.on_progress)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.tokens / elapsed if elapsed > 0 else 0.0

    def on_progress(self, message: progress.Progress) -> None:
        if isinstance(message, progress.Text):
            self.tokens += message.tokens
            if self.progress is not None:
                self.progress.update(self.task, rate=f"{self.rate():.1f} tok/s")
        elif isinstance(message, progress.WriteFailed):
            self._say(
                f"sftscope: error: {message.error} ({self.session.store.events_path}); "
                "generation paused until a write succeeds (Ctrl+C to stop)"
            )
        elif isinstance(message, progress.WriteOk):
            self._say("sftscope: writing again; generation goes on")

    def on_event(self, event: Event) -> None:
        match event:
            case Notice(text=text):
                self._say(f"sftscope: note: {inert_line(text)}")
                return
            case Judged():
                self.on_judgment(event)
                return
            case Turned():
                pass
            case _:
                return
        item_id = str(event.item)
        state = self.session.state.items.get(item_id)
        if state is None:
            return
        if state.status in FINISHED_STATUSES:
            self.finished.add(item_id)
        else:
            self.finished.discard(item_id)
        generated, regenerated = isinstance(event, Generated), isinstance(event, Regenerated)
        if regenerated:  # its judgments will be of the new answer
            self.awaiting = {(i, j) for i, j in self.awaiting if i != item_id}
        elif generated:
            self.owe(item_id, state)
        if regenerated or (
            generated and not state.complete and state.status not in ("cancelled", "incomplete")
        ):
            return  # a multi-turn item is finished only after its last turn
        done = len(self.finished)
        shown_id = inert_line(item_id)
        if self.progress is not None:
            self.progress.update(self.task, completed=done, rate=f"{self.rate():.1f} tok/s")
            self.update_judging()
            if not generated or state.status == "incomplete":  # a skip or an error
                why = inert_line(state.error or state.skipped or state.ended)
                self.progress.console.print(
                    f"{shown_id}: {state.status}: {why}",
                    style="yellow",
                    markup=False,
                )
        else:
            detail = ""
            if generated:
                detail = f"{state.tokens} tokens in {state.seconds:.2f}s"
            else:
                detail = inert_line(state.error or state.skipped or state.ended)
            print(
                f"[{done}/{self.total}] {shown_id}: {state.status} {detail}".rstrip(),
                file=self.stream,
                flush=True,
            )

    def owe(self, item_id: str, state: Any) -> None:
        """A finished answer is owed a judgment by each judge that has not judged it."""
        if state.complete:
            self.awaiting.update((item_id, name) for name in self.judges if name not in state.judges)

    def judging_total(self) -> int:
        """Judgments made plus those owed: it grows as answers finish."""
        return self.judged + len(self.awaiting)

    def update_judging(self) -> None:
        if self.progress is not None and self.judge_task is not None:
            self.progress.update(self.judge_task, completed=self.judged, total=self.judging_total())

    def on_judgment(self, event: Judged) -> None:
        """A judge's verdict: the judging bar moves; piped, one line per judgment, so a
        run whose answers are done is never silent while its judges work."""
        self.judged += 1
        self.awaiting.discard((str(event.item), str(event.judge)))
        error = judgment_error(event)
        if self.progress is not None:
            self.update_judging()
            return
        outcome = f"failed: {inert_line(error)[:200]}" if error else "judged"
        print(
            f"[judged {self.judged}/{self.judging_total()}] {inert_line(event.item)} "
            f"by {inert_line(event.judge)}: {outcome}",
            file=self.stream,
            flush=True,
        )

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)


async def show_judging(
    label: str, total: int, done: Callable[[], int], finished: Callable[[], bool], stream: Any = None
) -> None:
    """A progress bar for judging on a terminal (`sftscope judge`, `compare --headless`),
    until `finished()`; nothing is drawn when the output is piped."""
    import asyncio

    stream = stream or sys.stderr
    if not total or not stream.isatty():
        return
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
    ) as bar:
        task = bar.add_task("judge", total=total)
        while not finished():
            bar.update(task, completed=done())
            await asyncio.sleep(0.2)
        bar.update(task, completed=done())
