"""How a console leaves, the same for the run console and the A/B console.

`q` stops the work and closes the session (status, fsync, unlock) without waiting on a
model; Ctrl+C (the key or SIGINT) does the same and marks it interrupted; SIGHUP (the
SSH link dropped) and SIGTERM close it synchronously and end the process even if the
dead terminal blocks Textual's own exit. Each console says how it closes (`shutdown`,
async, and `close_now`, synchronous, for a signal) and what its final status is.

Once it has closed, the console's last words are what to do next with this session
(`next_steps`): how to resume it, report on it and export it, as commands to copy, with
its path. A new user who quits has nothing else to tell them the session is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import threading
from pathlib import Path

from sftscope.sessions.core.inert import inert_line

HARD_EXIT_SECONDS = 3.0  # after SIGHUP/SIGTERM all is saved: never hang on a dead terminal


def next_steps(directory: Path | str, *, comparison: bool = False, systems_differ: bool = False) -> list[str]:
    """The commands that go on from a closed session, printed when a console quits: resume,
    report, export (a comparison: its pairs as CSV, and DPO pairs). Each is the real command
    line, the path quoted for a shell (and inert: a path is shown, never obeyed).

    A comparison whose sessions ran with different system messages cannot be exported as
    DPO rows without saying which system message every row gets (`--dpo-system`), so the
    line says it rather than printing a command that would be refused. Exports are written
    to the current directory, where the command is run."""
    where = Path(directory)

    def quoted(path: Path) -> str:
        return inert_line(shlex.quote(str(path)))

    if comparison:
        resume = f"sftscope compare --session {quoted(where)}"
        export = f"sftscope export {quoted(where)} --format csv -o pairs.csv"
    else:
        resume = f"sftscope run --session {quoted(where)}"
        export = f"sftscope export {quoted(where)} --format csv -o export.csv"
    lines = [
        "sftscope: next steps:",
        f"  resume:  {resume}",
        f"  report:  sftscope report {quoted(where)}",
        f"  export:  {export}",
    ]
    if comparison:
        dpo = f"sftscope export {quoted(where)} --format dpo -o dpo.jsonl"
        if systems_differ:
            dpo += " --dpo-system none  # or a, b or TEXT: the sessions' system messages differ"
        lines.append(f"  DPO:     {dpo}")
    return lines


class Leaving:
    """Mixed into a Textual App that defines `shutdown(status)` and `close_now(status)`."""

    _session_closed: bool
    early_signal: bool

    def install_signal_handlers(self) -> bool:
        """SIGHUP/SIGTERM close at once, SIGINT like Ctrl+C. False when a signal came before
        the console was up (it has been handled: the caller stops mounting)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, self.hang_up)
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, lambda: self.run_worker(self.action_interrupt()))  # type: ignore[attr-defined]
        if self.early_signal:  # SIGTERM/SIGHUP before the console was up
            self.hang_up()
            return False
        return True

    async def shutdown(self, status: str | None = None) -> None:
        raise NotImplementedError

    def close_now(self, status: str) -> None:
        raise NotImplementedError

    def next_steps(self) -> list[str]:
        """The lines printed after the console closed (see `next_steps`); none by default."""
        return []

    async def action_quit(self) -> None:
        """Everything is already saved: stop the work, write the status, and leave without
        waiting for a model (the process ends right after)."""
        await self.shutdown()
        self.exit(0)  # type: ignore[attr-defined]

    async def action_interrupt(self) -> None:
        """Ctrl+C (the key, or SIGINT): like quit, but the session is marked interrupted."""
        await self.shutdown("interrupted")
        self.exit(130, return_code=130)  # type: ignore[attr-defined]

    def hang_up(self) -> None:
        """SIGHUP (the SSH link dropped) or SIGTERM: save, mark interrupted, unlock, leave.

        Everything is done synchronously first; Textual's own exit may then block on a
        terminal that is gone, so a timer ends the process regardless."""
        if not self._session_closed:
            self._session_closed = True
            self.close_now("interrupted")
        timer = threading.Timer(HARD_EXIT_SECONDS, os._exit, args=(0,))
        timer.daemon = True
        timer.start()
        self.exit(0)  # type: ignore[attr-defined]

    async def on_unmount(self) -> None:
        await self.shutdown()
