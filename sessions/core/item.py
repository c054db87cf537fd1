"""One thing to evaluate: the prompt-set item every event of the log is about.

It lives in the core because the fold (state) and the writer (session) hold items; the
prompt-set readers that make items from files are the run's (sessions/run/prompts.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Item:
    """One thing to evaluate.

    `prefix` holds messages sent before the first generated turn (a system
    message, earlier chat turns); `turns` the user messages answered in order.
    `reference` is a string, or a list with one entry per turn (MT-Bench).
    `instructions`/`kwargs` keep IFEval's verifiable instructions for the checks.
    """

    id: str
    turns: list[str]
    prefix: list[dict[str, str]] = field(default_factory=list)
    reference: Any = None
    category: str | None = None
    form: str = "prompt"
    instructions: list[str] | None = None
    kwargs: list[dict[str, Any]] | None = None
    checks: list[Any] | None = None
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [], {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def transcript(self, answers: list[str], system: str | None = None) -> list[dict[str, str]]:
        """The conversation so far: the prefix (`system` first unless it has its own), then
        each user turn and its answer; the first turn without an answer ends it."""
        messages = [dict(m) for m in self.prefix]
        if system and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": system})
        for index, user in enumerate(self.turns):
            messages.append({"role": "user", "content": user})
            if index >= len(answers):
                break
            messages.append({"role": "assistant", "content": answers[index]})
        return messages

    def messages_for_turn(
        self, turn: int, answers: list[str], system: str | None = None
    ) -> list[dict[str, str]]:
        """The conversation to send for `turn`, given the model's earlier answers."""
        if len(answers) < turn:
            raise IndexError(f"turn {turn + 1} needs the {turn} answers before it, not {len(answers)}")
        return self.transcript(answers[:turn], system)
