"""FastChat's judge prompt file (`judge_prompts.jsonl`), read as the user has it.

MT-Bench results are only comparable to published ones when judged with FastChat's own
prompts, so sftscope reads the file instead of shipping a paraphrase. This module knows
the file format only; `sftscope.scorers.judge` turns an entry into a `Template`. Every
problem is a `JudgePromptsError` of one line naming the file and the line (or the name),
because a judge that silently falls back to another prompt would make numbers that are
quietly not comparable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("name", "type", "system_prompt", "prompt_template", "output_format")
KINDS = {"pairwise": "[[A]]", "single": "[[rating]]"}  # the type and the output format it must use


class JudgePromptsError(Exception):
    """The file, a line of it, or the name asked for cannot be used (one line)."""


@dataclass(frozen=True)
class JudgePrompt:
    """One line of the file. `sha256` is of that line's own text, so a judgment records
    exactly which prompt made it even when other lines of the file change."""

    name: str
    type: str  # pairwise | single
    system_prompt: str
    prompt_template: str
    output_format: str
    category: str
    path: str
    line: int
    sha256: str

    @property
    def multi_turn(self) -> bool:
        """FastChat's convention: the two-turn prompts are named "...-multi-turn"."""
        return self.name.endswith("-multi-turn")

    @property
    def math(self) -> bool:
        """FastChat's convention: "-math-" prompts compare against a reference answer."""
        return "-math-" in self.name


def read_judge_prompts(path: Path) -> list[JudgePrompt]:
    """Every entry of the file, checked; a bad line anywhere makes the whole file unusable
    (it is the user's catalogue of prompts, and a torn one is not to be trusted)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise JudgePromptsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise JudgePromptsError(f"{path}: cannot read it ({reason})") from None
    prompts: list[JudgePrompt] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        prompt = _entry(path, number, line)
        if prompt.name in seen:
            raise JudgePromptsError(
                f"{path}:{number}: the name {prompt.name!r} is already used on line {seen[prompt.name]}"
            )
        seen[prompt.name] = number
        prompts.append(prompt)
    if not prompts:
        raise JudgePromptsError(f"{path}: no judge prompts in the file")
    return prompts


def find_judge_prompt(path: Path, name: str) -> JudgePrompt:
    """The entry called `name`; an unknown name lists the ones the file has."""
    prompts = read_judge_prompts(path)
    for prompt in prompts:
        if prompt.name == name:
            return prompt
    names = ", ".join(p.name for p in prompts)
    if not name:
        raise JudgePromptsError(f"{path}: name one of its prompts as {path}#NAME ({names})")
    raise JudgePromptsError(f"{path}: no judge prompt named {name!r} (names: {names})")


def _entry(path: Path, number: int, line: str) -> JudgePrompt:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JudgePromptsError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise JudgePromptsError(f"{where}: expected a JSON object, not {type(data).__name__}")
    for key in FIELDS:
        if not isinstance(data.get(key), str):
            raise JudgePromptsError(f"{where}: {key!r} must be a string")
    kind, output_format = data["type"], data["output_format"]
    if kind not in KINDS:
        raise JudgePromptsError(f"{where}: {data['name']}: type {kind!r} is not pairwise or single")
    if output_format != KINDS[kind]:
        raise JudgePromptsError(
            f"{where}: {data['name']}: output_format {output_format!r} is not supported for a {kind} "
            f"prompt (only {KINDS[kind]})"
        )
    category = data.get("category", "")
    return JudgePrompt(
        name=data["name"],
        type=kind,
        system_prompt=data["system_prompt"],
        prompt_template=data["prompt_template"],
        output_format=output_format,
        category=category if isinstance(category, str) else "",
        path=str(path),
        line=number,
        sha256=hashlib.sha256(line.encode("utf-8")).hexdigest(),
    )


__all__ = ["JudgePrompt", "JudgePromptsError", "find_judge_prompt", "read_judge_prompts"]
