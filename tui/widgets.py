"""The console's three panes: the item list, the conversation, the score panel.

Each is a plain renderer of the runner's state; none holds state of its own
that is not in the event log, except what is on screen right now.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from scorers.rubric import Criterion, Rubric
from sessions.state import ItemState

GLYPHS = {
    "pending": ("·", "dim"),
    "partial": ("◌", "yellow"),
    "generating": ("◌", "yellow"),
    "cancelled": ("■", "magenta"),
    "error": ("✗", "red"),
    "skipped": ("-", "dim"),
    "unscored": ("○", "cyan"),
    "scored": ("●", "green"),
}


def item_status(state: ItemState, rubric: Rubric, generating: bool) -> str:
    if generating:
        return "generating"
    if state.status == "done":
        return "scored" if fully_scored(state, rubric) else "unscored"
    return state.status


def fully_scored(state: ItemState, rubric: Rubric) -> bool:
    human = state.human
    return all(c.name in human for c in rubric.criteria if c.required)


def format_value(criterion: Criterion, value: Any) -> str:
    if value is None:
        return "·"
    if criterion.kind == "binary":
        return "y" if value else "n"
    if criterion.kind == "tags":
        return ",".join(value) if value else "∅"
    if criterion.kind == "note":
        return "✎"
    return str(value)


class ItemList(OptionList):
    """Status, scores at a glance and flags, one row per item."""

    can_focus = False

    def row(self, state: ItemState, rubric: Rubric, generating: bool) -> Text:
        status = item_status(state, rubric, generating)
        glyph, style = GLYPHS[status]
        text = Text()
        text.append(glyph + " ", style=style)
        text.append(state.item.id[:12].ljust(12), style="bold" if status == "unscored" else "")
        human = state.human
        scores = "".join(
            format_value(c, human.get(c.name))[:1] for c in rubric.criteria if c.kind in ("likert", "binary")
        )
        text.append(" " + scores, style="green" if status == "scored" else "dim")
        if state.flagged:
            text.append(" ⚑", style="bold red")
        return text

    def fill(self, states: list[ItemState], rubric: Rubric, generating: set[str]) -> None:
        self.clear_options()
        self.add_options([Option(self.row(s, rubric, s.item.id in generating), id=s.item.id) for s in states])

    def refresh_item(self, index: int, state: ItemState, rubric: Rubric, generating: bool) -> None:
        self.replace_option_prompt_at_index(index, self.row(state, rubric, generating))


class ScorePanel(Static):
    """The criteria with the operator's values, the focused one marked."""

    def render_scores(
        self,
        rubric: Rubric,
        state: ItemState | None,
        focus: int,
        saved: str,
        judge_lines: list[Text] | None = None,
    ) -> None:
        text = Text()
        if state is None:
            self.update(text)
            return
        human = state.human
        for index, criterion in enumerate(rubric.criteria):
            focused = index == focus
            text.append("▶ " if focused else "  ", style="bold yellow")
            text.append(f"{criterion.name[:22]:<22} ", style="bold" if focused else "")
            value = human.get(criterion.name)
            if criterion.kind == "likert":
                for option in range(criterion.min, criterion.max + 1):
                    chosen = value == option
                    text.append(f" {option} ", style="reverse green" if chosen else "dim")
            elif criterion.kind == "binary":
                text.append(" y ", style="reverse green" if value is True else "dim")
                text.append(" n ", style="reverse red" if value is False else "dim")
            elif criterion.kind == "tags":
                chosen_tags = value or []
                for number, tag in enumerate(criterion.tags, start=1):
                    text.append(f" {number}:{tag}", style="reverse cyan" if tag in chosen_tags else "dim")
            else:
                text.append(" " + (value or "(enter to write)")[:40], style="italic" if value else "dim")
            text.append("\n")
        current = rubric.criteria[focus] if 0 <= focus < len(rubric.criteria) else None
        if current is not None and current.description:
            text.append(current.description + "\n", style="dim italic")
        extras = []
        if state.flagged:
            extras.append(("⚑ flagged", "bold red"))
        if state.comment:
            extras.append((f"✎ {state.comment[:50]}", "italic"))
        if state.skipped_by_human:
            extras.append(("skipped", "dim"))
        for label, style in extras:
            text.append(label + "  ", style=style)
        if saved:
            text.append(saved, style="green")
        for line in judge_lines or []:
            text.append("\n")
            text.append_text(line)
        self.update(text)
