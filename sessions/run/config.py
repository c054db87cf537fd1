"""RunConfig: every setting of a run, typed and frozen, from one place.

Defaults, validation, the `--config` TOML (with file:line in its errors) and the
check of a resumed session's header all live here, so the command line only
parses flags and `launch` only reads attributes. Precedence: defaults, then the
config file, then the flags actually given. `given` keeps which settings were
set explicitly: on resume, those must agree with what the session was made with.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.engines.base import SamplingParams
from sftscope.engines.toml import tomllib
from sftscope.scorers.judge import JudgeConfigError, JudgeSpec, parse_judge_flag, unique_judge_names
from sftscope.scorers.panel import (
    PanelError,
    PanelSpec,
    header_judges,
    panel_table,
    panels_in,
    parse_panel_flag,
    resolve_panels,
)
from sftscope.sessions.core.assignment import Assignment, AssignmentError
from sftscope.sessions.core.events import RATER_NAME, RATER_RULE

ORDERS = ("shuffled", "file")  # RunConfig.order


class ConfigError(Exception):
    """A setting that cannot be used: one line naming the file and line, or the flag."""


@dataclass(frozen=True)
class RunConfig:
    engine: str | None = None
    prompts: str | None = None
    session: str | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    system: str | None = None
    concurrency: int | None = None
    batch_size: int | None = None
    n_ctx: int = 4096
    threads: int | None = None
    prompt_template: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    speed: float = 1.0
    read_timeout: float = 120.0
    headless: bool = False
    rubric: str | None = None
    ahead: int = 3
    judge: tuple[str, ...] = ()  # --judge SPEC, each a judge with the judge_* settings below
    judge_template: str = "rubric-json"
    judge_concurrency: int | None = None
    judge_timeout: float | None = None
    judge_panel: tuple[str, ...] = ()  # --judge-panel NAME=JUDGE,JUDGE,... (scorers/panel.py)
    # Rater reliability probes: the share of fully scored items shown again later, blind
    # (sessions/probes.py). 0 shows none.
    probe_rate: float = 0.0
    # The order items are presented in: "shuffled" (seeded by `seed`, the random audit
    # order whose labels form the random sample) or "file". Saved in session.toml; a
    # session without the key was made in file order.
    order: str = "shuffled"
    # Who labels in this process (issue 18, sessions/core/raters.py): their labels go to
    # ratings/NAME.jsonl. Per process, never saved: a session is resumed by any rater. None
    # (tests, the API): labels go to events.jsonl as before raters.
    rater: str | None = None
    # Who labels what (sessions/core/assignment.py): --raters a,b,c with --overlap K, each
    # item dealt to K of them, seeded by `seed`. Saved in session.toml; kept on resume.
    raters: tuple[str, ...] | None = None
    overlap: int | None = None
    # Resolved: the config's [[judges]] tables, then one judge per --judge.
    judges: tuple[JudgeSpec, ...] = ()
    panels: tuple[PanelSpec, ...] = ()  # the config's [[panels]], then one per --judge-panel
    panel_where: tuple[str, ...] = ()  # where each of `panels` was given (a file:line, a flag)
    given: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, settings: dict[str, Any] | None = None, flags: dict[str, Any] | None = None) -> RunConfig:
        """Defaults, then `settings` (from `load_config`, already checked), then `flags`."""
        values: dict[str, Any] = {}
        given: set[str] = set()
        for source, is_flag in ((settings or {}, False), (flags or {}, True)):
            for name, value in source.items():
                if value is None:
                    continue
                if name not in SETTINGS and name not in ("judges", "panels"):
                    raise ConfigError(f"unknown setting {name!r}")
                if is_flag:
                    problem = setting_problem(name, value)
                    if problem:
                        raise ConfigError(f"--{name.replace('_', '-')} {value!r}: must be {problem}")
                values[name] = value
                given.add(name)
        if isinstance(values.get("judge"), str):
            values["judge"] = [values["judge"]]
        values["judge"] = tuple(values.get("judge") or ())
        tables = tuple(values.pop("judges", ()) or ())
        panel_tables = list(values.pop("panels", ()) or ())
        values["judge_panel"] = tuple(
            [values["judge_panel"]]
            if isinstance(values.get("judge_panel"), str)
            else values.get("judge_panel") or ()
        )
        config = cls(**values, given=frozenset(given))
        try:
            assignment = Assignment.build(config.raters, config.overlap, config.seed)
        except AssignmentError as exc:
            raise ConfigError(str(exc)) from None
        try:
            flagged = tuple(
                parse_judge_flag(
                    spec,
                    config.judge_template,
                    config.judge_concurrency,
                    config.judge_timeout,
                    config.api_key_env,
                )
                for spec in config.judge
            )
            judges = unique_judge_names((*tables, *flagged))  # two URLs of one model: two judges
        except JudgeConfigError as exc:
            raise ConfigError(str(exc)) from None
        if judges:
            given.add("judges")
        try:
            flagged_panels = [(parse_panel_flag(f), f"--judge-panel {f}") for f in config.judge_panel]
        except PanelError as exc:
            raise ConfigError(str(exc)) from None
        given_panels = [*panel_tables, *flagged_panels]  # checked by session_panels (open_run)
        return dataclasses.replace(
            config,
            judges=judges,
            panels=tuple(spec for spec, _ in given_panels),
            panel_where=tuple(where for _, where in given_panels),
            raters=assignment.raters if assignment else None,
            given=frozenset(given),
        )

    @property
    def assignment(self) -> Assignment | None:
        """Who labels what, as given (--raters, --overlap), seeded by --seed."""
        return Assignment.build(self.raters, self.overlap, self.seed)

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, seed=self.seed
        )

    def engine_options(self) -> dict[str, Any]:
        """What an engine's constructor takes from the run's settings."""
        out: dict[str, Any] = {
            "n_ctx": self.n_ctx,
            "threads": self.threads,
            "prompt_template": self.prompt_template,
            "api_key_env": self.api_key_env,
            "speed": self.speed,
            "read_timeout": self.read_timeout,
        }
        if self.concurrency:
            out["concurrency"] = self.concurrency
        return out

    def session_panels(self, header: dict[str, Any] | None) -> tuple[PanelSpec, ...]:
        """The panels the session has after this run: those saved in `header` (None: a new
        session), each replaced by one given now of the same name, then the new ones. Checked
        here, not in `build`, because on resume the judges the session was run with count as
        known too: a panel of saved judges is added or kept without naming them again."""
        known = [judge.name for judge in self.judges] + header_judges(header)
        given = zip(self.panels, self.panel_where, strict=True)
        try:
            return resolve_panels(panels_in(header or {}), given, known)
        except PanelError as exc:
            raise ConfigError(str(exc)) from None

    def check_resume(self, header: dict[str, Any], directory: Path) -> None:
        """A resumed session keeps its engine and sampling: a setting given now that
        contradicts the header is an error (a new --session is the way to change it)."""
        recorded_engine = (header.get("engine") or {}).get("requested")
        if "engine" in self.given and self.engine != recorded_engine:
            raise ConfigError(
                f"--engine {self.engine}: session {directory} was made with {recorded_engine}; "
                "start a new --session to use another engine"
            )
        for key in ("max_tokens", "temperature", "top_p", "seed", "system"):
            recorded = (header.get("params") or {}).get(key, header.get(key))
            if key in self.given and getattr(self, key) != recorded:
                raise ConfigError(
                    f"--{key.replace('_', '-')} {getattr(self, key)}: session {directory} was made with "
                    f"{recorded}; start a new --session to change it"
                )
        recorded_order = header.get("order", "file")
        if "order" in self.given and self.order != recorded_order:
            raise ConfigError(
                f"--order {self.order}: session {directory} was made with order {recorded_order}; "
                "start a new --session to change it"
            )
        try:
            recorded_assignment = Assignment.from_header(header)
        except AssignmentError as exc:
            raise ConfigError(f"{directory}/{exc}") from None
        given_assignment = self.assignment  # its seed is the session's (checked above)
        if given_assignment is not None and (
            recorded_assignment is None
            or (given_assignment.raters, given_assignment.overlap)
            != (recorded_assignment.raters, recorded_assignment.overlap)
        ):
            made = (
                f"[assignment] {recorded_assignment.describe()}" if recorded_assignment else "no assignment"
            )
            raise ConfigError(
                f"{given_assignment.describe()}: session {directory} was made with {made}; "
                "start a new --session to change it"
            )


RESOLVED = ("judges", "panels", "panel_where", "given")  # worked out by build, not settings
SETTINGS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in RESOLVED)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int in Python


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)  # no inf, no nan


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_specs(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_text(x) for x in value)


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
    "judge": (lambda v: _is_text(v) or _is_specs(v), "a judge spec or a list of them"),
    "judge_template": (_is_text, "a non-empty string (a template name or file)"),
    "judge_concurrency": (lambda v: _is_int(v) and v > 0, "a positive integer"),
    "judge_timeout": (lambda v: _is_number(v) and v > 0, "a finite number of seconds above 0"),
    "judge_panel": (lambda v: _is_text(v) or _is_specs(v), "NAME=JUDGE,JUDGE or a list of them"),
    "probe_rate": (lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "order": (lambda v: v in ORDERS, "shuffled or file"),
    "rater": (
        lambda v: isinstance(v, str) and RATER_NAME.fullmatch(v) is not None,
        f"a rater name ({RATER_RULE})",
    ),
    "raters": (lambda v: _is_text(v) or _is_specs(v), "rater names, A,B,C or a list of them"),
    "overlap": (lambda v: _is_int(v) and v >= 1, "a positive integer (raters per item)"),
}


def setting_problem(name: str, value: Any) -> str | None:
    """What `value` must be for the setting `name`, when it is not; None when it is fine."""
    ok, what = SETTING_RULES.get(name, (None, ""))
    if ok is None or value is None:
        return None
    return None if ok(value) else what


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean max_tokens?` for the known setting nearest a mistyped one (difflib's
    ratio of 0.6 or more), else nothing: a typo costs one more try, not a trip to the docs."""
    close = difflib.get_close_matches(name.replace("-", "_"), list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def load_config(path: str) -> dict[str, Any]:
    """Read a --config TOML; unknown keys and values of the wrong type are errors, naming the
    file and line, so typos never pass silently."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    lines = text.splitlines()
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise ConfigError(f"{_where(path, lines, 'run')}: run must be a [run] table of settings")
    # Settings may sit at the top of the file or under [run] (or both, but each only once).
    sources = [(key, value, None) for key, value in data.items() if key != "run"]
    sources += [(key, value, "run") for key, value in run.items()]
    out: dict[str, Any] = {}
    for key, value, section in sources:
        name = key.replace("-", "_")
        where = _where(path, lines, key, section)
        if name not in SETTINGS and name not in ("judges", "panels"):
            known = (*SETTINGS, "judges", "panels")
            raise ConfigError(f"{where}: unknown setting {key!r}{did_you_mean(name, known)}")
        if name in out:
            raise ConfigError(f"{where}: {key} is set twice")
        if name == "judges":
            out[name] = _judge_tables(value, path, lines)
            continue
        if name == "panels":
            out[name] = _panel_tables(value, path, lines)
            continue
        if name == "judge" and isinstance(value, str):
            value = [value]  # one judge: the same as a list of one
        problem = setting_problem(name, value)
        if problem:
            raise ConfigError(f"{where}: {key} = {_toml(value)}: must be {problem}")
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


def _judge_tables(tables: Any, path: str, lines: list[str] | None = None) -> list[JudgeSpec]:
    lines = lines or []
    section = "run.judges" if _where(path, lines, None, "run.judges") != path else "judges"
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        where = _where(path, lines, "judges")
        if where == path:  # a [judges] table, not an array of them
            where = _where(path, lines, None, "judges")
        raise ConfigError(f"{where}: judges must be [[judges]] tables")
    allowed = {f.name for f in dataclasses.fields(JudgeSpec)}
    specs = []
    for index, table in enumerate(tables):
        here = _where(path, lines, None, section, index)
        unknown = sorted(set(table) - allowed)
        if unknown:
            where = _where(path, lines, unknown[0], section, index)
            hint = did_you_mean(unknown[0], sorted(allowed))
            raise ConfigError(f"{where}: [[judges]] unknown key {unknown[0]!r}{hint}")
        if "engine" not in table:
            raise ConfigError(f"{here}: [[judges]] missing engine")
        try:
            specs.append(JudgeSpec(**table))
        except JudgeConfigError as exc:
            where = _where(path, lines, exc.key, section, index) if exc.key else here
            raise ConfigError(f"{where}: [[judges]] {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{here}: [[judges]] {exc}") from None
    return specs


def _panel_tables(tables: Any, path: str, lines: list[str]) -> list[tuple[PanelSpec, str]]:
    """The [[panels]] tables, each with the file:line its errors name (scorers/panel.py)."""
    section = "run.panels" if _where(path, lines, None, "run.panels") != path else "panels"
    if not isinstance(tables, list):
        raise ConfigError(f"{_where(path, lines, None, 'panels')}: panels must be [[panels]] tables")
    out = []
    for index, table in enumerate(tables):
        here = _where(path, lines, None, section, index)
        try:
            out.append((panel_table(table), here))
        except PanelError as exc:
            where = _where(path, lines, exc.key, section, index) if exc.key else here
            raise ConfigError(f"{where}: {exc}") from None
    return out
