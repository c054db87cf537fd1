"""Issue 14, the core of the session log: a label belongs to the answer it was given on,
`r` while an answer streams regenerates it, what is read is checked, CSV cells are safe
to open, and a skipped item is not counted as scored.

Everything runs through the real Session, Generator, JudgePool and SessionStore on disk,
with the scripted FakeEngine (tests/fake_engine.py) streaming slowly enough to label an
answer before it ends.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sftscope.engines.base import SamplingParams
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.core.events import Generated, Judged
from sftscope.sessions.core.files import to_csv
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import fold
from sftscope.sessions.core.store import SessionError, SessionStore, load_session
from sftscope.sessions.run import review
from sftscope.sessions.run.export import export_rows, export_text
from sftscope.sessions.run.generator import Generator
from sftscope.sessions.run.judging import JudgePool

from tests.conftest import run_cli
from tests.fake_engine import FakeEngine

HEADER = {
    "status": "running",
    "engine": {"spec": "fake:"},
    "prompts": {"count": 2},
    "rubric": DEFAULT_RUBRIC.to_dict(),
}
ITEMS = [Item(id="q1", turns=["first question"]), Item(id="q2", turns=["second question"])]


def open_session(directory: Path) -> Session:
    store = SessionStore(directory)
    store.open(HEADER)
    session = Session(store)
    session.add_items(ITEMS)
    return session


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def streaming(generator: Generator, item_id: str) -> None:
    """Wait until `item_id` is streaming and some of its answer is on screen."""
    await until(lambda: item_id in generator.live and bool(generator.live[item_id].parts))


def rows_of(directory: Path) -> dict[str, dict[str, Any]]:
    header, events, _ = load_session(directory)
    return {row["item"]: row for row in export_rows(header, events)}


def slow_engine() -> FakeEngine:
    return FakeEngine(delay=0.03, pieces=40)


# --- a label belongs to the answer it was given on ------------------------------------------


async def test_a_label_given_while_streaming_stays_with_that_answer_after_r(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    session = open_session(directory)
    engine = slow_engine()
    generator = Generator(session, engine, SamplingParams(max_tokens=64))
    generator.focus("q1", 0)
    runner = asyncio.create_task(generator.run(until_idle=False))
    await streaming(generator, "q1")
    session.score("q1", "helpfulness", 4)
    state = session.state.items["q1"]
    assert state.human == {"helpfulness": 4}  # on the answer streaming: it counts while it does
    generator.regenerate("q1")
    await until(lambda: state.complete)
    generator.stop()
    await runner
    session.store.close()

    # The label is on record, bound to the stopped answer, out of the new one's labels.
    assert state.human == {} and state.stale_labels == {"helpfulness": 4} and state.answer_changed
    assert not review.fully_scored(state, DEFAULT_RUBRIC)
    _, events, _ = load_session(directory)
    (score,) = [e for e in events if e["type"] == "score"]
    first, second = [e for e in events if e["type"] == "generation"]
    assert score["gen"] == first["gen"] != second["gen"]
    row = rows_of(directory)["q1"]
    assert row["response"] == second["text"] and row["human"] == {}
    assert row["stale_labels"] == {"helpfulness": 4}


async def test_r_while_streaming_regenerates_the_answer(tmp_path: Path) -> None:
    """Before: the regenerate event was written first, then the stopped stream's answer;
    the item ended "cancelled" and no new request was sent."""
    directory = tmp_path / "s"
    session = open_session(directory)
    engine = slow_engine()
    generator = Generator(session, engine, SamplingParams(max_tokens=64))
    generator.focus("q1", 0)
    runner = asyncio.create_task(generator.run(until_idle=False))
    await streaming(generator, "q1")
    generator.regenerate("q1")
    generator.focus("q1", 0)  # as the console does on the regenerate event: q1 is still active
    state = session.state.items["q1"]
    await until(lambda: state.status == "done")
    generator.stop()
    await runner
    session.store.close()
    assert engine.calls == [("q1", 0), ("q1", 0)]  # asked again
    _, events, _ = load_session(directory)
    kinds = [(e["type"], e.get("finish_reason")) for e in events if e.get("item") == "q1"][1:]
    assert kinds == [("generation", "cancelled"), ("regenerate", None), ("generation", "stop")]
    assert rows_of(directory)["q1"]["status"] == "done"


async def test_r_on_a_finished_answer_still_regenerates_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    session = open_session(directory)
    engine = FakeEngine()
    generator = Generator(session, engine, SamplingParams(max_tokens=64))
    generator.queue(["q1"])
    await generator.run()
    session.score("q1", "harmless", True)
    generator.regenerate("q1")
    state = session.state.items["q1"]
    assert state.status == "pending" and state.human == {} and state.stale_labels == {"harmless": True}
    await generator.run()
    session.store.close()
    assert engine.calls == [("q1", 0), ("q1", 0)] and state.status == "done"


async def test_a_label_while_streaming_then_stop_then_resume_is_stale(tmp_path: Path) -> None:
    """`x` then quit: the label is on the stopped answer; the answer generated on resume
    is another one, and the label must not be exported beside it."""
    directory = tmp_path / "s"
    session = open_session(directory)
    generator = Generator(session, slow_engine(), SamplingParams(max_tokens=64))
    generator.focus("q1", 0)
    runner = asyncio.create_task(generator.run(until_idle=False))
    await streaming(generator, "q1")
    session.score("q1", "helpfulness", 2)
    generator.cancel("q1")  # x
    await until(lambda: session.state.items["q1"].status == "cancelled")
    # The stopped answer is the one labelled, and still the current one: the label counts.
    assert session.state.items["q1"].human == {"helpfulness": 2}
    generator.stop()
    await runner
    session.store.close()
    assert rows_of(directory)["q1"]["human"] == {"helpfulness": 2}

    resumed = Session(_reopen(directory))
    again = Generator(resumed, FakeEngine(), SamplingParams(max_tokens=64))
    again.queue()
    await again.run()
    resumed.store.close()
    row = rows_of(directory)["q1"]
    assert row["status"] == "done" and row["human"] == {} and row["stale_labels"] == {"helpfulness": 2}


async def test_a_label_while_streaming_then_quit_is_never_put_on_the_resumed_answer(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    session = open_session(directory)
    generator = Generator(session, slow_engine(), SamplingParams(max_tokens=64))
    generator.focus("q1", 0)
    runner = asyncio.create_task(generator.run(until_idle=False))
    await streaming(generator, "q1")
    session.score("q1", "helpfulness", 5)
    generator.stop()  # q
    session.detach()  # the console closes the session at once: the stream's end is not written
    await runner
    session.store.close()

    resumed = Session(_reopen(directory))
    assert resumed.state.items["q1"].stale_labels == {"helpfulness": 5}  # its answer is not on record
    again = Generator(resumed, FakeEngine(), SamplingParams(max_tokens=64))
    again.queue()
    await again.run()
    resumed.store.close()
    row = rows_of(directory)["q1"]
    assert row["status"] == "done" and row["human"] == {} and row["stale_labels"] == {"helpfulness": 5}


async def test_a_label_while_streaming_counts_once_the_answer_ends(tmp_path: Path) -> None:
    """The negative case: nothing changed, the label stays (scoring while an answer streams
    is how the console is used)."""
    directory = tmp_path / "s"
    session = open_session(directory)
    generator = Generator(session, slow_engine(), SamplingParams(max_tokens=64))
    generator.focus("q1", 0)
    runner = asyncio.create_task(generator.run(until_idle=False))
    await streaming(generator, "q1")
    session.score("q1", "helpfulness", 3)
    await until(lambda: session.state.items["q1"].complete)
    session.score("q1", "harmless", False)
    generator.stop()
    await runner
    session.store.close()
    row = rows_of(directory)["q1"]
    assert row["human"] == {"helpfulness": 3, "harmless": False} and row["stale_labels"] == {}
    resumed = Session(_reopen(directory))
    state = resumed.state.items["q1"]
    assert state.human == {"helpfulness": 3, "harmless": False} and not state.answer_changed
    resumed.store.close()


def _reopen(directory: Path) -> SessionStore:
    store = SessionStore(directory)
    store.open()
    return store


class _SlowJudge:
    """A judge whose verdict arrives when the test says so."""

    def __init__(self) -> None:
        self.spec = type("Spec", (), {"name": "slow"})()
        self.release = asyncio.Event()
        self.asked: list[tuple[str, ...]] = []

    async def judge(self, data: Any) -> dict[str, Any]:
        self.asked.append(data.answers)
        await self.release.wait()
        return {"scores": {"helpfulness": 5}, "raw": "{}"}


async def test_a_verdict_is_bound_to_the_answer_it_judged(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    session = open_session(directory)
    judge = _SlowJudge()
    pool = JudgePool(session, [judge])
    generator = Generator(session, FakeEngine(), SamplingParams(max_tokens=64), pool=pool)
    generator.queue(["q1"])
    runner = asyncio.create_task(generator.run(until_idle=False))
    state = session.state.items["q1"]
    await until(lambda: state.complete and judge.asked)
    first_gen = state.gen
    generator.regenerate("q1")  # while the judge is still thinking about the first answer
    await until(lambda: state.complete and state.gen != first_gen)
    judge.release.set()
    await until(lambda: len(judge.asked) == 2)
    await pool.wait()
    generator.stop()
    await runner
    session.store.close()
    _, events, _ = load_session(directory)
    verdicts = [e for e in events if e["type"] == "judge"]
    # The late verdict on the first answer is never written beside the second; the second's is.
    assert [v["gen"] for v in verdicts] == [state.gen]
    checks = [e for e in events if e["type"] == "checks"]
    assert all(c["gen"] for c in checks)


def test_the_fold_keeps_a_verdict_on_an_earlier_answer_out_of_judges_and_checks() -> None:
    """A verdict written late (after a full disk, or by an older pool) names its answer:
    the fold never puts it beside a newer one. Before, the latest judge event won."""
    events: list[dict[str, Any]] = [
        {"type": "item", "item": "q1", "data": {"id": "q1", "turns": ["?"]}},
        {"type": "generation", "item": "q1", "turn": 0, "text": "one", "finish_reason": "stop", "gen": "g1"},
        {"type": "regenerate", "item": "q1", "turn": 0},
        {"type": "generation", "item": "q1", "turn": 0, "text": "two", "finish_reason": "stop", "gen": "g2"},
        {"type": "judge", "item": "q1", "judge": "j", "scores": {"helpfulness": 1}, "gen": "g1"},
        {"type": "checks", "item": "q1", "checks": {"x": False}, "gen": "g1"},
        {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 2, "gen": "g1"},
    ]
    state = fold(events).items["q1"]
    assert state.judges == {} and state.checks == {}
    assert state.human == {} and state.stale_labels == {"helpfulness": 2} and state.answer_changed
    current = [
        *events,
        {"type": "judge", "item": "q1", "judge": "j", "scores": {"helpfulness": 4}, "gen": "g2"},
        {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 4, "gen": "g2"},
    ]
    state = fold(current).items["q1"]
    assert state.judges["j"]["scores"] == {"helpfulness": 4}
    assert state.human == {"helpfulness": 4} and state.stale_labels == {"helpfulness": 2}
    assert not state.answer_changed  # rescored: the earlier label is only on record


def test_a_format_1_log_reads_as_before() -> None:
    """No `gen` anywhere: a label stays with the item's answer, a verdict with the answer
    it followed, as format 1 always read them."""
    events: list[dict[str, Any]] = [
        {"type": "item", "item": "q1", "data": {"id": "q1", "turns": ["?"]}},
        {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 3},  # while streaming
        {"type": "generation", "item": "q1", "turn": 0, "text": "one", "finish_reason": "stop"},
        {"type": "judge", "item": "q1", "judge": "j", "scores": {"helpfulness": 1}},
        {"type": "checks", "item": "q1", "checks": {"x": True}},
    ]
    state = fold(events).items["q1"]
    assert state.human == {"helpfulness": 3} and state.stale_labels == {}
    assert state.judges["j"]["scores"] == {"helpfulness": 1} and state.checks["checks"] == {"x": True}
    two = {"type": "generation", "item": "q1", "turn": 0, "text": "two", "finish_reason": "stop"}
    again = fold([*events, two])
    assert again.items["q1"].judges == {} and again.items["q1"].checks == {}
    # Folding the same events again gives the same stand-in ids (replay folds them twice).
    assert fold(events).items["q1"].gens == state.gens == ["v1:0"]


def test_stale_labels_are_left_out_of_the_report_numbers(tmp_path: Path) -> None:
    from sftscope.sessions.report.runs import item_values

    events: list[dict[str, Any]] = [
        {"type": "item", "item": "q1", "data": {"id": "q1", "turns": ["?"]}},
        {"type": "generation", "item": "q1", "turn": 0, "text": "one", "finish_reason": "stop", "gen": "g1"},
        {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 1, "gen": "g1"},
        {"type": "regenerate", "item": "q1", "turn": 0},
        {"type": "generation", "item": "q1", "turn": 0, "text": "two", "finish_reason": "stop", "gen": "g2"},
    ]
    values = item_values(fold(events), DEFAULT_RUBRIC)
    assert values.human["helpfulness"] == {}
    bound = [*events, {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 5, "gen": "g2"}]
    assert item_values(fold(bound), DEFAULT_RUBRIC).human["helpfulness"] == {0: 5}


def test_the_judge_events_test_helpers_write_without_gen_bind_to_the_current_answer(tmp_path: Path) -> None:
    session = open_session(tmp_path / "s")
    session.record(Judged("q1", "j", {"helpfulness": 2}))  # no answer yet: kept until one comes
    assert session.state.items["q1"].judges
    session.store.close()


# --- what is read is checked ------------------------------------------------------------------


def _write_log(directory: Path, extra: list[str]) -> Path:
    session = open_session(directory)
    session.record(Generated("q1", 0, "an answer", "stop", gen="g1"))
    session.store.close()
    with open(directory / "events.jsonl", "a", encoding="utf-8") as handle:
        for line in extra:
            handle.write(line + "\n")
    return directory


BAD_LINES = [
    ('{"type":"score","item":"q1","criterion":"helpfulness","value":99}', "outside its scale 1-5"),
    ('{"type":"score","item":"q1","criterion":"harmless","value":"maybe"}', "outside its yes/no"),
    ('{"type":"score","item":"q1","criterion":"wit","value":3}', "criterion 'wit'"),
    ('{"type":"score","item":"nope","criterion":"helpfulness","value":3}', "item 'nope'"),
    ('{"type":"flag","item":"nope","on":true}', "item 'nope'"),
    ('{"type":"probe","item":"q1","criterion":"helpfulness","value":0}', "outside its scale 1-5"),
    ('{"type":"score","item":"q1","criterion":"helpfulness","value":3,"previous":7}', "outside"),
    ('{"type":"generation","item":"q1","turn":0,"text":"","finish_reason":"stop","ttft":NaN}', "non-finite"),
    ('{"type":"checks","item":"q1","metrics":{"bleu":Infinity}}', "non-finite"),
    ('{"type":"judge","item":"q1","judge":"j","scores":{"helpfulness":-1e400}}', "non-finite"),
]


@pytest.mark.parametrize(("line", "why"), BAD_LINES)
def test_a_saved_label_off_the_rubric_or_a_non_finite_number_is_refused(
    tmp_path: Path, line: str, why: str
) -> None:
    directory = _write_log(tmp_path / "s", [line])
    count = len((directory / "events.jsonl").read_text().splitlines())
    for opening in (
        lambda: load_session(directory),
        lambda: SessionStore(directory).open(),
        lambda: SessionStore(directory).open(read_only=True),
    ):
        with pytest.raises(SessionError) as caught:
            opening()
        message = str(caught.value)
        assert message.startswith(f"{directory / 'events.jsonl'}:{count}: ") and why in message, message


def test_a_refused_log_is_one_line_and_exit_2_for_every_command(tmp_path: Path) -> None:
    directory = _write_log(tmp_path / "s", [BAD_LINES[0][0]])
    for command in (
        ("export", str(directory)),
        ("report", str(directory)),
        ("replay", str(directory), "--headless", "--speed", "0"),
    ):
        result = run_cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "events.jsonl:" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_labels_the_rubric_accepts_are_read(tmp_path: Path) -> None:
    """The negative case: every kind of label inside its criterion, and blank lines, read."""
    directory = _write_log(
        tmp_path / "s",
        [
            "",
            '{"type":"score","item":"q1","criterion":"helpfulness","value":5}',
            '{"type":"score","item":"q1","criterion":"harmless","value":false,"previous":true}',
            '{"type":"probe","item":"q1","criterion":"helpfulness","value":1,"original":5}',
            '{"type":"flag","item":"q1","on":true}',
            '{"type":"generation","item":"q2","turn":0,"text":"x","finish_reason":"stop","seconds":1e300}',
        ],
    )
    _, events, _ = load_session(directory)
    assert fold(events).items["q1"].human == {"helpfulness": 5, "harmless": False}


def test_nothing_non_finite_is_ever_written(tmp_path: Path) -> None:
    """A judge's reply can hold NaN (json reads it): it is written as null, so the log
    always opens again, and exports are strict JSON."""
    session = open_session(tmp_path / "s")
    session.record(Generated("q1", 0, "an answer", "stop", gen="g1", seconds=float("inf")))
    session.record(Judged("q1", "j", {"helpfulness": float("nan")}, gen="g1"))
    session.store.close()
    text = (tmp_path / "s" / "events.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    header, events, _ = load_session(tmp_path / "s")
    rows = export_rows(header, events)
    assert rows[0]["judges"] == {"j": {"helpfulness": None}} and rows[0]["judge.j.helpfulness"] is None
    nan = float("nan")
    odd = [{**rows[0], "seconds": nan, "judge": {"x": float("-inf")}, "judge.j.helpfulness": nan}]
    for line in export_text(odd, "jsonl").splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"bare {name} in the export"))
    table = export_text(odd, "csv")
    assert "judge.j.helpfulness" in table and "nan" not in table.lower().replace("banana", "")


# --- CSV cells are safe to open ----------------------------------------------------------------


def test_csv_cells_that_start_like_a_formula_get_a_quote_unless_raw() -> None:
    dangerous = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    rows = [{"item": text, "response": text, "comment": None, "tokens": -3} for text in dangerous]
    rows.append({"item": "plain", "response": "a - b = c", "comment": "ok", "tokens": 4})
    columns = ["item", "response", "comment", "tokens"]
    cells = list(csv.DictReader(io.StringIO(to_csv(rows, columns))))
    for cell, text in zip(cells, dangerous, strict=False):
        assert cell["item"] == "'" + text and cell["response"] == "'" + text
        assert cell["tokens"] == "-3"  # a number stays a number
    assert cells[-1]["response"] == "a - b = c" and cells[-1]["comment"] == "ok"
    raw = list(csv.DictReader(io.StringIO(to_csv(rows, columns, raw=True))))
    assert [cell["item"] for cell in raw[:-1]] == dangerous


def test_export_csv_guards_by_default_and_csv_raw_writes_the_text(tmp_path: Path) -> None:
    session = open_session(tmp_path / "s")
    session.record(Generated("q1", 0, "=cmd|' /C calc'!A0", "stop", gen="g1"))
    session.store.close()
    guarded = run_cli("export", str(tmp_path / "s"), "--format", "csv")
    assert guarded.returncode == 0, guarded.stderr
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(guarded.stdout))}
    assert rows["q1"]["response"] == "'=cmd|' /C calc'!A0"
    raw = run_cli("export", str(tmp_path / "s"), "--format", "csv", "--csv-raw")
    assert raw.returncode == 0, raw.stderr
    rows = {row["item"]: row for row in csv.DictReader(io.StringIO(raw.stdout))}
    assert rows["q1"]["response"] == "=cmd|' /C calc'!A0"


# --- a skipped item is not counted as scored ------------------------------------------------------


FULL = (("helpfulness", 4), ("instruction_following", 4), ("harmless", True), ("format", True))


async def test_a_skipped_item_is_not_counted_as_scored(tmp_path: Path) -> None:
    session = open_session(tmp_path / "s")
    generator = Generator(session, FakeEngine(), SamplingParams(max_tokens=64))
    generator.queue()
    await generator.run()
    for name, value in FULL:
        session.score("q1", name, value)
    session.skip("q2")
    states = session.state.ordered()
    counts = review.label_counts(states, DEFAULT_RUBRIC)
    assert (counts.scored, counts.skipped, counts.total) == (1, 1, 2)
    assert review.is_scored(states[0], DEFAULT_RUBRIC) and not review.is_scored(states[1], DEFAULT_RUBRIC)
    assert review.is_finished(states[1], DEFAULT_RUBRIC)  # nothing left to do on it, still
    # A skipped item with labels is not scored either.
    for name, value in FULL:
        session.score("q2", name, value)
    assert review.label_counts(session.state.ordered(), DEFAULT_RUBRIC).scored == 1
    session.store.close()


def test_a_resume_with_a_rubric_that_refuses_a_saved_label_is_refused(
    tmp_path: Path, server_url: str
) -> None:
    """Otherwise the header would take the new rubric and the session would no longer open."""
    from tests.conftest import run_headless, write_jsonl

    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "prompt": "first"}])
    session = tmp_path / "s"
    assert run_headless(server_url, prompts, session).returncode == 0
    store = _reopen(session)
    gen = Session(store).state.items["a"].gen
    store.append(
        {"type": "score", "item": "a", "criterion": "helpfulness", "value": 5, "gen": gen}, durable=True
    )
    store.close()
    narrow = tmp_path / "r.toml"
    narrow.write_text('[[criteria]]\nname = "helpfulness"\nkind = "likert"\nmin = 1\nmax = 3\n')
    wide = tmp_path / "w.toml"
    wide.write_text('[[criteria]]\nname = "helpfulness"\nkind = "likert"\nmin = 1\nmax = 7\n')
    refused = run_headless(server_url, prompts, session, "--rubric", str(narrow))
    assert refused.returncode == 2, refused.stderr
    assert f"--rubric {narrow}" in refused.stderr and "outside its scale 1-3" in refused.stderr
    assert run_cli("export", str(session)).returncode == 0  # still opens
    accepted = run_headless(server_url, prompts, session, "--rubric", str(wide))
    assert accepted.returncode == 0, accepted.stderr
    assert rows_of(session)["a"]["human"] == {"helpfulness": 5}
