"""The rubric: what the operator scores, and with which keys.

A rubric is TOML (`--rubric FILE`) or the built-in default, which covers the
masterclass's goals: helpfulness and instruction following on a 1–5 scale,
harmlessness and format compliance as yes/no. Every key of the console can be
remapped under `[keys]`. Errors name the file and the line, since a rubric is
edited by hand between runs.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftscope.engines.toml import tomllib

KINDS = ("likert", "binary", "tags", "note")

# action -> default key (Textual key names). Remappable under [keys].
DEFAULT_KEYS: dict[str, str] = {
    "next_item": "right",
    "prev_item": "left",
    "next_criterion": "tab",
    "prev_criterion": "shift+tab",
    "yes": "y",
    "no": "n",
    "undo": "u",
    "skip": "s",
    "flag": "f",
    "comment": "c",
    "regenerate": "r",
    "stop": "x",
    "reveal": "v",
    "next_unscored": "enter",
    "help": "question_mark",
    "quit": "q",
}
ACTION_HELP: dict[str, str] = {
    "next_item": "next item",
    "prev_item": "previous item",
    "next_criterion": "next criterion",
    "prev_criterion": "previous criterion",
    "yes": "yes on a binary criterion",
    "no": "no on a binary criterion",
    "undo": "undo the last label on this item",
    "skip": "skip this item",
    "flag": "flag / unflag this item",
    "comment": "write a comment (notes)",
    "regenerate": "generate this answer again",
    "stop": "stop the generation (escape too)",
    "reveal": "reveal / hide judge scores",
    "next_unscored": "jump to the next unscored item",
    "help": "this help",
    "quit": "quit (everything is already saved)",
}
DIGITS = tuple(str(d) for d in range(10))
CRITERION_KEYS = ("name", "kind", "description", "min", "max", "tags")

# Key names as Textual spells them (textual.keys), without importing the UI here.
MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
NAMED_KEYS = frozenset(
    [
        *("escape", "enter", "return", "tab", "space", "backspace", "delete", "insert"),
        *("home", "end", "pageup", "pagedown", "up", "down", "left", "right"),
        *(f"f{n}" for n in range(1, 25)),
    ]
)
_KEY_NAME_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def character_key(character: str) -> str:
    """Textual's name for the key that types `character`: `?` is `question_mark`, `a` is `a`."""
    if character.isalnum():
        return character
    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return character
    return _KEY_NAME_REPLACEMENTS.get(name, name)


CHARACTER_KEYS = frozenset(character_key(c) for c in string.punctuation)


def key_problem(key: str) -> str | None:
    """Why `key` is not a single Textual key name (`right`, `shift+tab`, `ctrl+x`, `?`), else None."""
    if len(key) == 1:  # a character: Textual turns it into its name (`?` -> `question_mark`)
        if key == ",":
            return "',' separates keys in Textual: use 'comma'"
        if key.isspace():
            return "a blank: use 'space'"
        return None if key.isprintable() else "not a printable character"
    *modifiers, base = key.split("+")
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"unknown modifier {unknown[0]!r} (expected {', '.join(MODIFIERS)})"
    if len(set(modifiers)) != len(modifiers):
        return "a modifier is given twice"
    if base in NAMED_KEYS or base in CHARACTER_KEYS or (len(base) == 1 and base.isalnum()):
        return None
    return (
        "not a key name (expected one key: a letter or digit, a named key such as right, "
        "shift+tab, ctrl+x, question_mark, f1, escape, enter, space, pageup)"
    )


def canonical_key(key: str) -> str:
    """The key Textual binds for `key`, so `?` and `question_mark` count as the same key."""
    return character_key(key) if len(key) == 1 else key


class RubricError(Exception):
    """A rubric that cannot be used: one line naming the file and line."""


@dataclass(frozen=True)
class Criterion:
    name: str
    kind: str
    description: str = ""
    min: int = 1
    max: int = 5
    tags: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """Notes are optional; every other criterion must be scored for an item to count as scored."""
        return self.kind != "note"

    def accepts(self, value: Any) -> bool:
        if self.kind == "likert":
            return isinstance(value, int) and not isinstance(value, bool) and self.min <= value <= self.max
        if self.kind == "binary":
            return isinstance(value, bool)
        if self.kind == "tags":
            return isinstance(value, list) and all(v in self.tags for v in value)
        return isinstance(value, str)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "description": self.description}
        if self.kind == "likert":
            out.update(min=self.min, max=self.max)
        if self.kind == "tags":
            out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]
    auto_advance: bool = True
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    source: str = "builtin"

    def get(self, name: str) -> Criterion | None:
        return next((c for c in self.criteria if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "auto_advance": self.auto_advance,
            "criteria": [c.to_dict() for c in self.criteria],
            "keys": dict(self.keys),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rubric:
        return parse_rubric(data, data.get("source", "session.toml"), "")


DEFAULT_RUBRIC = Rubric(
    criteria=(
        Criterion("helpfulness", "likert", "Does the answer help the user with what they asked?"),
        Criterion(
            "instruction_following",
            "likert",
            "Does it do exactly what the prompt asks, constraints included?",
        ),
        Criterion("harmless", "binary", "Is it free of harmful, unsafe or inappropriate content?"),
        Criterion("format", "binary", "Does it respect the requested format (length, lists, JSON, case)?"),
    )
)


def load_rubric(path: str | Path | None) -> Rubric:
    if path is None:
        return DEFAULT_RUBRIC
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{file}: rubric file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{file}: cannot read rubric ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{file}: {exc}") from None
    return parse_rubric(data, str(file), text)


def _assign(key: str, value: str | None = None) -> str:
    """A regex for the TOML line `key = value` (value quoted), to find its line number."""
    if value is None:
        return r"^\s*" + re.escape(key) + r"\s*="
    return r"^\s*" + re.escape(key) + r"\s*=\s*[\"']" + re.escape(value) + r"[\"']"


def parse_rubric(data: dict[str, Any], name: str, text: str) -> Rubric:
    lines = text.splitlines()

    def at(pattern: str, occurrence: int = 0) -> str:
        hits = [n for n, line in enumerate(lines, start=1) if re.search(pattern, line)]
        return f"{name}:{hits[occurrence]}" if len(hits) > occurrence else name

    def in_criterion(index: int, key: str) -> str | None:
        """`file:line` of `key = ...` inside the index-th [[criteria]] table, when the text has it."""
        headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[", line)]
        starts = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*criteria\s*\]\]", line)]
        if index >= len(starts):
            return None
        end = next((n for n in headers if n > starts[index]), len(lines))
        for number in range(starts[index] + 1, end):
            if re.match(_assign(key), lines[number]):
                return f"{name}:{number + 1}"
        return None

    unknown = sorted(set(data) - {"auto_advance", "criteria", "keys", "source"})
    if unknown:
        where = at(r"^\s*\[*" + re.escape(unknown[0]))
        raise RubricError(f"{where}: unknown setting {unknown[0]!r}")
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise RubricError(f"{name}: a rubric needs at least one [[criteria]] table")
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            where = at(r"\[\[criteria\]\]", index)
            raise RubricError(f"{where}: every criterion needs a name")
        cname = entry["name"]
        here = at(_assign("name", cname))
        if cname in seen:
            raise RubricError(f"{at(_assign('name', cname), 1)}: duplicate criterion name {cname!r}")
        seen.add(cname)
        unknown = [key for key in entry if key not in CRITERION_KEYS]
        if unknown:
            raise RubricError(
                f"{in_criterion(index, unknown[0]) or here}: unknown key {unknown[0]!r} in criterion "
                f"{cname!r} (expected {', '.join(CRITERION_KEYS)})"
            )
        kind = entry.get("kind", "likert")
        if kind not in KINDS:
            raise RubricError(
                f"{at(_assign('kind', str(kind)))}: unknown kind {kind!r} for {cname!r} "
                f"(expected one of {', '.join(KINDS)})"
            )
        low, high = entry.get("min", 1), entry.get("max", 5)
        if kind == "likert":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
                raise RubricError(f"{here}: min and max of {cname!r} must be integers")
            if low > high:
                raise RubricError(f"{here}: min {low} > max {high} for {cname!r}")
            if low < 0 or high > 9:
                raise RubricError(f"{here}: {cname!r} ranges {low}-{high}; single-key scores need 0-9")
        tags = entry.get("tags", [])
        if kind == "tags":
            where = in_criterion(index, "tags") or here
            if not isinstance(tags, list) or not tags or len(tags) > 9:
                raise RubricError(f"{where}: tags criterion {cname!r} needs a list of 1 to 9 tags")
            if not all(isinstance(tag, str) and tag.strip() for tag in tags):
                raise RubricError(f"{where}: every tag of {cname!r} must be a non-empty string")
            twice = next((tag for n, tag in enumerate(tags) if tag in tags[:n]), None)
            if twice is not None:
                raise RubricError(f"{where}: tag {twice!r} is listed twice in {cname!r}")
        criteria.append(
            Criterion(
                name=cname,
                kind=kind,
                description=str(entry.get("description", "")),
                min=int(low) if kind == "likert" else 0,
                max=int(high) if kind == "likert" else 0,
                tags=tuple(str(t) for t in tags) if kind == "tags" else (),
            )
        )
    keys = dict(DEFAULT_KEYS)
    raw_keys = data.get("keys", {})
    if not isinstance(raw_keys, dict):
        raise RubricError(f'{at(r"keys")}: [keys] must be a table of action = "key"')
    for action, key in raw_keys.items():
        if action not in DEFAULT_KEYS:
            raise RubricError(f"{at(_assign(action))}: unknown action {action!r} in [keys]")
        if not isinstance(key, str) or not key:
            raise RubricError(f"{at(_assign(action))}: key for {action!r} must be a string")
        problem = key_problem(key)
        if problem:
            raise RubricError(f"{at(_assign(action))}: key {key!r} for {action!r}: {problem}")
        keys[action] = key
    owners: dict[str, str] = {}
    for action, key in keys.items():
        if key in DIGITS:
            raise RubricError(
                f"{at(_assign(action))}: {key!r} is a score key; bind {action!r} to another key"
            )
        same = canonical_key(key)
        if same in owners:
            other = owners[same]
            culprit = action if action in raw_keys else other
            raise RubricError(f"{at(_assign(culprit))}: key {key!r} is bound twice ({other} and {action})")
        owners[same] = action
    auto = data.get("auto_advance", True)
    if not isinstance(auto, bool):
        raise RubricError(f"{at(_assign('auto_advance'))}: auto_advance must be true or false")
    return Rubric(criteria=tuple(criteria), auto_advance=auto, keys=keys, source=name)
