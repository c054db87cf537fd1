"""LLM judges: a prompt template + an engine + a parser, run in the background.

Any engine can judge (`openai:URL#MODEL`, `llama:PATH`, `hf:DIR`, or `local`, the
bundled model). Each judgment is recorded as a `judge` event with the judge's
model, the template's hash, latency, attempts and the raw reply; a reply that
does not parse is recorded as an error with its raw text. API keys stay in the
environment: nothing here writes one anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sftscope.engines.base import GenerationRequest, OutputConstraint, SamplingParams
from sftscope.engines.cache import cache_dir
from sftscope.engines.retry import backoff_delay
from sftscope.engines.toml import tomllib
from sftscope.scorers.fastchat import JudgePromptsError, find_judge_prompt
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.verdicts import (
    VerdictError,
    chosen,
    combine_orders,
    parse_pair,
    parse_rating,
    parse_rubric_json,
)

BUILTIN_TEMPLATES = ("rubric-json", "mt-bench-single", "mt-bench-pair", "reference")
# Ours ({reference}, {criteria}, {keys}) and FastChat's: {question_1}/{question_2} are the
# user's turns, {answer_a_2} session a's second answer, {ref_answer_1} the first turn's reference.
PLACEHOLDER = re.compile(
    r"\{(question(?:_[12])?|answer(?:_[ab])?(?:_[12])?|ref_answer_[12]|reference|criteria|keys)\}"
)
KNOWN_PLACEHOLDERS = (
    "{question}, {answer}, {answer_a}, {answer_b}, {reference}, {criteria}, {keys}, "
    "{question_1}, {question_2}, {answer_1}, {answer_a_2}, ..., {ref_answer_1}, {ref_answer_2}"
)


class JudgeConfigError(Exception):
    """A judge spec or template that cannot be used: one line, exit code 2.

    `key` names the setting at fault, so a config file's error can point at its line."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int in Python


def _is_finite(value: Any) -> bool:
    return (isinstance(value, float) or _is_int(value)) and math.isfinite(value)


@dataclass(frozen=True)
class Template:
    name: str
    protocol: str  # rubric-json | rating | pair
    prompt: str
    system: str = ""
    min: int = 1
    max: int = 10
    criterion: str = "rating"
    needs_reference: bool = False
    sha256: str = ""
    multi_turn: bool = False  # FastChat's "-multi-turn" prompts: two-turn items, both turns shown
    # The prompt asks for an explanation before the [[verdict]] (MT-Bench's and FastChat's do):
    # a local judge's grammar then lets it reason first, within a bound, before the verdict.
    reasoning: bool = True

    @property
    def placeholders(self) -> frozenset[str]:
        """The placeholders the prompt uses, so only the values it needs are demanded."""
        return frozenset(PLACEHOLDER.findall(self.prompt))


@dataclass(frozen=True)
class JudgeInput:
    """What a judge sees of one item. Scorers own this shape so they know nothing of
    sessions: the session's judge pool builds it from an item's state."""

    item: str
    turns: tuple[str, ...]  # the user's turns
    answers: tuple[str, ...]  # the assistant's answers so far; the last one is judged
    reference: Any = None

    @property
    def answer(self) -> str:
        return self.answers[-1] if self.answers else ""


@dataclass(frozen=True)
class PairInput:
    """What a pairwise judge sees of one item compared across two sessions."""

    item: str
    turns: tuple[str, ...]  # the user's turns
    answers_a: tuple[str, ...]  # session a's answers, one per turn; the last one is compared
    answers_b: tuple[str, ...]
    reference: Any = None  # the item's reference (str, or list per turn) for math templates


@dataclass(frozen=True)
class PairJudgment:
    """One pair judged in both orders. Each order is kept, because a judge that only
    ever picks the first answer shown is visible here and nowhere else."""

    verdict: str  # "a" | "b" | "tie" | "error"
    ab: str | None  # verdict when a's answer was shown first, as the session chosen; None: that order failed
    ba: str | None  # verdict when b's answer was shown first, as the session chosen
    raw_ab: str | None  # the judge's raw reply in each order (kept even on parse errors)
    raw_ba: str | None
    error: str | None  # why verdict is "error": a parse error, a timeout or HTTP failure, per order
    attempts: int  # requests asked of the judge's engine for this pair (0 when all came from the cache)
    latency: float
    cached: bool = False  # both orders came from the cache: nothing was asked

    def to_dict(self) -> dict[str, Any]:
        """All fields, JSON-safe (strings, numbers, None), for an event or an export row."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Order:
    """One order of a pair as asked: the letter the judge gave for the answer shown
    first/second, or None with the reason; the raw reply either way."""

    letter: str | None
    raw: str | None
    error: str | None
    attempts: int
    cached: bool


class _Unjudgeable(Exception):
    """The item cannot be put to this template (no reference, wrong number of turns):
    recorded as the judgment's error, asked of nobody."""


def load_template(name: str) -> Template:
    """A built-in template by name, a TOML file defining one, or a line of FastChat's
    judge prompt file named as `PATH/judge_prompts.jsonl#NAME`."""
    path_part, hash_sign, entry = name.rpartition("#")
    if hash_sign and path_part.endswith(".jsonl"):
        return load_fastchat_template(Path(path_part), entry)
    if name.endswith(".jsonl"):
        return load_fastchat_template(Path(name), "")
    if name in BUILTIN_TEMPLATES:
        folder = resources.files("sftscope.scorers").joinpath("templates")
        text = folder.joinpath(f"{name}.toml").read_text(encoding="utf-8")
        where = f"builtin:{name}"
    else:
        path = Path(name)
        if not path.is_file():
            known = ", ".join(BUILTIN_TEMPLATES)
            raise JudgeConfigError(f"--judge-template {name}: not a file or a built-in template ({known})")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise JudgeConfigError(f"{where}: {exc}") from None
    protocol = data.get("protocol", "rubric-json")
    if protocol not in ("rubric-json", "rating", "pair"):
        raise JudgeConfigError(f"{where}: unknown protocol {protocol!r} (rubric-json, rating or pair)")
    if not isinstance(data.get("prompt"), str) or "{answer" not in data["prompt"]:
        raise JudgeConfigError(f"{where}: the template needs a prompt with an {{answer}} placeholder")
    check_placeholders(data["prompt"], "pair" if protocol == "pair" else "single", where)
    return Template(
        name=str(data.get("name", Path(name).stem)),
        protocol=protocol,
        prompt=data["prompt"],
        system=str(data.get("system", "")),
        min=int(data.get("min", 1)),
        max=int(data.get("max", 10)),
        criterion=str(data.get("criterion", "rating")),
        needs_reference=bool(data.get("needs_reference", False)),
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        multi_turn=bool(data.get("multi_turn", False)),
        reasoning=bool(data.get("reasoning", True)),
    )


def load_fastchat_template(path: Path, name: str) -> Template:
    """One prompt of FastChat's `judge_prompts.jsonl`: "pairwise" becomes the pair protocol
    ([[A]], [[B]], [[C]] for a tie), "single" a 1-10 [[rating]]. "-math-" prompts need the
    item's reference and "-multi-turn" ones a two-turn item, as in FastChat."""
    try:
        prompt = find_judge_prompt(path, name)
    except JudgePromptsError as exc:
        raise JudgeConfigError(str(exc)) from None
    used = check_placeholders(prompt.prompt_template, prompt.type, f"{path}:{prompt.line}: {prompt.name}")
    return Template(
        name=prompt.name,
        protocol="pair" if prompt.type == "pairwise" else "rating",
        prompt=prompt.prompt_template,
        system=prompt.system_prompt,
        min=1,
        max=10,
        criterion="rating",
        needs_reference=prompt.math or any(p.startswith("ref_answer") for p in used),
        sha256=prompt.sha256,
        multi_turn=prompt.multi_turn,
    )


# A word in braces: what a placeholder looks like, known or misspelt ({answr_b}). JSON in a
# template ({"helpfulness": 4}) has quotes or spaces inside its braces, so it never matches.
BRACED_WORD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_placeholders(prompt: str, kind: str, where: str) -> set[str]:
    """The placeholders `prompt` uses, checked the same way for every template (built-in,
    TOML, FastChat): a word in braces that is no placeholder is a JudgeConfigError naming it
    (a misspelt `{answr_b}` would leave the judge without answer B while its verdicts count),
    and a pair prompt needs both answers, a single one its answer. `kind`: pair | single."""
    for name in BRACED_WORD.findall(prompt):
        if not PLACEHOLDER.fullmatch(f"{{{name}}}"):
            raise JudgeConfigError(
                f"{where}: unknown placeholder {{{name}}} in the prompt (placeholders: {KNOWN_PLACEHOLDERS})"
            )
    used = set(PLACEHOLDER.findall(prompt))
    if kind in ("pair", "pairwise"):
        missing = [side for side in "ab" if not any(p.startswith(f"answer_{side}") for p in used)]
        if missing:
            raise JudgeConfigError(
                f"{where}: a pairwise prompt needs {{answer_a}} and {{answer_b}} placeholders "
                f"(or {{answer_a_1}} ... {{answer_b_2}}); it has no {{answer_{missing[0]}}}"
            )
    elif not used & {"answer", "answer_1", "answer_2"}:
        raise JudgeConfigError(
            f"{where}: a single prompt needs an {{answer}} placeholder (or {{answer_1}}, {{answer_2}})"
        )
    return used


@dataclass
class JudgeSpec:
    """One judge, from `--judge SPEC` or a `[[judges]]` table of the config."""

    engine: str
    name: str = ""
    template: str = "rubric-json"
    concurrency: int = 4
    timeout: float = 120.0
    retries: int = 2
    max_tokens: int = 512
    api_key_env: str = "OPENAI_API_KEY"

    def __post_init__(self) -> None:
        for key in ("engine", "name", "template", "api_key_env"):
            if not isinstance(getattr(self, key), str):
                raise JudgeConfigError(f"judge {key} must be a string, not {getattr(self, key)!r}", key)
        if self.engine not in ("local", "bundled") and ":" not in self.engine:
            raise JudgeConfigError(
                f"judge engine {self.engine!r}: expected local or an engine spec such as openai:URL#MODEL",
                "engine",
            )
        if not self.name:
            self.name = derived_name(self.engine)
        checks = (
            ("concurrency", _is_int, 1, "a positive integer"),
            ("retries", _is_int, 0, "an integer of 0 or more"),
            ("max_tokens", _is_int, 1, "a positive integer"),
            ("timeout", _is_finite, 0, "a finite number of seconds above 0"),
        )
        for key, typed, low, what in checks:
            value = getattr(self, key)
            if not typed(value) or value < low or (key == "timeout" and value == 0):
                raise JudgeConfigError(f"judge {self.name}: {key} must be {what}, not {value!r}", key)

    def to_dict(self) -> dict[str, Any]:
        """Every field, so a resumed session gets back exactly the judge it had."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> JudgeSpec:
        """From a session header: its own fields, whatever else the header holds."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in names})


def derived_name(engine: str) -> str:
    """The name a judge gets when none is given: its model's (the part after `#`, or the
    file's name), `local` for the bundled model."""
    return "local" if engine in ("local", "bundled") else engine.split("#")[-1].split("/")[-1]


def _where_served(engine: str) -> str:
    """host:port of an openai: judge (what tells two servers of one model apart), else ""."""
    from urllib.parse import urlsplit

    scheme, _, target = engine.partition(":")
    if scheme != "openai":
        return ""
    try:
        return urlsplit(target.partition("#")[0]).netloc.rpartition("@")[2]  # never user:password@
    except ValueError:
        return ""


def unique_judge_names(
    specs: list[JudgeSpec] | tuple[JudgeSpec, ...], taken: list[JudgeSpec] | tuple[JudgeSpec, ...] = ()
) -> tuple[JudgeSpec, ...]:
    """`specs` with every judge's name its own, since judgments, reports and exports are keyed
    by name: two judges sharing one would merge, and one would silently vanish.

    `taken` are judges already in the session (`sftscope judge` adds to them): one of the
    same name and engine is the same judge, asked again. A name derived from the engine
    (two URLs serving the same model) gets the server's host:port, or a number, appended;
    the same judge twice, or two different judges given the same name, is a
    JudgeConfigError (exit 2): only the user knows which name belongs to which."""
    engines = {spec.name: spec.engine for spec in taken}
    out: list[JudgeSpec] = []
    for spec in specs:
        other = engines.get(spec.name)
        if other is None:
            engines[spec.name] = spec.engine
            out.append(spec)
            continue
        if other == spec.engine:
            if any(earlier.name == spec.name for earlier in out):
                raise JudgeConfigError(f"judge {spec.name} ({spec.engine}) is given twice", "name")
            out.append(spec)  # the session's own judge, asked again
            continue
        if spec.name != derived_name(spec.engine):
            raise JudgeConfigError(
                f"two judges are named {spec.name!r} ({other} and {spec.engine}): give each its own name",
                "name",
            )
        host = _where_served(spec.engine)
        candidates = [f"{spec.name}@{host}"] if host else []
        candidates += [f"{spec.name}-{n}" for n in range(2, len(engines) + 3)]
        name = next(c for c in candidates if c not in engines)
        renamed = dataclasses.replace(spec, name=name)
        engines[name] = spec.engine
        out.append(renamed)
    return tuple(out)


def rubric_schema(criteria: list[Criterion]) -> dict[str, Any]:
    """The JSON schema of a rubric-json verdict, for structured output."""
    properties: dict[str, Any] = {}
    for criterion in criteria:
        if criterion.kind == "likert":
            properties[criterion.name] = {
                "type": "integer",
                "minimum": criterion.min,
                "maximum": criterion.max,
            }
        elif criterion.kind == "binary":
            properties[criterion.name] = {"type": "string", "enum": ["yes", "no"]}
        elif criterion.kind == "tags":
            properties[criterion.name] = {
                "type": "array",
                "items": {"type": "string", "enum": list(criterion.tags)},
            }
    properties["justification"] = {"type": "string"}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# A local judge writes its reasons under a grammar that allows no `[` or `]` (so no verdict
# can hide inside them), at most this many characters, then the verdict: a token is at least
# one character, so with the verdict's few tokens the reply always ends within max_tokens.
REASONING_CHARS = 600
VERDICT_TOKENS = 12


def verdict_grammar(template: Template, max_tokens: int) -> str:
    """The GBNF grammar (llama.cpp's format) of a `rating` or `pair` verdict: the reasons
    (where the template asks for them, bounded so the reply terminates), then exactly one
    `[[N]]` on the template's scale or one `[[A]]`/`[[B]]`/`[[C]]`, then the end."""
    if template.protocol == "pair":
        verdict = '"[[" [ABC] "]]"'
    else:
        numbers = " | ".join(f'"{n}"' for n in range(template.max, template.min - 1, -1))
        verdict = f'"[[" ({numbers}) "]]"'
    chars = min(REASONING_CHARS, max_tokens - VERDICT_TOKENS) if template.reasoning else 0
    if chars < 1:
        return f"root ::= {verdict}\n"
    return f"root ::= reason {verdict}\nreason ::= [^\\[\\]]{{0,{chars}}}\n"


def describe_criteria(criteria: list[Criterion]) -> str:
    lines = []
    for criterion in criteria:
        if criterion.kind == "likert":
            scale = f"integer from {criterion.min} (worst) to {criterion.max} (best)"
        elif criterion.kind == "binary":
            scale = '"yes" or "no"'
        else:
            scale = f"list of any of {list(criterion.tags)}"
        text = f"- {criterion.name} ({scale})"
        if criterion.description:
            text += f": {criterion.description}"
        lines.append(text)
    return "\n".join(lines)


# The templates fence data between markers such as <<<BEGIN ANSWER>>> and <<<END ANSWER>>>.
# In a filled value every run of <<< is shown as ‹‹‹, so the text being judged can never
# open or close a block of its own, whatever marker name it guesses. (Only `<` is escaped:
# `>>>`, a Python prompt, stays as written, and no marker can start without `<<<`.)
MARKER_RUN = re.compile(r"<{3,}")
# FastChat's prompts fence their data with markers of their own: "[The Start of Assistant A's
# Answer]", "[The End of Reference Answer]", "<|The Start of Assistant A's Conversation with
# User|>", "[User Question]", "[Question]", "[Instruction]", and turn headings such as
# "### User:" or "### Assistant B:". In a filled value the bracket of such a marker is shown
# as a full-width "［", the "<|" as "‹|" and the heading's "#" as "＃": visibly the same to a
# reader, never the marker, so an answer cannot close its block and forge another. Any case
# and spacing, since a judge would read "[the end of assistant a's answer]" as the marker too.
FASTCHAT_BRACKET = re.compile(
    r"\[(?=[ \t]*(?:The[ \t]+(?:Start|End)[ \t]+of\b[^\]\n]*|User[ \t]+Question|Question|Instruction)"
    r"[ \t]*\])",
    re.IGNORECASE,
)
FASTCHAT_PIPE = re.compile(r"<\|(?=[ \t]*The[ \t]+(?:Start|End)[ \t]+of\b)", re.IGNORECASE)
FASTCHAT_HEADING = re.compile(
    r"^([ \t]*)(#+)(?=[ \t]*(?:User|Assistant(?:[ \t]+[AB])?|Reference[ \t]+answer)[ \t]*:)",
    re.IGNORECASE | re.MULTILINE,
)


def neutralise_markers(text: str) -> str:
    """`text` with every run of three or more `<` shown as `‹`, and FastChat's block markers
    disarmed (see FASTCHAT_BRACKET): visibly the same, never a marker."""
    text = MARKER_RUN.sub(lambda m: "‹" * len(m.group()), text)
    text = FASTCHAT_BRACKET.sub("［", text)
    text = FASTCHAT_PIPE.sub("‹|", text)
    return FASTCHAT_HEADING.sub(lambda m: m.group(1) + "＃" * len(m.group(2)), text)


def fill(template: str, values: dict[str, str]) -> str:
    """Only the known placeholders are replaced, in one pass: braces in the template's own
    text (a JSON example) and in the candidate's answer are left alone, and a value that
    contains `{answer}` is not filled again. No value can hold a <<< marker."""
    return PLACEHOLDER.sub(
        lambda m: neutralise_markers(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


class JudgeCache:
    """Judgments already made, keyed by (template, judge model, prompt, response).

    Kept in ~/.cache/sftscope/judgments.jsonl so the same answer is never judged
    twice by the same judge, across sessions too.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / "judgments.jsonl"
        self._entries: dict[str, dict[str, Any]] | None = None
        self._handle: Any = None

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = {}
            try:
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = json.loads(line)
                        self._entries[entry["key"]] = entry["result"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn line only costs a re-judgment
            except OSError:
                pass
        return self._entries

    def get(self, key: str) -> dict[str, Any] | None:
        return self._load().get(key)

    def put(self, key: str, result: dict[str, Any]) -> None:
        self._load()[key] = result
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._handle.write(json.dumps({"key": key, "result": result}) + "\n")
            self._handle.flush()  # a cache needs no fsync: losing it only costs time
        except OSError:
            pass

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Judge:
    """One judge: renders the template, asks its engine, parses, records."""

    def __init__(
        self, spec: JudgeSpec, rubric: Rubric, *, engine: Any = None, cache: JudgeCache | None = None
    ):
        self.spec = spec
        self.rubric = rubric
        self.template = load_template(spec.template)
        self.criteria = [c for c in rubric.criteria if c.kind in ("likert", "binary", "tags")]
        self.schema = rubric_schema(self.criteria)  # built once: it goes with every request
        # The form every reply must take, for an engine that can hold its model to it.
        self.constraint = (
            OutputConstraint(json_schema=self.schema)
            if self.template.protocol == "rubric-json"
            else OutputConstraint(grammar=verdict_grammar(self.template, spec.max_tokens))
        )
        self._engine = engine
        self.cache = cache if cache is not None else JudgeCache()
        self.semaphore = asyncio.Semaphore(spec.concurrency)
        self.nice = 0  # the console lowers a local judge's model threads below the UI

    @property
    def engine(self) -> Any:
        return self._engine

    def prepare(self) -> None:
        """Build the judge's engine without loading a model: a bad spec, a missing extra or
        a model file that is not there fails here, as one line, before anything is opened."""
        if self._engine is None:
            from sftscope.engines.registry import load_engine

            spec = None if self.spec.engine in ("local", "bundled") else self.spec.engine
            options: dict[str, Any] = {
                "concurrency": self.spec.concurrency,
                "api_key_env": self.spec.api_key_env,
                "read_timeout": self.spec.timeout,
                "retries": self.spec.retries,  # HTTP retries too, not only timeouts
            }
            self._engine = load_engine(spec, **options)

    async def start(self) -> None:
        self.prepare()
        self._engine.lower_priority(self.nice)
        await self._engine.start()

    @property
    def model(self) -> str:
        return str(self._engine.info.model) if self._engine is not None else "?"

    def info(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "model": self.model, "template_sha256": self.template.sha256}

    @property
    def pairwise(self) -> bool:
        """Whether this judge compares two answers (protocol "pair") rather than scoring one."""
        return self.template.protocol == "pair"

    # --- prompts ---------------------------------------------------------------
    def question(self, state: JudgeInput) -> str:
        return fold_question(state.turns, state.answers[:-1])

    def reference(self, state: JudgeInput | PairInput) -> str | None:
        """The reference for the last turn (the one whose answer is judged)."""
        ref = state.reference
        if isinstance(ref, list):
            ref = ref[-1] if ref else None
        return ref if isinstance(ref, str) and ref.strip() else None

    def _common_values(self, turns: tuple[str, ...], reference: Any, ref_last: str | None) -> dict[str, str]:
        """Values every prompt may use; raises _Unjudgeable when the template needs what the
        item lacks (a reference, a second turn), so no judge is asked a half-filled prompt."""
        if self.template.needs_reference and ref_last is None:
            raise _Unjudgeable("the item has no reference answer")
        values = {
            "reference": ref_last or "",
            "ref_answer_1": ref_last or "",
            "criteria": describe_criteria(self.criteria),
            "keys": ", ".join(f'"{c.name}"' for c in self.criteria),
        }
        if not self.template.multi_turn:
            return values
        if len(turns) != 2:
            raise _Unjudgeable(
                f"the template {self.template.name} is for two-turn items; this item has {len(turns)} turn(s)"
            )
        values["question_1"], values["question_2"] = turns
        per_turn = reference if isinstance(reference, list) else []
        for number in (1, 2):
            ref = per_turn[number - 1] if len(per_turn) >= number else None
            if isinstance(ref, str) and ref.strip():
                values[f"ref_answer_{number}"] = ref
            elif f"ref_answer_{number}" in self.template.placeholders:
                raise _Unjudgeable(f"the item has no reference answer for turn {number}")
            else:
                values.pop(f"ref_answer_{number}", None)
        return values

    def _answers_values(self, side: str, answers: tuple[str, ...], who: str) -> dict[str, str]:
        """{answer}/{answer_a} is the last answer; {answer_1}/{answer_a_2} each turn's."""
        if not answers:
            raise _Unjudgeable(f"{who} has no answer")
        name = "answer" if not side else f"answer_{side}"
        values = {name: answers[-1]}
        if self.template.multi_turn:
            if len(answers) != 2:
                raise _Unjudgeable(
                    f"{who} has {len(answers)} answer(s); the template {self.template.name} needs 2"
                )
            values[f"{name}_1"], values[f"{name}_2"] = answers
        return values

    def _messages(self, values: dict[str, str]) -> list[dict[str, str]]:
        messages = []
        if self.template.system:
            messages.append({"role": "system", "content": self.template.system})
        messages.append({"role": "user", "content": fill(self.template.prompt, values)})
        return messages

    def messages(self, state: JudgeInput) -> list[dict[str, str]]:
        """The request judging one answer; raises _Unjudgeable (see _common_values)."""
        values = self._common_values(state.turns, state.reference, self.reference(state))
        values["question"] = self.question(state)
        values.update(self._answers_values("", state.answers, "the item"))
        return self._messages(values)

    def pair_messages(
        self, pair: PairInput, *, a_first: bool, sides: tuple[str, str] = ("session a", "session b")
    ) -> list[dict[str, str]]:
        """The request for one order of a pair: [[A]] is whichever session is shown first.

        A single-turn template folds earlier turns into {question}; their answers go in only
        where both sessions gave the same ones (otherwise neither session's would be fair)."""
        values = self._common_values(pair.turns, pair.reference, self.reference(pair))
        shared = pair.answers_a[:-1] if pair.answers_a[:-1] == pair.answers_b[:-1] else ()
        values["question"] = fold_question(pair.turns, shared)
        first, second = (pair.answers_a, pair.answers_b) if a_first else (pair.answers_b, pair.answers_a)
        names = sides if a_first else sides[::-1]
        values.update(self._answers_values("a", first, names[0]))
        values.update(self._answers_values("b", second, names[1]))
        return self._messages(values)

    def cache_key(self, messages: list[dict[str, str]]) -> str:
        blob = json.dumps([self.template.sha256, self.model, messages], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    # --- asking ----------------------------------------------------------------
    async def ask(self, messages: list[dict[str, str]], key: tuple[str, int]) -> tuple[str, str, int]:
        """The raw reply, its finish reason and the requests it took; retries timeouts with
        backoff and jitter. The count is what the judge's server was asked (the engine's own
        retries of an HTTP error or a cut stream included), so a judgment that needed three
        requests says 3, not 1."""
        from sftscope.engines.base import GenerationFailed

        request = GenerationRequest(
            messages=messages,
            params=SamplingParams(max_tokens=self.spec.max_tokens, temperature=0.0, top_p=1.0, seed=0),
            key=key,
            constraint=self.constraint,
        )
        attempt = requests = 0
        while True:
            attempt += 1
            try:
                final = await asyncio.wait_for(self._collect(request), timeout=self.spec.timeout)
                return final.text, final.finish_reason, requests + max(1, final.requests)
            except asyncio.TimeoutError:
                self._engine.cancel(key)
                error = f"timed out after {self.spec.timeout:g}s"
                requests += 1
            except GenerationFailed as exc:
                raise JudgeFailed(str(exc), requests + max(1, exc.requests)) from None
            if attempt > self.spec.retries:
                raise JudgeFailed(f"{error} ({attempt} attempts)", requests)
            await asyncio.sleep(backoff_delay(attempt, base=0.5, cap=10.0))

    async def _collect(self, request: GenerationRequest) -> Any:
        stream = self._engine.stream(request)
        try:
            async for chunk in stream:
                if chunk.final is not None:
                    return chunk.final
        finally:
            await stream.aclose()
        raise JudgeFailed("the judge's engine ended without an answer", 1)

    async def judge(self, state: JudgeInput) -> dict[str, Any]:
        """Judge one finished item; returns the fields of a `judge` event.

        With a pair template the item's answer is compared with its reference, in both
        orders, by the same code as `judge_pair` (scores {"pairwise": "model"|"other"|"tie"})."""
        base: dict[str, Any] = {
            "type": "judge",
            "item": state.item,
            "judge": self.spec.name,
            "model": self.model,
            "template": self.template.name,
            "template_sha256": self.template.sha256,
        }
        unjudgeable = {"scores": None, "raw": None, "latency": 0.0, "attempts": 0}
        if self.pairwise and self.reference(state) is None:
            return {**base, **unjudgeable, "error": "the item has no reference answer"}
        async with self.semaphore:
            started = time.monotonic()
            try:
                if self.pairwise:
                    result = await self._judge_against_reference(state)
                else:
                    result = await self._judge_single(state)
            except _Unjudgeable as exc:
                return {**base, **unjudgeable, "error": str(exc)}
            except JudgeFailed as exc:
                result = {"scores": None, "error": str(exc), "raw": None, "attempts": exc.attempts}
            result["latency"] = round(time.monotonic() - started, 4)
        return {**base, **result}

    async def _judge_single(self, state: JudgeInput) -> dict[str, Any]:
        messages = self.messages(state)
        key = self.cache_key(messages)
        cached = self.cache.get(key)
        if cached is not None:
            return {**cached, "attempts": 0, "cached": True, "cache_key": key}
        raw, finish, attempts = await self.ask(messages, (f"judge:{state.item}", 0))
        truncated = finish == "length"
        try:
            if self.template.protocol == "rating":
                scores: dict[str, Any] = {
                    self.template.criterion: parse_rating(
                        raw, self.template.min, self.template.max, truncated=truncated
                    )
                }
                justification = None
            else:
                verdict = parse_rubric_json(raw, self.criteria, truncated=truncated)
                scores, justification = verdict.scores, verdict.justification
            result: dict[str, Any] = {
                "scores": scores,
                "error": None,
                "raw": raw,
                "justification": justification,
            }
            self.cache.put(key, result)
        except VerdictError as exc:
            result = {"scores": None, "error": f"parse error: {exc.reason}", "raw": raw}
        return {**result, "attempts": attempts, "cache_key": key}

    # --- pairs -------------------------------------------------------------------
    async def judge_pair(self, pair: PairInput) -> PairJudgment:
        """Compare session a's last answer with session b's, asking once in each order.

        The verdict is "a" or "b" only when both orders choose that session, "tie" when
        they disagree or either says [[C]], and "error" when either order has no verdict
        (the other order is still recorded). Never raises for a judge's failure."""
        if not self.pairwise:
            raise JudgeConfigError(
                f"judge {self.spec.name}: the template {self.template.name} scores one answer, not a pair"
            )
        async with self.semaphore:
            started = time.monotonic()
            try:
                ab, ba = await self._both_orders(
                    pair, f"pair:{pair.item}", ("a", "b"), ("session a", "session b")
                )
            except _Unjudgeable as exc:
                return PairJudgment("error", None, None, None, None, str(exc), 0, 0.0)
            latency = round(time.monotonic() - started, 4)
        choice_ab = chosen(ab.letter, "a", "b") if ab.letter else None
        choice_ba = chosen(ba.letter, "b", "a") if ba.letter else None
        return PairJudgment(
            verdict=combine_orders(choice_ab, choice_ba),
            ab=choice_ab,
            ba=choice_ba,
            raw_ab=ab.raw,
            raw_ba=ba.raw,
            error=_order_errors(ab, ba),
            attempts=ab.attempts + ba.attempts,
            latency=latency,
            cached=ab.cached and ba.cached,
        )

    async def _judge_against_reference(self, state: JudgeInput) -> dict[str, Any]:
        """The run session's pair judging: the item's answer is side a ("model"), its
        reference side b ("other"); same both-orders code as `judge_pair`."""
        reference = state.reference
        if self.template.multi_turn and isinstance(reference, list):
            for number, ref in enumerate(reference, start=1):
                if not (isinstance(ref, str) and ref.strip()):
                    raise _Unjudgeable(f"the item has no reference answer for turn {number}")
            opponent = tuple(reference)  # the reference's own answer to each turn
        else:
            opponent = (*state.answers[:-1], self.reference(state) or "")
        pair = PairInput(state.item, state.turns, state.answers, opponent, reference)
        ab, ba = await self._both_orders(
            pair, f"judge:{state.item}", ("answer", "reference"), ("the item", "the reference")
        )
        choices = [
            chosen(order.letter, *first) if order.letter else None
            for order, first in ((ab, ("model", "other")), (ba, ("other", "model")))
        ]
        outcome = combine_orders(*choices)
        result: dict[str, Any] = {
            "scores": None if outcome == "error" else {"pairwise": outcome},
            "verdicts": [ab.letter, ba.letter],
            "error": _order_errors(ab, ba),
            "raw": [ab.raw, ba.raw],
            "attempts": ab.attempts + ba.attempts,
        }
        if ab.cached and ba.cached:
            result["cached"] = True
        return result

    async def _both_orders(
        self, pair: PairInput, request_key: str, labels: tuple[str, str], sides: tuple[str, str]
    ) -> tuple[_Order, _Order]:
        """Ask side a first, then side b first (one after the other: the pair holds one of
        the judge's slots). Both prompts are built before anything is asked, so an item the
        template cannot take costs no request."""
        first = self.pair_messages(pair, a_first=True, sides=sides)
        swapped = self.pair_messages(pair, a_first=False, sides=sides)
        ab = await self._ask_order(first, (request_key, 0), labels[0])
        ba = await self._ask_order(swapped, (request_key, 1), labels[1])
        return ab, ba

    async def _ask_order(self, messages: list[dict[str, str]], key: tuple[str, int], label: str) -> _Order:
        """One order: from the cache (same key scheme as single judgments: the prompt
        differs per order, so does the key), or asked and, once it parses, cached."""
        cache_key = self.cache_key(messages)
        hit = self.cache.get(cache_key)
        if hit is not None and hit.get("verdict") in ("A", "B", "C"):
            return _Order(hit["verdict"], hit.get("raw"), None, 0, True)
        try:
            raw, finish, attempts = await self.ask(messages, key)
        except JudgeFailed as exc:
            return _Order(None, None, f"judge failed ({label} first): {exc}", exc.attempts, False)
        except Exception as exc:  # a local engine's PromptTooLong, a crash: this order only, recorded
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:500]
            return _Order(None, None, f"judge failed ({label} first): {reason}", 1, False)
        try:
            letter = parse_pair(raw, truncated=finish == "length")
        except VerdictError as exc:
            return _Order(None, raw, f"parse error ({label} first): {exc.reason}", attempts, False)
        self.cache.put(cache_key, {"verdict": letter, "raw": raw})
        return _Order(letter, raw, None, attempts, False)

    async def close(self) -> None:
        self.cache.close()
        if self._engine is not None:
            await self._engine.close()


def fold_question(turns: tuple[str, ...], earlier_answers: tuple[str, ...]) -> str:
    """One {question} for a single-turn template: the user's turns, each earlier one
    followed by the answer it got (when there is one to show)."""
    if len(turns) == 1:
        return turns[0]
    parts = []
    for index, user in enumerate(turns):
        parts.append(f"[Turn {index + 1}] {user}")
        if index < len(earlier_answers):
            parts.append(f"[Assistant, turn {index + 1}] {earlier_answers[index]}")
    return "\n\n".join(parts)


def _order_errors(ab: _Order, ba: _Order) -> str | None:
    """The orders' errors as one line, or None when both have a verdict."""
    errors = [order.error for order in (ab, ba) if order.error]
    return "; ".join(errors) if errors else None


class JudgeFailed(Exception):
    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


def parse_judge_flag(
    value: str, template: str, concurrency: int | None, timeout: float | None, api_key_env: str
) -> JudgeSpec:
    if not value.strip():
        raise JudgeConfigError("--judge: empty spec")
    if value not in ("local", "bundled") and ":" not in value:
        raise JudgeConfigError(f"--judge {value}: expected local or an engine spec such as openai:URL#MODEL")
    # None means "not given": 0 is a value, and a bad one (never silently the default).
    if concurrency is not None and (not _is_int(concurrency) or concurrency < 1):
        raise JudgeConfigError(f"--judge-concurrency {concurrency!r}: must be a positive integer")
    if timeout is not None and (not _is_finite(timeout) or timeout <= 0):
        raise JudgeConfigError(f"--judge-timeout {timeout!r}: must be a finite number of seconds above 0")
    return JudgeSpec(
        engine=value,
        template=template,
        concurrency=4 if concurrency is None else concurrency,
        timeout=120.0 if timeout is None else timeout,
        api_key_env=api_key_env,
    )


__all__ = [
    "Judge",
    "JudgeCache",
    "JudgeConfigError",
    "JudgeInput",
    "JudgeSpec",
    "PairInput",
    "PairJudgment",
    "Template",
    "load_fastchat_template",
    "load_template",
    "unique_judge_names",
]
