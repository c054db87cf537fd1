"""The run console's modal screens: help, comment, report."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rich.text import Text
from sftscope.scorers.rubric import ACTION_HELP, Rubric
from sftscope.tui.base.app import first_line
from sftscope.tui.base.help import KeysScreen
from sftscope.tui.console.keys import (
    DISAGREEMENT_KEY,
    MARKDOWN_KEY,
    disagreement_key_free,
    key_label,
    markdown_key_free,
)
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class HelpScreen(KeysScreen):
    """Every key, from the rubric's own bindings."""

    def __init__(self, rubric: Rubric) -> None:
        title = Text.assemble(("sftscope keys", "bold"), "  (remap them under [keys] in the rubric)")
        super().__init__(title, help_rows(rubric))
        self.rubric = rubric


def help_rows(rubric: Rubric) -> list[tuple[str, str]]:
    """The rubric's scoring keys, its remappable actions, then the fixed keys."""
    rows: list[tuple[str, str]] = []
    likert = [c for c in rubric.criteria if c.kind == "likert"]
    if likert:
        low = min(c.min for c in likert)
        high = max(c.max for c in likert)
        rows.append((f"{low}–{high}", "score the focused criterion and move on"))
    if any(c.kind == "tags" for c in rubric.criteria):
        rows.append(("1–9", "toggle a tag (tags criteria)"))
        rows.append(("0", "none apply (tags criteria): done, move on"))
    for action, key in rubric.keys.items():
        rows.append((key_label(key), ACTION_HELP[action]))
    if disagreement_key_free(rubric):
        rows.append((DISAGREEMENT_KEY, "next item where a revealed judge and you differ"))
    if markdown_key_free(rubric):
        rows.append((MARKDOWN_KEY, "answer as Markdown / raw text (exactly the saved characters)"))
    rows.append(("↑ ↓ pgup pgdn", "scroll the answer"))
    rows.append(("ctrl+p", "command palette: report, disagreements, jump to item, export, …"))
    return rows


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
            text = Text(f"no report: {first_line(exc)}")
            text.stylize("red")
        self.post_message(self.Rendered(text))  # never waits: the screen may be closed by now

    def on_report_screen_rendered(self, message: Rendered) -> None:
        self.text = message.text.plain
        self.query_one("#report-text", Static).update(message.text)
