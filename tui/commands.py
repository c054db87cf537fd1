"""What each subcommand does, once the command line is parsed.

Kept apart from cli.py so `sftscope --help` never imports the core; every
known failure becomes a one-line error (exit 2) here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli import UsageError, fail


def _known_errors() -> tuple[type[Exception], ...]:
    from sftscope.engines.base import EngineError
    from sftscope.scorers.judge import JudgeConfigError
    from sftscope.scorers.rubric import RubricError
    from sftscope.sessions.core.store import SessionError
    from sftscope.sessions.run.config import ConfigError
    from sftscope.sessions.run.launch import LaunchError
    from sftscope.sessions.run.prompts import PromptSetError

    return (
        ConfigError, EngineError, JudgeConfigError, LaunchError, PromptSetError, RubricError, SessionError,
        UsageError,
    )  # fmt: skip


def run_command(config: Any) -> int:
    """`sftscope run`: headless, or the console, on a RunConfig the command line built."""
    try:
        if config.headless:
            return asyncio.run(_run_headless(config))
        from sftscope.sessions.run.launch import open_run

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
            print(f"sftscope: error: {inert_line(problem)}", file=sys.stderr)
        print(f"sftscope: {inert_line(saved)}", file=sys.stderr)
        for line in app.next_steps():  # resume, report, export: the commands, with this path
            print(line, file=sys.stderr)
        code = int(code or 0)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def replay_command(args: Any) -> int:
    from sftscope.sessions.core.store import load_session
    from sftscope.sessions.run.launch import open_replay

    directory = Path(args.session)
    try:
        from sftscope.sessions.compare.comparison import is_comparison

        if is_comparison(directory):
            from sftscope.tui.compare_command import replay_comparison

            return replay_comparison(directory, headless=args.headless)
        if args.headless:
            header, events, warnings = load_session(directory)
            for warning in warnings:
                print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
            return asyncio.run(_print_replay(directory, header, events, args.speed if args.speed else 0.0))
        return _run_console(open_replay(directory, args.speed), replay_speed=args.speed)
    except _known_errors() as exc:
        return fail(str(exc))


async def _print_replay(
    directory: Path, header: dict[str, Any], events: list[dict[str, Any]], speed: float
) -> int:
    """Transcripts and scores as text; answers stream at the recorded pace when speed > 0.

    Each conversation is printed as the model got it (the system message too) and each
    answer as it was written, with its finish reason when it did not simply stop; every
    piece of it inert, so an answer cannot drive the terminal. A reader that stops early
    (`| head`) ends the transcript quietly."""
    from sftscope.engines.base import GenerationRequest
    from sftscope.sessions.core.inert import inert, inert_line
    from sftscope.sessions.core.state import fold
    from sftscope.sessions.run.replay import ReplaySource

    state = fold(events)
    engine = ReplaySource(str(directory), speed=speed, state=state, header=header)  # one fold
    out = sys.stdout
    system = header.get("system")
    try:
        for item_state in state.ordered():
            item = item_state.item
            category = f" {inert_line(item.category)}" if item.category else ""
            out.write(f"=== {inert_line(item.id)} [{item_state.status}]{category}\n")
            for message in item.transcript([], system)[:-1]:  # the system message and prefix
                out.write(f"{inert_line(message['role'])}: {inert(message['content'])}\n")
            for turn, user in enumerate(item.turns):
                out.write(f"user: {inert(user)}\n")
                if turn >= len(item_state.turns):
                    break
                record = item_state.turns[turn]
                out.write("assistant: ")
                if speed > 0:
                    key = (item.id, turn)
                    async for chunk in engine.stream(GenerationRequest(messages=[], key=key)):
                        out.write(inert(chunk.text))
                        out.flush()
                else:
                    out.write(inert(record.get("text", "")))
                out.write("\n")
                ending = finish_note(record)
                if ending:
                    out.write(f"({ending})\n")
            if item_state.error or item_state.skipped:
                out.write(f"({inert(item_state.error or item_state.skipped)})\n")
            human = item_state.human
            if human:
                shown = ", ".join(f"{inert_line(k)}={inert_line(_show(v))}" for k, v in human.items())
                out.write(f"scores: {shown}\n")
            if item_state.flagged:
                out.write("flagged\n")
            if item_state.comment:
                out.write(f"comment: {inert(item_state.comment)}\n")
            out.write("\n")
            out.flush()
    except BrokenPipeError:
        _quiet_stdout()  # `replay --headless | head`: the reader has what it wanted
    return 0


def finish_note(record: dict[str, Any]) -> str | None:
    """Why an answer ended, when it did not simply stop: `cut at 64 tokens` for the
    token limit, else the reason by name (content_filter, cancelled, error)."""
    reason = record.get("finish_reason")
    if reason in (None, "stop"):
        return None
    if reason == "length":
        tokens = record.get("tokens")
        return f"cut at {tokens} tokens" if tokens else "cut at the token limit"
    from sftscope.sessions.core.inert import inert_line

    return f"ended: {inert_line(reason)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


async def _run_headless(config: Any) -> int:
    from sftscope.sessions.run.launch import open_run
    from sftscope.tui.headless import HeadlessDisplay, JudgeTally

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


def _refuse_comparison(directory: Path, instead: str) -> None:
    from sftscope.sessions.compare.comparison import is_comparison

    if is_comparison(directory):
        raise UsageError(f"{directory}: is a comparison, not a run session; {instead}")


def export_command(args: Any) -> int:
    from sftscope.sessions.core.files import to_csv, to_jsonl
    from sftscope.sessions.core.store import load_session
    from sftscope.sessions.run.export import COLUMNS, export_rows

    try:
        header, events, warnings = load_session(Path(args.session))
    except _known_errors() as exc:
        return fail(str(exc))
    for warning in warnings:
        print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
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
        text = to_csv(rows, COLUMNS, raw=args.csv_raw) if args.format == "csv" else to_jsonl(rows)

    return emit(text, Path(args.output) if args.output else None, flag=args.output, data=True)


@dataclass(frozen=True)
class OutputTarget:
    """Where `-o PATH` really writes. `regular`: a file replaced atomically at `path`
    (a symlink's target, beside it); else a node written into as it is (a FIFO, a
    character device such as /dev/null, anything under /dev or /proc): replacing
    one of those with a regular file broke the system's /dev/null when run as root."""

    path: Path
    regular: bool


def output_target(output: Path, flag: str | None = None) -> OutputTarget:
    """The target of `-o output`, or UsageError naming the flag (a directory, a socket)."""
    shown = flag or str(output)
    try:
        mode = os.stat(output).st_mode  # follows symlinks: what the link points at
    except FileNotFoundError:
        mode = None
    except OSError:
        return OutputTarget(output, True)  # the write says why, as one line
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"-o {shown}: is a directory")
    system = os.path.abspath(output).startswith(("/dev/", "/proc/"))
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or system):
        return OutputTarget(output, False)
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"-o {shown}: not a regular file, a FIFO or a character device")
    if system:
        raise UsageError(f"-o {shown}: no such device")
    return OutputTarget(Path(os.path.realpath(output)), True)


def write_output(target: OutputTarget, text: str) -> None:
    """A regular file whole or not at all (temporary file beside it, then os.replace);
    a device or FIFO written into, never replaced."""
    if target.regular:
        from sftscope.sessions.core.files import write_atomically

        write_atomically(target.path, text)
        return
    with open(target.path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()


def emit(text: str, output: Path | None, *, flag: str | None = None, data: bool = False) -> int:
    """Write a command's result to `-o FILE` (whole, or not at all) or to standard output;
    a failed write is one line, exit 2 (export and report).

    `data` (an export): written exactly, except onto a terminal, where a CSV cell's
    escape sequences would be obeyed, not shown; there it is shown inert. A file or a
    pipe always gets the exact characters."""
    from sftscope.sessions.core.store import describe_os_error

    if output is None and data and sys.stdout.isatty():
        from sftscope.sessions.core.inert import inert

        text = inert(text)

    if output is not None:
        try:
            write_output(output_target(output, flag), text)
        except UsageError as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"-o {flag or output}: not written ({describe_os_error(exc)})")
        return 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()  # the reader stopped (`| head`): nothing is wrong, nothing to say
        return 0
    except OSError as exc:
        _quiet_stdout()
        return fail(f"standard output: not written ({describe_os_error(exc)})")
    return 0


def _quiet_stdout() -> None:
    """Nothing more can reach stdout; keep Python from trying again at exit."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def judge_command(args: Any) -> int:
    """`sftscope judge DIR --judge SPEC`: judge a saved session; verdicts are appended."""
    try:
        return asyncio.run(_judge_session(args))
    except _known_errors() as exc:
        return fail(str(exc))


async def _judge_session(args: Any) -> int:
    from sftscope.scorers.judge import JudgeSpec, parse_judge_flag, unique_judge_names
    from sftscope.sessions.core.store import read_header
    from sftscope.sessions.run.launch import open_judging
    from sftscope.tui.headless import JudgeTally, show_judging

    directory = Path(args.session)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such session directory")
    _refuse_comparison(directory, "judge its pairs with sftscope compare --session DIR --judge SPEC")
    specs = [
        parse_judge_flag(value, args.judge_template, args.concurrency, args.timeout, args.api_key_env)
        for value in args.judge
    ]
    saved = [JudgeSpec.from_dict(s) for s in read_header(directory).get("judges", []) if isinstance(s, dict)]
    specs = list(unique_judge_names(specs, saved))  # never a name the session's judges already use
    judging = open_judging(directory, specs)
    session, pool, store = judging.session, judging.pool, judging.store
    status = judging.header.get("status", "complete")
    tally = JudgeTally([judge.spec.name for judge in pool.judges])
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
        session.subscribe(tally.on_event)
        await show_judging("judging", total, lambda: tally.judged, lambda: not pool.judging, stream)
        await pool.wait()
        errors = sum(count.failed for count in tally.counts.values())
        print(
            f"sftscope: {tally.judged} judgments, {errors} errors; session {inert_line(directory)}",
            file=stream,
        )
        for line in tally.lines():
            print(line, file=stream)
    finally:
        pool.cancel()
        for judge in pool.judges:
            await judge.close()
        unsaved = 0 if session.retry_writes() else len(session.unwritten)
        problems = store.close(status=status)
    if unsaved or problems:
        reason = session.write_error or "; ".join(problems)
        raise UsageError(f"{directory}: {unsaved} judgments not saved ({reason})")
    return tally.exit_code()
