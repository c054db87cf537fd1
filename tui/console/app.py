"""The console: watch answers stream, hand-score them with single keys, never wait.

The app is a subscriber of the Session (the only writer of the session) and
sends it commands. Every label goes through `Session.score`, which fsyncs before
it returns, so "saved" on screen means on disk. The model loads in the
background after the first paint; generation runs a few items ahead of the
operator (`--ahead`), so moving on shows an answer that is already there or
streaming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from sftscope.scorers.panel import PanelSpec, panels_in
from sftscope.scorers.rubric import Rubric
from sftscope.scorers.stats.intervals import RESAMPLES, SEED
from sftscope.sessions.core import progress
from sftscope.sessions.core.events import (
    CHOSEN,
    RANDOM,
    Event,
    Generated,
    Judged,
    Label,
    Notice,
    Regenerated,
    Scored,
    Turned,
    Undone,
    Verdict,
)
from sftscope.sessions.core.inert import inert, inert_line
from sftscope.sessions.core.panels import panel_record
from sftscope.sessions.core.state import ItemState
from sftscope.sessions.core.store import SessionError, lock_holder
from sftscope.sessions.run import review
from sftscope.sessions.run.probes import ProbeBook, ProbePlan, blind_view
from sftscope.tui.base.app import TYPED_AHEAD, ConsoleApp, Recompute, first_line
from sftscope.tui.base.leaving import next_steps
from sftscope.tui.console.conversation import Conversation, Transcript
from sftscope.tui.console.keys import build_bindings
from sftscope.tui.console.screens import CommentScreen, HelpScreen, ReportScreen
from sftscope.tui.console.widgets import ItemList, ScorePanel
from sftscope.tui.render.answer_text import finish_note
from textual.app import App, ComposeResult
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static

if TYPE_CHECKING:
    from sftscope.sessions.run.launch import Launch

MODEL_NICE = 10  # local model threads run below the UI thread (bench/ui_latency.py)
# The running agreement's intervals: the same resamples and seed as every report
# (scorers.intervals), computed off the UI thread a few times a second at most.
AGREEMENT_RESAMPLES = RESAMPLES
AGREEMENT_RATE = 4.0  # computations a second, on average
AGREEMENT_BURST = 3  # at once: a key pressed now and then gets its figures without waiting
REPORT_RESAMPLES = RESAMPLES  # the report screen and report.html: as `sftscope report`


class ReportWritten(Message):
    """What became of report.html, for the status line."""

    def __init__(self, note: str) -> None:
        super().__init__()
        self.note = note


class SftscopeCommands(Provider):
    """The command palette reaches every action: jump to an item, next unscored, toggle
    blind, regenerate, export, quit."""

    def _commands(self) -> list[tuple[str, object, str]]:
        """The actions, then one "Go to item" per item."""
        app: SftscopeApp = self.app  # type: ignore[assignment]
        commands = self._actions()
        for index, item_id in enumerate(app.item_ids):
            name = f"Go to item {inert_line(item_id)}"
            commands.append((name, partial(app.goto, index), "jump to this item"))
        return commands

    def _actions(self) -> list[tuple[str, object, str]]:
        app: SftscopeApp = self.app  # type: ignore[assignment]
        commands: list[tuple[str, object, str]] = [
            ("Next unscored item", app.action_next_unscored, "jump to the first item not fully scored"),
            ("Toggle blind (reveal judge scores)", app.action_reveal, "show or hide judge scores"),
            (
                "Toggle Markdown / raw text",
                app.action_toggle_markdown,
                "the answer rendered, or exactly the saved characters",
            ),
            ("Report", app.action_report, "the session's figures with 95% intervals, and charts"),
            ("Write HTML report", app.action_write_html_report, "write report.html in the session"),
            (
                "Next disagreement",
                app.action_next_disagreement,
                "the next scored item where a revealed judge and you differ, most first",
            ),
            (
                "Disagreement queue",
                app.action_toggle_queue,
                "on or off: enter walks the items where a judge and you differ, most first",
            ),
            ("Regenerate this answer", app.action_regenerate, "generate the current item again"),
            ("Stop generation", app.action_stop, "stop the current answer"),
            ("Skip this item", app.action_skip, "mark the item skipped"),
            ("Flag this item", app.action_flag, "flag or unflag the item"),
            ("Comment on this item", app.action_comment, "write a comment"),
            (
                "Export session (JSONL)",
                partial(app.action_export, "jsonl"),
                "write export.jsonl in the session",
            ),
            ("Export session (CSV)", partial(app.action_export, "csv"), "write export.csv in the session"),
            ("Help: keys", app.action_help, "list every key"),
            ("Quit", app.action_quit, "everything is already saved"),
        ]
        return commands

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for name, callback, help_text in self._actions():
            yield Hit(1.0, name, callback, help=help_text)  # type: ignore[arg-type]


class ScoringScreen(Screen[None]):
    """The main screen. `for_rubric` makes a subclass whose BINDINGS come from the rubric."""

    WIDE = 110

    @classmethod
    def for_rubric(cls, rubric: Rubric) -> ScoringScreen:
        screen_class = type("ScoringScreen", (cls,), {"BINDINGS": build_bindings(rubric)})
        return screen_class()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= self.WIDE, "wide")

    def compose(self) -> ComposeResult:
        yield Static("sftscope", id="status")
        with Horizontal(id="body"):
            yield ItemList(id="items")
            with Vertical(id="main"):
                yield Conversation(id="conversation")
                yield ScorePanel(id="scores")
        yield Footer()

    def on_item_list_selected(self, event: ItemList.Selected) -> None:
        app: SftscopeApp = self.app  # type: ignore[assignment]
        app.goto(event.index)


class SftscopeApp(ConsoleApp):
    CSS_PATH = "sftscope.tcss"
    TITLE = "sftscope"
    COMMANDS = App.COMMANDS | {SftscopeCommands}

    def __init__(self, launch: Launch, *, ahead: int = 3) -> None:
        super().__init__()
        self.launch = launch
        self.session = launch.session  # the log, the state and the label API
        # What plays: the live Generator (the engine's queue) or a playback of the saved
        # session; either way the item on screen first (focus), then `ahead` after it.
        self.source = launch.source
        self.pool = launch.pool  # judges and checks
        self.rubric = launch.rubric
        self.ahead = ahead
        self.item_ids: list[str] = []  # in the order presented (Launch.walk)
        self.walk_states: list[ItemState] = []  # the same order: what `enter` and `d` index
        self.index = 0
        # The item on screen was reached by walking the order (start, n, enter, auto-advance)
        # rather than by a jump: its labels are the random sample in a shuffled session.
        self.walked = False
        self.shuffled = False
        self.criterion = 0
        self.revealed_items: set[str] = set()  # `v` showed the judges before you scored
        self.hidden_items: set[str] = set()  # `v` hid them again on a fully scored item
        self._last_meta = 0.0
        self.ready = False
        self._view_lock = asyncio.Lock()
        self._runner_task: asyncio.Task[Any] | None = None
        # Kept item by item, so a key press costs the same on 20,000 items as on 30.
        self.finished: set[str] = set()  # nothing left to do: fully scored, or skipped
        self.scored: set[str] = set()  # answered and fully scored (a skip is not a score)
        self.assigned: frozenset[str] = frozenset()  # this rater's items ([assignment], --overlap)
        self.judge_failures: dict[str, set[str]] = {}  # judge -> items its latest verdict failed on
        self.judged: set[str] = set()
        self.writer: str | None = None  # another sftscope generating this session ("pid N on HOST")
        self.positions: dict[str, int] = {}
        self.status_note = ""  # what a palette action did (status line, until the next item)
        self.scoring: ScoringScreen | None = None
        # Judges whose scores the panel shows: the run's, then any others found in the log.
        self.judge_names: list[str] = []
        # The session's judge panels (session.toml): a column each, derived, never logged.
        self.panels: tuple[PanelSpec, ...] = ()
        # You against the first judge, computed off the UI thread (request_agreement).
        self.agreement: dict[str, review.RunningAgreement] = {}
        self.agreement_job: Recompute[dict[str, review.RunningAgreement]] = Recompute(
            self,
            "running agreement",
            self.agreement_work,
            self.agreement_ready,
            rate=AGREEMENT_RATE,
            burst=AGREEMENT_BURST,
        )
        # Disagreement first: `d` and the queue mode walk review.next_disagreement's order.
        self.queue_mode = False
        self.queue_place: tuple[float, int] | None = None  # where the walk is
        self.queue_item: str | None = None  # the item it showed last
        # Rater reliability probes (--probe-rate): the book, and the probe on screen.
        self.probes: ProbeBook | None = None
        self.probe: str | None = None
        self.probe_return: int | None = None  # where to go once the probe is answered
        self.probe_trail: list[str] = []  # criteria answered on this probe, for undo
        self.report_resamples = REPORT_RESAMPLES
        # Typed-ahead keys are not labels: when the answer on screen first showed (the key's
        # arrival is ConsoleApp.key_at).
        self.answer_since: float | None = None
        self._blind_rows: set[str] = set()  # rows shown blind: probes due or on screen

    # --- start-up ----------------------------------------------------------------
    async def on_mount(self) -> None:
        self.scoring = ScoringScreen.for_rubric(self.rubric)
        await self.push_screen(self.scoring)
        if not self.install_signal_handlers():
            return
        self.set_status("loading model …")
        self.run_worker(self.start_session(), group="session", exit_on_error=False)

    async def start_session(self) -> None:
        self.launch.engine.lower_priority(MODEL_NICE)  # the keyboard comes first
        for judge in self.pool.judges:
            judge.nice = MODEL_NICE
        try:
            if not self.launch.started:
                await self.launch.start()
        except Exception as exc:  # a model that cannot load: one line, exit 2
            await self.fail_start("", exc)
            return
        if self._session_closed:
            return
        rate = self.launch.probe_rate
        if rate > 0:
            params = self.launch.store.header.get("params") or {}
            plan = ProbePlan(rate, int(params.get("seed", self.launch.config.seed) or 0))
            self.probes = ProbeBook.from_log(plan, self.rubric, self.launch.store.events)
            self.probes.attach(self.session)  # before the console's own: it is up to date first
        self.session.subscribe(self.on_session_event)
        self.session.subscribe_progress(self.on_progress)
        items = self.session.state.items
        states = self.walk_states = [items[item_id] for item_id in self.launch.walk()]
        self.shuffled = self.launch.order == "shuffled"
        self.note_judges([judge.spec.name for judge in self.pool.judges])
        self.panels = tuple(panels_in(self.launch.store.header))
        for state in states:
            self.note_judges(state.judges)
        self.item_ids = [s.item.id for s in states]
        self.positions = {item_id: n for n, item_id in enumerate(self.item_ids)}
        self.finished = {s.item.id for s in states if self.is_finished(s)}
        self.scored = {s.item.id for s in states if self.is_scored(s)}
        self.assigned = self.launch.assigned_items()
        self.judged = {s.item.id for s in states if s.judges}
        for state in states:
            self.note_failures(state)
        self.items_widget.fill(states, self.rubric, self.source.live)
        first = next((i for i, s in enumerate(states) if not self.is_finished(s)), 0)
        self.ready = True
        self.sync_probe_rows()  # a resume with probes due: their rows blind from the start
        self._runner_task = asyncio.create_task(self.source.run(until_idle=False))
        if self.launch.store.following:  # a rater's console: what the writer appends, each second
            self.writer = lock_holder(self.launch.directory)
            self.set_interval(1.0, self.follow_writer)
        await self.show(first, walked=True)

    def follow_writer(self) -> None:
        """Fold in and show what another process (the writer) appended to the log; a log
        that went bad meanwhile is said on the status line, never a traceback."""
        try:
            self.session.poll()
        except SessionError as exc:
            self.set_status(inert_line(str(exc)))
            return
        writer = lock_holder(self.launch.directory)
        if writer != self.writer:  # the header says while another sftscope still generates
            self.writer = writer
            self.set_status()

    # --- widgets -----------------------------------------------------------------
    @property
    def main_screen(self) -> Screen[None]:
        """The scoring screen, also while a modal (help, report) is over it."""
        return self.scoring if self.scoring is not None else self.screen

    @property
    def items_widget(self) -> ItemList:
        return self.main_screen.query_one("#items", ItemList)

    @property
    def answer(self) -> Markdown:
        return self.conversation.answer

    @property
    def conversation(self) -> Conversation:
        return self.main_screen.query_one("#conversation", Conversation)

    @property
    def current(self) -> ItemState | None:
        if not self.item_ids:
            return None
        return self.session.state.items[self.item_ids[self.index]]

    def is_finished(self, state: ItemState) -> bool:
        return review.is_finished(state, self.rubric)

    def is_scored(self, state: ItemState) -> bool:
        """Counted as scored in the header (review.is_scored): a skip is not a score."""
        return review.is_scored(state, self.rubric)

    def note_failures(self, state: ItemState) -> None:
        """Which judges failed on this item's current answer (their latest verdict is an error)."""
        item_id = state.item.id
        for name, failed in self.judge_failures.items():
            if name not in state.judges:
                failed.discard(item_id)
        for name, event in state.judges.items():
            failed = self.judge_failures.setdefault(name, set())
            if event.get("error"):
                failed.add(item_id)
            else:
                failed.discard(item_id)

    def has_answer(self, state: ItemState) -> bool:
        """An answer is on screen (finished, stopped or streaming): labels apply to it only."""
        live = self.source.live.get(state.item.id)
        if live is not None:
            return any(live.parts)
        return state.complete or state.status in ("cancelled", "incomplete")

    async def abandon(self) -> None:
        """The model did not load: Launch.start has closed the session already."""
        self._session_closed = True

    def show_saved(self) -> None:
        self.refresh_scores()
        self.set_status()

    def set_status(self, message: str | None = None) -> None:
        """The header. What matters now (a write error, the count, a failing judge, why a key
        did nothing) comes first; the model's and the directory's names give way to it on a
        narrow terminal."""
        status = self.status_line()
        if status is None:
            return
        text = Text()
        self.write_error_text(text)
        if message:
            text.append(f"· {message}", style="yellow")
        elif self.item_ids:
            text.append(f"· {len(self.scored)}/{len(self.item_ids)} scored ")
            if self.assigned:  # this rater's share of the assignment
                text.append(f"· yours {len(self.scored & self.assigned)}/{len(self.assigned)} ", style="cyan")
            for name, failed in self.judge_failures.items():
                if failed:  # loud: a judge that fails is seen as it happens, not at the end
                    text.append(f"· judge {inert_line(name)[:16]}: {len(failed)} failed ", style="bold red")
            if self.source.live:
                text.append(f"· generating {len(self.source.live)} ", style="yellow")
            if self.launch.badge:
                text.append(f"· {self.launch.badge} ", style="magenta")
            if self.session.rater is not None:  # who is labelling (team labelling, docs/console.md)
                text.append(f"· rater {inert_line(self.session.rater)} ", style="bold cyan")
            if self.writer is not None:
                text.append(f"· labelling only: answers come from {inert_line(self.writer)} ", style="yellow")
            if self.pool.judges:
                text.append(f"· judged {len(self.judged)} ", style="dim")
                if self.pool.judging:
                    text.append(f"({self.pool.judging} running) ", style="dim")
            if self.queue_mode:
                text.append("· disagreement queue ", style="bold magenta")
            if self.refused_note:
                text.append(f"· {inert_line(self.refused_note)}", style="bold yellow")
            elif self.status_note:
                text.append(f"· {inert_line(self.status_note)}", style="green")
        head = Text()
        head.append(" sftscope ", style="bold reverse")
        room = self.size.width - head.cell_len - text.cell_len
        model = inert_line(self.launch.engine.info.model)[: max(0, min(20, room - 2))]
        if model:
            head.append(f" {model} ", style="bold")
            room -= len(model) + 2
        name = inert_line(self.launch.directory.name)
        directory = name[: max(0, min(30, room - 3))]
        if directory == name or len(directory) >= 4:  # whole, or enough of it to recognise
            head.append(f"· {directory} ", style="dim")
        status.update(head + text)

    # --- the view ------------------------------------------------------------------
    def transcript_for(self, state: ItemState, turns: list[dict[str, Any]], *, streaming: bool) -> Transcript:
        """The item's conversation as written: the system message (the item's own, else the
        run's), earlier messages, then each prompt with its answer and, under an answer that
        did not simply stop, why it ended. `turns` are the generation events shown (those
        before the one streaming); `streaming`: the next answer streams in after them."""
        transcript = Transcript()
        item = state.item
        if not any(m["role"] == "system" for m in item.prefix) and self.source.system:
            transcript.message("system", self.source.system, style="bold magenta", quote=True)
        for message in item.prefix:
            role = str(message.get("role"))
            if role == "system":
                transcript.message("system", str(message["content"]), style="bold magenta", quote=True)
            elif role == "assistant":
                transcript.message("assistant (given)", str(message["content"]), style="bold")
            else:
                transcript.message(role, str(message["content"]), style="bold cyan")
        for turn, user in enumerate(item.turns):
            transcript.message("user", user, style="bold cyan")
            if turn >= len(turns):
                if streaming:
                    transcript.streaming()
                break
            transcript.answer(str(turns[turn].get("text", "")))
            note = finish_note(turns[turn])
            if note is not None:
                last = turn == len(turns) - 1 and turns[turn].get("finish_reason") != "length"
                again = self.launch.regenerates and last
                transcript.note(f"{note} (r to generate again)" if again else note)
        return transcript

    def body_for(self, state: ItemState) -> tuple[Transcript, bool]:
        """What to show and whether an answer streams into it."""
        turns = list(state.turns)
        live = self.source.live.get(state.item.id)
        if live is not None:
            return self.transcript_for(state, turns[: live.turn], streaming=True), True
        transcript = self.transcript_for(state, turns, streaming=False)
        if state.status == "error":
            transcript.note(f"error: {state.error}", style="bold red", strong=True)
        elif state.skipped:
            transcript.note(f"skipped: {state.skipped}")
        elif state.status in ("pending", "partial"):
            transcript.note("waiting for the model …")
        return transcript, False

    def live_text(self, item_id: str) -> str:
        """The answer streaming now for `item_id` ("" once it is written)."""
        live = self.source.live.get(item_id)
        return live.text if live is not None else ""

    async def show(self, index: int, *, probe: str | None = None, walked: bool = False) -> None:
        """Show item `index`; `probe` (its id) shows it as a probe: like a fresh item.
        `walked`: reached by walking the order, not by a jump (`sample`)."""
        if not self.item_ids:
            return
        self.walked = walked
        self.index = max(0, min(index, len(self.item_ids) - 1))
        target = self.item_ids[self.index]
        if probe is None and target in self.pending_probes():
            # Reached by `d`, an arrow, the palette or the item list: still the probe, blind.
            probe = target
            if self.probe_return is None:
                self.probe_return = self.index + 1 if self.index < len(self.item_ids) - 1 else None
        left, self.probe = self.probe, probe
        if probe is None:
            self.probe_return = None
        self.probe_trail = []
        if left is not None and left != probe:
            self.refresh_row(left)  # its row shows its own labels again
        if probe is not None:
            self.refresh_row(probe)
        state = self.current
        assert state is not None
        self.criterion = self.first_open_criterion(self.display_state(state))
        self.saved_note = ""
        self.refused_note = ""
        self.status_note = ""
        self.answer_since = None  # a new view: its answer has not been on screen yet
        self.items_widget.highlighted = self.index
        self.source.focus(state.item.id, self.ahead)
        await self.refresh_view()

    async def refresh_view(self) -> None:
        async with self._view_lock:
            state = self.current
            if state is None:
                return
            doc, streaming = self.body_for(state)
            if streaming:
                await self.conversation.stream(doc, state.item.id, partial(self.live_text, state.item.id))
            else:
                await self.conversation.show(doc)
            if self.has_answer(state):
                self.answer_on_screen(state.item.id)
            self.update_meta(state)
            self.refresh_scores()
            self.set_status()

    def update_meta(self, state: ItemState) -> None:
        item = state.item
        title = f" {inert_line(item.id)} · {self.index + 1}/{len(self.item_ids)}"
        if item.category:
            title += f" · {inert_line(item.category)}"
        self.conversation.border_title = Text(title + " ")  # Text: never read as markup
        live = self.source.live.get(item.id)
        if state.turns and live is None:
            tokens = state.tokens
            seconds = state.seconds
            rate = tokens / seconds if seconds else 0.0
            ttft = f" · ttft {state.ttft:.2f}s" if state.ttft is not None else ""
            self.conversation.border_subtitle = f" {tokens} tok · {rate:.1f} tok/s{ttft} "
        elif live is not None:
            if live.first is not None:
                elapsed = max(1e-6, time.monotonic() - live.started)
                self.conversation.border_subtitle = (
                    f" streaming · {live.tokens} tok · {live.tokens / elapsed:.1f} tok/s"
                    f" · ttft {live.first - live.started:.2f}s "
                )
            else:
                self.conversation.border_subtitle = " waiting for the first token … "
        else:
            self.conversation.border_subtitle = ""

    def judge_visible(self, state: ItemState) -> bool:
        """Blind, then reveal (review.judge_visible), with the operator's `v` either way;
        never while a probe of the item is pending (its judges would give the label away)."""
        item_id = state.item.id
        if item_id in self.hidden_items or item_id in self.pending_probes():
            return False
        return review.judge_visible(state, self.rubric, revealed=item_id in self.revealed_items)

    def pending_probes(self) -> set[str]:
        """Items whose probe is due or on screen: shown blind wherever they are reached (the
        due ones as of the last event: sync_probe_rows, not a pass over the book per call)."""
        return self._blind_rows | {self.probe} if self.probe is not None else self._blind_rows

    def display_state(self, state: ItemState) -> ItemState:
        """The item as it is shown: as a probe (on screen, or due), none of its own labels
        (probes.blind_view)."""
        item_id = state.item.id
        if self.probes is not None and (item_id == self.probe or item_id in self._blind_rows):
            return blind_view(state, self.probes.answers.get(item_id))
        return state

    def sync_probe_rows(self) -> None:
        """The item list shows a due probe's row blind too: its labels at a glance would
        give the answer away before it is asked."""
        if self.probes is None:
            return
        remaining = len(self.item_ids) - len(self.finished)
        pending = set(self.probes.due(self.session.state.items, remaining))
        changed = pending ^ self._blind_rows
        self._blind_rows = pending
        for item_id in changed:
            self.refresh_row(item_id)

    def note_judges(self, names: Iterable[str]) -> None:
        """The run's judges, and any found in the log (a session judged afterwards), get a
        column each. With the first, numpy is loaded in a thread: not at the first reveal."""
        first = not self.judge_names
        for name in names:
            if name not in self.judge_names:
                self.judge_names.append(name)
        if first and self.judge_names:
            self.warm(warm_statistics)

    def refresh_scores(self) -> None:
        """The score panel: your values, then (once revealed) each judge's in the same rows."""
        state = self.current
        visible = state is not None and self.probe is None and self.judge_visible(state)
        if not self.main_screen.query("#scores"):  # closing: the widgets are gone
            return
        shown = self.display_state(state) if state is not None else None
        self.main_screen.query_one("#scores", ScorePanel).show_scores(
            self.rubric,
            shown,
            self.criterion,
            self.saved_note,
            judges=self.judge_names,
            visible=visible,
            agreement=self.agreement,
            panels=self.panel_verdicts(shown) if visible else (),
        )
        if visible and state is not None and state.complete and self.judge_names:
            self.request_agreement()

    def panel_verdicts(self, state: ItemState | None) -> list[tuple[PanelSpec, dict[str, Any] | None]]:
        """Each panel with its verdict on `state` from its members' current verdicts, by the
        report's rule (sessions.core.panels.panel_record): recomputed at every refresh, so a
        member's verdict arriving changes it at once. Never logged: derived, as everywhere."""
        if state is None or not self.panels:
            return []
        criteria = [c for c in self.rubric.criteria if c.kind in ("binary", "likert")]
        return [(panel, panel_record(state, panel, criteria)) for panel in self.panels]

    # --- the running agreement, off the UI thread -------------------------------------
    def request_agreement(self) -> None:
        """Compute the running agreement again if a label or a verdict changed since (in a
        thread, throttled); the panel shows the last figures until the new ones are in."""
        if self.answer_since is None:
            # Not before the answer on screen is painted (painted() asks again): the thread
            # holds the GIL half the time, which delayed the first paint of a 16,000-item
            # `sftscope replay` by 0.35 s.
            return
        self.agreement_job.request()

    def agreement_work(self) -> Callable[[], None]:
        """The states listed here, on the UI thread: the thread only reads them."""
        return partial(self.compute_agreement, list(self.session.state.ordered()), self.judge_names[0])

    def compute_agreement(self, states: list[ItemState], judge: str) -> None:
        """In a worker thread: review.running_agreement, handed to the UI thread."""
        result: dict[str, review.RunningAgreement] | None = None
        try:
            result = review.running_agreement(
                states, self.rubric, judge, resamples=AGREEMENT_RESAMPLES, seed=SEED
            )
        finally:
            self.agreement_job.deliver(result)

    def agreement_ready(self, result: dict[str, review.RunningAgreement] | None) -> None:
        if result is not None:
            self.agreement = result
        if self.ready:
            self.refresh_scores()  # and computes again if something changed meanwhile

    def refresh_row(self, item_id: str) -> None:
        state = self.session.state.items.get(item_id)
        index = self.positions.get(item_id)
        if state is not None and index is not None and self.ready:
            self.finished.discard(item_id)
            if self.is_finished(state):
                self.finished.add(item_id)
            self.scored.discard(item_id)
            if self.is_scored(state):
                self.scored.add(item_id)
            self.note_failures(state)
            if state.judges:
                self.judged.add(item_id)
            else:
                self.judged.discard(item_id)
            self.items_widget.refresh_item(
                index, self.display_state(state), self.rubric, item_id in self.source.live
            )

    def first_open_criterion(self, state: ItemState) -> int:
        human = state.human
        for index, criterion in enumerate(self.rubric.criteria):
            if criterion.required and criterion.name not in human:
                return index
        return 0

    # --- the session's events and progress -----------------------------------------------
    def on_progress(self, message: progress.Progress) -> None:
        """What streams and what fails to write: shown, never saved."""
        current = self.item_ids[self.index] if self.item_ids else None
        if isinstance(message, progress.Text):
            item_id = message.item
            live = item_id in self.source.live
            if live and item_id == current and time.monotonic() - self._last_meta > 0.25:
                self._last_meta = time.monotonic()
                self.update_meta(self.session.state.items[item_id])
            self.conversation.feed(item_id, message.text)
            if item_id == current and message.text:
                self.answer_on_screen(item_id)
        elif isinstance(message, progress.Started):
            item_id = message.item
            self.refresh_row(item_id)
            if item_id == current:
                self.answer_since = None  # a new answer: keys wait until it shows
                self.run_worker(self.refresh_view(), group="view")
            self.set_status()
        elif isinstance(message, progress.Restart):  # asked again from the start: clear the text
            if message.item == current:
                self.answer_since = None
                self.run_worker(self.refresh_view(), group="view")
        elif isinstance(message, progress.Replayed):  # played to its end: shown as recorded
            self.refresh_row(message.item)
            if message.item == current:
                self.run_worker(self.refresh_view(), group="view")
        else:  # WriteFailed, WriteOk
            self.set_status()

    def on_session_event(self, event: Event) -> None:
        """An event on disk: the rows, the view and the status follow it. (Not `on_event`:
        that name is Textual's own handler for every message.)"""
        current = self.item_ids[self.index] if self.item_ids else None
        match event:
            case Notice(text=text):
                self.notify(inert(text), title="sftscope", timeout=12, markup=False)
            case Turned(item=item):  # a generation, an error, an engine skip, a regenerate
                self.refresh_row(str(item))
                self.sync_probe_rows()
                if str(item) == current:
                    if isinstance(event, Regenerated):
                        self.answer_since = None
                    self.run_worker(self.refresh_view(), group="view")
                self.set_status()
            case Label(item=item):  # a score, an undo, a flag, a comment, a probe
                self.refresh_row(str(item))
                self.sync_probe_rows()
                self.set_status()  # the header's count follows at once
            case Verdict(item=item):  # a judge's verdict, the checks
                self.refresh_row(str(item))
                state = self.session.state.items.get(str(item))
                if state is not None:
                    self.note_judges(state.judges)
                if str(item) == current:
                    self.refresh_scores()
                self.set_status()
        if isinstance(event, (Generated, Scored, Undone, Judged)):  # what the agreement is made of
            self.agreement_job.mark()
            state = self.current
            if state is not None and self.probe is None and self.judge_visible(state) and self.judge_names:
                self.request_agreement()

    # --- typed-ahead keys are not labels -----------------------------------------------
    def answer_on_screen(self, item_id: str) -> None:
        """The answer of the item on screen has text on screen (once painted): from then on,
        after SETTLE seconds, keys label it."""
        if self.answer_since is not None or not self.item_ids or self.item_ids[self.index] != item_id:
            return

        def painted() -> None:
            if self.answer_since is None and self.item_ids[self.index] == item_id:
                self.answer_since = time.monotonic()
                state = self.current  # the running agreement waited for this paint
                visible = state is not None and self.probe is None and self.judge_visible(state)
                if visible and self.judge_names:
                    self.request_agreement()

        self.call_after_refresh(painted)

    def settled(self) -> bool:
        """A key labels the answer on screen only if it arrived at least SETTLE seconds after
        that answer was first on screen; an earlier key was typed ahead (for the item before,
        or before the answer loaded) and is dropped, saying so."""
        if self.typed_ahead(self.answer_since):
            self.refuse(TYPED_AHEAD)
            return False
        return True

    # --- actions -------------------------------------------------------------------
    def goto(self, index: int) -> None:
        if self.ready:
            self.run_worker(self.show(index), group="nav")

    async def action_next_item(self) -> None:
        if self.ready and self.index < len(self.item_ids) - 1:
            await self.show(self.index + 1, walked=True)

    async def action_prev_item(self) -> None:
        if self.ready and self.index > 0:
            await self.show(self.index - 1)

    async def action_next_unscored(self) -> None:
        """`enter`: the next item not finished (a probe that is due first); in the queue
        mode, the next item where a judge and you differ."""
        if not self.ready:
            return
        if self.queue_mode:
            await self.next_in_queue()
            return
        states = self.walk_states
        leaving = self.probe is not None  # a probe left unanswered waits for the next move on
        after = self.index if self.probe_return is None else self.probe_return - 1
        target = review.next_unfinished(states, self.rubric, after)
        if not leaving and self.due_probe() is not None:
            await self.advance(target)
            return
        if target is None:
            self.notify("every item is scored")
            if leaving and self.probe_return is not None:
                await self.show(self.probe_return, walked=True)
            return
        await self.show(target, walked=True)

    # --- moving on: probes and the disagreement queue ------------------------------
    def due_probe(self) -> str | None:
        """The probe to show now, if one is due (never in the queue mode; a replay has none)."""
        if self.probes is None or self.queue_mode:
            return None
        remaining = len(self.item_ids) - len(self.finished)
        due = self.probes.due(self.session.state.items, remaining)
        return due[0] if due else None

    async def advance(self, default: int | None) -> None:
        """Move on: a probe that is due comes first, unannounced, then item `default`
        (None: stay). After the probe the console goes where it was going."""
        probe = self.due_probe()
        if probe is not None and probe in self.positions:
            if default is not None:
                self.probe_return = default
            elif self.probe_return is None:
                self.probe_return = self.index
            await self.show(self.positions[probe], probe=probe)
            return
        if default is not None:
            await self.show(default, walked=True)  # on along the order: still walking it

    async def move_on(self) -> bool:
        """After the item on screen is done (auto-advance): the queue's next item in the
        queue mode, else a due probe or the next item. False when there is nowhere to go."""
        if self.queue_mode:
            return await self.next_in_queue()
        following = self.index + 1 if self.index < len(self.item_ids) - 1 else None
        if following is None and self.due_probe() is None:
            return False
        await self.advance(following)
        return True

    async def action_next_disagreement(self) -> None:
        """`d`: the next item, most disagreement first, where a revealed judge and you differ."""
        if self.ready:
            await self.next_in_queue()

    async def next_in_queue(self) -> bool:
        """Show the next item in disagreement order (review.next_disagreement) after the
        walk's place; the walk starts at the top from an item that is not in it."""
        state = self.current
        if state is None:
            return False
        names = self.judge_names
        after = None
        if self.queue_item == state.item.id:
            after = self.queue_place
        elif self.probe is None and self.judge_visible(state):
            here = review.disagreement(state, self.rubric, names)
            after = (here, self.index) if here else None
        states = self.walk_states
        found = review.next_disagreement(states, self.rubric, names, self.judge_visible, after)
        if found is None:
            self.refuse("no scored item where a judge and you differ")
            return False
        index, place = found
        await self.show(index)
        self.queue_place, self.queue_item = place, self.item_ids[index]
        return True

    def action_toggle_queue(self) -> None:
        """The disagreement queue: `enter` and auto-advance walk the items where a revealed
        judge and you differ, most first (the status line says it is on)."""
        self.queue_mode = not self.queue_mode
        self.queue_place = self.queue_item = None
        self.refused_note = ""
        self.set_status()

    def action_next_criterion(self) -> None:
        self.criterion = (self.criterion + 1) % len(self.rubric.criteria)
        self.refresh_scores()

    def action_prev_criterion(self) -> None:
        self.criterion = (self.criterion - 1) % len(self.rubric.criteria)
        self.refresh_scores()

    def action_scroll(self, lines: int) -> None:
        """↑ ↓ pgup pgdn: scrolling up while an answer streams stops following its end."""
        self.conversation.scroll_by(lines)

    def answered(self, what: str = "nothing scored") -> ItemState | None:
        """The current item if its answer is on screen and was there before the key came,
        else None (and the key says why)."""
        state = self.current
        if state is None:
            return None
        if not self.has_answer(state):
            self.refuse(f"no answer yet on {inert_line(state.item.id)}: {what}")
            return None
        if not self.settled():
            return None
        return state

    async def action_digit(self, digit: int) -> None:
        state = self.answered()
        if state is None:
            return
        criterion = self.rubric.criteria[self.criterion]
        if criterion.kind == "likert" and criterion.min <= digit <= criterion.max:
            await self.record_score(criterion.name, digit)
        elif criterion.kind == "tags" and digit == 0:  # none apply: the criterion is done
            await self.record_score(criterion.name, [])
        elif criterion.kind == "tags" and 1 <= digit <= len(criterion.tags):
            tag = criterion.tags[digit - 1]
            chosen = list(self.display_state(state).human.get(criterion.name) or [])
            chosen = [t for t in chosen if t != tag] if tag in chosen else [*chosen, tag]
            if self.probe is not None:
                self.record_probe(criterion.name, chosen)
            else:
                visible = self.judge_visible(state)
                sample = self.sample()
                self.label(
                    self.session.score,
                    state.item.id,
                    criterion.name,
                    chosen,
                    judge_visible=visible,
                    sample=sample,
                )
            self.refresh_scores()
            self.set_status()
        else:
            self.bell()

    async def action_yes(self) -> None:
        await self.binary(True)

    async def action_no(self) -> None:
        await self.binary(False)

    async def binary(self, value: bool) -> None:
        if self.answered() is None:
            return
        criterion = self.rubric.criteria[self.criterion]
        if criterion.kind != "binary":
            self.bell()
            return
        await self.record_score(criterion.name, value)

    async def record_score(self, name: str, value: Any) -> None:
        state = self.current
        assert state is not None
        if self.probe is not None:
            if not self.record_probe(name, value):
                return
            if self.probes is not None and self.probes.done(state.item.id):
                if self.rubric.auto_advance:  # answered: on as usual, where it was going
                    await self.advance(self.probe_return)
                    return
            else:
                self.criterion = self.next_open_criterion(self.display_state(state))
            self.refresh_scores()
            self.set_status()
            return
        visible = self.judge_visible(state)
        if not self.label(
            self.session.score, state.item.id, name, value, judge_visible=visible, sample=self.sample()
        ):
            return
        if review.fully_scored(state, self.rubric):
            if self.rubric.auto_advance and await self.move_on():
                return
        else:
            self.criterion = self.next_open_criterion(state)
        self.refresh_scores()
        self.set_status()

    def sample(self) -> str:
        """How the item on screen was reached, for its `score` events: "random" while
        walking a shuffled session's order, "chosen" after a jump (d, the palette, the item
        list, p) and always in file order. The first label decides (ItemState.sampled)."""
        return RANDOM if self.shuffled and self.walked else CHOSEN

    def record_probe(self, name: str, value: Any) -> bool:
        """A probe's answer: a `probe` event with the label in force as `original`, never a
        `score` (the original label stays), fsynced before "saved ✓" like every label."""
        state = self.current
        assert state is not None and self.probe == state.item.id
        original = state.human.get(name)
        if not self.label(self.session.probe, state.item.id, name, value, original=original):
            return False
        self.probe_trail.append(name)
        return True

    def next_open_criterion(self, state: ItemState) -> int:
        human = state.human
        count = len(self.rubric.criteria)
        for step in range(1, count + 1):
            index = (self.criterion + step) % count
            criterion = self.rubric.criteria[index]
            if criterion.required and criterion.name not in human:
                return index
        return (self.criterion + 1) % count

    def action_undo(self) -> None:
        state = self.current
        if state is None:
            return
        if self.probe is not None:  # never the item's own labels: back to the last answer given
            if not self.probe_trail:
                self.bell()
                return
            names = [c.name for c in self.rubric.criteria]
            self.criterion = names.index(self.probe_trail.pop())
            self.refresh_scores()
            return
        last = state.actions[-1] if state.actions else None
        if last is None:
            self.bell()
            return
        if not self.label(self.session.undo, state.item.id):
            return
        if last is not None and last["type"] == Scored.TYPE:
            names = [c.name for c in self.rubric.criteria]
            if last["criterion"] in names:
                self.criterion = names.index(last["criterion"])
        self.saved_note = f"undid {last['type'] if last else ''} ✓"
        self.refresh_scores()
        self.set_status()

    async def action_skip(self) -> None:
        state = self.current
        if state is None:
            return
        if self.probe is not None and self.probes is not None:  # set aside: nothing is written
            self.probes.set_aside.add(self.probe)
            await self.advance(self.probe_return)
            return
        if state.status in ("pending", "partial") and not self.has_answer(state):
            self.refuse(f"no answer yet on {inert_line(state.item.id)}: not skipped")
            return
        if self.has_answer(state) and not self.settled():
            return
        if not self.label(self.session.skip, state.item.id):
            return
        if self.index < len(self.item_ids) - 1:
            await self.show(self.index + 1, walked=True)
        else:
            self.refresh_scores()

    def action_flag(self) -> None:
        if self.probe is not None:  # the item's own flag is not shown here: never toggled blind
            self.bell()
            return
        state = self.answered("not flagged")  # a flag is a label: only on an answer on screen
        if state is not None:
            self.label(self.session.flag, state.item.id)
            self.refresh_scores()

    def action_comment(self) -> None:
        state = self.current
        if state is None:
            return
        if self.probe is not None:  # the item's own comment and notes stay as they are
            self.bell()
            return
        criterion = self.rubric.criteria[self.criterion]
        item_id = state.item.id
        if criterion.kind == "note":
            current = state.human.get(criterion.name) or ""
            sample = self.sample()  # as the item was reached, before the note's screen opens

            def save_note(text: str | None) -> None:
                if text is not None:
                    visible = self.judge_visible(state)
                    self.label(
                        self.session.score,
                        item_id,
                        criterion.name,
                        text,
                        judge_visible=visible,
                        sample=sample,
                    )
                    self.refresh_scores()

            self.push_screen(CommentScreen(f"note: {criterion.name}", current), save_note)
            return

        def save(text: str | None) -> None:
            if text is not None:
                self.label(self.session.comment, item_id, text)
                self.refresh_scores()

        self.push_screen(CommentScreen(f"comment on {inert_line(item_id)}", state.comment or ""), save)

    async def action_regenerate(self) -> None:
        state = self.current
        if state is None or not self.launch.regenerates or self.probe is not None:
            self.bell()
            return
        self.source.regenerate(state.item.id)
        self.source.focus(state.item.id, self.ahead)

    def action_stop(self) -> None:
        state = self.current
        if state is not None:
            self.source.cancel(state.item.id)

    def action_reveal(self) -> None:
        state = self.current
        if state is None:
            return
        if self.probe is not None:  # a probe is answered blind
            self.bell()
            return
        item_id = state.item.id
        if self.judge_visible(state):  # hide: also on a fully scored item, until `v` again
            self.revealed_items.discard(item_id)
            self.hidden_items.add(item_id)
        else:
            self.hidden_items.discard(item_id)
            self.revealed_items.add(item_id)
        self.refresh_scores()

    async def action_toggle_markdown(self) -> None:
        """`m`: the answer as Markdown (with its line breaks) or as raw text (exactly the
        saved characters); the choice holds for every item until `m` again."""
        self.conversation.raw_view = not self.conversation.raw_view
        self.status_note = "raw text" if self.conversation.raw_view else "markdown"
        await self.refresh_view()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.rubric))

    def action_export(self, fmt: str = "jsonl") -> None:
        from sftscope.sessions.run.export import export_rows, export_text

        rows = export_rows(self.launch.store.header, self.launch.store.events)
        target = self.launch.directory / f"export.{fmt}"
        target.write_text(export_text(rows, fmt), encoding="utf-8")
        self.notify(inert_line(f"exported {len(rows)} items to {target}"), markup=False)

    def action_report(self) -> None:
        """The session's report (the text `sftscope report` prints, with its charts) on a
        screen of its own, computed in a thread."""
        self.push_screen(ReportScreen(self.launch.directory, resamples=self.report_resamples))

    def action_write_html_report(self) -> None:
        """report.html in the session directory, computed in a thread; the status line
        says where it is."""
        self.status_note = "writing report.html …"
        self.set_status()
        self.run_worker(self.write_report, thread=True, group="report", exit_on_error=False)

    def write_report(self) -> None:
        """In a worker thread: build the report's document and write its HTML page."""
        from sftscope.sessions.report.document import build_report
        from sftscope.tui.render.report import write_html_report

        directory = self.launch.directory
        try:
            doc = build_report([directory], resamples=self.report_resamples, items=True).to_dict()
            path = write_html_report(directory, doc)
            note = f"wrote {path.name} in {path.parent}"
        except Exception as exc:  # a report that cannot be made says why, and the run goes on
            note = f"report.html not written: {first_line(exc)}"
        self.post_message(ReportWritten(note))

    def on_report_written(self, message: ReportWritten) -> None:
        self.status_note = message.note
        self.set_status()

    # --- leaving -------------------------------------------------------------------
    def final_status(self) -> str:
        """review.final_status, from the counts kept item by item (no pass over 20,000 items)."""
        items = self.session.state.items
        return review.COMPLETE if items and len(self.finished) == len(items) else review.STOPPED

    async def shutdown(self, status: str | None = None) -> None:
        """Stop generating and judging, then close the session (fsync, header, lock).

        Models are not freed here: the command line ends the process as soon as the
        console has restored the terminal, so quitting never waits on a model.
        """
        if self._session_closed:
            return
        self._session_closed = True
        if self.launch.started:
            self.close_problems = await self.launch.close(status or self.final_status(), free_models=False)
        else:
            self.launch.stop()
            self.close_problems = self.launch.store.close()
        if self._runner_task is not None:
            self._runner_task.cancel()

    def close_now(self, status: str) -> None:
        """A signal: stop and close synchronously (Leaving.hang_up)."""
        self.launch.stop()
        self.close_problems = self.launch.store.close(status=status)

    def next_steps(self) -> list[str]:
        """Printed once the console has closed: resume, report, export this session."""
        return next_steps(self.launch.directory)


def warm_statistics() -> None:
    """In a worker thread: load numpy and run the kappa once (a tenth of a second) before
    the first agreement is due, so the figures arrive in milliseconds once there are enough
    items."""
    import numpy as np
    from sftscope.scorers.stats.agreement import kappa_from_tables, percentile_interval

    percentile_interval(kappa_from_tables(np.ones((2, 2, 2)), "quadratic"))
