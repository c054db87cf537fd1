"""`sftscope`: parse the command line, then hand it to its command.

Each command's module is imported only when it runs, so `sftscope --help` loads the
grammar (`parser`) and nothing else.
"""

from __future__ import annotations

import math
import sys

from sftscope.tui.cli.errors import UsageError, fail
from sftscope.tui.cli.parser import COMMANDS, build_parser, check_bounds, command_rater, resolve_run_options


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
            from sftscope.tui.cli.export import export_command

            return export_command(args)
        if args.command == "compare":
            from sftscope.tui.cli.compare import compare_command

            return compare_command(args)
        if args.command == "report":
            from sftscope.tui.cli.report import report_command

            return report_command(args)
        if args.command == "serve":
            from sftscope.tui.cli.serve import serve_command

            return serve_command(args)
        if args.command == "adjudicate":
            from sftscope.tui.cli.adjudicate import adjudicate_command

            return adjudicate_command(args, command_rater(args.rater))
        if args.command == "merge":
            from sftscope.tui.cli.merge import merge_command

            return merge_command(args)
        if args.command == "judge":
            from sftscope.tui.cli.judge import judge_command

            return judge_command(args)
        if args.command == "replay":
            from sftscope.tui.cli.replay import replay_command

            if not (math.isfinite(args.speed) and args.speed >= 0):
                raise UsageError(f"--speed {args.speed}: must be a finite number of 0 or more")
            return replay_command(args)
        from sftscope.tui.cli.run import run_command

        return run_command(resolve_run_options(args))
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("sftscope: interrupted", file=sys.stderr)
        return 130
