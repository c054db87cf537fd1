"""Modal screens (help, comment, report) and the command-palette provider."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from sftscope.scorers.rubric import ACTION_HELP, Rubric, canonical_key
from sftscope.sessions.core.inert import inert_line
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    from sftscope.tui.app import SftscopeApp


def key_label(key: str) -> str:
    return {"question_mark": "?", "right": "→", "left": "←", "shift+tab": "shift+tab"}.get(key, key)


# The next item where a revealed judge and you differ. Not one of the rubric's remappable
# actions: a rubric that binds `d` to an action keeps it, and the palette still has this.
DISAGREEMENT_KEY = "d"


def disagreement_key_free(rubric: Rubric) -> bool:
    """`d` jumps to the next disagreement unless the rubric binds it to something else."""
    return all(canonical_key(key) != DISAGREEMENT_KEY for key in rubric.keys.values())


# Markdown or the raw text of the answer (exactly the saved characters). Like `d`, not one
# of the rubric's remappable actions: a rubric that binds `m` keeps it (the palette has this).
MARKDOWN_KEY = "m"


def markdown_key_free(rubric: Rubric) -> bool:
    """`m` toggles Markdown / raw text unless the rubric binds it to something else."""
    return all(canonical_key(key) != MARKDOWN_KEY for key in rubric.keys.values())


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
            row("0", "none apply (tags criteria): done, move on")
        for action, key in self.rubric.keys.items():
            row(key_label(key), ACTION_HELP[action])
        if disagreement_key_free(self.rubric):
            row(DISAGREEMENT_KEY, "next item where a revealed judge and you differ")
        if markdown_key_free(self.rubric):
            row(MARKDOWN_KEY, "answer as Markdown / raw text (exactly the saved characters)")
        row("↑ ↓ pgup pgdn", "scroll the answer")
        row("ctrl+p", "command palette: report, disagreements, jump to item, export, …")
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
            yield Label(Text(self.title_text))  # Text: an item id is never read as markup
            yield Input(value=self.value, id="comment-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(ModalScreen[None]):
    """The session's report, as `sftscope report` prints it (tables and charts), scrollable.

    The report reads the session from disk (report_data.build_report, without locking it)
    in a worker thread, so the console goes on while it is computed."""

    BINDINGS = [Binding("escape,q", "dismiss", "close")]

    class Rendered(Message):
        """The report's text, from the worker thread."""

        def __init__(self, text: Text) -> None:
            super().__init__()
            self.text = text

    def __init__(self, directory: Path, *, resamples: int) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.resamples = resamples
        self.text = ""  # the report as shown, once computed

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="report"):
            yield Static(Text("computing the report …", style="dim"), id="report-text")

    def on_mount(self) -> None:
        scroller = self.query_one("#report", VerticalScroll)
        scroller.border_title = f" report · {self.directory.name} "
        scroller.border_subtitle = " ↑ ↓ pgup pgdn scroll · escape closes "
        scroller.focus()
        # The text is cut to the box: its border, padding and scrollbar take 5 columns.
        width = max(40, self.app.size.width - 5)
        self.run_worker(partial(self.build, width), thread=True, group="report", exit_on_error=False)

    def build(self, width: int) -> None:
        """In a worker thread: the report's document, rendered as text `width` wide."""
        from sftscope.sessions.report.document import build_report
        from sftscope.tui.render.report import render_text

        try:
            doc = build_report([self.directory], resamples=self.resamples).to_dict()
            text = Text(render_text(doc, width=width))
        except Exception as exc:  # a report that cannot be made says why, once
            text = Text(f"no report: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            text.stylize("red")
        self.post_message(self.Rendered(text))  # never waits: the screen may be closed by now

    def on_report_screen_rendered(self, message: Rendered) -> None:
        self.text = message.text.plain
        self.query_one("#report-text", Static).update(message.text)


class SftscopeCommands(Provider):
    """The command palette reaches every action: jump to an item, next unscored, toggle
    blind, regenerate, export, quit."""

    def _commands(self) -> list[tuple[str, object, str]]:
        """The actions, then one "Go to item" per item."""
        app: SftscopeApp = self.app  # type: ignore[assignment]
        commands = self._actions()
        for index, item_id in enumerate(app.item_ids):
            name = f"Go to item {inert_line(item_id)}"
            commands.append((name, partial(app.goto, index), "jump to this item"))
        return commands

    def _actions(self) -> list[tuple[str, object, str]]:
        app: SftscopeApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, object, str]] = [
            ("Next unscored item", app.action_next_unscored, "jump to the first item not fully scored"),
            ("Toggle blind (reveal judge scores)", app.action_reveal, "show or hide judge scores"),
            (
                "Toggle Markdown / raw text",
                app.action_toggle_markdown,
                "the answer rendered, or exactly the saved characters",
            ),
            ("Report", app.action_report, "the session's figures with 95% intervals, and charts"),
            ("Write HTML report", app.action_write_html_report, "write report.html in the session"),
            (
                "Next disagreement",
                app.action_next_disagreement,
                "the next scored item where a revealed judge and you differ, most first",
            ),
            (
                "Disagreement queue",
                app.action_toggle_queue,
                "on or off: enter walks the items where a judge and you differ, most first",
            ),
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
        return commands

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for name, callback, help_text in self._actions():
            yield Hit(1.0, name, callback, help=help_text)  # type: ignore[arg-type]
