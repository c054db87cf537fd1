"""The console's three panes: the item list, the conversation, the score panel.

Each is a plain renderer of the Session's state; none holds state of its own
that is not in the event log, except what is on screen right now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

from rich.text import Text
from sftscope.scorers.intervals import figure_text
from sftscope.scorers.panel import PanelSpec
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.sessions.core.inert import inert_line
from sftscope.sessions.core.state import ItemState
from sftscope.sessions.run.review import RunningAgreement, fully_scored
from sftscope.tui.console.keys import key_label
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget

GLYPHS = {
    "pending": ("·", "dim"),
    "partial": ("◌", "yellow"),
    "generating": ("◌", "yellow"),
    "cancelled": ("■", "magenta"),
    "error": ("✗", "red"),
    "incomplete": ("◆", "red"),
    "skipped": ("-", "dim"),
    "unscored": ("○", "cyan"),
    "scored": ("●", "green"),
}


def cut_short(state: ItemState) -> bool:
    """An answer of the item stopped at the token limit (marked ✂ in the item list)."""
    return any(turn.get("finish_reason") == "length" for turn in state.turns)


def item_status(state: ItemState, rubric: Rubric, generating: bool) -> str:
    if generating:
        return "generating"
    if state.status == "done":
        return "scored" if fully_scored(state, rubric) else "unscored"
    return state.status


def format_value(criterion: Criterion, value: Any) -> str:
    if value is None:
        return "·"
    if criterion.kind == "binary":
        return "y" if value else "n"
    if criterion.kind == "tags":
        return inert_line(",".join(map(str, value))) if value else "∅"
    if criterion.kind == "note":
        return "✎"
    return inert_line(value)


class ItemList(ScrollView):
    """Status, scores at a glance and flags, one row per item.

    Only the rows on screen are rendered (the Line API: `render_line` for each line in
    view, a virtual height of one line per item), so a 16,000-item session paints as
    fast as a 30-item one. It looks like the OptionList it replaced: the same styles,
    the current item highlighted and kept in view, a click shows that item.
    """

    DEFAULT_CSS = """
    ItemList {
        height: auto;
        max-height: 100%;
        color: $foreground;
        overflow-x: hidden;
        background: $surface;
        & > .item-list--highlighted {
            color: $foreground;
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .item-list--hover {
            background: $block-hover-background;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"item-list--highlighted", "item-list--hover"}
    ROWS_KEPT = 2048  # rendered rows kept for scrolling back (a screen holds a few dozen)

    can_focus = False

    class Selected(Message):
        """An item was clicked: show it."""

        def __init__(self, item_list: ItemList, index: int) -> None:
            super().__init__()
            self.item_list = item_list
            self.index = index

        @property
        def control(self) -> ItemList:
            return self.item_list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.states: list[ItemState] = []
        self.rubric: Rubric | None = None
        self.generating: set[str] = set()  # as of the last fill / refresh_item
        self._highlighted: int | None = None
        self._hover: int | None = None
        self._rendered: dict[int, tuple[Any, Strip]] = {}  # index -> ((style, width), strip)

    def row(self, state: ItemState, rubric: Rubric, generating: bool) -> Text:
        status = item_status(state, rubric, generating)
        glyph, style = GLYPHS[status]
        text = Text()
        text.append(glyph, style=style)
        text.append("✂" if cut_short(state) else " ", style="yellow")  # cut at the token limit
        text.append(inert_line(state.item.id)[:12].ljust(12), style="bold" if status == "unscored" else "")
        human = state.human
        scores = "".join(
            format_value(c, human.get(c.name))[:1] for c in rubric.criteria if c.kind in ("likert", "binary")
        )
        text.append(" " + scores, style="green" if status == "scored" else "dim")
        if state.flagged:
            text.append(" ⚑", style="bold red")
        return text

    def fill(self, states: list[ItemState], rubric: Rubric, generating: set[str]) -> None:
        """Show `states` (nothing is rendered here: rows are made when they come into view)."""
        self.states = list(states)
        self.rubric = rubric
        self.generating = set(generating)
        self._rendered.clear()
        if self._highlighted is not None:
            self._highlighted = min(self._highlighted, len(self.states) - 1) if self.states else None
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.states))
        self.refresh(layout=True)

    def refresh_item(self, index: int, state: ItemState, rubric: Rubric, generating: bool) -> None:
        self.states[index] = state
        self.rubric = rubric
        if generating:
            self.generating.add(state.item.id)
        else:
            self.generating.discard(state.item.id)
        self._forget(index)

    @property
    def highlighted(self) -> int | None:
        """The current item's index; setting it highlights that row and scrolls it into view."""
        return self._highlighted

    @highlighted.setter
    def highlighted(self, index: int | None) -> None:
        if index is not None:
            index = max(0, min(index, len(self.states) - 1)) if self.states else None
        previous, self._highlighted = self._highlighted, index
        if previous != index:
            self._forget(previous)
            self._forget(index)
        self.scroll_to_highlight()

    def scroll_to_highlight(self) -> None:
        if self._highlighted is None or not self.is_mounted:
            return
        self.scroll_to_region(
            Region(0, self._highlighted, self.scrollable_content_region.width, 1),
            force=True,
            animate=False,
            immediate=True,
        )

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if self.rubric is None or not 0 <= index < len(self.states):
            return Strip.blank(width, self.get_visual_style().rich_style)
        if index == self._highlighted:
            style = self.get_visual_style("item-list--highlighted")
        elif index == self._hover:
            style = self.get_visual_style("item-list--hover")
        else:
            style = self.get_visual_style()
        key = (style, width)
        cached = self._rendered.get(index)
        if cached is not None and cached[0] == key:
            return cached[1]
        state = self.states[index]
        text = self.row(state, self.rubric, state.item.id in self.generating)
        text.truncate(width)  # one line per item, never wrapped
        visual = visualize(self, text, markup=False)
        strip = Visual.to_strips(self, visual, width, None, style)[0]
        strip = strip.extend_cell_length(width, style.rich_style).apply_meta({"item": index})
        if len(self._rendered) >= self.ROWS_KEPT:
            self._rendered.clear()
        self._rendered[index] = (key, strip)
        return strip

    def _forget(self, index: int | None) -> None:
        """Render row `index` again (it changed, or its highlight did)."""
        if index is not None:
            self._rendered.pop(index, None)
            self.refresh_line(index)

    def on_show(self) -> None:
        self.scroll_to_highlight()

    def on_resize(self) -> None:
        self._rendered.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.states))
        self.scroll_to_highlight()

    def on_click(self, event: events.Click) -> None:
        index = event.style.meta.get("item")
        if index is not None:
            self.highlighted = index
            self.post_message(self.Selected(self, index))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        index = event.style.meta.get("item")
        if index != self._hover:
            previous, self._hover = self._hover, index
            self._forget(previous)
            self._forget(index)

    def on_leave(self, _: events.Leave) -> None:
        previous, self._hover = self._hover, None
        self._forget(previous)


class Columns(NamedTuple):
    name: int  # the criterion name column
    mode: int  # options: 3 " 1 ", 2 " 1", 1 "1" per option
    options: int  # the options column, before the judges' columns
    cell: int  # one judge's column
    kappa: bool  # a kappa column after the judges'


JUDGED_KINDS = ("likert", "binary")  # the kinds with an agreement (and a kappa)
JUDGE_CELL = (7, 4)  # a judge's column, wide or narrow: "   4✗", the name cut to width - 1 above
KAPPA_CELL = 6  # " +0.62"
SEPARATOR = " │"  # between your options and the judges' columns
PANEL_MARK = "*"  # after a panel's name in its column's header (the legend line says so)


def option_width(criterion: Criterion, mode: int) -> int:
    """Columns the options of a likert/binary criterion take: mode 3 " 1 ", 2 " 1", 1 "1"."""
    count = criterion.max - criterion.min + 1 if criterion.kind == "likert" else 2
    return count * mode


def options_text(criterion: Criterion, value: Any, mode: int, room: int, comment_key: str) -> Text:
    """The criterion's options with the chosen one highlighted, in at most `room` columns."""
    text = Text()

    def option(label: str, style: str) -> None:
        if mode == 3:
            text.append(f" {label} ", style=style)
        else:
            text.append(" " if mode == 2 else "")
            text.append(label, style=style)

    if criterion.kind == "likert":
        for number in range(criterion.min, criterion.max + 1):
            option(str(number), "reverse green" if value == number else "dim")
    elif criterion.kind == "binary":
        option("y", "reverse green" if value is True else "dim")
        option("n", "reverse red" if value is False else "dim")
    elif criterion.kind == "tags":
        chosen = [inert_line(t) for t in value or []]
        tags = [(n, inert_line(tag)) for n, tag in enumerate(criterion.tags, start=1)]
        # The longest tag names that fit: whole, then cut, then the numbers alone.
        for cut in (max((len(t) for _, t in tags), default=0), 8, 3, 0):
            cells = [f" {n}:{tag[:cut]}" if cut else f" {n}" for n, tag in tags]
            if sum(len(c) for c in cells) <= room or cut == 0:
                break
        for (_, tag), cell in zip(tags, cells, strict=True):
            text.append(cell, style="reverse cyan" if tag in chosen else "dim")
    else:
        text.append(
            " " + (inert_line(value) if value else f"({comment_key} to write)"),
            style="italic" if value else "dim",
        )
    text.truncate(room, overflow="ellipsis")
    return text


def check_lines(state: ItemState) -> list[Text]:
    """Deterministic checks and overlap metrics: objective, so shown at once."""
    event = state.checks
    if not event:
        return []
    line = Text("checks: ", style="bold cyan")
    results = event.get("checks") or {}
    checks = {k: v for k, v in results.items() if not k.startswith("ifeval_")}
    if checks:
        passed = sum(1 for v in checks.values() if v)
        line.append(f"{passed}/{len(checks)} passed  ", style="green" if passed == len(checks) else "yellow")
    for key in ("ifeval_strict", "ifeval_loose"):
        if key in results:
            ok = results[key]
            line.append(
                f"{key.replace('ifeval_', 'IFEval ')} {'✓' if ok else '✗'}  ", style="green" if ok else "red"
            )
    metrics = event.get("metrics")
    if metrics:
        line.append(
            f"overlap: ROUGE-L {metrics['rougeL']:.2f} BLEU {metrics['bleu']:.1f} chrF {metrics['chrf']:.1f}",
            style="dim",
        )
    return [line] if line.plain != "checks: " else []


def kappa_text(found: RunningAgreement) -> str:
    """A criterion's kappa in its column (from MIN_N items): "–" when undefined."""
    return figure_text(found.kappa, None, found.n, signed=True, missing="–")


class ScorePanel(Widget):
    """The criteria with the operator's values, the focused one marked; once revealed,
    one column per judge in the same rows, and the running agreement.

    Every line is cut to the panel's width, never wrapped: the name column shrinks
    first, then the options get compact (" 1  2  3" → " 1 2 3" → "123").
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rubric: Rubric | None = None
        self.state: ItemState | None = None
        self.focus_index = 0
        self.saved = ""
        self.judges: tuple[str, ...] = ()
        self.panels: tuple[tuple[PanelSpec, dict[str, Any] | None], ...] = ()
        self.revealed = False
        self.agreement: dict[str, RunningAgreement] = {}

    def show_scores(
        self,
        rubric: Rubric,
        state: ItemState | None,
        focus: int,
        saved: str,
        *,
        judges: Iterable[str] = (),
        visible: bool = False,
        agreement: dict[str, RunningAgreement] | None = None,
        panels: Sequence[tuple[PanelSpec, dict[str, Any] | None]] = (),
    ) -> None:
        """Show `state` scored against `rubric`; `judges` are the configured judges' names,
        `visible` whether their scores are revealed on this item, `agreement` you against
        the first judge so far (computed off the UI thread; shown only once revealed),
        `panels` each judge panel with its derived verdict (a column after its members)."""
        self.rubric, self.state, self.focus_index, self.saved = rubric, state, focus, saved
        self.judges = tuple(judges)
        self.panels = tuple(panels) if self.judges else ()
        self.revealed = visible
        show = self.judges and visible and state is not None and state.complete
        self.agreement = dict(agreement or {}) if show else {}
        self.refresh(layout=True)

    def render(self) -> Text:
        return self.lines_for(self.content_size.width or 56)

    # --- layout -------------------------------------------------------------------------
    def columns(self, width: int) -> Columns:
        """How `width` columns are shared: the name column shrinks to 16 first, then the
        options get compact (" 1  2 " → " 1 2" → "12") and the names shrink further."""
        assert self.rubric is not None
        criteria = self.rubric.criteria
        longest = max((len(c.name) for c in criteria), default=4)
        kappa = any(a.enough for a in self.agreement.values())
        scaled = [c for c in criteria if c.kind in JUDGED_KINDS]
        # (options mode, judge cell, the name width this needs), widest first.
        narrow = JUDGE_CELL[1]
        heads = [*(len(name) + 1 for name in self.judges), *(len(p.name) + 2 for p, _ in self.panels)]
        wide = min(JUDGE_CELL[0], max([narrow, *heads]))
        for mode, cell, needs in ((3, wide, 16), (3, narrow, 16), (2, narrow, 10), (1, narrow, 0)):
            right = (len(SEPARATOR) + cell * len(heads) + (KAPPA_CELL if kappa else 0)) if self.judges else 0
            options = max((option_width(c, mode) for c in scaled), default=0)
            name = width - 3 - options - right
            if name >= min(longest, needs):
                break
        name = max(3, min(longest, name))
        tags = [sum(len(f" {n}:{t}") for n, t in enumerate(c.tags, 1)) for c in criteria if c.kind == "tags"]
        options = max(0, min(max([options, *tags]), width - 3 - name - right))
        return Columns(name, mode, options, cell, kappa and bool(self.judges))

    def lines_for(self, width: int) -> Text:
        """The panel as text: one line per criterion, each at most `width` columns."""
        state, rubric = self.state, self.rubric
        if state is None or rubric is None:
            return Text()
        width = max(width, 20)
        cols = self.columns(width)
        judged = bool(self.judges) and self.revealed and state.complete
        events = {name: state.judges.get(name) for name in self.judges}
        sources = self.sources(events)
        lines: list[Text] = []
        if judged:
            header = Text(" " * (3 + cols.name + cols.options + len(SEPARATOR)))
            for name, _, panel in sources:
                shown = (
                    inert_line(name)[: cols.cell - 2] + PANEL_MARK
                    if panel
                    else inert_line(name)[: cols.cell - 1]
                )
                header.append(shown.rjust(cols.cell - 1) + " ", style="bold magenta")
            if cols.kappa:
                header.append("κ".rjust(KAPPA_CELL), style="bold cyan")
            lines.append(header)
        human = state.human
        comment_key = key_label(rubric.keys.get("comment", "c"))
        for index, criterion in enumerate(rubric.criteria):
            focused = index == self.focus_index
            line = Text("▶ " if focused else "  ", style="bold yellow")
            name = inert_line(criterion.name)
            shown = name if len(name) <= cols.name else name[: cols.name - 1] + "…"
            line.append(shown.ljust(cols.name) + " ", style="bold" if focused else "")
            mine = human.get(criterion.name)
            if criterion.kind == "note" or not self.judges:
                line.append_text(options_text(criterion, mine, cols.mode, width - line.cell_len, comment_key))
                lines.append(line)
                continue
            options = options_text(criterion, mine, cols.mode, cols.options, comment_key)
            line.append_text(options)
            if not judged:  # blind: the judges' columns stay empty (and the layout the same)
                lines.append(line)
                continue
            line.append(" " * (cols.options - options.cell_len))
            line.append(SEPARATOR, style="dim")
            for _, event, _ in sources:
                line.append_text(self.judge_cell(criterion, mine, event, cols.cell))
            if cols.kappa:
                found = self.agreement.get(criterion.name)
                enough = found is not None and found.enough
                value = kappa_text(found) if found is not None and enough else "·"
                line.append(value.rjust(KAPPA_CELL), style="cyan" if enough else "dim")
            lines.append(line)
        current = rubric.criteria[self.focus_index] if 0 <= self.focus_index < len(rubric.criteria) else None
        if current is not None and current.description:
            lines.append(Text(inert_line(current.description), style="dim italic"))
        status = Text()
        if state.stale_labels and not fully_scored(state, rubric):
            # Labels given on an earlier answer: kept on record, out of every number.
            status.append("answer changed since you scored  ", style="bold yellow")
        if state.flagged:
            status.append("⚑ flagged  ", style="bold red")
        if state.comment:
            status.append(f"✎ {inert_line(state.comment)}  ", style="italic")
        if state.skipped_by_human:
            status.append("skipped  ", style="dim")
        if self.saved:
            status.append(self.saved, style="red" if self.saved.startswith("✗") else "green")
        if status:
            lines.append(status)
        lines += check_lines(state)
        if self.judges and state.complete:
            lines += self.judge_lines(width, events, judged)
        if judged and self.panels:  # the legend of the marked columns
            legend = "  ".join(
                f"{inert_line(p.name)}{PANEL_MARK} = {'+'.join(map(inert_line, p.judges))}"
                for p, _ in self.panels
            )
            lines.append(Text(f"{legend} (panel: majority, median)", style="dim magenta"))
        for line in lines:
            line.no_wrap = True
            line.truncate(width, overflow="ellipsis")
        return Text("\n").join(lines)

    def agreement_line(self, width: int) -> Text:
        """You against the first judge: n (items both scored), below MIN_N "n too small";
        from MIN_N on, the exact share over all criteria and the focused criterion's kappa
        with its 95% interval (the κ column has each row's kappa, without room for this)."""
        assert self.rubric is not None
        found = self.agreement
        n = max(a.n for a in found.values())  # items where both you and the judge gave a score
        judge = inert_line(self.judges[0])[:10]
        head = f"you vs {judge}: n={n}"
        if not any(a.enough for a in found.values()):
            line = Text(head, style="dim")  # dim throughout, as the judges' line above
            line.append(" · n too small for κ", style="yellow")
            return line
        pairs = sum(a.n for a in found.values())
        same = sum(round((a.exact or 0) * a.n) for a in found.values())
        exact = f" · exact {100 * same / pairs:.0f}%"
        criteria = self.rubric.criteria
        focused = criteria[self.focus_index].name if 0 <= self.focus_index < len(criteria) else None
        name = focused if focused in found else None
        if name is None:  # a tags or note criterion in focus: the criterion with most pairs
            name = max(found, key=lambda key: found[key].n)
        entry = found[name]
        if not entry.enough:
            tails = [f" · {name} κ n too small", " · κ n too small"]
        elif entry.kappa is None:
            tails = [f" · {name} κ – (undefined)", " · κ – (undefined)", " · κ –"]
        elif entry.kappa_ci is None:  # no resample defined it
            tails = [f" · {name} κ {entry.kappa:+.2f}", f" · κ {entry.kappa:+.2f}"]
        else:
            kappa, (low, high) = f"{entry.kappa:+.2f}", (f"{v:+.2f}" for v in entry.kappa_ci)
            tails = [
                f" · {name} κ {kappa}, 95% CI [{low}, {high}]",
                f" · κ {kappa}, 95% CI [{low}, {high}]",
                f" · κ {kappa} [{low}, {high}]",
            ]
        # The longest that fits: the exact share goes first, then "you vs", then the interval.
        short = f"{judge}: n={n}"
        shapes = [(head, exact, tail) for tail in tails] + [(head, "", tail) for tail in tails]
        shapes += [(short, "", tail) for tail in tails]
        head, exact, tail = next((s for s in shapes if sum(map(len, s)) <= width), shapes[-1])
        line = Text(head, style="dim")
        line.append(exact)
        line.append(tail, style="cyan")
        return line

    def ppi_line(self, width: int) -> Text | None:
        """The focused criterion's prediction-powered estimate (your random-sample labels
        with the first judge's scores on every item), once the random sample has MIN_N
        labels, and about how many more random labels would bring it to ±0.05: when to stop.
        None before that, or on a criterion PPI does not read (tags, notes)."""
        assert self.rubric is not None
        criteria = self.rubric.criteria
        focused = criteria[self.focus_index].name if 0 <= self.focus_index < len(criteria) else None
        entry = self.agreement.get(focused) if focused is not None else None
        if entry is None or entry.ppi is None:
            return None
        est = entry.ppi
        what = "rate" if entry.kind == "binary" else "mean"
        low, high = est.ci
        value = f"PPI {what} {est.estimate:.2f} [{low:.2f}, {high:.2f}] n={entry.n_random}"
        if entry.more == 0:
            advice = "±0.05 reached"
        elif entry.more is None:
            advice = "±0.05 out of reach here"
        else:
            advice = f"about {entry.more} more labels for ±0.05"
        worth = f"worth {est.n_effective:.0f} labels" if est.n_effective is not None else ""
        shapes = [
            " · ".join(part for part in (value, worth, advice) if part),
            f"{value} · {advice}",
            value,
        ]
        text = next((shape for shape in shapes if len(shape) <= width), shapes[-1])
        return Text(text, style="cyan")

    def sources(
        self, events: dict[str, dict[str, Any] | None]
    ) -> list[tuple[str, dict[str, Any] | None, bool]]:
        """The judges' columns in order, (name, verdict, is a panel): each panel right after
        the last of its members shown (at the end if one of them has no column)."""
        columns: list[tuple[str, dict[str, Any] | None, bool]] = [(n, e, False) for n, e in events.items()]
        for panel, record in self.panels:
            names = [column[0] for column in columns]
            at = len(columns)
            if all(member in events for member in panel.judges):
                at = max(names.index(member) for member in panel.judges) + 1
                while at < len(columns) and columns[at][2]:  # after the panels already placed there
                    at += 1
            columns.insert(at, (panel.name, record, True))
        return columns

    @staticmethod
    def judge_cell(criterion: Criterion, mine: Any, event: dict[str, Any] | None, width: int) -> Text:
        """One judge's value under its name: ✗ and red where it differs from yours."""
        if event is None:
            return Text("…".rjust(width - 1) + " ", style="dim")
        if event.get("error"):
            return Text("err".rjust(width - 1) + " ", style="red")
        scores = event.get("scores") or {}
        if criterion.name not in scores:
            return Text("·".rjust(width - 1) + " ", style="dim")
        value = scores[criterion.name]
        if criterion.kind == "tags":  # tag numbers, as the keys toggle them
            chosen = [str(n) for n, tag in enumerate(criterion.tags, 1) if tag in (value or [])]
            shown, same = ",".join(chosen) or "∅", mine is not None and set(mine) == set(value or [])
        else:
            shown, same = format_value(criterion, value), mine == value
        shown = shown[: width - 2].rjust(width - 1)
        if mine is None:
            return Text(shown + " ")
        if same:
            return Text(shown + " ", style="green")
        return Text(shown + "✗", style="bold red")

    def judge_lines(self, width: int, events: dict[str, dict[str, Any] | None], judged: bool) -> list[Text]:
        """Below the criteria: blind, how many judges are ready; revealed, the agreement,
        errors in full, and scores that are not the rubric's (a rating, a pairwise verdict)."""
        assert self.rubric is not None
        rubric = self.rubric
        reveal = key_label(rubric.keys.get("reveal", "v"))
        if not judged:
            ready = sum(1 for e in events.values() if e is not None)
            count = f"{ready}/{len(self.judges)}"
            for text in (
                f"judges: {count} ready, hidden until you score ({reveal} reveals)",
                f"judges {count} ready, hidden ({reveal} reveals)",
                f"judges {count} · hidden ({reveal})",
            ):
                if len(text) <= width:
                    break
            return [Text(text, style="dim")]
        lines = []
        if self.agreement:
            lines.append(self.agreement_line(width))
            ppi = self.ppi_line(width)
            if ppi is not None:
                lines.append(ppi)
        for name, event in events.items():
            if event is None:
                continue
            if event.get("error"):
                lines.append(Text(f"{inert_line(name)}: error {inert_line(event['error'])}", style="red"))
                continue
            other = {k: v for k, v in (event.get("scores") or {}).items() if rubric.get(k) is None}
            if other:
                shown = "  ".join(f"{inert_line(k)} {inert_line(v)}" for k, v in other.items())
                lines.append(Text(f"{inert_line(name)}: {shown}", style="magenta"))
        return lines
