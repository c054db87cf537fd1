"""The keys help screen both consoles open with `?`: a title and a table of keys."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class KeysScreen(ModalScreen[None]):
    """Every key of a console, as (keys, what they do) rows under a title."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, title: Text, rows: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        # Text, never markup: "[keys]" and a key bound to "[" are shown as they are.
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for keys, what in self.rows:
            table.add_row(Text(keys), Text(what))
        with VerticalScroll(id="help"):  # scrolls (↑ ↓) where the terminal is short
            yield Label(self.title_text)
            yield Static(table)
