"""`sftscope run`: the console, or headless (a progress bar, then exit), on a RunConfig
the command line built."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import fail, run_errors

if TYPE_CHECKING:
    from sftscope.sessions.run.config import RunConfig


def run_command(config: RunConfig) -> int:
    """`sftscope run`: headless, or the console."""
    try:
        if config.headless:
            return asyncio.run(_run_headless(config))
        from sftscope.sessions.run.launch import open_run
        from sftscope.tui.cli.consoles import run_console

        return run_console(open_run(config), ahead=config.ahead)
    except run_errors() as exc:
        return fail(str(exc))


async def _run_headless(config: RunConfig) -> int:
    from sftscope.sessions.run.launch import open_run
    from sftscope.tui.cli.headless import HeadlessDisplay, JudgeTally

    launch = open_run(config)
    tally = JudgeTally([judge.spec.name for judge in launch.pool.judges])
    loop = asyncio.get_running_loop()
    interrupted = False
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def stop() -> None:
        """Ctrl+C or a signal: cancel what is in flight, save, leave with 130. A second one
        while the first is being handled ends the process at once (all labels are saved)."""
        nonlocal interrupted
        if interrupted:
            os._exit(130)
        interrupted = True
        launch.generator.stop()

    for sig in signals:
        loop.add_signal_handler(sig, stop)
    status = "interrupted"
    summary = None
    try:
        loading = asyncio.ensure_future(launch.start())
        while not loading.done():  # a signal while the model loads ends the run too
            await asyncio.wait({loading}, timeout=0.1)
            if interrupted:
                loading.cancel()
                with contextlib.suppress(BaseException):
                    await loading
                return _interrupted()
        loading.result()
        session, generator = launch.session, launch.generator
        pending = generator.queue()
        total = len(session.state.items)
        if launch.resumed:
            print(
                f"sftscope: resuming {launch.directory}: {len(pending)} of {total} items to generate",
                file=sys.stderr,
            )
        session.subscribe(tally.on_event)
        with HeadlessDisplay(session, total, pool=launch.pool):
            summary = await generator.run()
        from sftscope.sessions.run import review

        status = review.final_status(
            session.state.items.values(), launch.rubric, interrupted=interrupted or bool(session.unwritten)
        )
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if launch.started:
            for problem in await launch.close(status):
                print(f"sftscope: error: {inert_line(problem)}", file=sys.stderr)
    assert summary is not None
    rate = summary.tokens / summary.seconds if summary.seconds else 0.0
    extra = f", {summary.incomplete} incomplete" if summary.incomplete else ""
    print(
        f"sftscope: {summary.done} done, {summary.skipped} skipped, {summary.errors} errors, "
        f"{summary.cancelled} cancelled{extra}; {summary.tokens} tokens at {rate:.1f} tok/s; "
        f"session {inert_line(launch.directory)}",
        file=sys.stderr,
    )
    for line in tally.lines():
        print(line, file=sys.stderr)
    if interrupted:
        print("sftscope: interrupted; run again with the same --session to resume", file=sys.stderr)
        return 130
    return tally.exit_code()


def _interrupted() -> int:
    """Interrupted while the model loads: the session is closed; the loading thread is
    not waited for."""
    print("sftscope: interrupted while loading the model; nothing was generated", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
