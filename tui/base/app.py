"""ConsoleApp: the one base of the run console and the A/B console.

What every console does the same way lives here once: how it leaves (Leaving: `q`,
Ctrl+C, SIGHUP/SIGTERM), a label written through the Session ("saved ✓" only once it
is on disk, a failed write said in red), a key that does nothing saying why, a part that
cannot start (a model, a judge) ending the console with its one line, a failed background
task shown as it happens, the statistics libraries warmed in a thread before the first
figures are due, and the running figures (the run console's agreement, the A/B console's
win rates) recomputed off the UI thread when what they are made of changed, one computation
at a time and a few a second at most, so that a key press never waits on a bootstrap
(Recompute).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rich.text import Text
from sftscope.sessions.core.inert import inert_line
from sftscope.tui.base.leaving import Leaving
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from sftscope.sessions.core.session import Session

T = TypeVar("T")

SETTLE = 0.15  # seconds answers are on screen before a key may label them
TYPED_AHEAD = "key ignored: answer just appeared"


def first_line(exc: BaseException) -> str:
    """An exception as one line: its message's first line, else its type's name."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class ConsoleApp(Leaving, App[int]):
    """A console on an open session: it sends the Session commands and follows its events.

    A console says where its notes go (`set_status`, `show_refused`, `show_saved`) and how
    it closes (`shutdown`, `close_now`, from Leaving)."""

    session: Session  # the log the console writes through and follows
    # Ctrl+C leaves like a signal would: everything saved, the session marked interrupted.
    BINDINGS = [Binding("ctrl+c", "interrupt", "interrupt", show=False, priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self.saved_note = ""  # what the last label did: "saved ✓", or why it was not saved
        self.refused_note = ""  # why the last key did nothing
        self.error_message: str | None = None  # a part that could not start: the exit's one line
        self.close_problems: list[str] = []  # writes that failed at close, printed after the console
        self.early_signal = False  # set by the command line's handler before mount
        self.key_at: float | None = None  # when the key being handled arrived (its event's time)
        self._session_closed = False

    @property
    def closed(self) -> bool:
        """The session is closed (quit, a signal, a failed start): nothing more is written."""
        return self._session_closed

    # --- where a console shows its notes ----------------------------------------------
    @property
    def main_screen(self) -> Screen[None]:
        """The console's own screen, also while a modal (help, report) is over it."""
        raise NotImplementedError

    def status_line(self) -> Static | None:
        """The header line of the main screen; None once closing has taken its widgets."""
        found = self.main_screen.query("#status")
        return found.first(Static) if found else None

    def write_error_text(self, text: Text) -> None:
        """A write the session could not make, in the header, loud, until one succeeds."""
        if self.session.write_error is not None:
            text.append(f"· {inert_line(self.session.write_error)} ", style="bold white on red")

    def set_status(self) -> None:
        """The header line."""
        raise NotImplementedError

    def show_refused(self) -> None:
        """Show `refused_note` (the run console: in its header)."""
        self.set_status()

    def show_saved(self) -> None:
        """Show `saved_note` after a failed write, with the header."""
        self.set_status()

    def not_saved_text(self, message: str) -> str:
        """A failed write as the console words it."""
        return message

    # --- shared mechanisms ----------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Note when each key arrived (its event's time, taken as it was read), before the
        key is handled: a label is judged by when it was typed, not when it was processed."""
        if isinstance(event, events.Key):
            self.key_at = event.time
        await super().on_event(event)

    def typed_ahead(self, since: float | None) -> bool:
        """The key being handled arrived less than SETTLE after the answers it would label
        were first on screen (`since`; None: not yet): it was typed, or piled up over a slow
        link, before anyone could read them, and labels nothing."""
        arrived = self.key_at if self.key_at is not None else time.monotonic()
        return since is None or arrived - since < SETTLE

    def label(self, write: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
        """Write one label (a score, a vote, a skip, an undo) through the Session, which
        fsyncs before it returns: "saved ✓" is shown only for a label that is on disk; a
        failed write says why, in red, until a later label is saved."""
        from sftscope.sessions.core.store import SessionWriteError

        try:
            write(*args, **kwargs)
        except SessionWriteError as exc:
            self.saved_note = f"✗ {self.not_saved_text(str(exc))}"
            self.show_saved()
            return False
        self.saved_note = "saved ✓"
        self.refused_note = ""
        return True

    def refuse(self, why: str) -> None:
        """A key that does nothing says why."""
        self.refused_note = why
        self.bell()
        self.show_refused()

    async def fail_start(self, what: str, exc: BaseException) -> None:
        """A part that cannot start (the model, a judge): the console ends with its one
        line, exit 2 (the command line prints `error_message`)."""
        if self._session_closed:
            return  # a signal closed the session while it started
        self.error_message = f"{what}{first_line(exc)}"
        await self.abandon()
        self.exit(2, return_code=2)

    async def abandon(self) -> None:
        """Close what was opened after a failed start (by default, as on quit)."""
        await self.shutdown()

    def warm(self, work: Callable[[], None]) -> None:
        """Import (and run once) the statistics in a thread, before the first figures are
        due: seconds of imports that would otherwise delay them."""
        self.run_worker(work, thread=True, group="warm", exit_on_error=False)

    def on_computed(self, message: Computed) -> None:
        """A Recompute's result, back on the UI thread."""
        message.job.finished(message.result)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place where a failed background task becomes visible (harlequin's pattern)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            message = inert_line(f"{type(error).__name__}: {error}")
            self.notify(message, severity="error", timeout=10, markup=False)


class Throttle:
    """A token bucket: `burst` starts at once, then `rate` a second. A key pressed now and
    then gets fresh figures at once; a key held down does not queue a computation per press."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()

    def wait(self) -> float:
        """Seconds until a start is allowed; 0.0 means now, and the start is counted."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return max(0.001, (1.0 - self.tokens) / self.rate)


class Computed(Message):
    """A recomputation's result, from its worker thread (None: it failed)."""

    def __init__(self, job: Recompute[Any], result: Any) -> None:
        super().__init__()
        self.job = job
        self.result = result


class Recompute(Generic[T]):
    """One kind of running figure. `mark()` says its inputs changed; `request()` computes
    again if they did (throttled, one at a time: the figures on screen stay until the new
    ones are in). `prepare()` runs on the UI thread and returns the work for the thread (the
    inputs copied there: the thread only reads them); the work hands its result to
    `deliver` (post_message never waits, so a thread never blocks on an app that has gone),
    and `apply(result)` gets it on the UI thread."""

    def __init__(
        self,
        app: ConsoleApp,
        name: str,
        prepare: Callable[[], Callable[[], None]],
        apply: Callable[[T | None], None],
        *,
        rate: float,
        burst: int,
    ) -> None:
        self.app = app
        self.name = name
        self.prepare = prepare
        self.apply = apply
        self.throttle = Throttle(rate, burst)
        self.stale = True
        self.running = False
        self._timer: Timer | None = None

    def mark(self) -> None:
        """What the figures are made of changed: the next request computes them again."""
        self.stale = True

    def request(self) -> None:
        """Compute again if something changed since, unless a computation is running or
        waiting for its turn (it picks up the change when it is done)."""
        if not self.stale or self.running or self._timer is not None or self.app.closed:
            return
        delay = self.throttle.wait()
        if delay > 0:
            self._timer = self.app.set_timer(delay, self._due)
            return
        self.stale = False
        self.running = True
        # A description of our own: textual's default is repr(work), which spells out every
        # input (41 MB and a second on 16,000 items, before the first paint).
        self.app.run_worker(
            self.prepare(), thread=True, group=self.name, description=self.name, exit_on_error=False
        )

    def _due(self) -> None:
        self._timer = None
        self.request()

    def deliver(self, result: T | None) -> None:
        """From the worker thread: the result (None: the computation failed)."""
        self.app.post_message(Computed(self, result))

    def finished(self, result: T | None) -> None:
        """On the UI thread: the figures are in; the app shows them (and may ask again)."""
        self.running = False
        if not self.app.closed:
            self.apply(result)
