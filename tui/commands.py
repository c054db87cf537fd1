"""What each subcommand does, once the command line is parsed.

Kept apart from cli.py so `sftscope --help` never imports the core; every
known failure becomes a one-line error (exit 2) here.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from tui.cli import UsageError, fail


def _known_errors() -> tuple[type[Exception], ...]:
    from engines.base import EngineError
    from sessions.launch import LaunchError
    from sessions.prompts import PromptSetError
    from sessions.store import SessionError

    return (EngineError, LaunchError, PromptSetError, SessionError, UsageError)


def run_command(options: dict[str, Any]) -> int:
    if not options.get("headless"):
        print("sftscope: the console is not built yet; running headless", file=sys.stderr)
        options["headless"] = True
    try:
        return asyncio.run(_run_headless(options))
    except _known_errors() as exc:
        return fail(str(exc))


async def _run_headless(options: dict[str, Any]) -> int:
    from sessions.launch import prepare
    from tui.headless import HeadlessDisplay

    launch = await prepare(options)
    runner = launch.runner
    loop = asyncio.get_running_loop()
    interrupted = False

    def stop() -> None:
        nonlocal interrupted
        interrupted = True
        runner.cancel_all()
        for task in asyncio.all_tasks(loop):
            if task.get_name().startswith("sftscope-worker"):
                task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    status = "interrupted"
    try:
        pending = runner.queue()
        total = len(runner.state.items)
        if launch.resumed:
            print(
                f"sftscope: resuming {launch.directory}: {len(pending)} of {total} items to generate",
                file=sys.stderr,
            )
        with HeadlessDisplay(runner, total):
            summary = await runner.run()
        if not interrupted:
            status = "complete" if runner.idle else "interrupted"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await launch.engine.close()
        launch.store.close(status=status)
    rate = summary.tokens / summary.seconds if summary.seconds else 0.0
    print(
        f"sftscope: {summary.done} done, {summary.skipped} skipped, {summary.errors} errors, "
        f"{summary.cancelled} cancelled; {summary.tokens} tokens at {rate:.1f} tok/s; "
        f"session {launch.directory}",
        file=sys.stderr,
    )
    return 130 if interrupted else 0


def export_command(args: Any) -> int:
    from sessions.export import export_rows, to_csv, to_jsonl
    from sessions.store import load_session

    try:
        header, events, warnings = load_session(Path(args.session))
    except _known_errors() as exc:
        return fail(str(exc))
    for warning in warnings:
        print(f"sftscope: warning: {warning}", file=sys.stderr)
    rows = export_rows(header, events)
    text = to_csv(rows) if args.format == "csv" else to_jsonl(rows)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            return fail(f"-o {args.output}: {exc.strerror}")
    else:
        sys.stdout.write(text)
    return 0
