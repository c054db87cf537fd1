"""A comparison's exports: one row per pair (JSONL, CSV), and preference pairs for DPO.

The DPO rows are in the format TRL's DPOTrainer reads: conversational (`prompt`
a list of messages, `chosen`/`rejected` one assistant message each) or standard
(plain strings). Only decisive pairs go out: ties, both-bad, flipped (tied)
judge verdicts, errors and stale pairs are left out.

A row's prompt must not give the winner away: when the compared sessions were run
with different system messages, the chosen side's system message would predict the
chosen answer, so the export is refused unless `system` says which one every row
gets ("none", "a", "b", or a text of its own).

Whose votes (`--source`, `dpo_source`): "human" is the raters' votes as every reader takes
them (one rater's, or with two or more their strict majority per pair: a disputed pair
gives no row, `disputed_pairs` counts them); a rater's name (or `rater:NAME`) that rater's
votes alone; a judge's or panel's name (or `judge:NAME`) its verdicts; "agree" the human
vote where every judge gives the same. A name that is both a rater and a judge is refused
in one line that says how to name either; "human" and "agree" are never a rater's name
(`rater:human` is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sftscope.sessions.compare.comparison import ComparisonState, PairState, fold_comparison
from sftscope.sessions.core.consensus import DISPUTED, decide
from sftscope.sessions.core.events import CHOSEN, RANDOM
from sftscope.sessions.core.files import safe_names, to_csv, to_jsonl

# Then `judge.NAME` (that judge's verdict, its name made safe by `safe_names`), one per judge.
# A comparison made with an order (`order` in its header) has `sample` after
# `human_shown_first`: how the pair's first vote in force was reached (PairState.sampled).
COLUMNS = [
    "item",
    "pair",
    "a",
    "b",
    "human",
    "human_shown_first",
    "judges",
    "stale",
    "prompt",
    "system_a",
    "system_b",
    "answer_a",
    "answer_b",
]


def _state(events: list[dict[str, Any]] | ComparisonState) -> ComparisonState:
    return events if isinstance(events, ComparisonState) else fold_comparison(events)


def comparison_rows(
    header: dict[str, Any], events: list[dict[str, Any]] | ComparisonState
) -> list[dict[str, Any]]:
    """Every pair ever made (stale ones too, marked), in the order they were made: COLUMNS
    (and `sample` in a comparison made with an order), then each judge's verdict flat
    (`judge.NAME`), the same keys in every row."""
    state = _state(events)
    # A comparison made before the audit order has no random sample: its export keeps the
    # columns it always had.
    sampled = "order" in header
    pairs = sorted(state.pairs.values(), key=lambda p: p.index)
    names = safe_names(name for pair in pairs for name in pair.judges)
    rows = []
    for pair in pairs:
        judges = {}
        for name, event in pair.judges.items():
            judges[name] = {
                "verdict": event.get("verdict"),
                "ab": event.get("ab"),
                "ba": event.get("ba"),
                "raw_ab": event.get("raw_ab"),
                "raw_ba": event.get("raw_ba"),
            }
            if event.get("error"):
                judges[name]["error"] = event["error"]
        # What each side was sent: its session's system message (unless the item has its
        # own) and, on a multi-turn item, its own earlier answers; the last user turn is the
        # same on both sides.
        sent_a = pair.item.transcript(pair.answers_a[:-1], _system(header, pair.a))
        sent_b = pair.item.transcript(pair.answers_b[:-1], _system(header, pair.b))
        row = {
            "item": pair.item.id,
            "pair": pair.pair,
            "a": pair.a,
            "b": pair.b,
            "human": pair.human,
            "human_shown_first": pair.first,
            **({"sample": SAMPLE_TEXT[pair.sampled]} if sampled else {}),
            "judges": judges,
            "stale": pair.stale is not None,
            "prompt": _content(sent_a, "user", last=True),
            "system_a": _content(sent_a, "system"),
            "system_b": _content(sent_b, "system"),
            "answer_a": pair.answer_a,
            "answer_b": pair.answer_b,
        }
        for name, column in names.items():
            row[f"judge.{column}"] = judges[name]["verdict"] if name in judges else None
        rows.append(row)
    return rows


SAMPLE_TEXT = {True: RANDOM, False: CHOSEN, None: None}  # PairState.sampled as the `sample` column


def _content(messages: list[dict[str, str]], role: str, *, last: bool = False) -> str | None:
    """The first (or last) message of `role`'s text, or None."""
    found = [m.get("content") for m in messages if m.get("role") == role]
    return (found[-1] if last else found[0]) if found else None


def comparison_text(rows: list[dict[str, Any]], form: str, *, raw: bool = False) -> str:
    """The pairs as CSV or JSONL; CSV cells are guarded against formulas unless `raw`, as the
    item export's are (an answer is the model's text, and a spreadsheet would run it)."""
    return to_csv(rows, list(rows[0]) if rows else COLUMNS, raw=raw) if form == "csv" else to_jsonl(rows)


@dataclass(frozen=True)
class DpoOptions:
    style: str = "conversational"  # or "standard"
    source: str = "human"  # "human", a judge's name, or "agree"
    # Every row's system message when the sessions' differ: "none", "a" or "b" (that
    # side's), or a text; None (not given) refuses such a comparison.
    system: str | None = None
    label: str | None = None  # each row's `source` when not `source` (one rater's: rater:NAME)


RATER, JUDGE = "rater:", "judge:"  # --source rater:NAME, judge:NAME: say which, when a name is both


@dataclass(frozen=True)
class DpoSource:
    """What `--source` names in one comparison: `decision` is what each pair's side is read
    from ("human", "agree" or a judge's name), `rater` the one rater whose votes are the
    human ones (None: the votes as every reader takes them, the consensus with 2+ raters)."""

    decision: str
    rater: str | None = None

    @property
    def label(self) -> str:
        """Each row's `source`: the decision, or `rater:NAME` for one rater's votes."""
        return self.decision if self.rater is None else f"{RATER}{self.rater}"


def dpo_source(source: str, judges: Iterable[str], raters: Iterable[str]) -> DpoSource:
    """`--source` read against the comparison's judges (panels included) and the raters
    who voted; DpoError (one line naming the flag and what there is) when it names none,
    or names both a rater and a judge without saying which."""
    judges, raters = sorted(set(judges)), sorted(set(raters))
    known = f"raters with votes: {', '.join(raters) or 'none'}; judges: {', '.join(judges) or 'none'}"
    if source in ("human", "agree"):
        return DpoSource(source)
    if source.startswith(RATER):
        name = source[len(RATER) :]
        if name not in raters:
            raise DpoError(f"--source {source}: rater {name} has no votes in this comparison ({known})")
        return DpoSource("human", name)
    if source.startswith(JUDGE):
        name = source[len(JUDGE) :]
        if name not in judges:
            raise DpoError(f"--source {source}: {name} is not a judge of this comparison ({known})")
        return DpoSource(name)
    if source in judges and source in raters:
        raise DpoError(
            f"--source {source}: names both a rater and a judge of this comparison; say "
            f"--source {RATER}{source} or --source {JUDGE}{source}"
        )
    if source in judges:
        return DpoSource(source)
    if source in raters:
        return DpoSource("human", source)
    raise DpoError(
        f"--source {source}: not human, agree, a rater with votes or a judge of this comparison ({known})"
    )


def disputed_pairs(state: ComparisonState, votes: Mapping[str, Mapping[str, str]]) -> int:
    """The pairs in force in `state` whose raters' votes (`votes_by_rater`) have no strict
    majority: with 2+ raters they give no human vote, so no DPO row from "human"."""
    return sum(
        1
        for pair in state.ordered()
        if (found := decide(votes.get(pair.pair, {}), None)) is not None and found.status == DISPUTED
    )


class DpoError(Exception):
    """An option that names nothing in the comparison (e.g. an unknown judge)."""


def _decision(pair: PairState, source: str) -> str | None:
    """The side ("a" or "b") the source prefers, or None when it is not decisive."""
    if source == "human":
        return pair.human if pair.human in ("a", "b") else None
    if source == "agree":
        human = pair.human if pair.human in ("a", "b") else None
        verdicts = [e.get("verdict") for e in pair.judges.values()]
        if human is None or not verdicts or any(v != human for v in verdicts):
            return None
        return human
    event = pair.judges.get(source)
    verdict = event.get("verdict") if event else None
    return verdict if verdict in ("a", "b") else None


def _system(header: dict[str, Any], name: str) -> str | None:
    for source in header.get("sources", []):
        if source.get("name") == name:
            return source.get("system")
    return None


def _systems(header: dict[str, Any]) -> dict[str, str | None]:
    return {
        str(s.get("name")): (s.get("system") or None)
        for s in header.get("sources", [])
        if isinstance(s, dict)
    }


def _row_system(header: dict[str, Any], pair: PairState, side: str, choice: str | None) -> str | None:
    """The system message a row's prompt carries: the sessions' common one, or the one
    `--dpo-system` chose."""
    if choice is None:
        return _system(header, pair.name(side))
    if choice == "none":
        return None
    if choice in ("a", "b"):
        return _system(header, pair.name(choice))
    return choice


def dpo_rows(
    header: dict[str, Any], events: list[dict[str, Any]] | ComparisonState, options: DpoOptions
) -> list[dict[str, Any]]:
    state = _state(events)
    judges = {name for p in state.pairs.values() for name in p.judges}
    if options.source not in ("human", "agree") and options.source not in judges:
        known = ", ".join(sorted(judges)) or "none"
        raise DpoError(f"--source {options.source}: not human, agree or a judge of this comparison ({known})")
    if options.system is None:
        compared = {name for p in state.ordered() for name in (p.a, p.b)}
        systems = {name: text for name, text in _systems(header).items() if name in compared}
        if len(set(systems.values())) > 1:
            shown = ", ".join(f"{name}: {_quote(text)}" for name, text in systems.items())
            raise DpoError(
                f"the compared sessions' system messages differ ({shown}), so a row's system "
                "message would give its chosen side away; say which every row gets with "
                "--dpo-system none|a|b|TEXT"
            )
    rows = []
    for pair in state.ordered():  # stale pairs are not in force
        side = _decision(pair, options.source)
        if side is None:
            continue
        other = "b" if side == "a" else "a"
        chosen_answers = pair.answers_a if side == "a" else pair.answers_b
        rejected = (pair.answers_b if side == "a" else pair.answers_a)[-1]
        # The conversation the chosen answer continued: its session's system prompt and,
        # on a multi-turn item, its own earlier answers.
        system = _row_system(header, pair, side, options.system)
        messages = pair.item.transcript(list(chosen_answers[:-1]), system)
        chosen = chosen_answers[-1]
        if options.style == "standard":
            row: dict[str, Any] = {"prompt": render(messages), "chosen": chosen, "rejected": rejected}
        else:
            row = {
                "prompt": messages,
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        row.update(
            item=pair.item.id,
            chosen_session=pair.name(side),
            rejected_session=pair.name(other),
            source=options.label or options.source,
        )
        rows.append(row)
    return rows


def _quote(text: str | None) -> str:
    if text is None:
        return "none"
    return repr(text if len(text) <= 40 else text[:37] + "...")


def render(messages: list[dict[str, str]]) -> str:
    """The prompt as text for the standard format: the user's message alone when that is
    all there is, else each message under its role."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
