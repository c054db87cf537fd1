"""The adjudicate console (`sftscope adjudicate SESSION`, issue 18 §4): the disputed items
of a session with several raters, one at a time, each with every rater's label by name;
the adjudicator gives the final label with single keys and may say why.

Built on the shared ConsoleApp like the run and A/B consoles: a decision goes through
`Adjudication.decide` (the adjudicator's Session, fsynced before it returns), so "saved ✓"
means on disk; a key that does nothing says why; a key typed less than SETTLE after an
item appeared decides nothing (typed ahead); `q`, Ctrl+C and a dropped link leave with
everything already saved. The keys are the rubric's, as in the run console: digits on a
scale (and on tags), its yes/no keys, its comment key for a reason, its next/previous keys.

Which labels are disputed is the consensus module's rule (sessions/run/adjudication.py
asks it). The raters' labels are shown by name here on purpose: the adjudicator unblinds.
Every text that came from a model, a prompt set or a rater is shown inert.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from sftscope.scorers.rubric import ACTION_HELP, Criterion, Rubric
from sftscope.sessions.core.inert import inert_line
from sftscope.sessions.run.adjudication import Adjudication, Case, Dispute
from sftscope.tui.base.app import TYPED_AHEAD, ConsoleApp
from sftscope.tui.base.help import KeysScreen
from sftscope.tui.console.keys import key_label
from sftscope.tui.console.screens import CommentScreen
from sftscope.tui.render.answer_text import as_markdown, cut_note, finish_note, shown
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

# The rubric's actions this console uses, in the footer's order (what does not fit at the
# right is cut first): the keys a rubric remaps are remapped here too.
ACTIONS = ("yes", "no", "comment", "next_item", "next_unscored", "help", "quit", "prev_item")
ACTIONS += ("next_criterion", "prev_criterion")
SHOWN_IN_FOOTER = {"comment": "reason", "next_item": "next", "help": "help", "quit": "quit"}
WHAT = {
    "comment": "a reason for the decision on the marked criterion (optional; a note: its final text)",
    "next_item": "the next disputed item",
    "prev_item": "the previous disputed item",
    "next_unscored": "the next item not decided yet",
    "next_criterion": "mark the next disputed criterion",
    "prev_criterion": "mark the previous disputed criterion",
    "quit": "quit: every decision is already saved",
}


def value_text(value: Any) -> str:
    """A label as the keys give it: yes/no, a number, tags by name, a note's text; inert."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "{" + ", ".join(inert_line(v) for v in value) + "}" if value else "{none}"
    return inert_line(value)


def scale_text(criterion: Criterion) -> str:
    """How a criterion is decided, beside its name."""
    if criterion.kind == "likert":
        return f"{criterion.min}–{criterion.max}"
    if criterion.kind == "binary":
        return "yes/no"
    if criterion.kind == "tags":
        return " ".join(f"{n}={inert_line(tag)}" for n, tag in enumerate(criterion.tags, 1)) + " 0=none"
    return "text"


def item_view(case: Case, system: str | None) -> Group:
    """The prompt and the answer being adjudicated, turn by turn, each answer with its line
    breaks (Markdown with hard breaks), bounded, and how it ended when it did not stop."""
    item = case.state.item
    parts: list[RenderableType] = []
    if system and not any(m.get("role") == "system" for m in item.prefix):
        parts.append(Text.assemble(("system: ", "bold dim"), inert_line(system)))
    for message in item.prefix:
        if message.get("content"):
            parts.append(
                Text.assemble(
                    (f"{inert_line(message.get('role'))}: ", "bold dim"), inert_line(message["content"])
                )
            )
    for turn, prompt in enumerate(item.turns):
        parts.append(Text("user", style="bold cyan"))
        parts.append(RichMarkdown(as_markdown(shown(str(prompt)))))
        if turn >= len(case.state.turns):
            parts.append(Text("(no answer)", style="italic dim"))
            break
        record = case.state.turns[turn]
        answer = str(record.get("text", ""))
        parts.append(Text("assistant", style="bold green"))
        parts.append(
            RichMarkdown(as_markdown(shown(answer)))
            if answer.strip()
            else Text("(empty answer)", style="dim")
        )
        for note in (cut_note(answer), finish_note(record)):
            if note:
                parts.append(Text(note, style="italic yellow"))
    return Group(*parts)


def build_bindings(keys: dict[str, str]) -> list[Binding]:
    """The digits, then the rubric's keys for ACTIONS (remapped as the rubric remaps them)."""
    bindings = [
        Binding(str(d), f"app.digit({d})", "decide", show=d == 1, key_display="0-9 y/n") for d in range(10)
    ]
    for action in ACTIONS:
        key = keys[action]
        bindings.append(
            Binding(
                key,
                f"app.{action}",
                SHOWN_IN_FOOTER.get(action, action),
                show=action in SHOWN_IN_FOOTER,
                key_display=key_label(key),
                # Before the item's own (horizontal scroll, focus) bindings.
                priority=key in ("tab", "shift+tab", "left", "right"),
            )
        )
    return bindings


class AdjudicateScreen(Screen[None]):
    """The status line, the item, each disputed criterion with the raters' labels, the
    warning when the adjudicator labelled the item, the note line and the keys."""

    @classmethod
    def for_rubric(cls, rubric: Rubric) -> AdjudicateScreen:
        return type("AdjudicateScreen", (cls,), {"BINDINGS": build_bindings(rubric.keys)})()

    def compose(self) -> ComposeResult:
        yield Static("sftscope adjudicate", id="status")
        with VerticalScroll(id="item"):
            yield Static(id="item-text")
        yield Static(id="disputes")
        yield Static(id="warning")
        yield Static(id="note")
        yield Footer(show_command_palette=False)


class AdjudicateHelpScreen(KeysScreen):
    def __init__(self, rows: list[tuple[str, str]]) -> None:
        title = Text.assemble(("sftscope adjudicate keys", "bold"), "  (the rubric's keys)")
        super().__init__(title, rows)


class AdjudicateApp(ConsoleApp):
    """The queue of disputed items, decided by one adjudicator (their lock held until quit)."""

    CSS_PATH = "adjudicate.tcss"
    TITLE = "sftscope adjudicate"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, adjudication: Adjudication) -> None:
        super().__init__()
        self.adjudication = adjudication
        self.session = adjudication.session
        self.rubric = adjudication.rubric
        self.cases = adjudication.cases
        self.index = 0
        self.marked = 0  # the disputed criterion the keys decide
        self.painted_at: float | None = None  # when the item on screen was painted
        self.pending: dict[tuple[str, str], str] = {}  # reasons given before the decision
        self.main = AdjudicateScreen.for_rubric(self.rubric)

    # --- start-up and leaving ---------------------------------------------------------
    @property
    def main_screen(self) -> Screen[None]:
        return self.main

    async def on_mount(self) -> None:
        await self.push_screen(self.main)
        if not self.install_signal_handlers():
            return
        first = next((n for n, case in enumerate(self.cases) if not case.decided), 0)
        self.show(first)
        self.main.query_one("#item", VerticalScroll).focus()

    async def shutdown(self, status: str | None = None) -> None:
        """Release the adjudicator's file; every decision is on disk already."""
        if self._session_closed:
            return
        self._session_closed = True
        self.close_problems = self.adjudication.close()

    def close_now(self, status: str) -> None:
        self._session_closed = True
        self.close_problems = self.adjudication.close()

    def next_steps(self) -> list[str]:
        import shlex

        where = inert_line(shlex.quote(str(self.adjudication.directory)))
        left = sum(not case.decided for case in self.cases)
        lines = [f"sftscope: {self.decided_count()} of {self.dispute_count()} disputed labels decided"]
        if left:
            lines.append(f"  go on:   sftscope adjudicate {where} --rater {self.adjudication.rater}")
        lines.append(f"  report:  sftscope report {where}")
        return lines

    # --- what is on screen ------------------------------------------------------------
    @property
    def current(self) -> Case:
        return self.cases[self.index]

    def show(self, index: int) -> None:
        """Put an item on screen; keys decide once it is painted (`painted_at`)."""
        self.index = max(0, min(index, len(self.cases) - 1))
        case = self.current
        self.marked = next((n for n, d in enumerate(case.disputes) if d.decision is None), 0)
        self.painted_at = None
        if not self.saved_note.startswith("✗"):  # a failed write stays until one succeeds
            self.saved_note = ""
        self.refused_note = ""
        box = self.main.query_one("#item", VerticalScroll)
        title = f" {inert_line(case.id)}"
        if case.state.item.category:
            title += f" · {inert_line(case.state.item.category)}"
        box.border_title = Text(title + " ")
        self.main.query_one("#item-text", Static).update(item_view(case, self.adjudication.system))
        box.scroll_home(animate=False)
        self.refresh_disputes()
        self.call_after_refresh(self.painted, case.id)

    def painted(self, item: str) -> None:
        if self.cases and self.current.id == item:
            self.painted_at = time.monotonic()

    def refresh_disputes(self) -> None:
        case = self.current
        lines: list[Text] = []
        for n, dispute in enumerate(case.disputes):
            lines.append(self.dispute_line(case, dispute, marked=n == self.marked))
        self.main.query_one("#disputes", Static).update(Group(*lines))
        own = case.own_labels()
        warning = self.main.query_one("#warning", Static)
        if own:
            said = ", ".join(f"{inert_line(c)} {value_text(v)}" for c, v in own.items())
            warning.update(
                Text(
                    f"⚠ you labelled this item yourself ({said}): your decision overrides the other raters'",
                    style="bold yellow",
                )
            )
        else:
            warning.update("")
        self.refresh_note()
        self.set_status()

    def dispute_line(self, case: Case, dispute: Dispute, *, marked: bool) -> Text:
        criterion = dispute.criterion
        line = Text("▶ " if marked else "  ", style="bold cyan")
        line.append(inert_line(criterion.name), style="bold" if marked else "")
        line.append(f" ({scale_text(criterion)})  ", style="dim")
        for n, rater in enumerate(self.adjudication.raters):
            if n:
                line.append(" · ", style="dim")
            line.append(f"{inert_line(rater)} ")
            if rater in dispute.labels:
                line.append(value_text(dispute.labels[rater]), style="bold")
            else:
                line.append("—", style="dim")
        decision = dispute.decision
        if decision is not None:
            line.append("  → ", style="dim")
            line.append(value_text(decision.value), style="bold green")
            if decision.reason:
                line.append(f" ({inert_line(decision.reason)})", style="green")
        elif (case.id, criterion.name) in self.pending:
            line.append("  reason noted, not decided", style="dim")
        return line

    def refresh_note(self) -> None:
        text = Text()
        if self.refused_note:
            text.append(inert_line(self.refused_note), style="bold yellow")
        elif self.saved_note:
            style = "bold white on red" if self.saved_note.startswith("✗") else "green"
            text.append(inert_line(self.saved_note), style=style)
        self.main.query_one("#note", Static).update(text)

    def dispute_count(self) -> int:
        return sum(len(case.disputes) for case in self.cases)

    def decided_count(self) -> int:
        return sum(d.decision is not None for case in self.cases for d in case.disputes)

    def set_status(self) -> None:
        status = self.status_line()
        if status is None or not self.cases:
            return
        text = Text("sftscope adjudicate", style="bold")
        text.append(f" · as {inert_line(self.adjudication.rater)}")
        text.append(f" · item {self.index + 1}/{len(self.cases)}")
        text.append(f" · decided {self.decided_count()}/{self.dispute_count()} ")
        self.write_error_text(text)
        status.update(text)

    def show_refused(self) -> None:
        self.refresh_note()

    def show_saved(self) -> None:
        self.refresh_note()
        self.set_status()

    # --- deciding -----------------------------------------------------------------
    def marked_dispute(self) -> Dispute | None:
        """The dispute the keys decide, or None (said why) when no key may decide now."""
        if self.closed:
            return None
        if self.typed_ahead(self.painted_at):
            self.refuse(TYPED_AHEAD)
            return None
        return self.current.disputes[self.marked]

    def decide(self, dispute: Dispute, value: Any, *, move: bool = True) -> None:
        case = self.current
        reason = self.pending.get((case.id, dispute.criterion.name))
        if reason is None and dispute.decision is not None:
            reason = dispute.decision.reason  # a new value keeps the reason already given
        if not self.label(self.adjudication.decide, case, dispute, value, reason):
            return
        self.pending.pop((case.id, dispute.criterion.name), None)
        if move:
            self.marked = next((n for n, d in enumerate(case.disputes) if d.decision is None), self.marked)
        if case.decided:
            self.saved_note = "saved ✓ · item decided: → or enter for the next"
        self.refresh_disputes()

    def action_digit(self, digit: int) -> None:
        dispute = self.marked_dispute()
        if dispute is None:
            return
        criterion = dispute.criterion
        if criterion.kind == "likert" and criterion.min <= digit <= criterion.max:
            self.decide(dispute, digit)
        elif criterion.kind == "tags" and digit == 0:
            self.decide(dispute, [])
        elif criterion.kind == "tags" and 1 <= digit <= len(criterion.tags):
            tag = criterion.tags[digit - 1]
            chosen = list(dispute.decision.value) if dispute.decision is not None else []
            chosen = [t for t in chosen if t != tag] if tag in chosen else [*chosen, tag]
            self.decide(dispute, chosen, move=False)  # tags: toggled until the next criterion
        else:
            self.refuse(f"{digit}: not a value of {inert_line(criterion.name)} ({scale_text(criterion)})")

    def action_yes(self) -> None:
        self.binary(True)

    def action_no(self) -> None:
        self.binary(False)

    def binary(self, value: bool) -> None:
        dispute = self.marked_dispute()
        if dispute is None:
            return
        if dispute.criterion.kind != "binary":
            self.refuse(
                f"{inert_line(dispute.criterion.name)} is not yes/no ({scale_text(dispute.criterion)})"
            )
            return
        self.decide(dispute, value)

    def action_comment(self) -> None:
        """A reason for the marked criterion's decision: written with it when given before,
        written again with the decision when given after. On a note criterion: its text."""
        if self.closed:
            return
        case, dispute = self.current, self.current.disputes[self.marked]
        name = dispute.criterion.name
        if dispute.criterion.kind == "note":
            current = str(dispute.decision.value) if dispute.decision is not None else ""

            def save_note(text: str | None) -> None:
                if text is not None and text.strip():
                    self.decide(dispute, text)

            self.push_screen(CommentScreen(f"final text of {name} on {case.id}", current), save_note)
            return
        given = self.pending.get((case.id, name)) or (dispute.decision.reason if dispute.decision else None)

        def save(text: str | None) -> None:
            if text is None:
                return
            reason = text.strip() or None
            if dispute.decision is None:
                if reason is None:
                    self.pending.pop((case.id, name), None)
                else:
                    self.pending[(case.id, name)] = reason
                    self.saved_note = "reason noted: it is saved with your decision"
                self.refresh_disputes()
                return
            if self.label(self.adjudication.decide, case, dispute, dispute.decision.value, reason):
                self.saved_note = "saved ✓ · reason added"
            self.refresh_disputes()

        self.push_screen(CommentScreen(f"reason for {name} on {case.id}", given or ""), save)

    # --- moving -------------------------------------------------------------------
    def action_next_item(self) -> None:
        if self.index + 1 >= len(self.cases):
            self.refuse("the last disputed item: ← goes back, enter to the next not decided")
            return
        self.show(self.index + 1)

    def action_prev_item(self) -> None:
        if self.index == 0:
            self.refuse("the first disputed item")
            return
        self.show(self.index - 1)

    def action_next_unscored(self) -> None:
        count = len(self.cases)
        for step in range(1, count + 1):
            index = (self.index + step) % count
            if not self.cases[index].decided:
                self.show(index)
                return
        if self.current.decided:
            self.refuse("every disputed item is decided: q to finish")
        else:
            self.show(self.index)

    def action_next_criterion(self) -> None:
        self.marked = (self.marked + 1) % len(self.current.disputes)
        self.refresh_disputes()

    def action_prev_criterion(self) -> None:
        self.marked = (self.marked - 1) % len(self.current.disputes)
        self.refresh_disputes()

    def action_help(self) -> None:
        keys = self.rubric.keys
        rows = [("0–9", "the final value of the marked criterion: a point of its scale, or a tag (0: none)")]
        rows.append((f"{key_label(keys['yes'])} / {key_label(keys['no'])}", "yes / no on a yes/no criterion"))
        for action in ACTIONS[2:]:
            rows.append((key_label(keys[action]), WHAT.get(action, ACTION_HELP[action])))
        rows.append(("↑ ↓ pgup pgdn", "scroll the item"))
        rows.append(("ctrl+c", "quit"))
        self.push_screen(AdjudicateHelpScreen(rows))
