"""Who labels what (issue 18 §2): `--raters a,b,c --overlap K`.

Each item gets exactly K of the raters, and (K of 2 or more) every pair of raters shares
items, so that every pairwise agreement can be estimated. Saved in session.toml as
`[assignment]` (raters, overlap, seed); the per-item list is derived from it and the
session's item ids whenever it is needed, never stored twice.

The groups of K raters are dealt greedily, one per item, in a seeded order of the items:
first a group that covers a pair of raters not yet sharing an item (its first rater one
with such a pair, the least loaded; then the raters adding the most new pairs), so every
pair shares an item as early as the items allow; once every pair does, the least loaded
raters first, so the work evens out. Ties are broken by a seeded rank of the raters, so
the same (raters, overlap, seed, items) gives the same plan on every machine. The groups
do not depend on the item ids (only their order does): how many items covering every
pair needs is known before any item is (`Assignment.needed`), and a prompt set too small
for it is refused before a session is made.

Pure: nothing here reads or writes a file.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sftscope.scorers.rubric import Rubric
from sftscope.sessions.core.events import ItemAdded, Record
from sftscope.sessions.core.raters import RaterError, check_rater, fold_for
from sftscope.sessions.core.state import ItemState

TABLE = "assignment"  # session.toml's [assignment]


class AssignmentError(ValueError):
    """An assignment that cannot be used: one line naming the flag (or session.toml)."""


def parse_raters(value: str | Sequence[str], source: str = "--raters") -> tuple[str, ...]:
    """`a,b,c` (or a list of names, from a config file) as rater names, each checked, none
    twice; AssignmentError naming `source` otherwise."""
    names = [part.strip() for part in value.split(",")] if isinstance(value, str) else list(value)
    if not names or names == [""]:
        raise AssignmentError(f"{source}: names no rater (give A,B,C)")
    try:
        checked = tuple(check_rater(name, source) for name in names)
    except RaterError as exc:
        raise AssignmentError(str(exc)) from None
    twice = next((name for name in checked if checked.count(name) > 1), None)
    if twice is not None:
        raise AssignmentError(f"{source} {','.join(checked)}: names {twice} twice")
    return checked


@dataclass(frozen=True)
class RaterProgress:
    """One rater's share of an assignment: items assigned, and how many of them they have
    labelled (every required criterion on the current answer)."""

    assigned: int
    labelled: int


@dataclass(frozen=True)
class Assignment:
    raters: tuple[str, ...]
    overlap: int
    seed: int = 0

    @classmethod
    def build(cls, raters: str | Sequence[str] | None, overlap: int | None, seed: int) -> Assignment | None:
        """The assignment of `--raters` and `--overlap` (None when neither is given); each
        needs the other, and K is between 1 and the number of raters."""
        if raters is None and overlap is None:
            return None
        if raters is None:
            raise AssignmentError(f"--overlap {overlap}: needs --raters A,B,C (who shares the items)")
        names = parse_raters(raters)
        if overlap is None:
            raise AssignmentError(f"--raters {','.join(names)}: needs --overlap K (raters per item)")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= len(names):
            raise AssignmentError(
                f"--overlap {overlap}: must be between 1 and {len(names)} (the raters of --raters)"
            )
        return cls(names, overlap, seed)

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Assignment | None:
        """The session's `[assignment]`, None without one; a table sftscope did not write is
        AssignmentError naming session.toml."""
        table = header.get(TABLE)
        if table is None:
            return None
        where = "session.toml [assignment]"
        if not isinstance(table, dict) or not isinstance(table.get("seed", 0), int):
            raise AssignmentError(f"{where}: must hold raters, overlap and seed")
        try:
            return cls.build(table.get("raters"), table.get("overlap"), int(table.get("seed", 0)))
        except AssignmentError as exc:
            raise AssignmentError(f"{where}: {exc}") from None

    def to_header(self) -> dict[str, Any]:
        return {"raters": list(self.raters), "overlap": self.overlap, "seed": self.seed}

    def describe(self) -> str:
        """How flags name it, in errors: `--raters a,b,c --overlap 2`."""
        return f"--raters {','.join(self.raters)} --overlap {self.overlap}"

    # --- the plan ---------------------------------------------------------------------
    def _rank(self) -> dict[str, bytes]:
        return {name: _digest(self.seed, "rater", name) for name in self.raters}

    def groups(self) -> Iterator[tuple[str, ...]]:
        """The groups of `overlap` raters, one per item in the seeded order, for ever."""
        rank = self._rank()
        load = dict.fromkeys(self.raters, 0)
        shared = {pair: 0 for pair in itertools.combinations(sorted(self.raters), 2)}

        def pair(a: str, b: str) -> tuple[str, str]:
            return (a, b) if a < b else (b, a)

        def open_pairs(name: str) -> int:
            return sum(1 for other in self.raters if other != name and shared[pair(name, other)] == 0)

        while True:
            first = min(self.raters, key=lambda r: (open_pairs(r) == 0, load[r], -open_pairs(r), rank[r]))
            group = [first]
            while len(group) < self.overlap:
                rest = [r for r in self.raters if r not in group]
                group.append(
                    min(
                        rest,
                        key=lambda r: (
                            -sum(shared[pair(r, g)] == 0 for g in group),
                            load[r],
                            sum(shared[pair(r, g)] for g in group),
                            rank[r],
                        ),
                    )
                )
            for name in group:
                load[name] += 1
            for a, b in itertools.combinations(group, 2):
                shared[pair(a, b)] += 1
            yield tuple(group)

    def needed(self) -> int:
        """How many items this plan needs before every pair of raters shares one (0 when
        there are no pairs to share: one rater, or K = 1, where no agreement is measured)."""
        if self.overlap < 2 or len(self.raters) < 2:
            return 0
        pairs = set(itertools.combinations(sorted(self.raters), 2))
        for count, group in enumerate(self.groups(), start=1):
            pairs -= set(itertools.combinations(sorted(group), 2))
            if not pairs:
                return count
        raise AssertionError("unreachable: groups() is endless")

    def plan(self, items: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """item id -> its raters, for every item (in the seeded order, which is the dealing
        order; the dict's order is that too)."""
        order = sorted(items, key=lambda item: _digest(self.seed, "item", item))
        return dict(zip(order, self.groups(), strict=False))

    def items_of(self, rater: str, items: Iterable[str]) -> frozenset[str]:
        """The items assigned to `rater` (none when they are not one of the raters)."""
        if rater not in self.raters:
            return frozenset()
        return frozenset(item for item, group in self.plan(items).items() if rater in group)

    def check_items(self, count: int) -> None:
        """Refuse a prompt set too small for every pair of raters to share an item: the
        pairwise agreement the overlap is for could not be estimated for some pair."""
        needed = self.needed()
        if count < needed:
            raise AssignmentError(
                f"--overlap {self.overlap}: {len(self.raters)} raters need {needed} items for every pair "
                f"to share one, the prompt set has {count} (raise --overlap, name fewer --raters, or "
                "add prompts)"
            )


def assigned_queue(walk: Sequence[str], mine: frozenset[str]) -> list[str]:
    """A rater's queue: their assigned items first, then the rest, each in `walk`'s order."""
    if not mine:
        return list(walk)
    return [item for item in walk if item in mine] + [item for item in walk if item not in mine]


def labelled(state: ItemState, rubric: Rubric) -> bool:
    """An assigned item done by its rater: answered, every required criterion labelled on the
    current answer (what the console counts as scored; a skip is not a label)."""
    human = state.human
    return state.status == "done" and all(c.name in human for c in rubric.criteria if c.required)


def assignment_progress(
    header: dict[str, Any], events: list[Record], ratings: dict[str, list[Record]], rubric: Rubric
) -> dict[str, RaterProgress]:
    """Each assigned rater's progress (assigned, labelled), by name in the assignment's
    order; {} for a session without an assignment. `events` and `ratings`: the session as
    read (events.jsonl, `sessions.core.raters.read_ratings`)."""
    assignment = Assignment.from_header(header)
    if assignment is None:
        return {}
    items = [str(record["item"]) for record in events if record.get("type") == ItemAdded.TYPE]
    plan = assignment.plan(items)
    out: dict[str, RaterProgress] = {}
    for name in assignment.raters:
        mine = [item for item, group in plan.items() if name in group]
        state = fold_for(events, ratings, name)
        done = sum(1 for item in mine if item in state.items and labelled(state.items[item], rubric))
        out[name] = RaterProgress(assigned=len(mine), labelled=done)
    return out


def _digest(seed: int, kind: str, name: str) -> bytes:
    return hashlib.sha256(f"assign\0{seed}\0{kind}\0{name}".encode()).digest()
