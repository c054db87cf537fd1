"""The headless display: a rich progress bar on a terminal, plain lines when piped.

It is one subscriber of the runner, like the console; it only reads events.
"""

from __future__ import annotations

import sys
import time
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

from sessions.runner import Runner

TERMINAL_EVENTS = ("generation", "skip", "error")


class HeadlessDisplay:
    def __init__(self, runner: Runner, total: int, stream: Any = None) -> None:
        self.runner = runner
        self.total = total
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream)
        self.tty = self.stream.isatty()
        self.tokens = 0
        self.started = time.monotonic()
        self.finished: set[str] = set()
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
            done = self._count_finished()
            self.task = self.progress.add_task("run", total=self.total, completed=done, rate="-")
        self.runner.subscribe(self.on_event)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _count_finished(self) -> int:
        return sum(1 for s in self.runner.state.items.values() if s.status in ("done", "skipped"))

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.tokens / elapsed if elapsed > 0 else 0.0

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "chunk":
            self.tokens += int(event.get("tokens") or 0)
            if self.progress is not None:
                self.progress.update(self.task, rate=f"{self.rate():.1f}")
            return
        if kind not in TERMINAL_EVENTS:
            return
        item_id = str(event.get("item"))
        state = self.runner.state.items.get(item_id)
        if state is None:
            return
        if kind == "generation" and not state.complete and state.status not in ("cancelled",):
            return  # a multi-turn item is finished only after its last turn
        done = self._count_finished()
        if self.progress is not None:
            self.progress.update(self.task, completed=done, rate=f"{self.rate():.1f}")
            if kind in ("skip", "error"):
                self.progress.console.print(
                    f"[yellow]{item_id}: {state.status}: {state.error or state.skipped}"
                )
        else:
            detail = ""
            if kind == "generation":
                detail = f"{state.tokens} tokens in {state.seconds:.2f}s"
            else:
                detail = str(state.error or state.skipped)
            print(
                f"[{done}/{self.total}] {item_id}: {state.status} {detail}".rstrip(),
                file=self.stream,
                flush=True,
            )
