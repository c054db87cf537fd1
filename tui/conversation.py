"""The conversation pane: it owns the answer's Markdown and the live stream into it.

As oterm's chat widget does, the widget that shows the text is the one that
streams it: the app says what to show (`show`), when an answer starts streaming
(`stream`), and hands it text (`feed`); one writer task inside keeps the pieces
in order, follows the bottom only while the operator is there, and bounds what
is rendered, so a 5 MB answer never freezes the keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown

# The console shows at most this much of one answer: rendering a 5 MB answer as
# Markdown took 10-14 s and froze the keyboard. The full text is saved and exported.
SHOWN_CHARS = 24_000


def shown(answer: str) -> str:
    """An answer as the console shows it: bounded, so a huge answer renders in bounded time."""
    if len(answer) <= SHOWN_CHARS:
        return answer
    return (
        answer[:SHOWN_CHARS]
        + f"\n\n*(shown: the first {SHOWN_CHARS:,} of {len(answer):,} characters; "
        "the whole answer is saved: see export)*"
    )


class Conversation(VerticalScroll):
    """The transcript of the item on screen, with its answer streaming in."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.item: str | None = None  # the item whose answer streams here now
        self._stream: Any = None
        self._chunks: list[str] = []
        self._streamed = 0  # characters written into the live stream
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield Markdown("", id="answer")

    def on_mount(self) -> None:
        self.run_worker(self._pump(), group="conversation-pump")

    @property
    def answer(self) -> Markdown:
        return self.query_one("#answer", Markdown)

    async def show(self, doc: str) -> None:
        """A finished document: nothing streams into it."""
        await self.stop()
        await self.answer.update(doc)
        self.scroll_home(animate=False)

    async def stream(self, doc: str, item_id: str) -> None:
        """Show `doc`, then stream `item_id`'s text after it as it is fed."""
        await self.stop()
        await self.answer.update(doc)
        self._stream = Markdown.get_stream(self.answer)
        self.item = item_id
        self._streamed = 0
        self.scroll_end(animate=False)

    def feed(self, item_id: str, text: str) -> None:
        """Text for `item_id`'s answer; ignored unless that answer streams here."""
        if text and item_id == self.item and self._stream is not None:
            self._chunks.append(text)
            self._wake.set()

    async def stop(self) -> None:
        if self._stream is not None:
            stream, self._stream, self.item = self._stream, None, None
            self._chunks.clear()
            await stream.stop()

    async def _pump(self) -> None:
        """One writer into the Markdown stream, so fragments keep their order."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stream is None or not self._chunks:
                continue
            text = "".join(self._chunks)
            self._chunks.clear()
            room = SHOWN_CHARS - self._streamed
            if room <= 0:
                continue  # the rest is saved, not shown (see `shown`)
            if len(text) > room:
                text = text[:room] + "\n\n*(… the rest streams on, off screen)*"
            self._streamed += len(text)
            # Follow the bottom only while the operator is there: scrolling up to
            # read stops the following, scrolling back down resumes it.
            following = self.scroll_y >= self.max_scroll_y - 1
            with contextlib.suppress(RuntimeError):
                await self._stream.write(text)
            if following:
                self.call_after_refresh(self.scroll_end, animate=False)
