"""The console as one rater of a shared session, for `sftscope serve`'s browser tabs.

A tab's process is started by textual-serve with a fixed command and cannot read the
page's URL, so unless the page named its rater (`/?rater=NAME`), the console asks first:
RaterScreen, before anything of the session is shown. The name goes to the Session
(`attach_rater`), which refuses a bad name or a rater who already has a console open on
this session; the screen then says why and asks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sftscope.sessions.core.inert import inert_line
from sftscope.tui.base.app import first_line
from sftscope.tui.console.app import SftscopeApp
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.run.launch import Launch


class RaterScreen(ModalScreen[str]):
    """Who is labelling: one line, checked by the Session before the console starts."""

    DEFAULT_CSS = """
    RaterScreen { align: center middle; }
    RaterScreen > Vertical { width: 64; height: auto; border: round $accent; padding: 1 2; }
    RaterScreen #rater-problem { color: $error; }
    """

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Your rater name (letters, digits, . _ -), then enter:")
            yield Input(id="rater-name", max_length=64)
            yield Static("", id="rater-problem")
            yield Static("Your labels go to ratings/NAME.jsonl; other raters' stay hidden.")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from sftscope.sessions.core.raters import check_rater

        name = event.value.strip()
        try:
            self.session.attach_rater(check_rater(name, "rater name"))
        except Exception as exc:  # a bad name, or this rater's console already open: ask again
            self.query_one("#rater-problem", Static).update(inert_line(first_line(exc)))
            return
        self.dismiss(name)


class RaterConsole(SftscopeApp):
    """The replay console, labelling as one rater: named on the command line, or asked."""

    def __init__(self, launch: Launch, rater: str | None) -> None:
        super().__init__(launch)
        self.rater = rater

    async def start_session(self) -> None:
        if self.rater is None:
            self.rater = await self.push_screen_wait(RaterScreen(self.session))
        await super().start_session()

    def next_steps(self) -> list[str]:
        """Nothing to print: a tab's output goes to the server's log, not to a person."""
        return []
