"""`sftscope judge DIR --judge SPEC`: judge (or re-judge) a saved session headless; the
verdicts are appended to its log."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.cli.errors import UsageError, fail, run_errors


def judge_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_judge_session(args))
    except run_errors() as exc:
        return fail(str(exc))


def _refuse_comparison(directory: Path, instead: str) -> None:
    from sftscope.sessions.compare.comparison import is_comparison

    if is_comparison(directory):
        raise UsageError(f"{directory}: is a comparison, not a run session; {instead}")


async def _judge_session(args: argparse.Namespace) -> int:
    from sftscope.scorers.judge import JudgeSpec, parse_judge_flag, unique_judge_names
    from sftscope.scorers.panel import PanelError, panels_in, session_panels
    from sftscope.sessions.core.store import read_header
    from sftscope.sessions.run.launch import open_judging
    from sftscope.tui.cli.headless import JudgeTally, show_judging

    directory = Path(args.session)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such session directory")
    _refuse_comparison(directory, "judge its pairs with sftscope compare --session DIR --judge SPEC")
    template = JudgeSpec.template if args.judge_template is None else args.judge_template
    api_key_env = JudgeSpec.api_key_env if args.api_key_env is None else args.api_key_env
    specs = [
        parse_judge_flag(value, template, args.concurrency, args.timeout, api_key_env)  # None: JudgeSpec's
        for value in args.judge
    ]
    header = read_header(directory)
    saved = [JudgeSpec.from_dict(s) for s in header.get("judges", []) if isinstance(s, dict)]
    specs = list(unique_judge_names(specs, saved))  # never a name the session's judges already use
    try:  # the saved panels, each replaced by a --judge-panel of its name, then the new ones
        panels = session_panels(panels_in(header), args.judge_panel, [s.name for s in (*saved, *specs)])
    except PanelError as exc:
        raise UsageError(str(exc)) from None
    judging = open_judging(directory, specs)
    session, pool, store = judging.session, judging.pool, judging.store
    status = judging.header.get("status", "complete")
    tally = JudgeTally([judge.spec.name for judge in pool.judges])
    try:
        for judge in pool.judges:
            await judge.start()
        store.update_header(judges=[*judging.header.get("judges", []), *(j.info() for j in pool.judges)])
        if args.judge_panel:
            store.update_header(panels=[panel.to_dict() for panel in panels])
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
