"""IFEval's 25 verifiable instruction types (Zhou et al. 2023, arXiv 2311.07911).

Implemented from the paper's definitions, strict and loose. Strict checks the
response as it is; loose also accepts it when one of the paper's transformations
passes (the first line removed, the last line removed, both, and each of those
with markdown asterisks stripped), which forgives a chatty preamble or a
"**bold**" title. Each check takes the response and the instruction's kwargs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[str, dict[str, Any]], bool]


def _compare(count: int, relation: str | None, target: int) -> bool:
    if relation == "less than":
        return count < target
    if relation in ("at least", None):
        return count >= target
    if relation == "at most":
        return count <= target
    raise ValueError(f"unknown relation {relation!r}")


def _words(text: str) -> list[str]:
    return re.findall(r"\b\w+(?:['’-]\w+)*\b", text)


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}", text.strip())
    return [p for p in parts if re.search(r"\w", p)]


def keywords_existence(text: str, kw: dict[str, Any]) -> bool:
    return all(re.search(re.escape(k), text, re.IGNORECASE) for k in kw.get("keywords") or [])


def keywords_frequency(text: str, kw: dict[str, Any]) -> bool:
    count = len(re.findall(re.escape(kw["keyword"]), text, re.IGNORECASE))
    return _compare(count, kw.get("relation"), int(kw["frequency"]))


def keywords_forbidden(text: str, kw: dict[str, Any]) -> bool:
    return not any(
        re.search(r"\b" + re.escape(w) + r"\b", text, re.IGNORECASE) for w in kw.get("forbidden_words") or []
    )


def keywords_letter_frequency(text: str, kw: dict[str, Any]) -> bool:
    count = text.lower().count(str(kw["letter"]).lower())
    return _compare(count, kw.get("let_relation"), int(kw["let_frequency"]))


def response_language(text: str, kw: dict[str, Any]) -> bool:
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0  # langdetect is random unless seeded
    try:
        return detect(text) == kw["language"]
    except LangDetectException:
        return True  # nothing to detect (e.g. only numbers): the paper counts it as followed


def number_sentences(text: str, kw: dict[str, Any]) -> bool:
    return _compare(len(_sentences(text)), kw.get("relation"), int(kw["num_sentences"]))


def number_paragraphs(text: str, kw: dict[str, Any]) -> bool:
    paragraphs = re.split(r"\s?\*\*\*\s?", text)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index in (0, len(paragraphs) - 1):
                count -= 1
            else:
                return False
    return count == int(kw["num_paragraphs"])


def number_words(text: str, kw: dict[str, Any]) -> bool:
    return _compare(len(_words(text)), kw.get("relation"), int(kw["num_words"]))


def nth_paragraph_first_word(text: str, kw: dict[str, Any]) -> bool:
    paragraphs = [p for p in re.split(r"\n\n", text) if p.strip()]
    if len(paragraphs) != int(kw["num_paragraphs"]):
        return False
    nth = int(kw["nth_paragraph"])
    if nth > len(paragraphs):
        return False
    first = paragraphs[nth - 1].strip().split()
    word = re.sub(r"[^\w]", "", first[0]).lower() if first else ""
    return word == str(kw["first_word"]).lower()


def number_placeholders(text: str, kw: dict[str, Any]) -> bool:
    return len(re.findall(r"\[.*?\]", text)) >= int(kw["num_placeholders"])


def postscript(text: str, kw: dict[str, Any]) -> bool:
    marker = str(kw["postscript_marker"]).strip()
    if marker.lower() == "p.p.s":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker.lower() == "p.s.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, text.lower(), flags=re.MULTILINE))


def number_bullet_lists(text: str, kw: dict[str, Any]) -> bool:
    bullets = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE) + re.findall(
        r"^\s*-.*$", text, flags=re.MULTILINE
    )
    return len(bullets) == int(kw["num_bullets"])


CONSTRAINED = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def constrained_response(text: str, kw: dict[str, Any]) -> bool:
    stripped = text.strip()
    return any(option in stripped for option in CONSTRAINED)


def number_highlighted_sections(text: str, kw: dict[str, Any]) -> bool:
    count = sum(1 for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip())
    count += sum(
        1 for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h.removeprefix("**").removesuffix("**").strip()
    )
    return count >= int(kw["num_highlights"])


def multiple_sections(text: str, kw: dict[str, Any]) -> bool:
    splitter = str(kw["section_spliter"]).strip()
    sections = re.split(r"\s?" + re.escape(splitter) + r"\s?\d+\s?", text)
    return len(sections) - 1 >= int(kw["num_sections"])


def json_format(text: str, kw: dict[str, Any]) -> bool:
    value = text.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        value = value.removeprefix(prefix)
    value = value.removesuffix("```").strip()
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def title(text: str, kw: dict[str, Any]) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


def two_responses(text: str, kw: dict[str, Any]) -> bool:
    parts = text.split("******")
    valid = [p.strip() for p in parts]
    if len(valid) != 2 or not all(valid):
        return False
    return valid[0] != valid[1]


def repeat_prompt(text: str, kw: dict[str, Any]) -> bool:
    return text.strip().lower().startswith(str(kw["prompt_to_repeat"]).strip().lower())


def end_checker(text: str, kw: dict[str, Any]) -> bool:
    return text.strip().strip('"').lower().endswith(str(kw["end_phrase"]).strip().lower())


def capital_word_frequency(text: str, kw: dict[str, Any]) -> bool:
    count = sum(1 for word in _words(text) if word.isupper())
    return _compare(count, kw.get("capital_relation"), int(kw["capital_frequency"]))


def english_capital(text: str, kw: dict[str, Any]) -> bool:
    return text.isupper() and response_language(text, {"language": "en"})


def english_lowercase(text: str, kw: dict[str, Any]) -> bool:
    return text.islower() and response_language(text, {"language": "en"})


def no_comma(text: str, kw: dict[str, Any]) -> bool:
    return "," not in text


def quotation(text: str, kw: dict[str, Any]) -> bool:
    value = text.strip()
    return len(value) > 1 and value[0] == '"' and value[-1] == '"'


CHECKS: dict[str, Check] = {
    "keywords:existence": keywords_existence,
    "keywords:frequency": keywords_frequency,
    "keywords:forbidden_words": keywords_forbidden,
    "keywords:letter_frequency": keywords_letter_frequency,
    "language:response_language": response_language,
    "length_constraints:number_sentences": number_sentences,
    "length_constraints:number_paragraphs": number_paragraphs,
    "length_constraints:number_words": number_words,
    "length_constraints:nth_paragraph_first_word": nth_paragraph_first_word,
    "detectable_content:number_placeholders": number_placeholders,
    "detectable_content:postscript": postscript,
    "detectable_format:number_bullet_lists": number_bullet_lists,
    "detectable_format:constrained_response": constrained_response,
    "detectable_format:number_highlighted_sections": number_highlighted_sections,
    "detectable_format:multiple_sections": multiple_sections,
    "detectable_format:json_format": json_format,
    "detectable_format:title": title,
    "combination:two_responses": two_responses,
    "combination:repeat_prompt": repeat_prompt,
    "startend:end_checker": end_checker,
    "change_case:capital_word_frequency": capital_word_frequency,
    "change_case:english_capital": english_capital,
    "change_case:english_lowercase": english_lowercase,
    "punctuation:no_comma": no_comma,
    "startend:quotation": quotation,
}


def loose_variants(text: str) -> list[str]:
    """The response and the paper's loose transformations of it."""
    lines = text.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    base = [text, without_first, without_last, without_both]
    return [*base, *(v.replace("*", "") for v in base)]


class UnknownInstruction(KeyError):
    """An instruction id that is none of IFEval's 25 types."""


class BadKwargs(ValueError):
    """An instruction's kwargs that its check cannot use: missing, or of the wrong type
    (`"num_words": "x"`). One line naming the instruction and why."""


def check_instruction(instruction: str, kwargs: dict[str, Any] | None, text: str, *, loose: bool) -> bool:
    check = CHECKS.get(instruction)
    if check is None:
        raise UnknownInstruction(instruction)
    if kwargs is not None and not isinstance(kwargs, dict):
        raise BadKwargs(f"IFEval {instruction}: kwargs must be an object, not {kwargs!r}")
    kw = {k: v for k, v in (kwargs or {}).items() if v is not None}
    variants = loose_variants(text) if loose else [text]
    try:
        return any(variant.strip() and check(variant, kw) for variant in variants)
    except KeyError as exc:
        raise BadKwargs(f"IFEval {instruction}: kwargs lack {exc.args[0]!r}") from None
    except (ValueError, TypeError, AttributeError, re.error) as exc:
        # int("x"), a list where a string belongs, a relation no check knows: the item's data
        # is wrong, not the answer, so this is an error on the item, never a pass or a fail.
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BadKwargs(f"IFEval {instruction}: bad kwargs {kw!r} ({reason})") from None


def evaluate(instructions: list[str], kwargs: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """Per-instruction strict results plus `ifeval_strict` / `ifeval_loose` (all followed).

    An instruction whose kwargs its check cannot use is listed in `errors` with no result;
    the item's `ifeval_strict` / `ifeval_loose` are then left out (whether it followed every
    instruction is unknown), so the numbers never count a broken check as a fail or a pass."""
    strict: dict[str, bool] = {}
    loose: dict[str, bool] = {}
    unknown: list[str] = []
    errors: list[str] = []
    for instruction, kw in zip(instructions, kwargs or [{}] * len(instructions), strict=False):
        try:
            strict[instruction] = check_instruction(instruction, kw, text, loose=False)
            loose[instruction] = check_instruction(instruction, kw, text, loose=True)
        except UnknownInstruction:
            unknown.append(instruction)
        except BadKwargs as exc:
            strict.pop(instruction, None)
            errors.append(str(exc))
    out: dict[str, Any] = dict(strict)
    if not errors:
        out["ifeval_strict"] = bool(strict) and all(strict.values()) and not unknown
        out["ifeval_loose"] = bool(loose) and all(loose.values()) and not unknown
    return {"checks": out, "loose": loose, "unknown": unknown, "errors": errors}
