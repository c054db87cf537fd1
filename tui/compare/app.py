"""The A/B console: two answers to the same prompt, labelled only "1" and "2", voted on
with single keys while pairwise judges work in the background.

Like the run console (tui/console/app.py) the app is a subscriber of the comparison's Session
and sends it commands. Every vote goes through `ComparisonSession.prefer`, which fsyncs
before it returns, so "saved ✓" on screen means on disk. The operator stays blind: the
sessions are never named on an unvoted pair, which session is shown first is the
pair's own (`pair.first`, shuffled per item from --seed), and the judges' verdicts stay
hidden until the pair is voted and `v` is pressed. Right after a vote the screen says,
for a moment, which session was which, then moves on to the next unvoted pair; no vote
is taken while the names are shown.

What is shown is what the sessions saw and wrote: each answer with its line breaks
(`m` shows the exact saved characters instead of Markdown), why it ended when it did
not end by itself ("cut at 64 tokens"), the system message with the prompt (each
side's when they differ), and every text that came from a model or a file made inert,
so an answer cannot clear the screen or retitle the terminal. A key that arrives less
than KEY_SETTLE after a pair appeared was typed ahead (keys pile up over a slow link
while a pair loads): it is dropped, not counted as a vote on an answer nobody read.

The running numbers (win rates with their bootstrap intervals, agreement with each
judge) are computed on a worker thread and throttled, so a key press never waits on
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from sftscope.scorers.intervals import TOO_SMALL, figure_text
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.sessions.compare.comparison import Comparison, PairState
from sftscope.sessions.core.events import CHOSEN, RANDOM, Event, PairJudged, Preferred, Skipped, Undone
from sftscope.sessions.core.inert import inert_line
from sftscope.tui.base.app import SETTLE, TYPED_AHEAD, ConsoleApp, Recompute
from sftscope.tui.base.help import KeysScreen
from sftscope.tui.base.leaving import next_steps
from sftscope.tui.compare.view import (
    AnswerPane,
    Ending,
    answer_view,
    endings_summary,
    not_saved,
    prompt_view,
    verdict_text,
    vote_text,
)
from sftscope.tui.render.opening import opening_lines
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

if TYPE_CHECKING:
    from sftscope.scorers.stats.pairwise import ComparisonSummary, SourceSummary
    from sftscope.sessions.compare.judging import PairJudging

JUDGE_NICE = 10  # a local judge's threads run below the UI thread, as in the run console
REVEAL_SECONDS = 0.8  # how long "1 = runA · 2 = runB" stays before the next pair
TALLY_RESAMPLES = RESAMPLES  # the running line's bootstrap: the same intervals as every report
# Pairs × resamples one recomputation of the running line may cost (about a second on two
# cores: 1,000 pairs at 2,000 resamples). Beyond it the line uses fewer resamples, never
# under TALLY_FLOOR, and says how many next to the interval.
TALLY_BUDGET = 2_000_000
TALLY_FLOOR = 200
TALLY_RATE = 4.0  # at most about four recomputations a second, however fast the votes
WIDE = 110  # from this width the answers sit side by side
KEY_SETTLE = SETTLE  # a vote key sooner than this after the pair appeared was typed ahead


class CompareScreen(Screen[None]):
    """The prompt, the two answers, the note line and the running numbers. The footer
    lists the vote keys first: Textual cuts off what does not fit at the right."""

    BINDINGS = [
        Binding("1", "app.vote('1')", "better", key_display="1/2"),
        Binding("2", "app.vote('2')", "better", show=False),
        Binding("t", "app.vote('tie')", "tie"),
        Binding("b", "app.vote('both_bad')", "both bad"),
        Binding("question_mark", "app.help", "help", key_display="?"),
        Binding("q", "app.quit", "quit"),
        Binding("enter", "app.next_unvoted", "next", key_display="⏎"),
        Binding("u", "app.undo", "undo"),
        Binding("s", "app.skip", "skip"),
        Binding("v", "app.verdicts", "judges"),
        Binding("m", "app.toggle_raw", "raw/md"),
        # Before the answer panes' own (horizontal scroll) bindings: the answers wrap.
        Binding("right", "app.move(1)", "pair", show=False, priority=True),
        Binding("left", "app.move(-1)", "pair", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield Static("sftscope compare", id="status")
        with VerticalScroll(id="prompt"):
            yield Static(id="prompt-text")
        with Horizontal(id="answers"):
            yield AnswerPane(1, id="answer-1")
            yield AnswerPane(2, id="answer-2")
        yield Static(id="note")
        yield Static(id="tally")
        yield Footer(show_command_palette=False)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= WIDE, "wide")


HELP_ROWS = (
    (
        "1 / 2",
        "the first / the second answer is better (a key sooner than 0.15 s after "
        "the pair appeared is ignored: typed ahead)",
    ),
    ("t", "a tie"),
    ("b", "both are bad"),
    ("u", "undo the vote (or skip) on this pair; on a pair not voted yet, your last vote"),
    ("s", "skip this pair"),
    ("→ / ←", "the next / the previous pair"),
    ("enter", "the next pair not voted yet"),
    ("v", "show or hide the judges' verdicts (once you have voted on this pair)"),
    ("m", "Markdown or raw text: exactly the characters saved (control characters as ␛)"),
    ("tab", "focus the other answer (marked ▶)"),
    ("↑ ↓ pgup pgdn", "scroll the focused answer"),
    ("?", "this help"),
    ("q", "quit: every vote is already saved"),
    ("ctrl+c", "quit, marking the comparison interrupted"),
)


class CompareHelpScreen(KeysScreen):
    """Every key of the A/B console."""

    def __init__(self) -> None:
        super().__init__(
            Text.assemble(("sftscope compare keys", "bold"), "  (answers are never named)"), HELP_ROWS
        )


class CompareApp(ConsoleApp):
    """The A/B console on an open comparison; closes it (status, unlock) before it ends."""

    CSS_PATH = "compare.tcss"
    TITLE = "sftscope compare"
    ENABLE_COMMAND_PALETTE = False  # the footer keeps its room for the vote keys

    def __init__(self, comparison: Comparison, *, revisit: bool = False) -> None:
        super().__init__()
        self.comparison = comparison
        self.session = comparison.session
        self.main = CompareScreen()  # queried by name: a help screen may be on top
        self.revisit = revisit  # a saved comparison opened again (`sftscope replay`): no judging
        # In the order presented (Comparison.walk: a shuffled comparison's seeded random order).
        self.pairs: list[PairState] = comparison.walk()
        self.positions = {pair.pair: n for n, pair in enumerate(self.pairs)}
        self.index = 0
        self.shuffled = comparison.order == "shuffled"
        # The pair on screen was reached by walking the order (the start, →, enter, the move
        # after a vote or skip) rather than by a jump (←): its vote is in the random sample.
        self.walked = False
        self.walked_when_voted: dict[str, bool] = {}  # pair -> `walked` at its vote here (u)
        self.on_screen: str | None = None  # the pair whose answers are painted: votes apply to it
        self.painted_at = 0.0  # when `on_screen` was painted (monotonic, as Textual's event times)
        self.shown_at = 0.0  # when the pair on screen was asked for (show)
        self.displayed_at = 0.0  # when the screen was last written to the terminal
        self.raw = False  # m: answers and prompt as the saved characters instead of Markdown
        # Each side's system message by session name, from the header (kept when sources move).
        self.systems: dict[str, str | None] = {
            str(s.get("name")): s.get("system")
            for s in comparison.header.get("sources", [])
            if not s.get("reference")
        }
        self.sources = {source.name: source for source in comparison.sources}
        # Kept pair by pair from the events, so a key press costs the same on 16,000 pairs.
        self.voted = {pair.pair for pair in self.pairs if pair.voted}
        self.judge_names = [judge.spec.name for judge in comparison.judges]
        for pair in self.pairs:
            for name in pair.judges:
                if name not in self.judge_names:
                    self.judge_names.append(name)
        self.judged: dict[str, set[str]] = {name: set() for name in self.judge_names}
        self.judge_errors: dict[str, set[str]] = {name: set() for name in self.judge_names}
        for pair in self.pairs:
            for name, event in pair.judges.items():
                self.count_judgment(pair.pair, name, failed=event.get("verdict") == "error")
        self.revealed: set[str] = set()  # pairs whose verdicts are on screen (v)
        self.seen_judges: set[str] = set()  # pairs whose verdicts were ever shown: a later vote says so
        self.history: list[str] = []  # pairs voted or skipped here, for u on an unvoted pair
        self.reveal_note = ""
        self.opening_note = ""
        self.judging: PairJudging | None = None  # once the judges have started
        self.judges_started = False
        self.summary: ComparisonSummary | None = None
        self.tally_resamples = TALLY_RESAMPLES  # what the summary on screen was computed with
        # The running line, off the UI thread: one computation at a time, a few a second.
        self.tally_job: Recompute[tuple[ComparisonSummary, int]] = Recompute(
            self, "tally", self.tally_work, self.tally_ready, rate=TALLY_RATE, burst=1
        )
        self._advance: Timer | None = None
        # Another sftscope holds the comparison ("pid N on HOST"): this console only votes.
        self.writer = comparison.writer
        self.follow_problem = ""  # the writer's log gone bad while followed: said in the header

    # --- start-up ----------------------------------------------------------------
    async def on_mount(self) -> None:
        await self.push_screen(self.main)
        if not self.install_signal_handlers():
            return
        self.main.set_class(self.size.width >= WIDE, "wide")
        self.session.subscribe(self.on_comparison_event)
        # What was compared, said on the note line until the first key (a toast would
        # cover the answers).
        self.opening_note = " · ".join(opening_lines(self.comparison))
        first = next((n for n, pair in enumerate(self.pairs) if not pair.voted), 0)
        self.show(first, walked=True)
        self.main.query_one("#answer-1", AnswerPane).focus()
        self.warm(warm_statistics)  # seconds of imports, before the first vote needs them
        self.request_tally()
        if self.comparison.judges and not self.revisit:
            self.run_worker(self.start_judges(), group="judges", exit_on_error=False)
        if self.comparison.store.following:  # a rater's console: what the writer appends, each second
            self.set_interval(1.0, self.follow_writer)

    def follow_writer(self) -> None:
        """Fold in what the writer (another sftscope) appended: its verdicts count, and the
        header says while it still holds the comparison. A log gone bad is one header line."""
        from sftscope.sessions.core.store import SessionError, lock_holder

        try:
            self.session.poll()
        except SessionError as exc:
            self.follow_problem = str(exc)
        writer = lock_holder(self.comparison.directory)
        if writer != self.writer or self.follow_problem:
            self.writer = writer
            self.set_status()

    async def start_judges(self) -> None:
        """Start every judge, then judge the pairs none has judged in the background. A judge
        that cannot start ends the console with its one line (exit 2), as a model would."""
        from sftscope.sessions.compare.judging import PairJudging

        try:
            for judge in self.comparison.judges:
                judge.nice = JUDGE_NICE  # the keyboard comes first
                await judge.start()
        except Exception as exc:
            await self.fail_start(f"judge {judge.spec.name}: ", exc)
            return
        if self._session_closed:
            return
        self.judging = PairJudging(self.session, self.comparison.judges)
        self.judging.start()
        self.judges_started = True
        self.set_status()

    # --- the pair on screen --------------------------------------------------------
    @property
    def main_screen(self) -> Screen[None]:
        return self.main

    @property
    def current(self) -> PairState | None:
        return self.pairs[self.index] if self.pairs else None

    def show(self, index: int, *, walked: bool = False) -> None:
        """Put a pair on screen. Votes wait until its answers are painted (`on_screen`).
        `walked`: reached by walking the order, not by a jump (`sample`)."""
        self.cancel_advance()
        self.walked = walked
        if not self.pairs:
            self.refused_note = "no pairs to compare"
            self.refresh_note()
            self.set_status()
            return
        self.index = max(0, min(index, len(self.pairs) - 1))
        pair = self.pairs[self.index]
        if self.on_screen is not None:
            self.opening_note = ""  # a second pair: the operator has read it
        self.on_screen = None
        self.shown_at = time.monotonic()
        if not self.saved_note.startswith("✗"):  # a failed write stays until one succeeds
            self.saved_note = ""
        self.reveal_note = ""
        self.refused_note = ""
        self.render_pair(pair)
        self.refresh_note()
        self.set_status()
        self.call_after_refresh(self.painted, pair.pair)

    def render_pair(self, pair: PairState) -> None:
        """The prompt and both answers, as Markdown or (m) raw; everything inert."""
        screen = self.main
        prompt = screen.query_one("#prompt", VerticalScroll)
        title = f" prompt · {inert_line(pair.item.id)}"
        if pair.item.category:
            title += f" · {inert_line(pair.item.category)}"
        prompt.border_title = Text(title + " ")  # Text: an id is never read as markup
        systems = (self.system_of(pair, pair.side(1)), self.system_of(pair, pair.side(2)))
        screen.query_one("#prompt-text", Static).update(prompt_view(pair, systems, raw=self.raw))
        prompt.scroll_home(animate=False)
        for number in (1, 2):
            side = pair.side(number)
            answers = pair.answers_a if side == "a" else pair.answers_b
            endings = self.endings_of(pair, side)
            view = answer_view(answers, endings, raw=self.raw)
            screen.query_one(f"#answer-{number}", AnswerPane).show(view, endings_summary(endings))

    def system_of(self, pair: PairState, side: str) -> str | None:
        """The system message the side's session ran with (`--system`), None if none."""
        system = self.systems.get(pair.name(side))
        return str(system) if system else None

    def endings_of(self, pair: PairState, side: str) -> tuple[Ending, ...] | None:
        """How each turn of the side's answer ended, from its session; None when the session
        is not readable now or its answer is no longer the one in the pair (then unknown)."""
        source = self.sources.get(pair.name(side))
        if source is None:
            return None
        answers = pair.answers_a if side == "a" else pair.answers_b
        if list(source.answers.get(pair.item.id, ())) != answers:
            return None
        return source.finishes.get(pair.item.id)

    def painted(self, pair_id: str) -> None:
        """After the refresh that drew the pair: votes apply to it from now on. It was on
        screen from the last write to the terminal (the callback itself may come a good
        while later on a busy start)."""
        current = self.current
        if current is not None and current.pair == pair_id:
            self.on_screen = pair_id
            written = self.displayed_at >= self.shown_at
            self.painted_at = self.displayed_at if written else time.monotonic()

    def post_display_hook(self) -> None:
        """Textual's hook after each write of the screen to the terminal."""
        self.displayed_at = time.monotonic()

    def vote_typed_ahead(self) -> bool:
        """True for a key that arrived less than KEY_SETTLE after the pair was painted
        (ConsoleApp.typed_ahead). It is dropped with a line on the note, and no bell (a
        burst of them would ring on and on)."""
        early = self.typed_ahead(self.painted_at)
        self.key_at = None
        if early:
            self.refused_note = TYPED_AHEAD
            self.refresh_note()
        return early

    def action_toggle_raw(self) -> None:
        """m: the answers (and prompt) as Markdown with their line breaks, or as the exact
        saved characters. The pair stays as it is: its votes are not held back again."""
        self.raw = not self.raw
        pair = self.current
        if pair is not None:
            self.render_pair(pair)
        self.set_status()

    def shown_pair(self) -> PairState | None:
        """The pair a vote (or skip) applies to: the current one, if its answers are on
        screen, the key was not typed ahead, and the sessions' names are not shown; else
        None (and the note says why)."""
        pair = self.current
        if pair is None or self._session_closed:
            self.key_at = None
            self.bell()
            return None
        if self.on_screen != pair.pair:
            self.key_at = None
            self.refuse("key ignored: the answers are not on screen yet")
            return None
        if self.vote_typed_ahead():
            return None
        if self.reveal_note:
            # The names are on screen: a vote now would not be blind (and was recorded as if
            # it were). u undoes the vote; → ← leave the pair, hiding the names again.
            self.refuse("no vote while the names are shown: u undoes yours, → moves on")
            return None
        return pair

    def show_refused(self) -> None:
        """On the note line."""
        self.refresh_note()

    def show_saved(self) -> None:
        """A failed write: on the note line, with a bell (a vote that did not count)."""
        self.refused_note = ""
        self.bell()
        self.refresh_note()
        self.set_status()

    def not_saved_text(self, message: str) -> str:
        return not_saved(message)

    def set_status(self) -> None:
        """The header: where you are, how many are voted, what was left out, the judges."""
        status = self.status_line()
        if status is None:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" sftscope ", style="bold reverse")
        total = len(self.pairs)
        text.append(f" pair {self.index + 1 if total else 0}/{total} ", style="bold")
        text.append(f"· voted {len(self.voted)} ")
        if self.comparison.rater is not None:
            text.append(f"· rater {inert_line(self.comparison.rater)} ", style="bold cyan")
        if self.writer is not None:
            writer = inert_line(self.writer)
            text.append(f"· voting only: pairs and verdicts come from {writer} ", style="yellow")
        if self.follow_problem:
            text.append(f"· {inert_line(self.follow_problem)} ", style="bold red")
        if self.comparison.left_out:
            text.append(f"· {self.comparison.left_out} left out ", style="dim")
        if self.revisit:
            text.append("· replay ", style="magenta")
        if self.raw:
            text.append("· raw ", style="bold magenta")
        for name in self.judge_names:
            text.append(f"· {inert_line(name)} {len(self.judged.get(name, ()))}/{total} ", style="dim")
            errors = len(self.judge_errors.get(name, ()))
            if errors:
                text.append(f"({errors} err) ", style="red")
        if (
            self.comparison.judges
            and not self.revisit
            and not self.judges_started
            and not self._session_closed
        ):
            text.append("· judges starting … ", style="yellow")
        self.write_error_text(text)
        status.update(text)

    def refresh_note(self) -> None:
        """Under the answers: what the last key did, the vote in force, and (revealed) the
        judges' verdicts."""
        screen = self.main
        if not screen.query("#note"):
            return
        pair = self.current
        lines: list[Text] = []
        first = Text(no_wrap=True, overflow="ellipsis")
        if self.opening_note and not (self.refused_note or self.saved_note):
            first.append(inert_line(self.opening_note), style="dim")
        elif self.refused_note:
            first.append(self.refused_note, style="bold yellow")
        elif self.saved_note.startswith("✗"):
            first.append(inert_line(self.saved_note), style="bold white on red")
        else:
            if self.saved_note:
                first.append(self.saved_note, style="bold green")
            if self.reveal_note:
                first.append(f"  {self.reveal_note}", style="bold magenta")
            if pair is not None and not self.reveal_note:
                if pair.human is not None:
                    first.append(f"  your vote: {vote_text(pair, pair.human)}", style="dim")
                elif pair.skipped:
                    first.append("  skipped", style="dim")
        lines.append(first)
        if pair is not None and pair.pair in self.revealed and pair.human is not None:
            for name in self.judge_names:
                line = verdict_text(pair, name, pair.judges.get(name))
                line.no_wrap, line.overflow = True, "ellipsis"
                lines.append(line)
        screen.query_one("#note", Static).update(Group(*lines))

    # --- the running numbers ---------------------------------------------------------
    def request_tally(self) -> None:
        """Ask for the running line again; one computation at a time, throttled."""
        self.tally_job.mark()
        self.tally_job.request()

    def tally_work(self) -> Callable[[], None]:
        """The votes read here, on the UI thread; the bootstrap runs on the worker thread."""
        from sftscope.sessions.compare.summary import pair_records

        records = pair_records(self.comparison.state)
        return partial(self.compute_tally, records, tally_resamples(len(records)))

    def compute_tally(self, records: list[object], resamples: int) -> None:
        """In a worker thread: the summary with the report's seed (the header's seed orders
        the pairs), handed to the UI thread."""
        from sftscope.scorers.stats.pairwise import summarize

        result: tuple[ComparisonSummary, int] | None = None
        try:
            result = summarize(records, resamples=resamples, seed=SEED), resamples  # type: ignore[arg-type]
        finally:
            self.tally_job.deliver(result)

    def tally_ready(self, result: tuple[ComparisonSummary, int] | None) -> None:
        if result is not None:
            self.summary, self.tally_resamples = result
            self.refresh_tally()
        self.tally_job.request()  # votes came in meanwhile

    def refresh_tally(self) -> None:
        screen = self.main
        if not screen.query("#tally"):
            return
        lines = tally_lines(self.summary, self.tally_resamples)
        texts = [Text(inert_line(line), no_wrap=True, overflow="ellipsis") for line in lines]
        screen.query_one("#tally", Static).update(Group(*texts))

    # --- the session's events ----------------------------------------------------------
    def count_judgment(self, pair_id: str, judge: str, *, failed: bool) -> None:
        self.judged.setdefault(judge, set()).add(pair_id)
        errors = self.judge_errors.setdefault(judge, set())
        if failed:
            errors.add(pair_id)
        else:
            errors.discard(pair_id)

    def on_comparison_event(self, event: Event) -> None:
        """An event on disk: counts, the note and the numbers follow it. (Not `on_event`:
        that name is Textual's own handler for every message.)"""
        match event:
            case Preferred(pair=on) | Skipped(pair=on) | Undone(pair=on) | PairJudged(pair=on):
                pair_id = str(on)
            case _:
                return
        pair = self.comparison.state.pairs.get(pair_id)
        if pair is None or pair_id not in self.positions:
            return
        current = self.current
        if not isinstance(event, PairJudged):  # a vote, a skip, an undo
            if pair.voted:
                self.voted.add(pair_id)
            else:
                self.voted.discard(pair_id)
            self.request_tally()
            self.set_status()
        else:
            judge = str(event.judge)
            if judge not in self.judge_names:
                self.judge_names.append(judge)
            self.count_judgment(pair_id, judge, failed=event.verdict == "error")
            if current is not None and current.pair == pair_id and pair_id in self.revealed:
                self.refresh_note()
            self.request_tally()
            self.set_status()

    # --- actions -------------------------------------------------------------------
    def action_vote(self, choice: str) -> None:
        """1 / 2 (the answer shown first / second), tie, both_bad."""
        pair = self.shown_pair()
        if pair is None:
            return
        side = {"1": pair.side(1), "2": pair.side(2)}.get(choice, choice)
        visible = pair.pair in self.seen_judges
        if not self.label(self.session.prefer, pair.pair, side, judges_visible=visible, sample=self.sample()):
            return
        self.note_history(pair.pair)
        self.walked_when_voted[pair.pair] = self.walked
        self.reveal_note = (
            f"1 = {inert_line(pair.name(pair.side(1)))} · 2 = {inert_line(pair.name(pair.side(2)))}"
        )
        self.refresh_note()
        self.set_status()
        self.cancel_advance()
        self._advance = self.set_timer(REVEAL_SECONDS, self.advance_after_vote)

    def advance_after_vote(self) -> None:
        """The moment is over: hide the names and go to the next unvoted pair."""
        self._advance = None
        if self._session_closed:
            return
        target = self.next_unvoted(self.index)
        if target is None:
            self.reveal_note = ""
            self.refused_note = "every pair is voted: q to finish"
            self.refresh_note()
            return
        self.show(target, walked=True)

    def sample(self) -> str:
        """How the pair on screen was reached, for its `preference` events: "random" while
        walking a shuffled comparison's order, "chosen" after a jump (←) and always in a
        comparison in file order. The first vote in force decides (PairState.sampled)."""
        return RANDOM if self.shuffled and self.walked else CHOSEN

    def cancel_advance(self) -> None:
        if self._advance is not None:
            self._advance.stop()
            self._advance = None

    def note_history(self, pair_id: str) -> None:
        if pair_id in self.history:
            self.history.remove(pair_id)
        self.history.append(pair_id)

    def next_unvoted(self, after: int) -> int | None:
        """The first pair not voted (nor skipped) after `after`, wrapping round; it may be
        `after` itself when that is the only one left."""
        count = len(self.pairs)
        for step in range(1, count + 1):
            index = (after + step) % count
            if not self.pairs[index].voted:
                return index
        return None

    def action_next_unvoted(self) -> None:
        if not self.pairs:
            self.bell()
            return
        target = self.next_unvoted(self.index)
        if target is None:
            self.refuse("every pair is voted: q to finish")
            return
        self.show(target, walked=True)

    def action_move(self, step: int) -> None:
        """→ walks on along the order; ← goes back: a jump, its vote chosen, not random."""
        target = self.index + step
        if not self.pairs or not 0 <= target < len(self.pairs):
            self.bell()
            return
        self.show(target, walked=step > 0)

    def action_skip(self) -> None:
        pair = self.shown_pair()
        if pair is None:
            return
        if not self.label(self.session.skip_pair, pair.pair):
            return
        self.note_history(pair.pair)
        target = self.next_unvoted(self.index)
        if target is not None and target != self.index:
            self.show(target, walked=True)
        self.saved_note = "skipped ✓"
        self.refresh_note()
        self.set_status()

    def action_undo(self) -> None:
        """Undo the last vote or skip on this pair; on a pair with none, go back to the
        last pair voted here and undo that (a vote moves on before a slip is noticed)."""
        pair = self.current
        if pair is None or self._session_closed:
            self.bell()
            return
        if not pair.actions:
            while self.history and not self.comparison.state.pairs[self.history[-1]].actions:
                self.history.pop()
            if not self.history:
                self.refuse("nothing to undo")
                return
            # Back to the slip to undo it: the pair is on screen as it was when voted, so a
            # vote given again there keeps the membership the first one had.
            last = self.history[-1]
            self.show(self.positions[last], walked=self.walked_when_voted.get(last, False))
            pair = self.pairs[self.index]
        self.cancel_advance()
        undone = pair.actions[-1]["type"]
        if not self.label(self.session.undo_pair, pair.pair):
            return
        if self.history and self.history[-1] == pair.pair and not pair.actions:
            self.history.pop()
        self.saved_note = f"undid the {'vote' if undone == Preferred.TYPE else undone} ✓"
        self.reveal_note = ""
        self.refresh_note()
        self.set_status()

    def action_verdicts(self) -> None:
        """Show or hide the judges' verdicts on this pair: only once it is voted."""
        pair = self.current
        if pair is None:
            self.bell()
            return
        if pair.pair in self.revealed:
            self.revealed.discard(pair.pair)
            self.refresh_note()
            return
        if not self.judge_names:
            self.refuse("no judges in this comparison (compare --judge SPEC)")
            return
        if pair.human is None:
            self.refuse("vote first: the judges' verdicts stay hidden until you vote on this pair")
            return
        self.cancel_advance()  # stay on the pair whose verdicts were asked for
        self.revealed.add(pair.pair)
        self.seen_judges.add(pair.pair)
        self.refused_note = ""
        self.refresh_note()

    def action_help(self) -> None:
        self.push_screen(CompareHelpScreen())

    # --- leaving -------------------------------------------------------------------
    def final_status(self) -> str:
        """complete once every pair is voted (or skipped), else stopped."""
        return "complete" if self.pairs and len(self.voted) == len(self.pairs) else "stopped"

    async def shutdown(self, status: str | None = None) -> None:
        """Stop the judges, write what waits, close the comparison (status, fsync, lock).
        Judgments in flight are dropped: a resumed comparison asks for them again."""
        if self._session_closed:
            return
        self._session_closed = True
        self.cancel_advance()
        if self.judging is not None:
            self.judging.cancel()
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(self.judging.stop(), timeout=1.0)
        self.session.retry_writes()
        self.close_problems = self.comparison.close(status or self.final_status())
        # Connections and caches closed, bounded: the process ends right after, and a
        # local judge's model is never worth waiting for.
        closing = asyncio.gather(*(judge.close() for judge in self.comparison.judges), return_exceptions=True)
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(closing, timeout=1.0)

    def next_steps(self) -> list[str]:
        """Printed once the console has closed: resume, report, export this comparison (DPO
        rows need --dpo-system when the sessions ran with different system messages)."""
        differ = len({system or "" for system in self.systems.values()}) > 1
        return next_steps(self.comparison.directory, comparison=True, systems_differ=differ)

    def close_now(self, status: str) -> None:
        """A signal: stop the judges and close synchronously (Leaving.hang_up)."""
        self.cancel_advance()
        if self.judging is not None:
            self.judging.cancel()
        self.session.retry_writes()
        self.close_problems = self.comparison.close(status)


def warm_statistics() -> None:
    """Import what scorers.stats.pairwise imports inside its functions (scipy, scikit-learn: about
    two seconds), so the first vote's numbers do not wait on it."""
    import importlib

    for name in (
        "scipy.optimize",
        "scipy.sparse.csgraph",
        "scipy.special",
        "scipy.stats",
        "sklearn.linear_model",
        "sklearn.metrics",
    ):
        importlib.import_module(name)


def tally_resamples(pairs: int) -> int:
    """The report's resample count (the same data, the same interval everywhere), unless a
    recomputation per vote would cost more than TALLY_BUDGET: then fewer (TALLY_FLOOR at
    least), which the running line says next to its intervals."""
    if pairs * TALLY_RESAMPLES <= TALLY_BUDGET:
        return TALLY_RESAMPLES
    return max(TALLY_FLOOR, TALLY_BUDGET // pairs)


def tally_lines(summary: ComparisonSummary | None, resamples: int = TALLY_RESAMPLES) -> list[str]:
    """The running line: each session's wins, ties and losses from your votes, its win
    rate with the 95% interval ("n too small" below MIN_N), then your agreement with each
    judge. Two sessions: a line per session; more: a line per pair of sessions. Intervals
    from fewer resamples than the report's say so: "(200 resamples; report: 2000)"."""
    from sftscope.sessions.compare.summary import agreement_line

    fewer = f" ({resamples} resamples; report: {TALLY_RESAMPLES})" if resamples < TALLY_RESAMPLES else ""
    if summary is None:
        return ["counting …"]
    if not summary.groups:
        return ["no votes yet"]
    lines: list[str] = []
    single = len(summary.groups) == 1
    for group in summary.groups:
        human = group.sources.get("human")
        if human is None:
            continue
        if single:
            lines.append(_session_line(group.a, human.wins_a, human.ties, human.wins_b, human, True, fewer))
            lines.append(_session_line(group.b, human.wins_b, human.ties, human.wins_a, human, False, fewer))
        else:
            name = f"{group.b} vs {group.a}"
            lines.append(_session_line(name, human.wins_b, human.ties, human.wins_a, human, False, fewer))
        agreements = []
        for judge, agreement in group.agreement.items():
            prefix = "" if single else f"{group.b} vs {group.a}: "
            if not agreement.n:
                agreements.append(f"{prefix}you vs {judge}: nothing decided by both yet")
            else:
                agreements.append(prefix + agreement_line(agreement) + (fewer if agreement.enough else ""))
        if agreements:
            lines.append(" · ".join(agreements))
    return lines


def _session_line(
    name: str, wins: int, ties: int, losses: int, source: SourceSummary, flip: bool, fewer: str = ""
) -> str:
    """A line like `runA  W3 T1 L2 · 0.58 [0.30, 0.83] n=12`: the rate is of `name` winning
    (ties count half); `flip` turns B's win rate (what the statistics give) into A's;
    `fewer` says, right after the interval, that it used fewer resamples than a report."""
    head = f"{name}  W{wins} T{ties} L{losses}"
    if not source.n:
        return f"{head} · no votes yet"
    if not source.enough or source.win_rate_b is None:
        return f"{head} · {TOO_SMALL} (n={source.n})"
    rate = 1.0 - source.win_rate_b if flip else source.win_rate_b
    ci = source.win_rate_b_ci
    if ci is not None:
        ci = (1.0 - ci[1], 1.0 - ci[0]) if flip else ci
    return f"{head} · {figure_text(rate, ci, source.n)}{fewer if ci else ''} n={source.n}"
