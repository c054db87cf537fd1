"""The command line: `sftscope [run] …`, `export`, `--version`.

Nothing on these paths imports textual or a model library at module level, so
`sftscope --help` is instant. Every user error ends as one line on stderr and
exit code 2; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sessions.version import VERSION

COMMANDS = ("run", "export", "replay", "judge")

# Settings a --config TOML may hold, with their defaults (None: decided later).
RUN_DEFAULTS: dict[str, Any] = {
    "engine": None,
    "prompts": None,
    "session": None,
    "max_tokens": 512,
    "temperature": 0.0,
    "top_p": 1.0,
    "seed": 0,
    "system": None,
    "concurrency": None,
    "batch_size": None,
    "n_ctx": 4096,
    "threads": None,
    "prompt_template": None,
    "api_key_env": "OPENAI_API_KEY",
    "speed": 1.0,
    "headless": False,
    "rubric": None,
    "ahead": 3,
    "judge": None,
    "judge_template": "rubric-json",
    "judge_concurrency": None,
    "judge_timeout": None,
    "judges": None,
}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sftscope",
        description="Evaluate a fine-tuned model in the terminal: stream, hand-score, judge, export.",
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

    export = sub.add_parser("export", help="write a session's items as JSONL or CSV")
    export.add_argument("session", metavar="DIR")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    return parser


def load_config(path: str) -> dict[str, Any]:
    """Read a --config TOML; unknown keys are errors so typos never pass silently."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    settings = dict(data.get("run", data))
    out: dict[str, Any] = {}
    if "judges" in data or "judges" in settings:
        tables = settings.pop("judges", None) or data.get("judges")
        out["judges"] = _judge_tables(tables, path)
    for key, value in settings.items():
        name = key.replace("-", "_")
        if name not in RUN_DEFAULTS:
            raise UsageError(f"{path}: unknown setting {key!r}")
        out[name] = value
    return out


def _judge_tables(tables: Any, path: str) -> list[Any]:
    from scorers.judge import JudgeConfigError, JudgeSpec

    if not isinstance(tables, list):
        raise UsageError(f"{path}: judges must be [[judges]] tables")
    specs = []
    for table in tables:
        allowed = {
            "name",
            "engine",
            "template",
            "concurrency",
            "timeout",
            "retries",
            "max_tokens",
            "api_key_env",
        }
        unknown = set(table) - allowed
        if unknown or "engine" not in table:
            what = f"unknown key {sorted(unknown)[0]!r}" if unknown else "missing engine"
            raise UsageError(f"{path}: [[judges]] {what}")
        try:
            specs.append(JudgeSpec(**table))
        except (JudgeConfigError, TypeError) as exc:
            raise UsageError(f"{path}: [[judges]] {exc}") from None
    return specs


def resolve_run_options(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the config file, then the flags actually given."""
    options = dict(RUN_DEFAULTS)
    given: set[str] = set()
    if getattr(args, "config", None):
        config = load_config(args.config)
        options.update(config)
        given.update(config)
    for key in RUN_DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
            given.add(key)
    options["_given"] = given
    _validate(options)
    if options.get("judge"):
        from scorers.judge import JudgeConfigError, parse_judge_flag

        try:
            flagged = [
                parse_judge_flag(
                    value,
                    options["judge_template"],
                    options["judge_concurrency"],
                    options["judge_timeout"],
                    options["api_key_env"],
                )
                for value in options["judge"]
            ]
        except JudgeConfigError as exc:
            raise UsageError(str(exc)) from None
        options["judges"] = [*(options.get("judges") or []), *flagged]
        given.add("judges")
    return options


def _validate(options: dict[str, Any]) -> None:
    checks = [
        ("max_tokens", lambda v: isinstance(v, int) and v > 0, "a positive integer"),
        ("temperature", lambda v: isinstance(v, (int, float)) and v >= 0, "0 or more"),
        ("top_p", lambda v: isinstance(v, (int, float)) and 0 < v <= 1, "in (0, 1]"),
        ("concurrency", lambda v: v is None or (isinstance(v, int) and v > 0), "a positive integer"),
        ("batch_size", lambda v: v is None or (isinstance(v, int) and v > 0), "a positive integer"),
        ("n_ctx", lambda v: isinstance(v, int) and v >= 256, "an integer of 256 or more"),
        ("threads", lambda v: v is None or (isinstance(v, int) and v > 0), "a positive integer"),
        ("speed", lambda v: isinstance(v, (int, float)) and v >= 0, "0 or more"),
        ("ahead", lambda v: isinstance(v, int) and v >= 0, "0 or more"),
    ]
    for key, ok, what in checks:
        if not ok(options[key]):
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {options[key]!r}: must be {what}")
    template = options.get("prompt_template")
    if template is not None and "{prompt}" not in template:
        raise UsageError("--prompt-template: must contain {prompt}")


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
        if args.command == "export":
            from tui.commands import export_command

            return export_command(args)
        if args.command == "judge":
            from tui.commands import judge_command

            return judge_command(args)
        if args.command == "replay":
            from tui.commands import replay_command

            if args.speed < 0:
                raise UsageError(f"--speed {args.speed}: must be 0 or more")
            return replay_command(args)
        from tui.commands import run_command

        return run_command(resolve_run_options(args))
    except UsageError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("sftscope: interrupted", file=sys.stderr)
        return 130


def fail(message: str) -> int:
    print(f"sftscope: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
