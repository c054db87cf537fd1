"""Console flows with Pilot against the real Session, Generator and session files.

A fast fake engine drives the timing-independent flows; the real llama engine
runs one end-to-end flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftscope.sessions.core.store import load_session
from sftscope.sessions.run.export import export_rows

from tests.conftest import prompts_file
from tests.console_helpers import make_app, settle, wait_until, with_judge
from tests.fake_engine import FakeEngine


def rows(session: Path) -> dict[str, dict]:
    header, events, _ = load_session(session)
    return {r["item"]: r for r in export_rows(header, events)}


def done(app, item_id: str) -> bool:
    return app.session.state.items[item_id].status == "done"


async def test_score_auto_advance_and_export(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await settle(pilot, app)
        assert app.index == 0 and app.criterion == 0
        await pilot.press("4", "3", "y")
        assert app.index == 0 and app.criterion == 3
        await pilot.press("n")  # last criterion: moves on
        assert app.index == 1 and app.criterion == 0
        await settle(pilot, app)
        await pilot.press("5")
        await pilot.press("q")
    exported = rows(session)
    assert exported["q1"]["human"] == {
        "helpfulness": 4,
        "instruction_following": 3,
        "harmless": True,
        "format": False,
    }
    assert exported["q2"]["human"] == {"helpfulness": 5}
    header, events, _ = load_session(session)
    scores = [e for e in events if e["type"] == "score"]
    assert all(e["judge_visible"] is False for e in scores)
    assert header["status"] == "stopped"
    assert header["rubric"]["criteria"][0]["name"] == "helpfulness"


async def test_scoring_while_streaming_and_look_ahead(tmp_path: Path) -> None:
    session = tmp_path / "s"
    engine = FakeEngine(delay=0.05, pieces=40)
    app = make_app(session, engine=engine, prompts=prompts_file(tmp_path, 8), ahead=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "q1" in app.source.live)
        await settle(pilot, app)
        await pilot.press("2")  # scores while the answer streams
        assert app.session.state.items["q1"].human == {"helpfulness": 2}
        assert "q1" in app.source.live
        await wait_until(pilot, lambda: done(app, "q3"))
        await pilot.pause(0.3)
        # Ahead 2: items 1-3 generated, nothing beyond the window.
        assert [key[0] for key in engine.calls] == ["q1", "q2", "q3"]
        await pilot.press("right", "right")
        await wait_until(pilot, lambda: done(app, "q5"))
        assert [key[0] for key in engine.calls] == ["q1", "q2", "q3", "q4", "q5"]
        await pilot.press("q")


async def test_undo_skip_flag_comment(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await settle(pilot, app)
        await pilot.press("4", "2")
        assert app.criterion == 2
        await pilot.press("u")  # undo the 2: focus returns to that criterion
        assert app.session.state.items["q1"].human == {"helpfulness": 4}
        assert app.criterion == 1
        await pilot.press("f")
        await pilot.press("c")
        await pilot.press(*"too long", "enter")
        await pilot.press("s")  # skip: moves on
        assert app.index == 1
        await pilot.press("q")
    exported = rows(session)
    assert exported["q1"]["human"] == {"helpfulness": 4}
    assert exported["q1"]["status"] == "skipped"
    assert exported["q1"]["flagged"] is True and exported["q1"]["comment"] == "too long"
    _, events, _ = load_session(session)
    assert [e["type"] for e in events if e.get("item") == "q1" and e["type"] in ("score", "undo")] == [
        "score",
        "score",
        "undo",
    ]


async def test_resume_opens_at_first_unscored_with_labels_shown(tmp_path: Path) -> None:
    session = tmp_path / "s"
    prompts = prompts_file(tmp_path)
    app = make_app(session, engine=FakeEngine(), prompts=prompts)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q2"))
        await settle(pilot, app)
        await pilot.press("4", "4", "y", "y")
        await settle(pilot, app)
        await pilot.press("3")
        await pilot.press("q")
    engine = FakeEngine()
    again = make_app(session, engine=engine)
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: again.ready)
        assert again.item_ids[again.index] == "q2"
        assert again.session.state.items["q2"].human == {"helpfulness": 3}
        assert again.criterion == 1  # the first criterion still to score
        assert again.session.state.items["q1"].human["harmless"] is True
        await pilot.press("q")
    assert ("q1", 0) not in engine.calls and ("q2", 0) not in engine.calls  # never regenerated


async def test_stop_and_regenerate(tmp_path: Path) -> None:
    session = tmp_path / "s"
    engine = FakeEngine(delay=0.05, pieces=60)
    app = make_app(session, engine=engine, prompts=prompts_file(tmp_path, 2), ahead=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "q1" in app.source.live)
        await pilot.pause(0.2)
        await pilot.press("x")
        await wait_until(pilot, lambda: app.session.state.items["q1"].status == "cancelled")
        engine.delay = 0
        await pilot.press("r")
        await wait_until(pilot, lambda: done(app, "q1"))
        await pilot.press("q")
    _, events, _ = load_session(session)
    generations = [e for e in events if e["type"] == "generation" and e.get("item") == "q1"]
    assert [g["finish_reason"] for g in generations] == ["cancelled", "stop"]
    assert rows(session)["q1"]["status"] == "done"


async def test_help_screen_and_palette_export(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 2))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await pilot.press("question_mark")
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        app.action_export("jsonl")
        await pilot.press("q")
    lines = (session / "export.jsonl").read_text().splitlines()
    assert [json.loads(x)["item"] for x in lines] == ["q1", "q2"]


async def test_remapped_keys_from_the_rubric(tmp_path: Path) -> None:
    rubric = tmp_path / "r.toml"
    rubric.write_text(
        'auto_advance = false\n[[criteria]]\nname = "ok"\nkind = "binary"\n'
        '[[criteria]]\nname = "tags"\nkind = "tags"\ntags = ["verbose", "refusal"]\n'
        '[keys]\nyes = "j"\nno = "k"\nnext_item = "l"\n'
    )
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 2), rubric=rubric)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await settle(pilot, app)
        await pilot.press("j")
        await pilot.press("2", "1", "2")  # toggle refusal, verbose, refusal off
        assert app.index == 0  # auto_advance off
        await pilot.press("l")
        assert app.index == 1
        await pilot.press("q")
    assert rows(session)["q1"]["human"] == {"ok": True, "tags": ["verbose"]}


async def test_replay_streams_recorded_answers_and_labels_go_on(tmp_path: Path) -> None:
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.console.app import SftscopeApp

    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 3), ahead=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and all(done(app, f"q{i}") for i in (1, 2, 3)))
        await settle(pilot, app)
        await pilot.press("4", "4", "y", "y")
        await pilot.press("q")
    recorded = rows(session)
    replay = SftscopeApp(open_replay(session, 0.0))
    async with replay.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: replay.ready)
        assert replay.item_ids[replay.index] == "q2"  # first unscored
        await wait_until(pilot, lambda: recorded["q2"]["response"].split("\n")[0] in replay.answer.source)
        await pilot.press("left")
        assert replay.session.state.items["q1"].human["helpfulness"] == 4
        await pilot.press("right")
        await settle(pilot, replay)
        await pilot.press("2", "2", "n", "n")
        await pilot.press("q")
    after = rows(session)
    assert after["q2"]["human"] == {
        "helpfulness": 2,
        "instruction_following": 2,
        "harmless": False,
        "format": False,
    }
    assert [r["response"] for r in after.values()] == [r["response"] for r in recorded.values()]


@pytest.mark.slow
async def test_real_llama_engine_end_to_end(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, prompts=prompts_file(tmp_path, 3), max_tokens=24, n_ctx=1024)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready, timeout=60)
        await wait_until(pilot, lambda: app.session.state.items["q1"].status == "done", timeout=60)
        answer = app.session.state.items["q1"].response
        await wait_until(pilot, lambda: answer.strip()[:20] in app.answer.source)
        await settle(pilot, app)
        await pilot.press("3", "3", "y", "y")
        assert app.index == 1
        await pilot.press("q")
    exported = rows(session)
    assert exported["q1"]["human"] == {
        "helpfulness": 3,
        "instruction_following": 3,
        "harmless": True,
        "format": True,
    }
    assert exported["q1"]["response"] == answer
    header, _, _ = load_session(session)
    assert header["engine"]["name"] == "llama"


async def test_judge_blind_until_scored_then_revealed_with_revisions(tmp_path: Path) -> None:
    from tests.fake_engine import FakeJudgeEngine

    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 3))
    with_judge(app, tmp_path, FakeJudgeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "fj" in app.session.state.items["q1"].judges)
        panel = str(app.screen.query_one("#scores").render())
        assert "hidden until you score" in panel and "fj" not in panel and "│" not in panel
        await settle(pilot, app)
        await pilot.press("4", "3", "y", "y")  # fully scored: moves on
        await pilot.press("left")
        await settle(pilot, app)
        lines = str(app.screen.query_one("#scores").render()).splitlines()
        assert lines[0].split() == ["fj"]  # one column per judge, its name above
        judged = {line[2:].split()[0]: line.split("│")[1].strip() for line in lines if "│" in line}
        assert judged == {"helpfulness": "4", "instruction_following": "4✗", "harmless": "y", "format": "n✗"}
        assert "you vs fj: n=1 · n too small for κ" in lines
        await pilot.press("5")  # a revision after the reveal
        await pilot.press("right")
        await wait_until(pilot, lambda: "fj" in app.session.state.items["q2"].judges)
        await pilot.press("v")  # reveal before scoring
        assert str(app.screen.query_one("#scores").render()).splitlines()[0].split() == ["fj"]
        await settle(pilot, app)
        await pilot.press("2")
    _, events, _ = load_session(session)
    scores = [e for e in events if e["type"] == "score"]
    assert [e["judge_visible"] for e in scores] == [False, False, False, False, True, True]
    assert scores[4]["previous"] == 4 and scores[4]["value"] == 5
    judged = [e for e in events if e["type"] == "judge" and e["item"] == "q1"]
    assert judged[0]["scores"]["format"] is False and judged[0]["model"] == "fake-judge"
    exported = rows(session)
    assert exported["q1"]["judge"] == {
        "helpfulness": 4,
        "instruction_following": 4,
        "harmless": True,
        "format": False,
    }


async def test_command_palette_reaches_items_and_actions(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(), prompts=prompts_file(tmp_path, 4))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and done(app, "q1"))
        await pilot.press("ctrl+p")
        await pilot.press(*"Go to item q3")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.index == 2)
        await pilot.press("ctrl+p")
        await pilot.press(*"Flag this item")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.state.items["q3"].flagged)
        await pilot.press("ctrl+p")
        await pilot.press(*"Export session (CSV)")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: (session / "export.csv").exists())
    assert rows(session)["q3"]["flagged"] is True


async def test_live_rate_and_ttft_while_streaming(tmp_path: Path) -> None:
    session = tmp_path / "s"
    app = make_app(session, engine=FakeEngine(delay=0.05, pieces=40), prompts=prompts_file(tmp_path, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready and "tok/s" in str(app.conversation.border_subtitle))
        subtitle = str(app.conversation.border_subtitle)
        assert subtitle.strip().startswith("streaming") and "ttft" in subtitle
        await wait_until(pilot, lambda: done(app, "q1"))
        await pilot.pause(0.2)
        assert "streaming" not in str(app.conversation.border_subtitle)


async def test_an_engine_that_cannot_start_exits_with_its_error(tmp_path: Path) -> None:
    """Regression: the console used to hang on a blank screen when the model failed to load."""
    import time

    from sftscope.sessions.run.config import RunConfig
    from sftscope.sessions.run.launch import open_run
    from sftscope.tui.console.app import SftscopeApp

    config = RunConfig.build(flags={"session": str(tmp_path / "s"), "engine": "openai:http://127.0.0.1:9/v1"})
    app = SftscopeApp(open_run(config))
    started = time.monotonic()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.error_message is not None, timeout=10)
    assert time.monotonic() - started < 10
    assert "cannot reach the server" in app.error_message
    assert app.return_code == 2
    assert not (tmp_path / "s").exists()  # a session that never started leaves nothing behind
