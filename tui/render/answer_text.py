"""An answer as written, for every place a console shows one.

Markdown joins single line breaks into one paragraph: a three-line haiku shows
as one line, and whoever scores "format" scores something the model never
wrote. `as_markdown` keeps each line break (a hard break) outside fenced code,
so headings, lists and code still render; `as_raw` is exactly the saved
characters. Both are inert: no control character from a model reaches the
terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sftscope.sessions.core.inert import inert, inert_line

# A console shows at most this much of one answer: rendering a 5 MB answer as Markdown
# took 10-14 s and froze the keyboard. The full text is saved and exported.
SHOWN_CHARS = 24_000
CUT_NOTE = "(shown: the first {shown:,} of {total:,} characters; the whole answer is saved: see export)"


def shown(answer: str) -> str:
    """An answer as a console shows it: bounded, so a huge answer renders in bounded time."""
    return answer if len(answer) <= SHOWN_CHARS else answer[:SHOWN_CHARS]


def cut_note(answer: str) -> str | None:
    """What a console says under an answer it shows only the beginning of."""
    if len(answer) <= SHOWN_CHARS:
        return None
    return CUT_NOTE.format(shown=SHOWN_CHARS, total=len(answer))


def as_markdown(text: str) -> str:
    """Markdown whose every single line break is a line break on screen."""
    lines = inert(text).split("\n")
    out: list[str] = []
    fence: str | None = None
    for n, line in enumerate(lines):
        stripped = line.lstrip()
        marker = stripped[:3]
        if fence is None and marker in ("```", "~~~"):
            fence = marker
        elif fence is not None and stripped.startswith(fence):
            fence = None
            out.append(line)
            continue
        last = n == len(lines) - 1
        following = lines[n + 1] if not last else ""
        # A hard break (two trailing spaces: unlike a backslash, never shown literally at
        # the end of a heading, a list item or a table row) where the next line continues;
        # a blank line, a fence or the end needs none.
        if fence is None and line.strip() and following.strip() and not last:
            out.append(line.rstrip(" ") + "  ")
        else:
            out.append(line)
    return "\n".join(out)


def as_raw(text: str) -> str:
    """The saved characters, control characters shown as symbols."""
    return inert(text)


def ending_note(reason: object, tokens: object = None) -> str | None:
    """Why an answer ended, said under it when it did not simply stop: "cut at 64 tokens"
    (the token limit), "cancelled", or the server's own reason by name ("ended:
    content_filter"). None for a natural stop."""
    if reason in (None, "", "None", "stop"):
        return None
    if reason == "length":
        return f"cut at {tokens} tokens" if tokens else "cut at the token limit"
    if reason == "cancelled":
        return "cancelled"
    return f"ended: {inert_line(reason)}"


def finish_note(turn: Mapping[str, Any]) -> str | None:
    """`ending_note` of a recorded turn (its finish reason and tokens), as the run console
    and `replay --headless` show it under the answer."""
    return ending_note(turn.get("finish_reason"), turn.get("tokens"))
