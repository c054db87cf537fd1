"""The command line: `sftscope [run] …`, `export`, `--version`.

Nothing on these paths imports textual or a model library at module level, so
`sftscope --help` is instant. Every user error ends as one line on stderr and
exit code 2; a traceback is a bug.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from sftscope.sessions.version import VERSION

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
    "read_timeout": 120.0,
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


class OneLineParser(argparse.ArgumentParser):
    """argparse prints its usage block before an error; sftscope's rule is one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sftscope: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    """Read a --config TOML; unknown keys and values of the wrong type are errors, naming the
    file and line, so typos never pass silently."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: file not found") from None
    except OSError as exc:
        raise UsageError(f"--config {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    lines = text.splitlines()
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise UsageError(f"{_where(path, lines, 'run')}: run must be a [run] table of settings")
    # Settings may sit at the top of the file or under [run] (or both, but each only once).
    sources = [(key, value, None) for key, value in data.items() if key != "run"]
    sources += [(key, value, "run") for key, value in run.items()]
    out: dict[str, Any] = {}
    for key, value, section in sources:
        name = key.replace("-", "_")
        where = _where(path, lines, key, section)
        if name not in RUN_DEFAULTS:
            raise UsageError(f"{where}: unknown setting {key!r}")
        if name in out:
            raise UsageError(f"{where}: {key} is set twice")
        if name == "judges":
            out[name] = _judge_tables(value, path, lines)
            continue
        if name == "judge" and isinstance(value, str):
            value = [value]  # one judge: the same as a list of one
        problem = _setting_problem(name, value)
        if problem:
            raise UsageError(f"{where}: {key} = {_toml(value)}: must be {problem}")
        out[name] = value
    return out


def _where(path: str, lines: list[str], key: str | None, section: str | None = None, index: int = 0) -> str:
    """`path:line` of `key = …` at the top level, in the [section] or in the index-th
    [[section]] table of a TOML file (its header line when `key` is None); else `path`."""
    headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[", line)]
    if section is None:
        start, end = 0, headers[0] if headers else len(lines)
    else:
        name = r"\s*\.\s*".join(re.escape(part) for part in section.split("."))
        pattern = re.compile(r"\s*\[{1,2}\s*" + name + r"\s*\]{1,2}\s*(#.*)?$")
        starts = [n for n in headers if pattern.match(lines[n])]
        if index >= len(starts):
            return path
        if key is None:
            return f"{path}:{starts[index] + 1}"
        start = starts[index] + 1
        end = next((n for n in headers if n >= start), len(lines))
    assign = re.compile(r"\s*[\"']?" + re.escape(key or "") + r"[\"']?\s*=")
    for number in range(start, end):
        if assign.match(lines[number]):
            return f"{path}:{number + 1}"
    return path


def _toml(value: Any) -> str:
    """A value as it reads in TOML, for error messages (`true`, not `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _judge_tables(tables: Any, path: str, lines: list[str] | None = None) -> list[Any]:
    from sftscope.scorers.judge import JudgeConfigError, JudgeSpec

    lines = lines or []
    section = "run.judges" if _where(path, lines, None, "run.judges") != path else "judges"
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        where = _where(path, lines, "judges")
        if where == path:  # a [judges] table, not an array of them
            where = _where(path, lines, None, "judges")
        raise UsageError(f"{where}: judges must be [[judges]] tables")
    allowed = {"name", "engine", "template", "concurrency", "timeout", "retries", "max_tokens", "api_key_env"}
    specs = []
    for index, table in enumerate(tables):
        here = _where(path, lines, None, section, index)
        unknown = sorted(set(table) - allowed)
        if unknown:
            where = _where(path, lines, unknown[0], section, index)
            raise UsageError(f"{where}: [[judges]] unknown key {unknown[0]!r}")
        if "engine" not in table:
            raise UsageError(f"{here}: [[judges]] missing engine")
        try:
            specs.append(JudgeSpec(**table))
        except JudgeConfigError as exc:
            where = _where(path, lines, exc.key, section, index) if exc.key else here
            raise UsageError(f"{where}: [[judges]] {exc}") from None
        except TypeError as exc:
            raise UsageError(f"{here}: [[judges]] {exc}") from None
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
        from sftscope.scorers.judge import JudgeConfigError, parse_judge_flag

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int in Python


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)  # no inf, no nan


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


# What each setting must be (a test, and the words for the error); None is "not set".
SETTING_RULES: dict[str, tuple[Any, str]] = {
    "engine": (_is_text, "a non-empty string (an engine spec)"),
    "prompts": (_is_text, "a non-empty string (a file path)"),
    "session": (_is_text, "a non-empty string (a directory)"),
    "max_tokens": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "temperature": (lambda v: _is_number(v) and v >= 0, "a finite number of 0 or more"),
    "top_p": (lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "seed": (_is_int, "an integer"),
    "system": (lambda v: isinstance(v, str), "a string"),
    "concurrency": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "batch_size": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "n_ctx": (lambda v: _is_int(v) and v >= 256, "an integer of 256 or more"),
    "threads": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "prompt_template": (lambda v: isinstance(v, str) and "{prompt}" in v, "a string containing {prompt}"),
    "api_key_env": (_is_text, "a non-empty string (a variable's name)"),
    "speed": (lambda v: _is_number(v) and v >= 0, "a finite number of 0 or more"),
    "read_timeout": (lambda v: _is_number(v) and v > 0, "a finite number of seconds above 0"),
    "headless": (lambda v: isinstance(v, bool), "true or false"),
    "rubric": (_is_text, "a non-empty string (a file path)"),
    "ahead": (lambda v: _is_int(v) and v >= 0, "an integer of 0 or more"),
    "judge": (
        lambda v: isinstance(v, list) and all(_is_text(x) for x in v),
        "a judge spec or a list of them",
    ),
    "judge_template": (_is_text, "a non-empty string (a template name or file)"),
    "judge_concurrency": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "judge_timeout": (lambda v: _is_number(v) and v > 0, "a finite number of seconds above 0"),
}


def _setting_problem(name: str, value: Any) -> str | None:
    """What `value` must be for the setting `name`, when it is not; None when it is fine."""
    ok, what = SETTING_RULES.get(name, (None, ""))
    if ok is None or value is None:
        return None
    return None if ok(value) else what


def _validate(options: dict[str, Any]) -> None:
    """Every setting's type and range; a config file's values were checked (naming their
    line) as it was read, so what fails here came from a flag."""
    for key in SETTING_RULES:
        problem = _setting_problem(key, options.get(key))
        if problem:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {options[key]!r}: must be {problem}")


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
            from sftscope.tui.commands import export_command

            return export_command(args)
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
    print(f"sftscope: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
