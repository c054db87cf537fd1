"""`sftscope replay DIR`: watch a saved session again (the console, or its transcripts and
scores as text); a comparison is replayed as its A/B console or its summary."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from sftscope.sessions.core.inert import inert, inert_line
from sftscope.tui.cli.errors import fail, run_errors
from sftscope.tui.cli.output import quiet_stdout


def replay_command(args: argparse.Namespace) -> int:
    from sftscope.sessions.core.store import load_session
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.cli.consoles import run_console

    directory = Path(args.session)
    try:
        from sftscope.sessions.compare.comparison import is_comparison

        if is_comparison(directory):
            return replay_comparison(directory, headless=args.headless, rater=args.rater)
        if args.headless:
            header, events, warnings = load_session(directory)
            for warning in warnings:
                print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
            return asyncio.run(_print_replay(directory, header, events, args.speed if args.speed else 0.0))
        from sftscope.tui.cli.parser import command_rater

        return run_console(open_replay(directory, args.speed, rater=command_rater(args.rater)))
    except run_errors() as exc:
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
    from sftscope.sessions.core.panels import apply_panels
    from sftscope.sessions.core.state import fold
    from sftscope.sessions.run.replay import ReplaySource
    from sftscope.tui.render.answer_text import finish_note

    state = apply_panels(fold(events), header)  # a panel's verdicts are derived, as a judge's
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
            for line in _judge_lines(item_state.judges):
                out.write(f"{line}\n")
            if item_state.flagged:
                out.write("flagged\n")
            if item_state.comment:
                out.write(f"comment: {inert(item_state.comment)}\n")
            out.write("\n")
            out.flush()
    except BrokenPipeError:
        quiet_stdout()  # `replay --headless | head`: the reader has what it wanted
    return 0


def _judge_lines(judges: dict[str, Any]) -> list[str]:
    """Each judge's verdict on the item, a panel named as one (its verdict derived from its
    members', never recorded); a failed judgment says so. Every piece inert."""
    lines = []
    for name, event in judges.items():
        members = event.get("panel")
        label = f"{name} (panel of {', '.join(map(str, members))})" if isinstance(members, list) else name
        scores = event.get("scores") if isinstance(event.get("scores"), dict) else {}
        if event.get("error"):
            shown = f"failed ({event['error']})"
        else:
            shown = ", ".join(f"{k}={_show(v)}" for k, v in scores.items()) or "no verdict"
        lines.append(f"judge {inert_line(label)}: {inert_line(shown)}")
    return lines


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def replay_comparison(directory: Path, *, headless: bool, rater: str | None = None) -> int:
    """`sftscope replay COMPARISON`: the A/B console on the saved pairs (no judging), voting as
    `--rater` (else the default rater), or, headless, the summary of what is recorded."""
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison

    if headless:
        from sftscope.scorers.panel import panels_in
        from sftscope.sessions.compare.comparison import check_sources, read_comparison
        from sftscope.sessions.compare.summary import apply_pair_panels, summary_lines, summary_of
        from sftscope.sessions.core.store import load_session

        header, events, warnings = load_session(directory)
        for warning in warnings:
            print(f"sftscope: warning: {inert_line(warning)}", file=sys.stderr)
        state = apply_pair_panels(read_comparison(directory, header, events), header)  # panels: derived
        for note in check_sources(state, header, directory):
            print(f"sftscope: note: {inert_line(note)}", file=sys.stderr)
        panels = [panel.name for panel in panels_in(header)]
        try:
            for line in summary_lines(summary_of(state), panels):  # the report's resamples and seed
                print(inert(line))
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_stdout()
        return 0
    from sftscope.tui.cli.consoles import compare_console
    from sftscope.tui.cli.parser import command_rater

    writable = os.access(directory, os.W_OK)
    config = CompareConfig(session=str(directory), rater=command_rater(rater))
    comparison = open_comparison(config, read_only=not writable, revisit=True)
    if not writable:  # nothing can be written: the changed pairs are left out in memory
        from sftscope.sessions.compare.comparison import check_sources

        check_sources(comparison.state, comparison.header or comparison.store.header, directory)
    return compare_console(comparison, revisit=True)
