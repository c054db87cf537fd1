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

from sftscope.engines.base import GenerationRequest, SamplingParams
from sftscope.engines.cache import cache_dir
from sftscope.engines.retry import backoff_delay
from sftscope.engines.toml import tomllib
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.verdicts import VerdictError, combine_pair, parse_pair, parse_rating, parse_rubric_json

BUILTIN_TEMPLATES = ("rubric-json", "mt-bench-single", "mt-bench-pair", "reference")
PLACEHOLDER = re.compile(r"\{(question|answer|answer_a|answer_b|reference|criteria|keys)\}")


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


def load_template(name: str) -> Template:
    """A built-in template by name, or a TOML file defining one."""
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
    )


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
            self.name = (
                "local" if self.engine in ("local", "bundled") else self.engine.split("#")[-1].split("/")[-1]
            )
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


def neutralise_markers(text: str) -> str:
    """`text` with every run of three or more `<` shown as `‹`: visibly the same, never a marker."""
    return MARKER_RUN.sub(lambda m: "‹" * len(m.group()), text)


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
        self._engine = engine
        self.cache = cache if cache is not None else JudgeCache()
        self.semaphore = asyncio.Semaphore(spec.concurrency)
        self.nice = 0  # the console lowers a local judge's model threads below the UI

    @property
    def engine(self) -> Any:
        return self._engine

    async def start(self) -> None:
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
        self._engine.lower_priority(self.nice)
        await self._engine.start()

    @property
    def model(self) -> str:
        return str(self._engine.info.model) if self._engine is not None else "?"

    def info(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "model": self.model, "template_sha256": self.template.sha256}

    # --- prompts ---------------------------------------------------------------
    def question(self, state: JudgeInput) -> str:
        turns = state.turns
        if len(turns) == 1:
            return turns[0]
        parts = []
        for index, user in enumerate(turns):
            parts.append(f"[Turn {index + 1}] {user}")
            if index < len(state.answers) - 1:
                parts.append(f"[Assistant, turn {index + 1}] {state.answers[index]}")
        return "\n\n".join(parts)

    def reference(self, state: JudgeInput) -> str | None:
        ref = state.reference
        if isinstance(ref, list):
            ref = ref[-1] if ref else None
        return ref if isinstance(ref, str) and ref.strip() else None

    def messages(
        self, state: JudgeInput, answer_a: str | None = None, answer_b: str | None = None
    ) -> list[dict[str, str]]:
        values = {
            "question": self.question(state),
            "answer": state.answer,
            "reference": self.reference(state) or "",
            "criteria": describe_criteria(self.criteria),
            "keys": ", ".join(f'"{c.name}"' for c in self.criteria),
            "answer_a": answer_a or "",
            "answer_b": answer_b or "",
        }
        messages = []
        if self.template.system:
            messages.append({"role": "system", "content": self.template.system})
        messages.append({"role": "user", "content": fill(self.template.prompt, values)})
        return messages

    def cache_key(self, messages: list[dict[str, str]]) -> str:
        blob = json.dumps([self.template.sha256, self.model, messages], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    # --- asking ----------------------------------------------------------------
    async def ask(self, messages: list[dict[str, str]], key: tuple[str, int]) -> tuple[str, str, int]:
        """The raw reply and finish reason; retries timeouts with backoff and jitter."""
        from sftscope.engines.base import GenerationFailed

        extra: dict[str, Any] = {}
        if self.template.protocol == "rubric-json":
            extra["json_schema"] = self.schema
        request = GenerationRequest(
            messages=messages,
            params=SamplingParams(max_tokens=self.spec.max_tokens, temperature=0.0, top_p=1.0, seed=0),
            key=key,
            extra=extra,
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                final = await asyncio.wait_for(self._collect(request), timeout=self.spec.timeout)
                return final.text, final.finish_reason, attempt
            except asyncio.TimeoutError:
                self._engine.cancel(key)
                error = f"timed out after {self.spec.timeout:g}s"
            except GenerationFailed as exc:
                raise JudgeFailed(str(exc), attempt) from None
            if attempt > self.spec.retries:
                raise JudgeFailed(f"{error} ({attempt} attempts)", attempt)
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
        """Judge one finished item; returns the fields of a `judge` event."""
        base: dict[str, Any] = {
            "type": "judge",
            "item": state.item,
            "judge": self.spec.name,
            "model": self.model,
            "template": self.template.name,
            "template_sha256": self.template.sha256,
        }
        if (self.template.needs_reference or self.template.protocol == "pair") and self.reference(
            state
        ) is None:
            return {
                **base,
                "scores": None,
                "error": "the item has no reference answer",
                "raw": None,
                "latency": 0.0,
                "attempts": 0,
            }
        async with self.semaphore:
            started = time.monotonic()
            try:
                if self.template.protocol == "pair":
                    result = await self._judge_pair(state)
                else:
                    result = await self._judge_single(state)
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

    async def _judge_pair(self, state: JudgeInput) -> dict[str, Any]:
        reference = self.reference(state) or ""
        first = self.messages(state, answer_a=state.answer, answer_b=reference)
        swapped = self.messages(state, answer_a=reference, answer_b=state.answer)
        raw_first, finish_first, attempts_first = await self.ask(first, (f"judge:{state.item}", 0))
        raw_swapped, finish_swapped, attempts_swapped = await self.ask(swapped, (f"judge:{state.item}", 1))
        raws = [raw_first, raw_swapped]
        try:
            verdict_first = parse_pair(raw_first, truncated=finish_first == "length")
            verdict_swapped = parse_pair(raw_swapped, truncated=finish_swapped == "length")
        except VerdictError as exc:
            return {
                "scores": None,
                "error": f"parse error: {exc.reason}",
                "raw": raws,
                "attempts": attempts_first + attempts_swapped,
            }
        outcome = combine_pair(verdict_first, verdict_swapped)
        return {
            "scores": {"pairwise": outcome},
            "verdicts": [verdict_first, verdict_swapped],
            "error": None,
            "raw": raws,
            "attempts": attempts_first + attempts_swapped,
        }

    async def close(self) -> None:
        self.cache.close()
        if self._engine is not None:
            await self._engine.close()


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


__all__ = ["Judge", "JudgeCache", "JudgeConfigError", "JudgeSpec", "Template", "load_template"]
