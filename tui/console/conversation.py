"""The conversation pane: it owns the transcript on screen and the live answer streaming into it.

As oterm's chat widget does, the widget that shows the text is the one that
streams it: the app says what to show (`show`), when an answer starts streaming
(`stream`, with where its text is read from), and wakes it when there is more
(`feed`); one writer task inside keeps the text in order, follows the bottom only
while the operator is there, and bounds what is rendered, so a 5 MB answer never
freezes the keyboard.

The streaming answer is read from its source (the Generator's live answer), never
pieced together from the fragments the app was handed: a fragment that arrived
while the view was being rebuilt used to be lost, and the screen showed an answer
the model never wrote. Both views show the answer as written: Markdown with every
line break kept (`answer_text.as_markdown`), or the raw text (`as_raw`, `m`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from sftscope.tui.render.answer_text import SHOWN_CHARS, as_markdown, as_raw, cut_note, shown
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

# Markdown punctuation in a line of the console's own: escaped, so it reads as written.
_ESCAPE = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>~]")
# A message whose first line opens a block (a heading, a list, a quote, code, a table, an
# indented line) starts below its label; any other starts on the label's line.
_BLOCK_START = re.compile(r"(\s|#|>|[-*+](\s|$)|\d+[.)](\s|$)|```|~~~|\||$)")


def open_fence(markdown: str) -> str | None:
    """The code fence left open at the end of `markdown` (an answer that never closed its
    ```), so the caller can close it: nothing the console writes after an answer may end
    up inside the answer's code block."""
    fence: str | None = None
    for line in markdown.split("\n"):
        stripped = line.lstrip()
        if fence is None and stripped[:3] in ("```", "~~~"):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
    return fence


def stable_markdown(text: str) -> str:
    """The Markdown of a streaming answer that later text can only extend.

    A line's hard break depends on the line after it, and a CR may be the first half of a
    CR LF: so the answer's trailing spaces and line breaks wait until more text comes.
    What is returned is always a prefix of `as_markdown` of any longer answer, so it can
    be appended to a Markdown stream fragment by fragment."""
    return as_markdown(text.rstrip(" \r\n"))


@dataclass
class Transcript:
    """What the conversation shows, built once for both views: the Markdown document and
    the same text raw (exactly the saved characters, inert)."""

    markdown: list[str] = field(default_factory=list)
    raw: Text = field(default_factory=Text)

    def heading(self, label: str, style: str) -> None:
        """A role's label ("system", "user") on a line of its own in the raw view."""
        if self.raw:
            self.raw.append("\n\n")
        self.raw.append(f"▍{label}", style=style)
        self.raw.append("\n")

    def message(self, label: str, text: str, *, style: str, quote: bool = False) -> None:
        """A message written by someone else (system, user): kept as written, inert."""
        body = as_markdown(text)
        inline = not _BLOCK_START.match(body)  # on the label's line, as it always was
        if quote:
            lines = body.split("\n")
            lines = [f"*{label}:* {lines[0]}", *lines[1:]] if inline else [f"*{label}:*", *lines]
            self.markdown.append("\n".join(f"> {line}" if line else ">" for line in lines))
        else:
            self.markdown.append(f"**▍{label}** {body}" if inline else f"**▍{label}**\n\n{body}")
            fence = open_fence(body)
            if fence is not None:
                self.markdown.append(fence)
        self.heading(label, style)
        self.raw.append(as_raw(text))

    def answer(self, text: str) -> None:
        """The model's answer, as written (bounded: see `shown`)."""
        body = shown(text)
        if not body:
            self.note("(empty answer)")
            return
        markdown = as_markdown(body)
        self.markdown.append(markdown)
        fence = open_fence(markdown)
        if fence is not None:
            self.markdown.append(fence)
        if self.raw:
            self.raw.append("\n\n")
        self.raw.append(as_raw(body))
        note = cut_note(text)
        if note:
            self.note(note)

    def note(self, text: str, *, style: str = "dim italic", strong: bool = False) -> None:
        """A line of the console's own (a finish reason, "waiting for the model"): never
        part of the answer. `text` is the console's, but may quote saved text: inert."""
        shown_text = _ESCAPE.sub(r"\\\g<0>", as_raw(text))
        self.markdown.append(f"**{shown_text}**" if strong else f"*{shown_text}*")
        if self.raw:
            self.raw.append("\n\n")
        self.raw.append(as_raw(text), style=style)

    def streaming(self) -> None:
        """The answer streams in after what is here."""
        self.markdown.append("")
        if self.raw:
            self.raw.append("\n\n")

    @property
    def document(self) -> str:
        return "\n\n".join(self.markdown)


class Conversation(VerticalScroll):
    """The transcript of the item on screen, with its answer streaming in."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.item: str | None = None  # the item whose answer streams here now
        self.raw_view = False  # `m`: the raw text instead of Markdown
        self.follow = True  # the view follows the streaming answer's end
        self._stream: MarkdownStream | None = None
        self._source: Callable[[], str] | None = None
        self._raw_prefix = Text()
        self._written = ""  # the Markdown written into the live stream so far
        self._cut = False
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield Markdown("", id="answer")
        yield Static("", id="raw", markup=False)

    def on_mount(self) -> None:
        self.raw_widget.display = False
        self.run_worker(self._pump(), group="conversation-pump")

    @property
    def answer(self) -> Markdown:
        return self.query_one("#answer", Markdown)

    @property
    def raw_widget(self) -> Static:
        return self.query_one("#raw", Static)

    @property
    def raw_text(self) -> str:
        """The raw view's text, as shown."""
        return str(self.raw_widget.content) if self.raw_view else ""

    async def _present(self, transcript: Transcript) -> None:
        self.answer.display = not self.raw_view
        self.raw_widget.display = self.raw_view
        if self.raw_view:
            await self.answer.update("")
            self.raw_widget.update(transcript.raw)
        else:
            self.raw_widget.update("")
            await self.answer.update(transcript.document)

    async def show(self, transcript: Transcript) -> None:
        """A finished transcript: nothing streams into it."""
        await self.stop()
        await self._present(transcript)
        self.follow = False
        self.scroll_home(animate=False, immediate=True)

    async def stream(self, transcript: Transcript, item_id: str, source: Callable[[], str]) -> None:
        """Show `transcript`, then `item_id`'s answer after it, read from `source` (the text
        so far) whenever `feed` says there is more."""
        await self.stop()
        self._raw_prefix = transcript.raw.copy()
        if self.raw_view:
            await self._present(transcript)
        else:
            # The document goes in through the stream too: Markdown.append re-parses from its
            # last block, which after update() would be the prompt, and the answer's first
            # paragraph replaced it (the prompt vanished while the answer streamed).
            await self._present(Transcript())
            self._stream = Markdown.get_stream(self.answer)
            await self._stream.write(transcript.document)
        self._source = source
        self.item = item_id
        self._written = ""
        self._cut = False
        self.follow = True
        self.scroll_end(animate=False, immediate=True)
        self._wake.set()  # what streamed before now is shown at once

    def feed(self, item_id: str, text: str = "") -> None:
        """There is more of `item_id`'s answer; ignored unless that answer streams here."""
        if item_id == self.item and self._source is not None:
            self._wake.set()

    async def stop(self) -> None:
        self.item, self._source = None, None
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    # --- scrolling: the operator's choice wins over following the stream -----------------
    def scroll_by(self, lines: int) -> None:
        """The operator scrolls: up stops following the stream, reaching the end resumes it."""
        if lines < 0:
            self.follow = False
        self.scroll_relative(y=lines, animate=False, immediate=True)
        if lines > 0 and self.scroll_y >= self.max_scroll_y:
            self.follow = True

    # The pane's own keys (it has the focus): through scroll_by, never around it.
    def action_scroll_up(self) -> None:
        self.scroll_by(-1)

    def action_scroll_down(self) -> None:
        self.scroll_by(1)

    def action_page_up(self) -> None:
        self.scroll_by(-max(1, self.scrollable_content_region.height))

    def action_page_down(self) -> None:
        self.scroll_by(max(1, self.scrollable_content_region.height))

    def action_scroll_home(self) -> None:
        self.follow = False
        self.scroll_home(animate=False, immediate=True)

    def action_scroll_end(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True)

    def on_mouse_scroll_up(self, _: events.MouseScrollUp) -> None:
        self.follow = False

    def on_mouse_scroll_down(self, _: events.MouseScrollDown) -> None:
        self.call_after_refresh(self._at_end)

    def _at_end(self) -> None:
        if self.scroll_y >= self.max_scroll_y:
            self.follow = True

    def _follow_end(self) -> None:
        if self.follow and self._source is not None:
            self.scroll_end(animate=False, immediate=True)

    async def _pump(self) -> None:
        """One writer of the live answer: what its source holds now, appended in order."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            source = self._source
            if source is None:
                continue
            text = source()
            if self.raw_view:
                self._write_raw(text)
            else:
                await self._write_markdown(text)
            if self.follow:
                self.call_after_refresh(self._follow_end)
            await asyncio.sleep(0.03)  # at most ~30 paints a second, whatever the engine's pace

    def _write_raw(self, text: str) -> None:
        shown_text = self._raw_prefix.copy()
        shown_text.append(as_raw(shown(text)))
        note = cut_note(text)
        if note:
            shown_text.append(f"\n\n{note} (the rest streams on, off screen)", style="dim italic")
        self.raw_widget.update(shown_text)

    async def _write_markdown(self, text: str) -> None:
        if self._stream is None or self._cut:
            return
        cut = len(text) > SHOWN_CHARS
        markdown = stable_markdown(shown(text))
        if not markdown.startswith(self._written):  # never expected: show it whole instead
            return
        fragment = markdown[len(self._written) :]
        if cut:
            fragment += "\n\n*(… the rest streams on, off screen)*"
            self._cut = True
        if fragment:
            self._written = markdown
            with contextlib.suppress(RuntimeError):
                await self._stream.write(fragment)
