"""Untrusted text is shown inert: no control character survives, the visible text does."""

from __future__ import annotations

from sftscope.sessions.core.inert import inert, inert_line
from sftscope.tui.render.answer_text import as_markdown, as_raw

ATTACK = "\x1b[2J\x1b[H\x1b[31mFAKE: saved ✓ all items scored\x1b[0m\x1b]0;pwned-title\x07"


def test_escape_sequences_are_shown_not_obeyed() -> None:
    shown = inert(ATTACK)
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown.startswith("␛[2J␛[H␛[31mFAKE: saved ✓ all items scored")
    assert shown.endswith("␛]0;pwned-title␇")


def test_every_control_character_is_replaced_but_line_breaks_and_tabs() -> None:
    text = "".join(chr(c) for c in range(0x20)) + "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
    shown = inert(text)
    assert [c for c in shown if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0] == ["\t", "\n"]
    # A CR LF pair is one line break; a lone CR cannot rewrite the line it is on.
    assert inert("a\r\nb") == "a\nb"
    assert inert("saved\rFAKE") == "saved␍FAKE"


def test_bidi_overrides_are_visible() -> None:
    assert inert("abc\u202edcba") == "abc<U+202E>dcba"


def test_plain_text_is_unchanged() -> None:
    # The negative case: nothing to neutralise, nothing changed (unicode, emoji, newlines).
    text = "Ünïcödé — 日本語 🙂\n\tindented\n"
    assert inert(text) == text
    assert inert_line("item-1") == "item-1"


def test_one_line_cells_never_break() -> None:
    assert inert_line("id\nwith\tbreak") == "id␊with␉break"
    assert "\n" not in inert_line("a\r\nb")


def test_markdown_keeps_each_line_break_outside_code() -> None:
    haiku = "Autumn leaves falling\nA moment of stillness\nA reminder of change"
    md = as_markdown(haiku)
    assert md.split("\n") == ["Autumn leaves falling  ", "A moment of stillness  ", "A reminder of change"]
    # Paragraph breaks and code blocks are left alone: code keeps its exact lines.
    code = "Intro\n\n```python\nx = 1\ny = 2\n```\nAfter"
    assert as_markdown(code) == "Intro\n\n```python\nx = 1\ny = 2\n```\nAfter"


def test_markdown_renders_single_newlines_as_breaks() -> None:
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(as_markdown("one\ntwo\nthree"))
    assert html.count("<br") == 2
    # Without the hard breaks CommonMark joins the lines: what the console used to show.
    assert "<br" not in MarkdownIt("commonmark").render("one\ntwo\nthree")


def test_raw_is_the_saved_characters_made_inert() -> None:
    assert as_raw("# not a heading\n**x**") == "# not a heading\n**x**"
    assert as_raw("a\x1b[2Jb") == "a␛[2Jb"
