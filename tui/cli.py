"""The command line: `sftscope [run] …`, `export`, `--version`.

Nothing on these paths imports textual or a model library at module level, so
`sftscope --help` is instant. Every user error ends as one line on stderr and
exit code 2; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, NoReturn

from sftscope.scorers.intervals import RESAMPLES, SEED
from sftscope.sessions.core.version import VERSION

COMMANDS = ("run", "export", "replay", "judge", "compare", "report")
# The most bootstrap resamples a report draws: 100,000 already gives an interval's ends to
# the third decimal; a billion only ate memory until the process died.
MAX_RESAMPLES = 100_000
# Seeds are given to numpy's generator and hashed into the A/B order: a 32-bit
# unsigned range that every consumer accepts (a negative seed was a traceback).
MAX_SEED = 2**32 - 1


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints its usage block before an error; sftscope's rule is one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sftscope: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sftscope",
        description="Evaluate a fine-tuned model in the terminal: "
        "stream, hand-score, judge, compare, report, export.",
        epilog="`sftscope` alone runs the bundled model on the built-in prompt set.",
    )
    parser.add_argument("--version", action="version", version=f"sftscope {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="generate answers for a prompt set and score them")
    run.add_argument(
        "--engine",
        metavar="SPEC",
        help="llama:PATH.gguf | hf:PATH_OR_DIR | openai:BASE_URL[#MODEL] | replay:SESSION_DIR "
        "(default: the bundled model)",
    )
    run.add_argument(
        "--prompts", metavar="FILE", help="JSONL, JSON or CSV prompt set (default: the built-in set)"
    )
    run.add_argument("--session", metavar="DIR", help="session directory; an existing one is resumed")
    run.add_argument("--max-tokens", type=int, metavar="N", help="most tokens per answer (default 512)")
    run.add_argument("--temperature", type=float, metavar="T", help="0 = greedy (default 0)")
    run.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling (default 1.0)")
    run.add_argument("--seed", type=int, metavar="S", help="sampling seed (default 0)")
    run.add_argument("--system", metavar="TEXT", help="system message for items that have none")
    run.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight (openai engine; default 8)"
    )
    run.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="batched generation (hf engine; default 16 on CUDA headless, else 1)",
    )
    run.add_argument("--n-ctx", type=int, metavar="N", help="context window for llama.cpp (default 4096)")
    run.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for llama.cpp (default: physical cores)"
    )
    run.add_argument(
        "--prompt-template",
        metavar="TEXT",
        help="raw template for models without a chat template, with {prompt}",
    )
    run.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the API key (default OPENAI_API_KEY)",
    )
    run.add_argument("--speed", type=float, metavar="X", help="replay engine pace (0 = instant, default 1)")
    run.add_argument(
        "--read-timeout",
        type=float,
        metavar="S",
        help="openai engine: seconds without data before a request is given up and retried (default 120)",
    )
    run.add_argument(
        "--headless", action="store_true", default=None, help="no console: a progress bar, then exit"
    )
    run.add_argument(
        "--rubric", metavar="FILE.toml", help="what to score and with which keys (default: built-in)"
    )
    run.add_argument(
        "--ahead", type=int, metavar="N", help="items generated ahead of the one on screen (default 3)"
    )
    run.add_argument(
        "--judge",
        action="append",
        metavar="SPEC",
        help="LLM judge: local | openai:URL#MODEL | llama:PATH | hf:DIR (repeatable)",
    )
    run.add_argument(
        "--judge-template",
        metavar="NAME|FILE",
        help="rubric-json (default), mt-bench-single, mt-bench-pair, reference, or a TOML file",
    )
    run.add_argument(
        "--judge-concurrency", type=int, metavar="N", help="judgments in flight per judge (default 4)"
    )
    run.add_argument(
        "--judge-timeout", type=float, metavar="S", help="seconds per judge attempt (default 120)"
    )
    run.add_argument(
        "--probe-rate",
        type=float,
        metavar="R",
        help="share of scored items shown again later, unannounced, to measure your own consistency "
        "(0 to 1, default 0)",
    )
    run.add_argument(
        "--config", metavar="FILE.toml", help="settings file; flags given on the command line win"
    )

    replay = sub.add_parser("replay", help="watch a saved session again and go on labelling")
    replay.add_argument("session", metavar="DIR")
    replay.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="pace (1 = as recorded, 0 = instant)"
    )
    replay.add_argument("--headless", action="store_true", help="print transcripts and scores as text")

    judge = sub.add_parser("judge", help="judge (or re-judge) a saved session headless")
    judge.add_argument("session", metavar="DIR")
    judge.add_argument(
        "--judge", action="append", required=True, metavar="SPEC", help="judge engine (repeatable)"
    )
    judge.add_argument("--judge-template", default="rubric-json", metavar="NAME|FILE")
    judge.add_argument("--concurrency", type=int, default=4, metavar="N")
    judge.add_argument("--timeout", type=float, default=120.0, metavar="S")
    judge.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME")
    judge.add_argument("--only-missing", action="store_true", help="skip items this judge has already judged")

    compare = sub.add_parser(
        "compare", help="compare sessions: blind A/B by hand, pairwise judges in both orders, DPO pairs"
    )
    compare.add_argument(
        "sources", nargs="*", metavar="SESSION", help="saved run sessions over the same prompt set"
    )
    compare.add_argument(
        "--session", metavar="DIR", help="the comparison's directory; an existing one is resumed"
    )
    compare.add_argument(
        "--judge", action="append", default=[], metavar="SPEC", help="pairwise judge engine (repeatable)"
    )
    compare.add_argument(
        "--judge-template",
        default="mt-bench-pair",
        metavar="NAME|FILE",
        help="mt-bench-pair (default), a TOML file, or FastChat's judge_prompts.jsonl#pair-v2",
    )
    compare.add_argument("--judge-concurrency", type=int, metavar="N", help="judgments in flight per judge")
    compare.add_argument("--judge-timeout", type=float, metavar="S", help="seconds per judge attempt")
    compare.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME")
    compare.add_argument("--baseline", metavar="SESSION", help="with 3+ sessions: each against this one")
    compare.add_argument(
        "--seed", type=int, default=0, metavar="N", help="which answer is shown first (default 0)"
    )
    compare.add_argument(
        "--reference",
        action="store_true",
        help="compare one session with the reference answers its prompt set carries",
    )
    compare.add_argument(
        "--headless", action="store_true", help="run the pairwise judges only, then print the summary"
    )

    export = sub.add_parser("export", help="write a session's items (or a comparison's pairs)")
    export.add_argument("session", metavar="DIR")
    export.add_argument(
        "--format", choices=("jsonl", "csv", "dpo"), default="jsonl", help="dpo: a comparison's preferences"
    )
    export.add_argument(
        "--dpo-style",
        choices=("conversational", "standard"),
        default="conversational",
        help="TRL's preference formats: messages (default) or plain strings",
    )
    export.add_argument(
        "--source", default="human", metavar="human|JUDGE|agree", help="whose votes (dpo; default human)"
    )
    export.add_argument(
        "--dpo-system",
        metavar="none|a|b|TEXT",
        help="dpo: the system message of every row when the sessions' differ "
        "(none: no system message; a, b: that side's; else this text)",
    )
    export.add_argument(
        "--csv-raw",
        action="store_true",
        help="csv: write cells as they are (by default a cell starting with = + - @, a tab or a "
        "carriage return gets a leading ' so a spreadsheet does not run it as a formula)",
    )
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")

    report = sub.add_parser(
        "report", help="numbers with intervals: scores, agreement, judge health, checks, comparisons"
    )
    report.add_argument(
        "directories", nargs="+", metavar="DIR", help="run sessions (several: paired) or a comparison"
    )
    report.add_argument(
        "--format",
        choices=("text", "json", "html", "md"),
        default="text",
        help="text (default), json for scripts, html (one self-contained page), md for a pull request",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    report.add_argument(
        "--resamples",
        type=int,
        default=RESAMPLES,
        metavar="N",
        help=f"bootstrap resamples (default {RESAMPLES}, at most {MAX_RESAMPLES:,})",
    )
    report.add_argument(
        "--seed", type=int, default=SEED, metavar="N", help=f"bootstrap seed (default {SEED})"
    )
    return parser


def check_bounds(args: argparse.Namespace) -> None:
    """Numbers checked before anything is read or computed: one line naming the flag."""
    resamples = getattr(args, "resamples", None)
    if resamples is not None and not 1 <= resamples <= MAX_RESAMPLES:
        raise UsageError(f"--resamples {resamples}: must be between 1 and {MAX_RESAMPLES}")
    seed = getattr(args, "seed", None)
    if args.command in ("report", "compare") and seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed}: must be between 0 and {MAX_SEED}")


def resolve_run_options(args: argparse.Namespace) -> Any:
    """The run's RunConfig: defaults, then the --config file, then the flags given."""
    from sftscope.sessions.run.config import SETTINGS, ConfigError, RunConfig, load_config

    try:
        settings = load_config(args.config) if getattr(args, "config", None) else {}
        return RunConfig.build(settings, {name: getattr(args, name, None) for name in SETTINGS})
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def normalise_argv(argv: list[str]) -> list[str]:
    """`sftscope` alone, or with run flags only, means `sftscope run …`."""
    if not argv:
        return ["run"]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["run", *argv]


def main(argv: list[str] | None = None) -> int:
    argv = normalise_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits 2 with one line on bad flags
    try:
        check_bounds(args)
        if args.command == "export":
            from sftscope.tui.commands import export_command

            return export_command(args)
        if args.command == "compare":
            from sftscope.tui.compare_command import compare_command

            return compare_command(args)
        if args.command == "report":
            from sftscope.tui.report_command import report_command

            return report_command(args)
        if args.command == "judge":
            from sftscope.tui.commands import judge_command

            return judge_command(args)
        if args.command == "replay":
            from sftscope.tui.commands import replay_command

            if not (math.isfinite(args.speed) and args.speed >= 0):
                raise UsageError(f"--speed {args.speed}: must be a finite number of 0 or more")
            return replay_command(args)
        from sftscope.tui.commands import run_command

        return run_command(resolve_run_options(args))
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("sftscope: interrupted", file=sys.stderr)
        return 130


def fail(message: str) -> int:
    """One line on stderr, exit code 2. The message may quote a path, an item id or a
    judge's reply: shown inert, so it cannot drive the terminal or break the line."""
    from sftscope.sessions.core.inert import inert_line

    print(f"sftscope: error: {inert_line(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
