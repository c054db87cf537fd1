"""What each subcommand does, once the command line is parsed.

Kept apart from cli.py so `sftscope --help` never imports the core; every
known failure becomes a one-line error (exit 2) here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sftscope.tui.cli import UsageError, fail


def _known_errors() -> tuple[type[Exception], ...]:
    from sftscope.engines.base import EngineError
    from sftscope.scorers.judge import JudgeConfigError
    from sftscope.scorers.rubric import RubricError
    from sftscope.sessions.config import ConfigError
    from sftscope.sessions.launch import LaunchError
    from sftscope.sessions.prompts import PromptSetError
    from sftscope.sessions.store import SessionError

    return (
        ConfigError, EngineError, JudgeConfigError, LaunchError, PromptSetError, RubricError, SessionError,
        UsageError,
    )  # fmt: skip


def run_command(config: Any) -> int:
    """`sftscope run`: headless, or the console, on a RunConfig the command line built."""
    try:
        if config.headless:
            return asyncio.run(_run_headless(config))
        from sftscope.sessions.launch import open_run

        return _run_console(open_run(config), ahead=config.ahead)
    except _known_errors() as exc:
        return fail(str(exc))


def _run_console(launch: Any, *, ahead: int = 3, replay_speed: float | None = None) -> int:
    """Open the console on a prepared (validated, locked) session.

    The session is closed (fsynced, status written, unlocked) before the console
    lets go of the terminal, so the process then ends at once: freeing a model
    and unwinding its threads would keep a quit waiting for a second or more.
    """
    from sftscope.tui.app import SftscopeApp

    app = SftscopeApp(launch, ahead=ahead, replay_speed=replay_speed)
    return run_console_app(app, f"session saved in {launch.directory}")


def run_console_app(app: Any, saved: str) -> int:
    """Run a console (the run console or the A/B console) and end the process at once.

    A SIGTERM/SIGHUP before the console is up is noted and handled once it is. After the
    app returns, its session is already closed: the lines it has to say, then `os._exit`,
    never waiting on a model or its threads."""

    def early(signum: int, frame: Any) -> None:  # a signal before the console is up
        app.early_signal = True

    previous = {sig: signal.signal(sig, early) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if app.error_message:
        code = fail(app.error_message)
    else:
        for problem in app.close_problems:
            print(f"sftscope: error: {problem}", file=sys.stderr)
        print(f"sftscope: {saved}", file=sys.stderr)
        code = int(code or 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def replay_command(args: Any) -> int:
    from sftscope.sessions.launch import open_replay
    from sftscope.sessions.store import load_session

    directory = Path(args.session)
    try:
        from sftscope.sessions.comparison import is_comparison

        if is_comparison(directory):
            from sftscope.tui.compare_command import replay_comparison

            return replay_comparison(directory, headless=args.headless)
        if args.headless:
            header, events, warnings = load_session(directory)
            for warning in warnings:
                print(f"sftscope: warning: {warning}", file=sys.stderr)
            return asyncio.run(_print_replay(directory, header, events, args.speed if args.speed else 0.0))
        return _run_console(open_replay(directory, args.speed), replay_speed=args.speed)
    except _known_errors() as exc:
        return fail(str(exc))


async def _print_replay(
    directory: Path, header: dict[str, Any], events: list[dict[str, Any]], speed: float
) -> int:
    """Transcripts and scores as text; answers stream at the recorded pace when speed > 0."""
    from sftscope.engines.base import GenerationRequest
    from sftscope.sessions.replay import ReplaySource
    from sftscope.sessions.state import fold

    state = fold(events)
    engine = ReplaySource(str(directory), speed=speed)
    out = sys.stdout
    for item_state in state.ordered():
        item = item_state.item
        out.write(
            f"=== {item.id} [{item_state.status}]" + (f" {item.category}" if item.category else "") + "\n"
        )
        for message in item.prefix:
            out.write(f"{message['role']}: {message['content']}\n")
        for turn, user in enumerate(item.turns):
            out.write(f"user: {user}\n")
            if turn >= len(item_state.turns):
                break
            out.write("assistant: ")
            if speed > 0:
                async for chunk in engine.stream(GenerationRequest(messages=[], key=(item.id, turn))):
                    out.write(chunk.text)
                    out.flush()
            else:
                out.write(item_state.turns[turn]["text"])
            out.write("\n")
        if item_state.error or item_state.skipped:
            out.write(f"({item_state.error or item_state.skipped})\n")
        human = item_state.human
        if human:
            out.write("scores: " + ", ".join(f"{k}={_show(v)}" for k, v in human.items()) + "\n")
        if item_state.flagged:
            out.write("flagged\n")
        if item_state.comment:
            out.write(f"comment: {item_state.comment}\n")
        out.write("\n")
        out.flush()
    return 0


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


async def _run_headless(config: Any) -> int:
    from sftscope.sessions.launch import open_run
    from sftscope.tui.headless import HeadlessDisplay

    launch = open_run(config)
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
        with HeadlessDisplay(session, total):
            summary = await generator.run()
        from sftscope.sessions import review

        status = review.final_status(
            session.state.items.values(), launch.rubric, interrupted=interrupted or bool(session.unwritten)
        )
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if launch.started:
            for problem in await launch.close(status):
                print(f"sftscope: error: {problem}", file=sys.stderr)
    assert summary is not None
    rate = summary.tokens / summary.seconds if summary.seconds else 0.0
    extra = f", {summary.incomplete} incomplete" if summary.incomplete else ""
    print(
        f"sftscope: {summary.done} done, {summary.skipped} skipped, {summary.errors} errors, "
        f"{summary.cancelled} cancelled{extra}; {summary.tokens} tokens at {rate:.1f} tok/s; "
        f"session {launch.directory}",
        file=sys.stderr,
    )
    if interrupted:
        print("sftscope: interrupted; run again with the same --session to resume", file=sys.stderr)
    return 130 if interrupted else 0


def _interrupted() -> int:
    """Interrupted while the model loads: the session is closed; the loading thread is
    not waited for."""
    print("sftscope: interrupted while loading the model; nothing was generated", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _refuse_comparison(directory: Path, instead: str) -> None:
    from sftscope.sessions.comparison import is_comparison

    if is_comparison(directory):
        raise UsageError(f"{directory}: is a comparison, not a run session; {instead}")


def export_command(args: Any) -> int:
    from sftscope.sessions.export import export_rows, to_csv, to_jsonl
    from sftscope.sessions.store import load_session

    try:
        header, events, warnings = load_session(Path(args.session))
    except _known_errors() as exc:
        return fail(str(exc))
    for warning in warnings:
        print(f"sftscope: warning: {warning}", file=sys.stderr)
    if header.get("kind") == "comparison":
        from sftscope.tui.compare_command import comparison_export

        try:
            text = comparison_export(header, events, args)
        except UsageError as exc:
            return fail(str(exc))
    elif args.format == "dpo":
        return fail(
            f"{args.session}: is a run session; --format dpo exports a comparison's preferences "
            "(sftscope compare A B, then export the comparison)"
        )
    else:
        rows = export_rows(header, events)
        text = to_csv(rows) if args.format == "csv" else to_jsonl(rows)

    return emit(text, Path(args.output) if args.output else None, flag=args.output)


def emit(text: str, output: Path | None, *, flag: str | None = None) -> int:
    """Write a command's result to `-o FILE` (whole, or not at all) or to standard output;
    a failed write is one line, exit 2 (export and report)."""
    from sftscope.sessions.report_render import write_atomically
    from sftscope.sessions.store import describe_os_error

    if output is not None:
        try:
            write_atomically(output, text)
        except OSError as exc:
            return fail(f"-o {flag or output}: not written ({describe_os_error(exc)})")
        return 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        # Nothing more can reach stdout; keep Python from trying again at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return fail(f"standard output: not written ({describe_os_error(exc)})")
    return 0


def judge_command(args: Any) -> int:
    """`sftscope judge DIR --judge SPEC`: judge a saved session; verdicts are appended."""
    try:
        return asyncio.run(_judge_session(args))
    except _known_errors() as exc:
        return fail(str(exc))


async def _judge_session(args: Any) -> int:
    from sftscope.scorers.judge import parse_judge_flag
    from sftscope.sessions.launch import open_judging
    from sftscope.tui.headless import show_judging

    directory = Path(args.session)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such session directory")
    _refuse_comparison(directory, "judge its pairs with sftscope compare --session DIR --judge SPEC")
    specs = [
        parse_judge_flag(value, args.judge_template, args.concurrency, args.timeout, args.api_key_env)
        for value in args.judge
    ]
    judging = open_judging(directory, specs)
    session, pool, store = judging.session, judging.pool, judging.store
    status = judging.header.get("status", "complete")
    try:
        for judge in pool.judges:
            await judge.start()
        store.update_header(judges=[*judging.header.get("judges", []), *(j.info() for j in pool.judges)])
        done = [s for s in session.state.ordered() if s.complete]
        for judge in pool.judges:
            for state in done:
                if args.only_missing and judge.spec.name in state.judges:
                    continue
                pool.judge_item(state.item.id, [judge], only_missing=False)
        total = pool.judging
        stream = sys.stderr
        errors = 0

        def count(event: dict[str, Any]) -> None:
            nonlocal errors
            if event.get("type") == "judge" and event.get("error"):
                errors += 1

        session.subscribe(count)
        await show_judging("judging", total, lambda: total - pool.judging, lambda: not pool.judging, stream)
        await pool.wait()
        print(f"sftscope: {total} judgments, {errors} errors; session {directory}", file=stream)
    finally:
        pool.cancel()
        for judge in pool.judges:
            await judge.close()
        unsaved = 0 if session.retry_writes() else len(session.unwritten)
        problems = store.close(status=status)
    if unsaved or problems:
        reason = session.write_error or "; ".join(problems)
        raise UsageError(f"{directory}: {unsaved} judgments not saved ({reason})")
    return 0
