"""Reading a judge's reply. Parsing never guesses.

A reply with no verdict, a score out of range, a verdict only inside a nested
object, or a reply cut off by the token limit is a `VerdictError` carrying the
raw text: never a default score, never a clamped one. The caller records it on
the item as a judge error, so a broken judge is visible instead of quietly
biasing the numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Criterion

RATING = re.compile(r"\[\[\s*(\d+(?:\.\d*)?)\s*\]\]")  # FastChat: \[\[(\d+\.?\d*)\]\]
PAIR = re.compile(r"\[\[\s*([ABC])\s*\]\]")


class VerdictError(Exception):
    """The reply holds no usable verdict; `raw` keeps what the judge said."""

    def __init__(self, reason: str, raw: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


@dataclass
class Verdict:
    scores: dict[str, Any]
    justification: str | None = None


class _DuplicateKey(Exception):
    """A JSON object names the same key twice: which value the judge meant is unknowable."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object_pairs_hook: the object, unless a key repeats (json keeps the last one)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _json_objects(text: str, raw: str) -> list[tuple[int, dict[str, Any]]]:
    """Every top-level JSON object in the text, found with a real decoder (so braces
    inside strings, such as a justification quoting code, do not confuse it). An object
    with a duplicate key, at any depth, is a VerdictError: json would silently keep the
    last value, a pick nobody made."""
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    found: list[tuple[int, dict[str, Any]]] = []
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return found
        try:
            value, end = decoder.raw_decode(text, start)
        except _DuplicateKey as exc:
            raise VerdictError(f"the key {exc.key!r} appears twice in one JSON object", raw) from None
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict):
            found.append((start, value))
        index = end


def parse_rubric_json(raw: str, criteria: list[Criterion], *, truncated: bool = False) -> Verdict:
    """One JSON object with one key per criterion (fenced or bare), plus "justification"."""
    if truncated:
        raise VerdictError("the reply was cut off by the token limit (finish_reason length)", raw)
    objects = _json_objects(raw, raw)
    if not objects:
        raise VerdictError("no JSON object in the reply", raw)
    names = {c.name for c in criteria}
    candidates = [obj for _, obj in objects if names & set(obj)]
    if not candidates:
        nested = [
            obj for _, obj in objects if any(isinstance(v, dict) and names & set(v) for v in obj.values())
        ]
        if nested:
            raise VerdictError("the verdict is nested inside another object", raw)
        raise VerdictError(f"no criterion of {sorted(names)} in the reply's JSON", raw)
    obj = candidates[0]
    if any(other != obj for other in candidates[1:]):
        # Two verdicts that differ: which one the judge meant is a guess, so neither is taken.
        raise VerdictError(f"{len(candidates)} different JSON verdicts in the reply", raw)
    scores: dict[str, Any] = {}
    for criterion in criteria:
        if criterion.kind == "note":
            continue
        if criterion.name not in obj:
            raise VerdictError(f"the reply has no value for {criterion.name!r}", raw)
        value = obj[criterion.name]
        scores[criterion.name] = _coerce(criterion, value, raw)
    justification = obj.get("justification")
    return Verdict(scores, justification if isinstance(justification, str) else None)


def _coerce(criterion: Criterion, value: Any, raw: str) -> Any:
    if criterion.kind == "likert":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise VerdictError(f"{criterion.name}: {value!r} is not a number", raw)
        try:
            number = float(value)
        except ValueError:
            raise VerdictError(f"{criterion.name}: {value!r} is not a number", raw) from None
        if number != int(number):
            raise VerdictError(f"{criterion.name}: {value!r} is not a whole number", raw)
        if not criterion.min <= number <= criterion.max:
            raise VerdictError(
                f"{criterion.name}: {value!r} is out of range {criterion.min}-{criterion.max}", raw
            )
        return int(number)
    if criterion.kind == "binary":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
            return value.strip().lower() == "yes"
        raise VerdictError(f"{criterion.name}: {value!r} is not yes or no", raw)
    if criterion.kind == "tags":
        if not isinstance(value, list) or not all(v in criterion.tags for v in value):
            raise VerdictError(f"{criterion.name}: {value!r} is not a list of {list(criterion.tags)}", raw)
        return list(value)
    return value


def parse_rating(raw: str, low: int = 1, high: int = 10, *, truncated: bool = False) -> int | float:
    """MT-Bench single-answer grading, read as FastChat reads it: the FIRST "[[N]]" in the
    reply, a whole or decimal number ("[[7.5]]"), on the template's scale. A whole number
    comes back as an int, a decimal as a float; out of range is an error, never clamped."""
    if truncated:
        raise VerdictError("the reply was cut off by the token limit (finish_reason length)", raw)
    found = RATING.search(raw)
    if found is None:
        raise VerdictError("no [[rating]] in the reply", raw)
    text = found.group(1)
    value = float(text)
    if not low <= value <= high:
        raise VerdictError(f"rating {text} is out of range {low}-{high}", raw)
    return int(value) if value == int(value) else value


def parse_pair(raw: str, *, truncated: bool = False) -> str:
    """MT-Bench pairwise: "[[A]]", "[[B]]" or "[[C]]" (tie); two different verdicts is an error."""
    if truncated:
        raise VerdictError("the reply was cut off by the token limit (finish_reason length)", raw)
    found = set(PAIR.findall(raw))
    if not found:
        raise VerdictError("no [[A]], [[B]] or [[C]] verdict in the reply", raw)
    if len(found) > 1:
        raise VerdictError(f"contradictory verdicts {sorted(found)} in the reply", raw)
    return found.pop()


def chosen(letter: str, shown_first: str, shown_second: str) -> str:
    """The side a pairwise letter picks: [[A]] is whichever answer was shown first, so
    the letter means nothing until it is mapped back through the order it was asked in."""
    if letter == "A":
        return shown_first
    if letter == "B":
        return shown_second
    if letter == "C":
        return "tie"
    raise ValueError(f"not a pairwise verdict: {letter!r}")


def combine_orders(ab: str | None, ba: str | None) -> str:
    """FastChat's MT-Bench rule for one pair asked in both orders.

    `ab` and `ba` are the side chosen ("a", "b" or "tie") when a's and b's answer was
    shown first, or None where that order has no verdict. A win needs both orders to
    choose the same side (a judge that always prefers the first answer is not believed);
    a disagreement or a tie in either order is a tie; a missing order is "error", never
    a guess from the other one.
    """
    if ab is None or ba is None:
        return "error"
    if ab == ba and ab != "tie":
        return ab
    return "tie"


def combine_pair(first: str, swapped: str) -> str:
    """Both orders must agree for a win (position bias); anything else is a tie.

    `first` judged (A=model, B=other); `swapped` judged (A=other, B=model).
    Returns "model", "other" or "tie".
    """
    return combine_orders(chosen(first, "model", "other"), chosen(swapped, "other", "model"))
