"""The headless display: a rich progress bar on a terminal, plain lines when piped.

It is one subscriber of the Session, like the console; it only reads events.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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
from sftscope.sessions import progress
from sftscope.sessions.session import Session

TERMINAL_EVENTS = ("generation", "skip", "error", "regenerate")
# An item counts as finished in the bar once nothing more will be generated for it.
FINISHED_STATUSES = ("done", "skipped", "incomplete")


class HeadlessDisplay:
    def __init__(self, session: Session, total: int, stream: Any = None) -> None:
        self.session = session
        self.total = total
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
                TextColumn("[bold]generating"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>7} tok/s"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "run", total=self.total, completed=len(self.finished), rate="-"
            )
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
                self.progress.update(self.task, rate=f"{self.rate():.1f}")
        elif isinstance(message, progress.WriteFailed):
            self._say(
                f"sftscope: error: {message.error} ({self.session.store.events_path}); "
                "generation paused until a write succeeds (Ctrl+C to stop)"
            )
        elif isinstance(message, progress.WriteOk):
            self._say("sftscope: writing again; generation goes on")

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "notice":
            self._say(f"sftscope: note: {event.get('text')}")
            return
        if kind not in TERMINAL_EVENTS:
            return
        item_id = str(event.get("item"))
        state = self.session.state.items.get(item_id)
        if state is None:
            return
        if state.status in FINISHED_STATUSES:
            self.finished.add(item_id)
        else:
            self.finished.discard(item_id)
        if kind == "regenerate" or (
            kind == "generation" and not state.complete and state.status not in ("cancelled", "incomplete")
        ):
            return  # a multi-turn item is finished only after its last turn
        done = len(self.finished)
        if self.progress is not None:
            self.progress.update(self.task, completed=done, rate=f"{self.rate():.1f}")
            if kind in ("skip", "error") or state.status == "incomplete":
                self.progress.console.print(
                    f"{item_id}: {state.status}: {state.error or state.skipped or state.ended}",
                    style="yellow",
                    markup=False,
                )
        else:
            detail = ""
            if kind == "generation":
                detail = f"{state.tokens} tokens in {state.seconds:.2f}s"
            else:
                detail = str(state.error or state.skipped or state.ended)
            print(
                f"[{done}/{self.total}] {item_id}: {state.status} {detail}".rstrip(),
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
