"""The command line's grammar: every command, its flags and their help.

Nothing here imports the core, textual or a model library at module level, so
`sftscope --help` is instant. `sftscope run`'s and `sftscope judge`'s flags are declared
once, in RUN_OPTIONS and JUDGE_OPTIONS: each is a RunConfig setting (or a JudgeSpec field),
and the default its help shows is read from there when the help is shown, never retyped.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, NoReturn

from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.sessions.core.version import VERSION
from sftscope.tui.cli.errors import UsageError

if TYPE_CHECKING:
    from sftscope.sessions.run.config import RunConfig

COMMANDS = ("run", "export", "replay", "judge", "compare", "report", "serve", "adjudicate", "merge")
# The most bootstrap resamples a report draws: 100,000 already gives an interval's ends to
# the third decimal; a billion only ate memory until the process died.
MAX_RESAMPLES = 100_000
# Seeds are given to numpy's generator and hashed into the A/B order: a 32-bit
# unsigned range that every consumer accepts (a negative seed was a traceback).
MAX_SEED = 2**32 - 1
# Stands in a run flag's help for its default, filled in when the help is shown.
DEFAULT = "%(run_default)s"


class OneLineParser(argparse.ArgumentParser):
    """argparse prints its usage block before an error; sftscope's rule is one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sftscope: error: {message} (see {self.prog} --help)\n")


def field_default(owner: type, name: str) -> Any:
    """A dataclass field's default (RunConfig's, JudgeSpec's)."""
    import dataclasses

    return next(f for f in dataclasses.fields(owner) if f.name == name).default


def run_config_default(name: str) -> Any:
    """RunConfig's default for the setting `name` (None: decided elsewhere, or not set)."""
    from sftscope.sessions.run.config import RunConfig

    return field_default(RunConfig, name)


def judge_default(name: str) -> Callable[[], Any]:
    """A judge's own default (JudgeSpec): the judge command's, and the run's judge settings
    that RunConfig leaves unset."""

    def read() -> Any:
        from sftscope.scorers.judge import JudgeSpec

        return field_default(JudgeSpec, name)

    return read


def openai_concurrency() -> Any:
    """The OpenAI engine's requests in flight when --concurrency is not given."""
    import inspect

    from sftscope.engines.openai_compat import OpenAIEngine

    return inspect.signature(OpenAIEngine.__init__).parameters["concurrency"].default


class Option(NamedTuple):
    """One flag declared once: a run's flag is the RunConfig setting of the same name
    (--max-tokens sets max_tokens), a judge's the JudgeSpec field. `default`: None reads
    RunConfig's default (nothing is shown when that is None, nor for a switch or a
    repeatable flag); words say a default decided at run time; a function reads it from
    where it is decided. The help shows it as `(default: …)`. A NamedTuple, not a
    dataclass: `dataclasses` alone would double `sftscope --help`'s imports."""

    flag: str
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    default: str | Callable[[], Any] | None = None
    action: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def shown_default(self) -> str | None:
        """The default as the help says it; imports RunConfig's module (help time only)."""
        if isinstance(self.default, str):
            return self.default
        if self.action is not None:  # --headless, --judge: nothing to show
            return None
        value = self.default() if self.default is not None else run_config_default(self.dest)
        return None if value is None else str(value)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Every value defaults to None (not given): RunConfig tells a flag from its default,
        the judge command fills in JudgeSpec's."""
        extra: dict[str, Any] = {"action": self.action, "default": None} if self.action else {}
        if self.type is not None:
            extra["type"] = self.type
        if self.metavar is not None:
            extra["metavar"] = self.metavar
        parser.add_argument(self.flag, help=f"{self.help}{DEFAULT}", **extra)


# Flags both `run` and `judge` take (the judge's under shorter names), declared once.
JUDGE_TEMPLATE = Option(
    "--judge-template", "rubric-json, mt-bench-single, mt-bench-pair, reference, or a TOML file", "NAME|FILE"
)
JUDGE_CONCURRENCY = Option(
    "--judge-concurrency", "judgments in flight per judge", "N", int, judge_default("concurrency")
)
JUDGE_TIMEOUT = Option("--judge-timeout", "seconds per judge attempt", "S", float, judge_default("timeout"))
API_KEY_ENV = Option("--api-key-env", "environment variable holding the API key", "NAME")
RATER = Option(
    "--rater", "who labels: each rater's labels go to ratings/NAME.jsonl in the session", "NAME",
    default="$SFTSCOPE_RATER, else the login name",
)  # fmt: skip
PANEL_HELP = (
    "a panel of these judges as one more source: majority of the judges configured for yes/no, "
    "median for scales (repeatable; docs/judges.md)"
)

RUN_OPTIONS: tuple[Option, ...] = (
    Option(
        "--engine",
        "llama:PATH.gguf | hf:PATH_OR_DIR | openai:BASE_URL[#MODEL] | replay:SESSION_DIR",
        "SPEC",
        default="the bundled model",
    ),
    Option("--prompts", "JSONL, JSON or CSV prompt set", "FILE", default="the built-in set"),
    Option("--session", "session directory; an existing one is resumed", "DIR"),
    Option("--max-tokens", "most tokens per answer", "N", int),
    Option("--temperature", "0 = greedy", "T", float),
    Option("--top-p", "nucleus sampling", "P", float),
    Option("--seed", "sampling seed, and the seed of the shuffled order", "S", int),
    Option(
        "--order",
        "shuffled: items in a seeded random order, whose labels are a random sample; "
        "file: the prompt set's order (kept on resume)",
        "shuffled|file",
    ),
    Option("--system", "system message for items that have none", "TEXT"),
    Option("--concurrency", "requests in flight (openai engine)", "N", int, openai_concurrency),
    Option("--batch-size", "batched generation (hf engine)", "N", int, default="16 on CUDA headless, else 1"),
    Option("--n-ctx", "context window for llama.cpp", "N", int),
    Option("--threads", "CPU threads for llama.cpp", "N", int, default="physical cores"),
    Option("--prompt-template", "raw template for models without a chat template, with {prompt}", "TEXT"),
    API_KEY_ENV,
    Option("--speed", "replay engine pace (0 = instant)", "X", float),
    RATER,
    Option("--raters", "who shares the items, with --overlap (kept on resume)", "A,B,C"),
    Option("--overlap", "raters per item, seeded by --seed; every pair of --raters shares items", "K", int),
    Option(
        "--read-timeout",
        "openai engine: seconds without data before a request is given up and retried",
        "S",
        float,
    ),
    Option("--headless", "no console: a progress bar, then exit", action="store_true"),
    Option("--rubric", "what to score and with which keys", "FILE.toml", default="built-in"),
    Option("--ahead", "items generated ahead of the one on screen", "N", int),
    Option(
        "--judge",
        "LLM judge: local | openai:URL#MODEL | llama:PATH | hf:DIR (repeatable)",
        "SPEC",
        action="append",
    ),
    JUDGE_TEMPLATE,
    JUDGE_CONCURRENCY,
    JUDGE_TIMEOUT,
    Option("--judge-panel", PANEL_HELP, "NAME=JUDGE,JUDGE,...", action="append"),
    Option(
        "--probe-rate",
        "share of scored items shown again later, unannounced, to measure your own consistency (0 to 1)",
        "R",
        float,
    ),
)


JUDGE_OPTIONS: tuple[Option, ...] = (
    JUDGE_TEMPLATE._replace(default=judge_default("template")),
    JUDGE_CONCURRENCY._replace(flag="--concurrency"),
    JUDGE_TIMEOUT._replace(flag="--timeout"),
    API_KEY_ENV._replace(default=judge_default("api_key_env")),
)


class DefaultsFormatter(argparse.HelpFormatter):
    """Fills each declared flag's `(default: …)` in when a command's help is shown: reading
    RunConfig or JudgeSpec imports the judges' and engines' types, which `sftscope --help`
    and every parse of a command line should not wait for."""

    options: ClassVar[dict[str, Option]] = {}

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or DEFAULT not in text:
            return text
        option = self.options.get(action.dest)
        shown = option.shown_default() if option is not None else None
        note = f" (default: {shown})".replace("%", "%%") if shown else ""
        return text.replace(DEFAULT, note)


class RunHelpFormatter(DefaultsFormatter):
    options: ClassVar[dict[str, Option]] = {option.dest: option for option in RUN_OPTIONS}


class JudgeHelpFormatter(DefaultsFormatter):
    options: ClassVar[dict[str, Option]] = {option.dest: option for option in JUDGE_OPTIONS}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="sftscope",
        description="Evaluate a fine-tuned model in the terminal: "
        "stream, hand-score, judge, compare, report, export.",
        epilog="`sftscope` alone runs the bundled model on the built-in prompt set.",
    )
    parser.add_argument("--version", action="version", version=f"sftscope {VERSION}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="what to do (run when left out); COMMAND --help for its flags"
    )

    run = sub.add_parser(
        "run", help="generate answers for a prompt set and score them", formatter_class=RunHelpFormatter
    )
    for option in RUN_OPTIONS:
        option.add_to(run)
    run.add_argument(
        "--config", metavar="FILE.toml", help="settings file; flags given on the command line win"
    )

    replay = sub.add_parser("replay", help="watch a saved session again and go on labelling")
    replay.add_argument("session", metavar="DIR", help="a saved run session (or comparison) to replay")
    replay.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="pace (1 = as recorded, 0 = instant)"
    )
    replay.add_argument("--headless", action="store_true", help="print transcripts and scores as text")
    RATER.add_to(replay)

    judge = sub.add_parser(
        "judge", help="judge (or re-judge) a saved session headless", formatter_class=JudgeHelpFormatter
    )
    judge.add_argument("session", metavar="DIR", help="the saved run session whose answers are judged")
    judge.add_argument(
        "--judge", action="append", required=True, metavar="SPEC", help="judge engine (repeatable)"
    )
    for option in JUDGE_OPTIONS:  # each None when not given: the judge's own default (JudgeSpec)
        option.add_to(judge)
    judge.add_argument("--only-missing", action="store_true", help="skip items this judge has already judged")
    judge.add_argument(
        "--judge-panel", action="append", default=[], metavar="NAME=JUDGE,JUDGE,...", help=PANEL_HELP
    )

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
        "--new",
        action="store_true",
        help="start another comparison even if one of these sessions exists (by default it is reopened)",
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
    compare.add_argument(
        "--judge-panel",
        action="append",
        default=[],
        metavar="NAME=JUDGE,JUDGE,...",
        help="a panel of these pairwise judges as one more source: the verdict of more than half "
        "of them (repeatable)",
    )
    compare.add_argument("--judge-timeout", type=float, metavar="S", help="seconds per judge attempt")
    compare.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="NAME",
        help="environment variable holding the judges' API key (default OPENAI_API_KEY)",
    )
    compare.add_argument("--baseline", metavar="SESSION", help="with 3+ sessions: each against this one")
    compare.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="which answer is shown first, and the shuffled order of the pairs (default 0)",
    )
    compare.add_argument(
        "--order",
        choices=("shuffled", "file"),
        help="shuffled: pairs in a seeded random order, whose votes are a random sample (default "
        "for a new comparison); file: the order they were made in (kept on resume)",
    )
    compare.add_argument(
        "--reference",
        action="store_true",
        help="compare one session with the reference answers its prompt set carries",
    )
    compare.add_argument(
        "--headless", action="store_true", help="run the pairwise judges only, then print the summary"
    )
    RATER.add_to(compare)

    export = sub.add_parser("export", help="write a session's items (or a comparison's pairs)")
    export.add_argument(
        "session", metavar="DIR", help="a run session (its items) or a comparison (its pairs)"
    )
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
        "--source",
        default="human",
        metavar="human|RATER|JUDGE|agree",
        help="whose votes (dpo; default human: the raters' consensus; rater:NAME or judge:NAME "
        "when a name is both)",
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
    serve = sub.add_parser("serve", help="the labelling console in a browser, one console per tab")
    serve.add_argument("session", metavar="SESSION", help="the run session to label")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, metavar="N", help="default 8000")
    serve.add_argument("--public-url", metavar="URL", help="the address browsers use, behind a proxy")
    serve.add_argument("--rater", metavar="NAME", help="every tab labels as NAME (default: each tab asks)")
    serve.add_argument("--tab", action="store_true", help="one tab's console (serve starts one per tab)")
    adjudicate = sub.add_parser("adjudicate", help="settle the labels several raters disagree on")
    adjudicate.add_argument("session", metavar="SESSION", help="a run session labelled by 2 raters or more")
    RATER.add_to(adjudicate)
    merge = sub.add_parser("merge", help="unite copies of one session labelled on different machines")
    merge.add_argument("sessions", nargs="+", metavar="DIR", help="the copies (the first keeps its header)")
    merge.add_argument("-o", "--output", required=True, metavar="DIR", help="the new session directory")
    return parser


def check_bounds(args: argparse.Namespace) -> None:
    """Numbers checked before anything is read or computed: one line naming the flag."""
    resamples = getattr(args, "resamples", None)
    if resamples is not None and not 1 <= resamples <= MAX_RESAMPLES:
        raise UsageError(f"--resamples {resamples}: must be between 1 and {MAX_RESAMPLES}")
    seed = getattr(args, "seed", None)
    if args.command in ("report", "compare") and seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed}: must be between 0 and {MAX_SEED}")


def resolve_run_options(args: argparse.Namespace) -> RunConfig:
    """The run's RunConfig: defaults, then the --config file, then the flags given."""
    import dataclasses

    from sftscope.sessions.run.config import SETTINGS, ConfigError, RunConfig, load_config

    try:
        settings = load_config(args.config) if getattr(args, "config", None) else {}
        config = RunConfig.build(settings, {name: getattr(args, name, None) for name in SETTINGS})
        return config if config.rater else dataclasses.replace(config, rater=command_rater(None))
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def command_rater(flag: str | None) -> str:
    """The rater of this command: --rater, else $SFTSCOPE_RATER, else the login name; a bad
    name is a usage error naming the flag or the variable."""
    from sftscope.sessions.core.raters import RaterError, resolve_rater

    try:
        return resolve_rater(flag)
    except RaterError as exc:
        raise UsageError(str(exc)) from None
