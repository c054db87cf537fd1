"""`sftscope compare A B …`: open a comparison, then the A/B console or, headless, the
pairwise judges and the summary.

Every known failure is one line and exit code 2, as for the other commands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING

from sftscope.sessions.core.inert import inert, inert_line
from sftscope.tui.cli.errors import UsageError, compare_errors, fail
from sftscope.tui.render.opening import opening_lines

if TYPE_CHECKING:
    from sftscope.sessions.compare.comparison import CompareConfig, Comparison


def compare_config(args: argparse.Namespace) -> CompareConfig:
    from sftscope.scorers.judge import parse_judge_flag, unique_judge_names
    from sftscope.sessions.compare.comparison import CompareConfig
    from sftscope.tui.cli.parser import command_rater

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
        new=args.new,
        order=args.order,
        judge_panels=tuple(args.judge_panel),  # checked before the comparison is made
        # Whose votes (ratings/NAME.jsonl); headless votes none, so it labels as no one.
        rater=None if args.headless else command_rater(args.rater),
    )


def compare_command(args: argparse.Namespace) -> int:
    try:
        config = compare_config(args)
        if config.headless:
            return asyncio.run(_compare_headless(config, args.judge_panel))
        from sftscope.sessions.compare.comparison import open_comparison
        from sftscope.tui.cli.consoles import compare_console

        comparison = open_comparison(config)
        save_panels(comparison, args.judge_panel)
        say_reopened(comparison)
        say_following(comparison)
        return compare_console(comparison)
    except compare_errors() as exc:
        return fail(str(exc))


def save_panels(comparison: Comparison, flags: list[str]) -> None:
    """Check the comparison's panels (its saved ones and each --judge-panel) against its
    judges, this opening's and those it was run with, and save them in its header: a panel's
    verdicts are derived from its judges' whenever the comparison is read. A panel at fault
    is one line and exit 2, the comparison closed untouched."""
    from sftscope.scorers.panel import PanelError, header_judges, panels_in, session_panels

    judges = [j.spec.name for j in comparison.judges] + header_judges(comparison.header)
    try:
        panels = session_panels(panels_in(comparison.header), flags, judges)
    except PanelError as exc:
        comparison.close(str(comparison.header.get("status") or "stopped"))
        raise UsageError(str(exc)) from None
    if flags:
        comparison.store.update_header(panels=[panel.to_dict() for panel in panels])
        comparison.header = comparison.store.header


async def _compare_headless(config: CompareConfig, panels: list[str]) -> int:
    from sftscope.sessions.compare.comparison import open_comparison
    from sftscope.sessions.compare.judging import PairJudging
    from sftscope.sessions.compare.summary import apply_pair_panels, summary_lines, summary_of
    from sftscope.tui.cli.headless import JudgeTally, show_judging

    comparison = open_comparison(config)
    save_panels(comparison, panels)
    say_reopened(comparison)
    for line in opening_lines(comparison):
        print(inert_line(f"sftscope: {line}"), file=sys.stderr)
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
    state = apply_pair_panels(comparison.state, comparison.header)  # after judging: derived
    for line in summary_lines(summary_of(state)):  # the report's resamples and seed
        print(inert(line))
    return tally.exit_code()


def say_reopened(comparison: Comparison) -> None:
    """One line on stderr when `compare A B` found a comparison of these sessions and
    reopened it: its votes and judgments are kept, and `--new` is how to start afresh."""
    if comparison.reopened:
        pairs = comparison.state.ordered()
        voted = sum(1 for p in pairs if p.voted)
        print(
            inert_line(
                f"sftscope: reopened {comparison.directory}, the comparison of these sessions "
                f"({len(pairs)} pairs, {voted} voted); --new starts another"
            ),
            file=sys.stderr,
        )


def say_following(comparison: Comparison) -> None:
    """One line on stderr when another sftscope holds the comparison: this console only
    votes, as its rater (the console's header says so too)."""
    if comparison.writer is not None:
        print(
            inert_line(
                f"sftscope: {comparison.directory} is open in another sftscope ({comparison.writer}): "
                f"voting only, as rater {comparison.rater}"
            ),
            file=sys.stderr,
        )


def _all_voted(comparison: Comparison) -> bool:
    pairs = comparison.state.ordered()
    return bool(pairs) and all(p.voted for p in pairs)
