"""Trust what the run console shows (issue 14): the answer as written, labels only on an
answer the operator saw, probes blind whichever way they are reached, dead judges loud,
and a header that counts what is really scored.

Pilot against the real Session, Generator and session files; scripted engines give the
answers (line breaks, finish reasons, escape sequences) the cases need.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sftscope.engines.base import Chunk, Generation, GenerationRequest
from sftscope.sessions.core.store import load_session
from sftscope.tui.render.answer_text import as_markdown
from textual import events

from tests.conftest import prompts_file, write_jsonl
from tests.console_helpers import make_app, screen_text, settle, wait_until, with_judge
from tests.fake_engine import FakeEngine, FakeJudgeEngine

HAIKU = "Leaves fall in seasons.\nA moment of quiet rain,\nA reminder: breathe."
EVIL = "\x1b[2J\x1b[H\x1b[31mFAKE: saved ✓ all items scored\x1b[0m\x1b]0;pwned-title\x07"


class Scripted(FakeEngine):
    """Each item's answer, finish reason and token count from a table (the rest: FakeEngine)."""

    def __init__(self, answers: dict[str, tuple[str, str, int]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = answers

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        item = request.key[0]
        if item not in self.answers:
            async for chunk in super().stream(request):
                yield chunk
            return
        self.calls.append(request.key)
        text, finish, tokens = self.answers[item]
        step = max(1, -(-len(text) // self.pieces))
        for start in range(0, len(text), step):
            yield Chunk(text=text[start : start + step], tokens=1)
            await asyncio.sleep(self.delay)
        yield Chunk(final=Generation(text, tokens, 10, 0.05, 0.5, finish))


def done(app: Any, item: str) -> bool:
    return app.session.state.items[item].status == "done"


def live_text(app: Any, item: str) -> str:
    """The answer streaming now for `item`, as the Generator holds it."""
    live = app.source.live.get(item)
    return live.text if live is not None else ""


def status_line(app: Any) -> str:
    return str(app.main_screen.query_one("#status").render())


def help_rows(app: Any) -> str:
    """Every row of the help screen's table, scrolled or not."""
    import io

    from rich.console import Console
    from textual.widgets import Static

    console = Console(width=100, file=io.StringIO(), record=True)
    for static in app.screen.query(Static):
        console.print(static.content)
    return console.export_text()


def panel(app: Any) -> str:
    return str(app.main_screen.query_one("#scores").render())


# --- 1. the answer on screen is the answer the model wrote ------------------------------


async def test_line_breaks_are_kept_and_m_shows_the_raw_text(tmp_path: Path) -> None:
    engine = Scripted({"q1": (HAIKU, "stop", 17)})
    app = make_app(tmp_path / "s", engine=engine, prompts=prompts_file(tmp_path, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await pilot.pause(0.1)
        rows = screen_text(app).splitlines()
        # Three lines on screen, as written (Markdown joined them into one paragraph).
        lines = [next(i for i, r in enumerate(rows) if part in r) for part in HAIKU.split("\n")]
        assert lines == [lines[0], lines[0] + 1, lines[0] + 2], rows
        assert as_markdown(HAIKU) in app.answer.source
        assert " m " in rows[-1] and "raw/md" in rows[-1]  # the key in the footer
        await pilot.press("m")
        assert app.conversation.raw_view and app.answer.display is False
        raw = app.conversation.raw_text
        assert HAIKU in raw  # exactly the saved characters
        assert "Question number 1?" in raw
        await pilot.press("m")
        assert not app.conversation.raw_view and as_markdown(HAIKU) in app.answer.source
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_text = help_rows(app)
        assert "answer as Markdown / raw text" in help_text and "none apply" not in help_text
        await pilot.press("escape", "q")


async def test_a_finish_reason_other_than_stop_is_shown_under_the_answer(tmp_path: Path) -> None:
    engine = Scripted(
        {
            "q1": ("A long answer that ran out of room", "length", 64),
            "q2": ("Something the filter", "content_filter", 5),
            "q3": ("A plain answer.", "stop", 4),
        }
    )
    app = make_app(tmp_path / "s", engine=engine, prompts=prompts_file(tmp_path, 3), ahead=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(s.turns for s in app.session.state.items.values()))
        await pilot.pause(0.1)
        screen = screen_text(app)
        assert "cut at 64 tokens" in screen
        rows = screen.splitlines()[1:4]
        assert rows[0].startswith(("●✂q1", "○✂q1")), rows  # marked in the item list
        assert "✂" not in rows[1] + rows[2]
        await pilot.press("right")
        await pilot.pause(0.1)
        assert "ended: content_filter" in screen_text(app)
        await pilot.press("right")
        await pilot.pause(0.1)
        screen = screen_text(app)
        assert "cut at" not in screen and "ended:" not in screen  # a plain stop says nothing
        await pilot.press("q")


async def test_a_cancelled_answer_says_so_under_it(tmp_path: Path) -> None:
    app = make_app(
        tmp_path / "s", engine=FakeEngine(delay=0.05, pieces=60), prompts=prompts_file(tmp_path, 1), ahead=0
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "q1" in app.source.live)
        await pilot.pause(0.2)
        await pilot.press("x")
        await wait_until(pilot, lambda: app.session.state.items["q1"].status == "cancelled")
        await pilot.pause(0.1)
        assert "cancelled (r to generate again)" in screen_text(app)
        await pilot.press("q")


async def test_the_system_message_is_shown_with_the_prompt(tmp_path: Path) -> None:
    own = write_jsonl(
        tmp_path / "own.jsonl",
        [
            {"id": "a", "prompt": "Hello?", "system": "You are a pirate."},
            {"id": "b", "prompt": "Hi?"},
        ],
    )
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=own, system="Answer in one line.")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "a"))
        await pilot.pause(0.1)
        screen = screen_text(app)
        assert "system:" in screen and "You are a pirate." in screen  # the item's own wins
        assert "Answer in one line." not in screen
        await pilot.press("right")
        await wait_until(pilot, lambda: done(app, "b"))
        await pilot.pause(0.1)
        assert "Answer in one line." in screen_text(app)  # the run's --system
        await pilot.press("m")
        assert "Answer in one line." in app.conversation.raw_text
        await pilot.press("q")


class Long(FakeEngine):
    """A long answer with single line breaks, streamed slowly."""

    def answer(self, request: GenerationRequest) -> str:
        lines = [f"Line {n}: " + " ".join(f"w{n}_{k}" for k in range(12)) for n in range(80)]
        return "Here is a story.\n" + "\n".join(lines)


async def test_while_an_answer_streams_its_beginning_stays_reachable(tmp_path: Path) -> None:
    """At 100x30, scrolling up while the answer streams stays up (it used to snap back to
    the latest words), and the prompt and the first words are there."""
    app = make_app(
        tmp_path / "s", engine=Long(delay=0.03, pieces=600), prompts=prompts_file(tmp_path, 1), ahead=0
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.ready and len(live_text(app, "q1")) > 1500, timeout=30)
        conversation = app.conversation
        assert conversation.max_scroll_y > 5  # more than a screenful already
        for _ in range(3):  # a line at a time: each one holds
            await pilot.press("up")
            await pilot.pause(0.08)
        assert conversation.scroll_y < conversation.max_scroll_y - 2
        await pilot.press("home")
        await pilot.pause(0.3)  # the stream goes on meanwhile
        assert "q1" in app.source.live
        screen = screen_text(app)
        assert "Question number 1?" in screen and "Here is a story." in screen
        assert "Line 0: w0_0 w0_1 w0_2" in screen
        # The text streamed so far is the text the model wrote: nothing lost on the way.
        live = live_text(app, "q1")
        written = app.answer.source
        assert as_markdown(live[:1200]).rstrip() in written
        await pilot.press("end")
        await pilot.pause(0.3)
        assert conversation.scroll_y >= conversation.max_scroll_y - 1  # following again
        await pilot.press("q")


# --- 2. model output cannot drive the terminal --------------------------------------------


async def test_escape_sequences_and_an_id_with_a_newline_are_shown_inert(tmp_path: Path) -> None:
    rows = [{"id": "bad\nid", "prompt": "Say \x1b[2Jhello"}, {"id": "q2", "prompt": "Fine?"}]
    engine = Scripted({"bad\nid": (EVIL, "stop", 9)})
    app = make_app(tmp_path / "s", engine=engine, prompts=write_jsonl(tmp_path / "p.jsonl", rows))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "bad\nid"))
        await pilot.pause(0.1)
        screen = screen_text(app)
        assert "\x1b" not in app.answer.source and "␛[2J" in app.answer.source
        assert "␛[2J␛[H␛[31mFAKE" in screen and "␛]0;pwned-title␇" in screen
        assert "Say ␛[2Jhello" in screen
        item_rows = screen.splitlines()[1:3]
        assert "bad␊id" in item_rows[0] and "q2" in item_rows[1]  # one row each
        assert "bad␊id" in str(app.conversation.border_title)
        await pilot.press("m")
        assert "\x1b" not in app.conversation.raw_text and "␛[2J" in app.conversation.raw_text
        await pilot.press("q")


# --- 3. a label belongs to the answer it was given on -----------------------------------


async def test_keys_typed_ahead_of_an_answer_are_not_labels(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 3), ahead=3)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(done(app, f"q{i}") for i in (1, 2, 3)))
        await settle(pilot, app)
        await pilot.press("4", "3", "y")
        typed_ahead = [events.Key("5", "5"), events.Key("5", "5")]  # typed with the n, below
        await pilot.press("n")  # q1 fully scored: on to q2 at once
        assert app.index == 1
        for key in typed_ahead:  # they reach the console now, q2 just painted
            app.post_message(key)
        await pilot.pause(0.1)
        assert app.session.state.items["q2"].human == {}
        assert "key ignored: answer just appeared" in status_line(app)
        await settle(pilot, app)
        await pilot.press("5")  # now it labels
        assert app.session.state.items["q2"].human == {"helpfulness": 5}
        # A key read before the answer appeared is dropped even if handled much later.
        early = events.Key("2", "2")
        await pilot.press("right")
        await settle(pilot, app)
        app.post_message(early)
        await pilot.pause(0.1)
        assert app.session.state.items["q3"].human == {}
        await pilot.press("q")
    _, saved, _ = load_session(session)
    assert [(e["item"], e["value"]) for e in saved if e["type"] == "score"][-1] == ("q2", 5)


async def test_keys_at_the_first_paint_of_a_streaming_answer_are_dropped(tmp_path: Path) -> None:
    app = make_app(
        tmp_path / "s", engine=FakeEngine(delay=0.05, pieces=40), prompts=prompts_file(tmp_path, 1), ahead=0
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        typed_ahead = events.Key("4", "4")  # typed while the answer was loading
        await wait_until(pilot, lambda: live_text(app, "q1") != "")
        app.post_message(typed_ahead)  # it reaches the console at the first paint
        await pilot.pause(0.05)
        assert app.session.state.items["q1"].human == {}
        assert "key ignored: answer just appeared" in status_line(app)
        await settle(pilot, app)
        await pilot.press("4")  # streaming, but on screen long enough
        assert app.session.state.items["q1"].human == {"helpfulness": 4}
        await pilot.press("q")


async def test_flag_without_an_answer_is_refused_like_a_score(tmp_path: Path) -> None:
    app = make_app(
        tmp_path / "s", engine=FakeEngine(delay=0.2, pieces=40), prompts=prompts_file(tmp_path, 2), ahead=0
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "q1" in app.source.live)
        await pilot.press("right")  # q2: nothing generated yet (ahead 0)
        await pilot.press("f")
        assert not app.session.state.items["q2"].flagged
        assert "no answer yet on q2: not flagged" in status_line(app)
        await pilot.press("left")
        await settle(pilot, app)
        await pilot.press("f")  # q1 has an answer on screen: flagged
        assert app.session.state.items["q1"].flagged
        await pilot.press("q")


# --- 3. probes stay blind ---------------------------------------------------------------


LABELS = {"helpfulness": 4, "instruction_following": 3, "harmless": True, "format": False}


async def test_a_pending_probe_is_blind_whichever_way_it_is_reached(tmp_path: Path) -> None:
    """`d` then `enter` used to alternate the probe and the original one key apart."""
    from sftscope.sessions.core.events import Judged

    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path, 2), probe_rate=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1") and done(app, "q2"))
        app.session.record(Judged("q1", "fj", {**LABELS, "helpfulness": 1}))
        app.session.record(Judged("q2", "fj", {**LABELS, "helpfulness": 1}))
        app.note_judges(["fj"])
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")  # q1: done, on to q2
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n")  # q2: the end of the queue, both probes due
        assert app.probe is not None
        due = {"q1", "q2"}  # both due: the end of the queue

        def blind() -> bool:
            chosen = [
                s for s in app.main_screen.query_one("#scores").render().spans if "reverse" in str(s.style)
            ]
            return app.probe == app.item_ids[app.index] and not chosen and "│" not in panel(app)

        assert blind()
        for keys in (("d",), ("enter",), ("left",), ("right",), ("d",), ("enter",)):
            await pilot.press(*keys)
            assert app.item_ids[app.index] in due and blind(), keys
        # The item list's rows of due probes show no labels either.
        rows = screen_text(app).splitlines()[1:3]
        assert all("43yn" not in r and "4 3 y n" not in r for r in rows), rows
        # The palette's "Go to item" too.
        await pilot.press("ctrl+p", *"Go to item q1")
        await pilot.pause(0.4)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.item_ids[app.index] == "q1")
        assert blind()
        await pilot.press("q")


# --- 4. judge failures are loud ----------------------------------------------------------


class BrokenJudgeEngine(FakeJudgeEngine):
    def answer(self, request: GenerationRequest) -> str:
        return "I would rather not say."


def judged_app(tmp_path: Path, engine: Any, count: int = 3, name: str = "s") -> Any:
    app = make_app(tmp_path / name, engine=FakeEngine(), prompts=prompts_file(tmp_path, count), ahead=count)
    return with_judge(app, tmp_path, engine, name="local")


async def test_the_header_shows_each_judges_failures_as_they_happen(tmp_path: Path) -> None:
    app = judged_app(tmp_path, BrokenJudgeEngine(), name="a-session-directory-with-a-long-name")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(s.judges for s in app.session.state.items.values()))
        await pilot.pause(0.1)
        # At 80 columns, beside a long directory name: the failures come before the names.
        assert "judge local: 3 failed" in screen_text(app).splitlines()[0]
        await pilot.press("q")
    (tmp_path / "ok").mkdir()
    healthy = judged_app(tmp_path / "ok", FakeJudgeEngine())
    async with healthy.run_test(size=(100, 24)) as pilot:
        await wait_until(
            pilot, lambda: healthy.ready and all(s.judges for s in healthy.session.state.items.values())
        )
        await pilot.pause(0.1)
        assert "failed" not in status_line(healthy)
        await pilot.press("q")


# --- 12. a new user's first ten minutes ---------------------------------------------------


def tags_rubric(tmp_path: Path) -> Path:
    rubric = tmp_path / "r.toml"
    rubric.write_text(
        '[[criteria]]\nname = "ok"\nkind = "binary"\n'
        '[[criteria]]\nname = "issues"\nkind = "tags"\ntags = ["verbose", "refusal"]\n'
    )
    return rubric


async def test_zero_says_no_tag_applies_and_completes_the_criterion(tmp_path: Path) -> None:
    session = tmp_path / "s"
    prompts = prompts_file(tmp_path, 2)
    app = make_app(session, engine=FakeEngine(), prompts=prompts, rubric=tags_rubric(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1") and done(app, "q2"))
        await settle(pilot, app)
        assert "0/2 scored" in status_line(app)
        await pilot.press("y")
        assert app.criterion == 1 and "0/2 scored" in status_line(app)
        await pilot.press("0")  # none apply: scored, and on to the next item
        assert app.session.state.items["q1"].human == {"ok": True, "issues": []}
        assert app.index == 1
        assert "1/2 scored" in status_line(app)
        await settle(pilot, app)
        await pilot.press("0")  # on a yes/no criterion, 0 is nothing
        assert app.session.state.items["q2"].human == {}
        await pilot.press("q")


async def test_the_count_follows_at_once_and_a_skip_is_not_a_score(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text(
        'auto_advance = false\n[[criteria]]\nname = "ok"\nkind = "binary"\n'
        '[[criteria]]\nname = "issues"\nkind = "tags"\ntags = ["verbose", "refusal"]\n'
    )
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path, 3), rubric=rubric)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(done(app, f"q{i}") for i in (1, 2, 3)))
        await settle(pilot, app)
        await pilot.press("y", "1")  # a tag toggled on: complete, the header says so at once
        assert "1/3 scored" in status_line(app)
        await pilot.press("1")  # and off again: still labelled (no tag applies)
        assert "1/3 scored" in status_line(app)
        await pilot.press("u", "u")  # undone twice: no longer complete
        assert "0/3 scored" in status_line(app)
        await pilot.press("right")
        await settle(pilot, app)
        await pilot.press("s")  # skipped: not scored
        assert "0/3 scored" in status_line(app)
        await pilot.press("q")


async def test_v_hides_the_judges_again_on_a_fully_scored_item(tmp_path: Path) -> None:
    app = judged_app(tmp_path, FakeJudgeEngine(), count=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(s.judges for s in app.session.state.items.values()))
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "y", "left")  # fully scored: revealed
        assert panel(app).splitlines()[0].split() == ["local"]
        await pilot.press("v")  # hidden again
        assert "local" not in panel(app).splitlines()[0] and "│" not in panel(app)
        await pilot.press("v")  # and shown
        assert panel(app).splitlines()[0].split() == ["local"]
        await pilot.press("q")


# --- replay: the same view ----------------------------------------------------------------


async def recorded_session(tmp_path: Path, answers: dict[str, tuple[str, str, int]]) -> Path:
    """A session whose answers are `answers`, generated headless, to be replayed."""
    from sftscope.sessions.run.config import RunConfig
    from sftscope.sessions.run.launch import open_run

    directory = tmp_path / "s"
    flags = {"session": str(directory), "prompts": str(prompts_file(tmp_path, 1)), "system": "Be brief."}
    launch = open_run(RunConfig.build(flags=flags), engine=Scripted(answers))
    await launch.start()
    launch.generator.queue()
    await launch.generator.run(until_idle=True)
    await launch.close("stopped")
    return directory


async def test_replay_keeps_line_breaks_finish_reason_system_and_is_inert(tmp_path: Path) -> None:
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.console.app import SftscopeApp

    directory = await recorded_session(tmp_path, {"q1": (HAIKU + "\n" + EVIL, "length", 64)})
    replay = SftscopeApp(open_replay(directory, 0.0))
    async with replay.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: replay.ready and "A reminder" in replay.answer.source)
        await pilot.pause(0.2)
        screen = screen_text(replay)
        rows = screen.splitlines()
        first = next(i for i, r in enumerate(rows) if "Leaves fall in seasons." in r)
        assert "A moment of quiet rain," in rows[first + 1]
        source = replay.answer.source
        assert "cut at 64 tokens" in source and "(r to generate again)" not in source
        assert "Be brief." in screen
        assert "␛[2J" in screen and "\x1b" not in replay.answer.source
        await pilot.press("m")
        await pilot.pause(0.1)
        assert HAIKU in replay.conversation.raw_text
        await pilot.press("q")


async def test_labels_on_an_earlier_answer_show_as_answer_changed(tmp_path: Path) -> None:
    app = make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts_file(tmp_path, 2), ahead=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1") and done(app, "q2"))
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "n", "left")
        assert "1/2 scored" in status_line(app)
        assert "answer changed" not in panel(app)
        first = app.session.state.items["q1"].response
        await pilot.press("r")  # a new answer: the labels were given on the old one
        await wait_until(pilot, lambda: done(app, "q1") and app.session.state.items["q1"].response != first)
        await pilot.pause(0.1)
        assert "answer changed since you scored" in panel(app)
        assert "0/2 scored" in status_line(app)
        assert app.session.state.items["q1"].human == {}
        await settle(pilot, app)
        await pilot.press("5", "5", "y", "y")  # labelled again on this answer
        await pilot.press("left")
        assert "answer changed" not in panel(app) and "1/2 scored" in status_line(app)
        await pilot.press("q")
