"""Untrusted text made inert before any terminal, report or transcript shows it.

Answers, prompts, item ids, judge replies, comments and rubric text come from
models and files sftscope does not control. Shown raw, an escape sequence in an
answer clears the operator's screen, draws a fake "saved" line or renames the
terminal. Every place that prints such text passes it through `inert` (or
`inert_line` for one-line cells: ids, names, table cells), which replaces each
control character with a visible stand-in, so what the operator reads is
exactly which characters were there, and nothing the terminal would obey.
"""

from __future__ import annotations

import re

# C0 controls (but \n and \t), DEL, C1 controls, and the Unicode format characters that
# reorder or hide text (bidi overrides and isolates, zero-width marks, line/paragraph
# separators): the characters a terminal or a browser acts on instead of showing.
_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def _stand_in(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␛ for ESC, ␇ for BEL, ␊ for a line feed in a one-line cell
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def inert(text: object) -> str:
    """`text` with every control character shown as a visible symbol (ESC as ␛); line
    breaks and tabs are kept, a CR LF pair is read as one line break."""
    value = str(text)
    if "\r\n" in value:
        value = value.replace("\r\n", "\n")
    return _MULTILINE.sub(_stand_in, value)


def inert_line(text: object) -> str:
    """Like `inert`, for a cell that must stay on one line (an item id, a name): a line
    break is shown as ␊ and a tab as ␉ instead of breaking the row."""
    return _ONE_LINE.sub(_stand_in, str(text))
