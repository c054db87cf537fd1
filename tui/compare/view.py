"""What the A/B console draws: the prompt, each answer with how it ended, a vote and a
judge's verdict in the operator's terms (the numbers 1 and 2, never the sessions' names).
Everything that came from a model or a file is made inert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from sftscope.sessions.compare.comparison import PairState
from sftscope.sessions.core.inert import inert, inert_line
from sftscope.tui.render.answer_text import as_markdown, as_raw, cut_note, ending_note, shown
from textual import events
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

Ending = tuple[str, "int | None"]  # a turn's finish reason and token count


def vote_text(pair: PairState, choice: str | None) -> str:
    """A vote as the operator made it: by the shown number, never by session."""
    if choice in ("a", "b"):
        return f"{shown_number(pair, choice)} better"
    return {"tie": "tie", "both_bad": "both bad"}.get(str(choice), "not voted")


def shown_number(pair: PairState, side: str | None) -> str:
    """The number ("1" or "2") a session side was shown as; ties and gaps as words."""
    if side in ("a", "b"):
        return "1" if pair.side(1) == side else "2"
    return "tie" if side == "tie" else "no verdict"


def verdict_text(pair: PairState, judge: str, event: dict[str, Any] | None) -> Text:
    """One judge's verdict on the pair in the operator's terms (1, 2, tie), with what each
    order said when they disagree: a judge that only picks the first answer shows here."""
    text = Text(f"{inert_line(judge)}: ", style="bold")
    if event is None:
        text.append("not judged yet", style="dim")
        return text
    verdict = event.get("verdict")
    if verdict == "error":
        error = str(event.get("error") or "no verdict").splitlines()[0]
        text.append(f"error · {inert_line(error)}", style="red")
        return text
    ab, ba = event.get("ab"), event.get("ba")
    if verdict in ("a", "b"):
        text.append(f"{shown_number(pair, verdict)} better", style="bold cyan")
        text.append(" (both orders)", style="dim")
    else:
        text.append("tie", style="bold cyan")
        if ab != ba:
            text.append(
                f" (the orders disagree: {shown_number(pair, ab)}, then {shown_number(pair, ba)})",
                style="dim",
            )
    human = pair.human
    if human is not None and verdict in ("a", "b", "tie"):
        same = human == verdict or (human == "both_bad" and verdict == "tie")
        text.append(" · agrees with you" if same else " · differs from you", style="dim")
    return text


def not_saved(message: str) -> str:
    """A write error with "not saved" first, so a cut line still says it: the store's
    "DIR: not saved (read-only)" becomes "not saved (read-only) · DIR"."""
    where, found, why = message.partition("not saved")
    if not found or not where.strip():
        return message
    return f"not saved{why} · {where.strip().rstrip(':')}"


def ending_text(ending: Ending | None) -> str | None:
    """Why an answer ended, said under it when it did not end by itself (answer_text.ending_note)."""
    return ending_note(*ending) if ending is not None else None


def endings_summary(endings: Sequence[Ending] | None) -> str | None:
    """How the answer ended, for the pane's border: the turns that did not stop by
    themselves ("cut at 64 tokens"; on a multi-turn item "turn 2 cut at 64 tokens")."""
    if not endings:
        return None
    said = [(turn, text) for turn, ending in enumerate(endings, 1) if (text := ending_text(ending))]
    if len(endings) == 1:
        return said[0][1] if said else None
    return " · ".join(f"turn {turn} {text}" for turn, text in said) or None


def answer_body(answer: str, *, raw: bool) -> RenderableType:
    """One answer as written: Markdown with every line break kept, or (raw) exactly the
    saved characters; control characters inert either way; bounded like the run console's."""
    if not answer.strip():
        return Text("(empty answer)", style="italic dim")
    cut = shown(answer)
    body: RenderableType = Text(as_raw(cut)) if raw else RichMarkdown(as_markdown(cut))
    note = cut_note(answer)
    return body if note is None else Group(body, Text(note, style="italic dim"))


def answer_view(answers: list[str], endings: Sequence[Ending] | None, *, raw: bool = False) -> Group:
    """One side's answers: the last is the one compared; on a multi-turn item each turn is
    headed, because each session continued its own conversation. Under a turn that did not
    stop by itself, why it ended (endings: per turn, None when not known)."""
    parts: list[RenderableType] = []
    turns = answers or [""]
    for turn, answer in enumerate(turns):
        if len(turns) > 1:
            parts.append(Text(f"turn {turn + 1}", style="bold"))
        parts.append(answer_body(answer, raw=raw))
        ended = ending_text(endings[turn] if endings is not None and turn < len(endings) else None)
        if ended:
            parts.append(Text(ended, style="bold yellow"))
    return Group(*parts)


def system_lines(item_system: bool, one: str | None, two: str | None) -> list[Text]:
    """The system message each side's model was given, by the number it is shown as. A
    prompt set's own system message is in the item (shown with it); otherwise each
    session's `--system`: once when both were the same, each side's when they differ
    (what an operator needs to know to judge, e.g., a system-prompt comparison)."""
    if item_system or (not one and not two):
        return []
    if one == two:
        return [_labelled("system: ", one or "")]
    return [_labelled(f"system {n}: ", text) for n, text in ((1, one), (2, two))]


def _labelled(label: str, text: str | None) -> Text:
    line = Text(label, style="bold dim")
    if text:
        line.append(inert(text))
    else:
        line.append("(none)", style="dim")
    return line


def prompt_view(pair: PairState, systems: tuple[str | None, str | None], *, raw: bool = False) -> Group:
    """What both sessions were asked: the system message(s), the prompt set's own context,
    then each user turn, line breaks kept, inert."""
    item = pair.item
    parts: list[RenderableType] = []
    item_system = any(m.get("role") == "system" for m in item.prefix)
    parts += system_lines(item_system, *systems)
    for message in item.prefix:
        if message.get("content"):
            parts.append(_labelled(f"{inert_line(message.get('role'))}: ", str(message["content"])))
    for turn, text in enumerate(item.turns, start=1):
        if len(item.turns) > 1:
            parts.append(Text(f"turn {turn}", style="bold"))
        parts.append(Text(as_raw(str(text))) if raw else RichMarkdown(as_markdown(str(text))))
    return Group(*parts)


class AnswerPane(VerticalScroll):
    """One answer, titled only by the number it is shown as. Focus marks it (▶ and the
    border) and says which one ↑ ↓ pgup pgdn scroll."""

    def __init__(self, number: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.number = number
        self.border_title = f" {number} "

    def compose(self) -> ComposeResult:
        yield Static(id=f"answer-{self.number}-text", classes="answer-text")

    def show(self, view: RenderableType, ending: str | None = None) -> None:
        """The answer, and on the bottom border how it ended when it did not stop by itself:
        the line under the answer may be below the fold of a small pane, the border is not."""
        self.query_one(Static).update(view)
        self.border_subtitle = Text(f" {ending} ", style="bold yellow") if ending else None
        self.scroll_home(animate=False)

    def on_focus(self, event: events.Focus) -> None:
        self.border_title = f" ▶ {self.number} "

    def on_blur(self, event: events.Blur) -> None:
        self.border_title = f" {self.number} "
