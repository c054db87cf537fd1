"""`sftscope compare`: open a comparison, then the A/B console or the headless judges.

Every known failure is one line and exit code 2, as for the other commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sftscope.sessions.core.inert import inert, inert_line
from sftscope.tui.cli import UsageError, fail


def _errors() -> tuple[type[Exception], ...]:
    from sftscope.engines.base import EngineError
    from sftscope.scorers.judge import JudgeConfigError
    from sftscope.sessions.compare.comparison import CompareError
    from sftscope.sessions.core.store import SessionError

    return (CompareError, EngineError, JudgeConfigError, SessionError, UsageError)


def compare_config(args: Any) -> Any:
    from sftscope.scorers.judge import parse_judge_flag, unique_judge_names
    from sftscope.sessions.compare.comparison import CompareConfig

    specs = unique_judge_names(  # two URLs of one model: two judges, never one merged name
        [
            parse_judge_flag(
                value, args.judge_template, args.judge_concurrency, args.judge_timeout, args.api_key_env
            )
            for value in args.judge
        ]
    )
    return CompareConfig(
        sources=tuple(args.sources),
        session=args.session,
        judges=specs,
        baseline=args.baseline,
        seed=args.seed,
        reference=args.reference,
        headless=args.headless,
    )


def compare_command(args: Any) -> int:
    try:
        config = compare_config(args)
        if config.headless:
            return asyncio.run(_compare_headless(config))
        from sftscope.sessions.compare.comparison import open_comparison

        return _compare_console(open_comparison(config))
    except _errors() as exc:
        return fail(str(exc))


def describe_opening(comparison: Any) -> list[str]:
    """What was compared, said once: the sessions, items in common, what was left out."""
    state = comparison.state
    names = ", ".join(s.name for s in comparison.sources) or "the saved pairs"
    lines = [
        f"sftscope: comparing {names}: {len(state.items)} items in common, {len(state.ordered())} pairs"
        f"; session {comparison.directory}"
    ]
    if comparison.left_out:
        reasons = comparison.left_out_reasons or {"answered in only some sessions": comparison.left_out}
        why = "; ".join(f"{count} {reason}" for reason, count in reasons.items())
        lines.append(f"sftscope: {comparison.left_out} items left out ({why})")
    if comparison.stale_marked:
        lines.append(
            f"sftscope: {comparison.stale_marked} pairs stale (a source's answer changed); new pairs made"
        )
    return lines


async def _compare_headless(config: Any) -> int:
    from sftscope.sessions.compare.comparison import open_comparison
    from sftscope.sessions.compare.judging import PairJudging
    from sftscope.sessions.compare.summary import summary_lines, summary_of
    from sftscope.tui.headless import JudgeTally, show_judging

    comparison = open_comparison(config)
    for line in describe_opening(comparison):
        print(inert_line(line), file=sys.stderr)
    tally = JudgeTally([judge.spec.name for judge in comparison.judges])
    comparison.session.subscribe(tally.on_event)
    loop = asyncio.get_running_loop()
    interrupted = False
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    pool = PairJudging(comparison.session, comparison.judges)

    def stop() -> None:
        nonlocal interrupted
        if interrupted:
            os._exit(130)
        interrupted = True
        pool.cancel()

    for sig in signals:
        loop.add_signal_handler(sig, stop)
    status = "interrupted"
    try:
        for judge in comparison.judges:
            await judge.start()
        pool.start()
        stream = sys.stderr
        await show_judging(
            "judging pairs", pool.total, lambda: pool.done, lambda: interrupted or not pool.pending, stream
        )
        with contextlib.suppress(asyncio.CancelledError):
            await pool.wait()
        if pool.total:
            print(f"sftscope: {pool.done} pair judgments, {pool.errors} errors", file=stream)
        for line in tally.lines():
            print(line, file=stream)
        if not interrupted:
            status = "complete" if _all_voted(comparison) else "stopped"
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await pool.stop()
        for judge in comparison.judges:
            with contextlib.suppress(Exception):
                await judge.close()
        unsaved = 0 if comparison.session.retry_writes() else len(comparison.session.unwritten)
        problems = comparison.close(status)
    if unsaved or problems:
        reason = comparison.session.write_error or "; ".join(problems)
        raise UsageError(f"{comparison.directory}: {unsaved} judgments not saved ({reason})")
    if interrupted:
        print("sftscope: interrupted; run again with the same --session to resume", file=sys.stderr)
        return 130
    for line in summary_lines(summary_of(comparison.state)):  # the report's resamples and seed
        print(inert(line))
    return tally.exit_code()


def _all_voted(comparison: Any) -> bool:
    pairs = comparison.state.ordered()
    return bool(pairs) and all(p.voted for p in pairs)


def _compare_console(comparison: Any, *, review: bool = False) -> int:
    """The A/B console; the comparison is closed (status, unlock) before the process ends."""
    from sftscope.tui.commands import run_console_app
    from sftscope.tui.compare_app import CompareApp

    app = CompareApp(comparison, review=review)
    return run_console_app(app, f"comparison saved in {comparison.directory}")


def replay_comparison(directory: Path, *, headless: bool) -> int:
    """`sftscope replay COMPARISON`: the A/B console on the saved pairs (no judging), or, headless,
    the summary of what is recorded."""
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison

    if headless:
        from sftscope.sessions.compare.comparison import check_sources, fold_comparison
        from sftscope.sessions.compare.summary import summary_lines, summary_of
        from sftscope.sessions.core.store import load_session

        header, events, warnings = load_session(directory)
        for warning in warnings:
            print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
        state = fold_comparison(events)
        for note in check_sources(state, header, directory):
            print(f"sftscope: note: {inert_line(note)}", file=sys.stderr)
        try:
            for line in summary_lines(summary_of(state)):  # the report's resamples and seed
                print(inert(line))
            sys.stdout.flush()
        except BrokenPipeError:
            from sftscope.tui.commands import _quiet_stdout

            _quiet_stdout()
        return 0
    writable = os.access(directory, os.W_OK)
    comparison = open_comparison(CompareConfig(session=str(directory)), read_only=not writable, review=True)
    if not writable:  # nothing can be written: the changed pairs are left out in memory
        from sftscope.sessions.compare.comparison import check_sources

        check_sources(comparison.state, comparison.header or comparison.store.header, directory)
    return _compare_console(comparison, review=True)


def comparison_export(header: dict[str, Any], events: list[dict[str, Any]], args: Any) -> str:
    from sftscope.sessions.compare.comparison import check_sources, fold_comparison
    from sftscope.sessions.compare.export import (
        DpoError,
        DpoOptions,
        comparison_rows,
        comparison_text,
        dpo_rows,
    )
    from sftscope.sessions.core.files import to_jsonl

    state = fold_comparison(events)
    for note in check_sources(state, header, args.session):
        print(f"sftscope: note: {inert_line(note)}", file=sys.stderr)
    if args.format == "dpo":
        options = DpoOptions(style=args.dpo_style, source=args.source, system=args.dpo_system)
        try:
            rows = dpo_rows(header, state, options)
        except DpoError as exc:
            raise UsageError(str(exc)) from None
        return to_jsonl(rows)
    if getattr(args, "dpo_system", None) is not None:
        raise UsageError("--dpo-system: only with --format dpo")
    return comparison_text(comparison_rows(state), args.format, raw=bool(getattr(args, "csv_raw", False)))
