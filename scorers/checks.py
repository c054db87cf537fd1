"""Deterministic checks and reference metrics: instant, cheap, recorded like any score.

- IFEval items (`instruction_id_list` + `kwargs`) get every instruction checked,
  strict and loose (`scorers.ifeval`).
- Any item may carry its own `checks`: contains, not_contains, regex, json,
  starts_with, ends_with, and word / sentence / bullet / paragraph counts with
  `min` and/or `max`.
- An item with a reference gets ROUGE-L (rouge-score), BLEU and chrF (sacrebleu):
  reference-overlap metrics, to be read with caution on open-ended answers.
"""

from __future__ import annotations

import re
from typing import Any

from sftscope.scorers import ifeval

COUNTERS = {
    "word_count": lambda text: len(ifeval._words(text)),
    "sentence_count": lambda text: len(ifeval._sentences(text)),
    "bullet_count": lambda text: len(re.findall(r"^\s*(?:[-*•]|\d+[.)])\s+\S", text, flags=re.MULTILINE)),
    "paragraph_count": lambda text: len([p for p in re.split(r"\n\s*\n", text) if p.strip()]),
}
KINDS = ("contains", "not_contains", "regex", "json", "starts_with", "ends_with", *COUNTERS)


# A prompt set's regular expression runs under the `regex` package's time bound: a pattern
# that backtracks without end (`^(a+)+$` against "aaa…a!") would otherwise hold the event
# loop, and with it the console, `q` and SIGTERM, for as long as it runs.
REGEX_TIMEOUT = 0.5  # seconds


class CheckError(Exception):
    """A check declared in a prompt set that cannot be run (unknown type, bad regex, a
    regex that ran out of time, a bound that is not a number): recorded as that check's
    error on the item, never a pass or a fail."""


def _name(check: dict[str, Any]) -> str:
    if check.get("name"):
        return str(check["name"])
    kind = check["type"]
    value = check.get("value", check.get("pattern"))
    if kind in COUNTERS:
        bounds = ",".join(f"{k}={check[k]}" for k in ("min", "max") if k in check)
        return f"{kind}({bounds})"
    return f"{kind}:{value}" if value is not None else kind


def run_check(check: dict[str, Any], text: str) -> bool:
    kind = check.get("type")
    if kind not in KINDS:
        raise CheckError(f"unknown check type {kind!r} (expected one of {', '.join(KINDS)})")
    value = check.get("value")
    fold = not check.get("case_sensitive", False)
    haystack, needle = (text.lower(), str(value).lower()) if fold and value is not None else (text, value)
    if kind == "contains":
        values = value if isinstance(value, list) else [value]
        return all((str(v).lower() if fold else str(v)) in haystack for v in values)
    if kind == "not_contains":
        values = value if isinstance(value, list) else [value]
        return not any((str(v).lower() if fold else str(v)) in haystack for v in values)
    if kind == "regex":
        import regex

        pattern = str(check.get("pattern", value))
        try:
            return regex.search(pattern, text, flags=regex.MULTILINE, timeout=REGEX_TIMEOUT) is not None
        except regex.error as exc:
            raise CheckError(f"bad regex {pattern!r}: {exc}") from None
        except TimeoutError:
            raise CheckError(f"regex {pattern!r} took longer than {REGEX_TIMEOUT:g}s: stopped") from None
    if kind == "json":
        return ifeval.json_format(text, {})
    if kind == "starts_with":
        return haystack.strip().startswith(str(needle))
    if kind == "ends_with":
        return haystack.strip().endswith(str(needle))
    count = COUNTERS[kind](text)
    low, high = (_bound(check, key) for key in ("min", "max"))
    return (low is None or count >= low) and (high is None or count <= high)


def _bound(check: dict[str, Any], key: str) -> int | None:
    value = check.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise CheckError(f"{check['type']}: {key} must be a whole number, not {value!r}")
    return int(value)


def metrics(text: str, reference: str) -> dict[str, float]:
    """ROUGE-L F1, BLEU and chrF of the answer against the reference (0-100 for BLEU/chrF)."""
    import sacrebleu
    from rouge_score import rouge_scorer

    rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, text)["rougeL"].fmeasure
    bleu = sacrebleu.sentence_bleu(text, [reference]).score
    chrf = sacrebleu.sentence_chrf(text, [reference]).score
    return {"rougeL": round(rouge, 4), "bleu": round(bleu, 2), "chrf": round(chrf, 2)}


def evaluate_item(item: Any, response: str) -> dict[str, Any]:
    """The fields of a `checks` event for one finished item (empty when it has none)."""
    checks: dict[str, Any] = {}
    errors: list[str] = []
    if item.instructions:
        result = ifeval.evaluate(item.instructions, item.kwargs or [], response)
        checks.update(result["checks"])
        checks["ifeval_loose_detail"] = result["loose"]
        errors += [f"unknown IFEval instruction {u!r}" for u in result["unknown"]]
        errors += result["errors"]
    for check in item.checks or []:
        if not isinstance(check, dict) or "type" not in check:
            errors.append(f"check {check!r} has no type")
            continue
        try:
            checks[_name(check)] = run_check(check, response)
        except CheckError as exc:
            errors.append(str(exc))
        except Exception as exc:  # a check written in a way no rule foresaw: that check's error
            errors.append(f"check {_name(check)}: {type(exc).__name__}: {exc}".splitlines()[0][:300])
    out: dict[str, Any] = {}
    loose = checks.pop("ifeval_loose_detail", None)
    if checks:
        out["checks"] = checks
    if loose:
        out["ifeval_loose_detail"] = loose
    reference = item.reference[-1] if isinstance(item.reference, list) and item.reference else item.reference
    if isinstance(reference, str) and reference.strip() and response.strip():
        out["metrics"] = metrics(response, reference)
    if errors:
        out["errors"] = errors
    return out
