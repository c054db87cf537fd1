"""Modal screens (help, comment) and the command-palette provider."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from sftscope.scorers.rubric import ACTION_HELP, Rubric
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    from sftscope.tui.app import SftscopeApp


def key_label(key: str) -> str:
    return {"question_mark": "?", "right": "→", "left": "←", "shift+tab": "shift+tab"}.get(key, key)


class HelpScreen(ModalScreen[None]):
    """Every key, from the rubric's own bindings."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, rubric: Rubric) -> None:
        super().__init__()
        self.rubric = rubric

    def compose(self) -> ComposeResult:
        # Text, never markup: "[keys]" and a key bound to "[" are shown as they are.
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()

        def row(keys: str, what: str) -> None:
            table.add_row(Text(keys), Text(what))

        likert = [c for c in self.rubric.criteria if c.kind == "likert"]
        if likert:
            low = min(c.min for c in likert)
            high = max(c.max for c in likert)
            row(f"{low}–{high}", "score the focused criterion and move on")
        if any(c.kind == "tags" for c in self.rubric.criteria):
            row("1–9", "toggle a tag (tags criteria)")
        for action, key in self.rubric.keys.items():
            row(key_label(key), ACTION_HELP[action])
        row("↑ ↓ pgup pgdn", "scroll the answer")
        row("ctrl+p", "command palette: jump to item, export, …")
        with VerticalScroll(id="help"):  # scrolls (↑ ↓) where the terminal is short
            yield Label(Text.assemble(("sftscope keys", "bold"), "  (remap them under [keys] in the rubric)"))
            yield Static(table)


class CommentScreen(ModalScreen[str | None]):
    """One line of text: a comment on the item, or a note criterion's value."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="comment"):
            yield Label(self.title_text)
            yield Input(value=self.value, id="comment-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SftscopeCommands(Provider):
    """The command palette reaches every action: jump to an item, next unscored, toggle
    blind, regenerate, export, quit."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app: SftscopeApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, object, str]] = [
            ("Next unscored item", app.action_next_unscored, "jump to the first item not fully scored"),
            ("Toggle blind (reveal judge scores)", app.action_reveal, "show or hide judge scores"),
            ("Regenerate this answer", app.action_regenerate, "generate the current item again"),
            ("Stop generation", app.action_stop, "stop the current answer"),
            ("Skip this item", app.action_skip, "mark the item skipped"),
            ("Flag this item", app.action_flag, "flag or unflag the item"),
            ("Comment on this item", app.action_comment, "write a comment"),
            (
                "Export session (JSONL)",
                partial(app.action_export, "jsonl"),
                "write export.jsonl in the session",
            ),
            ("Export session (CSV)", partial(app.action_export, "csv"), "write export.csv in the session"),
            ("Help: keys", app.action_help, "list every key"),
            ("Quit", app.action_quit, "everything is already saved"),
        ]
        for index, item_id in enumerate(app.item_ids):
            commands.append((f"Go to item {item_id}", partial(app.goto, index), "jump to this item"))
        return commands

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands()[:11]:
            yield Hit(1.0, name, callback, help=help_text)  # type: ignore[arg-type]
