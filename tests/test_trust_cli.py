"""Issue 14 on the command line: what a headless command says is what happened.

Real commands in subprocesses against scripted aiohttp servers on 127.0.0.1: a dead
judge fails the command (exit 3) with one line per judge, a headless run shows its
judging, transcripts show the system message and why an answer ended, untrusted text
is inert, `-o` writes through links and into devices, DPO rows never give the winner
away, a comparison's readers leave changed pairs out, and bad numbers are one line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compare_helpers import write_run_session
from tests.conftest import (
    ROOT,
    ScriptedServer,
    one_line_error,
    run_cli,
    run_headless,
    serve_in_thread,
    write_jsonl,
)

RUBRIC_VERDICT = (
    '{"helpfulness": 4, "instruction_following": 4, "harmless": true, "format": true, '
    '"justification": "fine"}'
)
ESCAPES = "\x1b[2J\x1b[H\x1b[31mFAKE: saved\x1b[0m\x1b]0;pwned-title\x07"


def prompts(tmp_path: Path, n: int = 4) -> Path:
    return write_jsonl(tmp_path / "p.jsonl", [{"id": f"q{i}", "prompt": f"question {i}"} for i in range(n)])


@pytest.fixture(autouse=True)
def own_judge_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's judges start with an empty cache (a verdict cached by an earlier run of
    the same prompt would be a judgment nobody asked for)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def judge_server() -> Iterator[ScriptedServer]:
    """A judge on its own thread: its replies are set per test (`default`, `script`)."""
    srv = ScriptedServer()
    srv.default = {"text": "I cannot decide, sorry."}  # parses as no protocol at all
    with serve_in_thread(srv):
        yield srv


# --- 4. judge failures are loud ---------------------------------------------------------------


def test_a_judge_whose_replies_never_parse_fails_the_run_with_exit_3(
    tmp_path: Path, server_url: str, judge_server: ScriptedServer
) -> None:
    result = run_headless(
        server_url, prompts(tmp_path), tmp_path / "s", "--judge", f"openai:{judge_server.url}#nonsense"
    )
    assert result.returncode == 3, result.stderr
    assert "sftscope: error: judge nonsense: 4 judged, 4 failed (parse 4)" in result.stderr
    assert "no JSON object in the reply" in result.stderr  # its first error, said once
    assert "Traceback" not in result.stderr


def test_an_unreachable_judge_fails_the_run_with_exit_3(tmp_path: Path, server_url: str) -> None:
    result = run_headless(
        server_url, prompts(tmp_path, 2), tmp_path / "s", "--judge", "openai:http://127.0.0.1:9/v1#gone"
    )
    assert result.returncode == 3, result.stderr
    assert "sftscope: error: judge gone: 2 judged, 2 failed (connection 2)" in result.stderr


def test_partial_failures_keep_exit_0_and_are_listed(
    tmp_path: Path, server_url: str, judge_server: ScriptedServer
) -> None:
    judge_server.default = {"text": RUBRIC_VERDICT}
    judge_server.script = [{"text": "no verdict at all"}]  # the first judgment fails, the rest parse
    result = run_headless(
        server_url, prompts(tmp_path), tmp_path / "s", "--judge", f"openai:{judge_server.url}#half",
        "--judge-concurrency", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "sftscope: judge half: 4 judged, 1 failed (parse 1)" in result.stderr
    assert "error: judge" not in result.stderr


def test_a_healthy_judge_says_so_and_a_run_without_judges_says_nothing(
    tmp_path: Path, server_url: str, judge_server: ScriptedServer
) -> None:
    judge_server.default = {"text": RUBRIC_VERDICT}
    judged = run_headless(
        server_url, prompts(tmp_path), tmp_path / "s", "--judge", f"openai:{judge_server.url}#ok"
    )
    assert judged.returncode == 0 and "sftscope: judge ok: 4 judged, 0 failed" in judged.stderr
    plain = run_headless(server_url, prompts(tmp_path), tmp_path / "t")
    assert plain.returncode == 0 and "sftscope: judge" not in plain.stderr


def test_a_headless_run_shows_its_judging_as_it_goes(
    tmp_path: Path, server_url: str, judge_server: ScriptedServer
) -> None:
    """Piped, each judgment is a line as it lands, before the closing summary; before,
    the answers' lines were followed by a silent wait for the judges."""
    judge_server.default = {"text": RUBRIC_VERDICT, "delay": 0.2}
    result = run_headless(
        server_url, prompts(tmp_path, 3), tmp_path / "s", "--judge", f"openai:{judge_server.url}#slow"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    judged = [n for n, line in enumerate(lines) if line.startswith("[judged ")]
    assert len(judged) == 3
    assert lines[judged[-1]].startswith("[judged 3/3] ") and lines[judged[-1]].endswith("by slow: judged")
    summary = next(n for n, line in enumerate(lines) if line.startswith("sftscope: 3 done"))
    assert judged[-1] < summary


def test_sftscope_judge_and_compare_fail_on_a_dead_judge(
    tmp_path: Path, server_url: str, judge_server: ScriptedServer
) -> None:
    a = write_run_session(tmp_path / "a", {f"q{i}": f"answer {i}" for i in range(3)})
    b = write_run_session(tmp_path / "b", {f"q{i}": f"other answer {i}" for i in range(3)})
    judged = run_cli("judge", str(a), "--judge", f"openai:{judge_server.url}#nonsense")
    assert judged.returncode == 3, judged.stderr
    assert "sftscope: error: judge nonsense: 3 judged, 3 failed (parse 3)" in judged.stderr
    unreachable = run_cli("judge", str(a), "--judge", "openai:http://127.0.0.1:9/v1#gone")
    assert (
        unreachable.returncode == 3 and "judge gone: 3 judged, 3 failed (connection 3)" in unreachable.stderr
    )
    compared = run_cli(
        "compare", str(a), str(b), "--headless", "--session", str(tmp_path / "c"),
        "--judge", f"openai:{judge_server.url}#pj",
    )  # fmt: skip
    assert compared.returncode == 3, compared.stderr
    assert "sftscope: error: judge pj: 3 judged, 3 failed (parse 3)" in compared.stderr
    judge_server.default = {"text": "[[A]]"}
    judge_server.script = [{"text": "??"}]
    partial = run_cli(
        "compare", str(a), str(b), "--headless", "--session", str(tmp_path / "d"),
        "--judge", f"openai:{judge_server.url}#pj", "--judge-concurrency", "1",
    )  # fmt: skip
    assert partial.returncode == 0, partial.stderr
    assert "sftscope: judge pj: 3 judged, 1 failed (parse 1)" in partial.stderr


# --- 1 and 2. transcripts as written, inert ---------------------------------------------------


def cut_session(tmp_path: Path) -> Path:
    from sftscope.sessions.core.events import Generated
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    directory = write_run_session(
        tmp_path / "s", {"haiku": None, f"id{ESCAPES}": "fine", "cf": None}, system="Answer in haiku."
    )
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    session.record(Generated("haiku", 0, f"An old pond\nA frog jumps in{ESCAPES}", "length", tokens=64))
    session.record(Generated("cf", 0, "I can", "content_filter", tokens=2))
    store.close(status="complete")
    return directory


def test_replay_headless_shows_the_system_message_and_why_an_answer_ended(tmp_path: Path) -> None:
    result = run_cli("replay", str(cut_session(tmp_path)), "--headless", "--speed", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("system: Answer in haiku.\nuser: ") == 3  # every conversation, as the model got it
    assert "assistant: An old pond\nA frog jumps in" in out  # the line break kept
    assert "(cut at 64 tokens)" in out and "(ended: content_filter)" in out
    assert out.count("(cut at") == 1 and "ended: stop" not in out


def test_replay_headless_prints_nothing_a_terminal_would_obey(tmp_path: Path) -> None:
    session = cut_session(tmp_path)
    for speed in ("0", "50"):
        out = run_cli("replay", str(session), "--headless", "--speed", speed).stdout
        assert "\x1b" not in out and "\x07" not in out
        assert "␛[2J␛[H␛[31mFAKE: saved␛[0m␛]0;pwned-title␇" in out
        assert f"=== id{ESCAPES.replace(chr(27), '␛').replace(chr(7), '␇')} [done]" in out


def test_error_lines_quote_untrusted_text_inert(tmp_path: Path) -> None:
    """An item id in an error line (here: a prompt that differs between two sessions)
    cannot drive the terminal or break the line."""
    a = write_run_session(tmp_path / "a", {f"x{ESCAPES}\nforged line": "one"})
    b = write_run_session(
        tmp_path / "b", {f"x{ESCAPES}\nforged line": "two"}, prompts={f"x{ESCAPES}\nforged line": ["other"]}
    )
    line = one_line_error(run_cli("compare", str(a), str(b), "--headless"), "prompt differs")
    assert "\x1b" not in line and "␛[2J" in line and "␊forged line" in line


def test_replay_headless_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    directory = write_run_session(tmp_path / "big", {f"q{i}": "an answer " * 40 for i in range(3000)})
    reader = subprocess.Popen(
        [sys.executable, "-m", "sftscope.tui.cli", "replay", str(directory), "--headless", "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b"=== q0")
    reader.stdout.close()  # what `| head -1` does
    err = reader.stderr.read().decode()
    assert reader.wait(60) == 0, err
    assert err == ""


# --- 9. -o writes where asked ---------------------------------------------------------------------


def test_output_onto_a_symlink_writes_its_target_beside_it(tmp_path: Path) -> None:
    session = write_run_session(tmp_path / "s", {"q": "answer"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "report.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    for command in (["report", str(session), "--resamples", "10"], ["export", str(session)]):
        result = run_cli(*command, "-o", str(link))
        assert result.returncode == 0, result.stderr
        assert link.is_symlink() and os.readlink(link) == str(target)  # the link is kept
        assert target.read_text() != "old" and target.stat().st_mode & 0o777 == 0o644
        assert sorted(p.name for p in elsewhere.iterdir()) == ["report.txt"]  # no temp file left
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(elsewhere / "new.jsonl")
    assert run_cli("export", str(session), "-o", str(dangling)).returncode == 0
    assert dangling.is_symlink() and json.loads((elsewhere / "new.jsonl").read_text())["item"] == "q"


def test_output_into_a_fifo_and_a_character_device_writes_into_the_node(tmp_path: Path) -> None:
    session = write_run_session(tmp_path / "s", {"q": "answer"})
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_cli("report", str(session), "--resamples", "10", "--format", "json", "-o", str(fifo))
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert fifo.is_fifo()  # still the FIFO, not a regular file put in its place
    assert json.loads(received[0])["sessions"]
    # /dev/stdout of a pipe: the report comes out on the pipe (written into, not replaced).
    through = run_cli("export", str(session), "-o", "/dev/stdout")
    assert through.returncode == 0 and json.loads(through.stdout)["item"] == "q"
    # A character device of the test's own: a symlink in tmp_path to /dev/null is written
    # through, and /dev/null stays a character device.
    null_link = tmp_path / "null"
    null_link.symlink_to(os.devnull)
    assert run_cli("report", str(session), "--resamples", "10", "-o", str(null_link)).returncode == 0
    assert Path(os.devnull).is_char_device() and null_link.is_symlink()


def test_output_onto_a_socket_or_a_missing_device_is_one_line(tmp_path: Path) -> None:
    import socket

    session = write_run_session(tmp_path / "s", {"q": "answer"})
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        one_line_error(run_cli("export", str(session), "-o", str(path)), f"-o {path}", "not a regular file")
    one_line_error(run_cli("report", str(session), "-o", "/dev/no-such-device"), "no such device")


# --- 10. DPO rows never give the winner away ----------------------------------------------------


def voted_comparison(tmp_path: Path) -> Path:
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison

    a = write_run_session(tmp_path / "a", {f"q{i}": f"short {i}" for i in range(3)}, system="Be terse.")
    b = write_run_session(
        tmp_path / "b", {f"q{i}": f"a long answer {i}" for i in range(3)}, system="Be thorough."
    )
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "c")))
    for pair, choice in zip(comparison.state.ordered(), ("a", "b", "b"), strict=True):
        comparison.session.prefer(pair.pair, choice)
    comparison.close("complete")
    return tmp_path / "c"


def test_dpo_export_refuses_differing_system_messages_unless_told(tmp_path: Path) -> None:
    target = voted_comparison(tmp_path)
    one_line_error(
        run_cli("export", str(target), "--format", "dpo"),
        "system messages differ",
        "--dpo-system none|a|b|TEXT",
    )

    def systems(*flags: str) -> list[Any]:
        result = run_cli("export", str(target), "--format", "dpo", *flags)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["chosen_session"] for r in rows] == ["a", "b", "b"]
        return [next((m["content"] for m in r["prompt"] if m["role"] == "system"), None) for r in rows]

    assert systems("--dpo-system", "none") == [None, None, None]
    assert systems("--dpo-system", "a") == ["Be terse."] * 3
    assert systems("--dpo-system", "b") == ["Be thorough."] * 3
    assert systems("--dpo-system", "Be helpful.") == ["Be helpful."] * 3
    one_line_error(
        run_cli("export", str(target), "--dpo-system", "none"), "--dpo-system", "only with --format dpo"
    )


def test_dpo_export_keeps_a_system_message_every_session_shares(tmp_path: Path) -> None:
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison

    a = write_run_session(tmp_path / "a", {"q": "short"}, system="Same.")
    b = write_run_session(tmp_path / "b", {"q": "longer answer"}, system="Same.")
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "c")))
    comparison.session.prefer(comparison.state.ordered()[0].pair, "b")
    comparison.close("complete")
    result = run_cli("export", str(tmp_path / "c"), "--format", "dpo")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prompt"][0] == {"role": "system", "content": "Same."}


# --- 12. compare --reference says why items were left out ----------------------------------------


def test_compare_reference_says_which_items_have_no_reference(tmp_path: Path) -> None:
    run = write_run_session(
        tmp_path / "run",
        {"1": "four", "2": "Paris", "3": "blue", "4": None},
        references={"1": "4", "2": "Paris is the capital of France.", "4": "x"},
    )
    result = run_cli("compare", str(run), "--reference", "--headless", "--session", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert "2 items left out (1 no reference answer; 1 not answered in the session)" in result.stderr
    assert "only some sessions" not in result.stderr


# --- 13. pair ids, stale pairs, bounds, pipes, read-only, nothing created --------------------------


def test_pair_ids_stay_distinct_whatever_the_session_names(tmp_path: Path) -> None:
    """`compare x 'y|z' 'x|y' z` made 60 pairs of 72: `x` against `y|z` and `x|y` against
    `z` had the same id, and one pair replaced the other."""
    names = ["x", "y|z", "x|y", "z"]
    paths = [
        str(write_run_session(tmp_path / name, {f"q{i}": f"{name} says {i}" for i in range(12)}))
        for name in names
    ]
    result = run_cli("compare", *paths, "--headless", "--session", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert "12 items in common, 72 pairs" in result.stderr
    rows = [json.loads(line) for line in run_cli("export", str(tmp_path / "c")).stdout.splitlines()]
    assert len(rows) == len({r["pair"] for r in rows}) == 72
    assert {(r["a"], r["b"]) for r in rows} == {(a, b) for i, a in enumerate(names) for b in names[i + 1 :]}
    assert "q0:x|y%7Cz" in {r["pair"] for r in rows}  # readable, and unambiguous


def test_pair_ids_of_plain_names_are_as_before() -> None:
    from sftscope.sessions.compare.comparison import pair_id

    assert pair_id("3", "runA", "runB") == "3:runA|runB"  # ids older comparisons wrote
    assert pair_id("3", "runA", "runB", 2) == "3:runA|runB#2"
    assert pair_id("a:b", "c", "d") != pair_id("a", "b:c", "d")
    assert pair_id("x", "y#2", "z") != pair_id("x", "y", "z", 2)
    assert len({pair_id("i", "y|z", "x"), pair_id("i", "y", "z|x")}) == 2


def stale_comparison(tmp_path: Path) -> tuple[Path, Path]:
    """A comparison with three votes for b, then b's answer to q1 regenerated."""
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
    from sftscope.sessions.core.events import Generated, Regenerated
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    a = write_run_session(tmp_path / "a", {f"q{i}": f"short {i}" for i in range(3)})
    b = write_run_session(tmp_path / "b", {f"q{i}": f"a long answer {i}" for i in range(3)})
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "c")))
    for pair in comparison.state.ordered():
        comparison.session.prefer(pair.pair, "b")
    comparison.close("complete")
    store = SessionStore(b)
    store.open()
    session = Session(store)
    session.record(Regenerated("q1", 0))
    session.record(Generated("q1", 0, "a regenerated answer", "stop"))
    store.close(status="complete")
    return tmp_path / "c", b


def test_every_reader_of_a_comparison_leaves_a_changed_pair_out_and_says_so(tmp_path: Path) -> None:
    target, _ = stale_comparison(tmp_path)
    size = (target / "events.jsonl").stat().st_size
    dpo = run_cli("export", str(target), "--format", "dpo")
    assert dpo.returncode == 0, dpo.stderr
    assert [json.loads(line)["item"] for line in dpo.stdout.splitlines()] == ["q0", "q2"]
    assert "1 pairs left out: a source's answer changed" in dpo.stderr
    rows = [json.loads(line) for line in run_cli("export", str(target)).stdout.splitlines()]
    assert [r["stale"] for r in rows] == [False, True, False]
    report = run_cli("report", str(target), "--format", "json", "--resamples", "10")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    assert doc["sessions"][0]["answered"] == 2 and doc["sessions"][0]["labelled"] == 2
    assert any("1 pairs left out" in w for w in doc["warnings"]) and "1 pairs left out" in report.stderr
    replay = run_cli("replay", str(target), "--headless")
    assert replay.returncode == 0 and "1 pairs left out" in replay.stderr
    assert re.search(r"human\s+2\s", replay.stdout), replay.stdout
    assert (target / "events.jsonl").stat().st_size == size  # readers write nothing


def test_an_unreadable_source_is_said_and_its_pairs_used_as_saved(tmp_path: Path) -> None:
    target, b = stale_comparison(tmp_path)
    shutil.rmtree(b)
    dpo = run_cli("export", str(target), "--format", "dpo")
    assert dpo.returncode == 0, dpo.stderr
    assert len(dpo.stdout.splitlines()) == 3 and "source b cannot be read" in dpo.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["report", "{s}", "--resamples", "1000000000"],
            "--resamples 1000000000: must be between 1 and 100000",
        ),
        (["report", "{s}", "--seed", "-5"], "--seed -5: must be between 0 and 4294967295"),
        (["compare", "{s}", "{s}", "--seed", "-1"], "--seed -1: must be between 0 and 4294967295"),
        (["compare", "{s}", "{s}", "--seed", str(2**32)], f"--seed {2**32}: must be between"),
    ],
)
def test_numbers_out_of_bounds_are_one_line_up_front(tmp_path: Path, args: list[str], needle: str) -> None:
    session = write_run_session(tmp_path / "s", {"q": "answer"})
    result = run_cli(*[a.replace("{s}", str(session)) for a in args], timeout=30)
    one_line_error(result, needle)
    assert result.stdout == ""


def test_a_refused_judge_template_creates_nothing(tmp_path: Path, server_url: str) -> None:
    session = tmp_path / "s"
    result = run_headless(
        server_url,
        prompts(tmp_path),
        session,
        "--judge",
        f"openai:{server_url}#j",
        "--judge-template",
        "nope",
    )
    one_line_error(result, "--judge-template nope")
    assert not session.exists()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_console_replays_a_session_on_a_read_only_disk(tmp_path: Path) -> None:
    """A read-only bind mount of a finished session (root may write anywhere, so chmod
    would prove nothing): the console opens, shows the answer, refuses a label and quits."""
    from tests.tmux_helpers import Terminal

    source = write_run_session(tmp_path / "s", {"q": "the saved answer"})
    mount = tmp_path / "ro"
    mount.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip("this machine does not let the tests bind-mount a folder")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(mount)], capture_output=True).returncode:
            pytest.skip("this machine does not let the tests remount a folder read-only")
        assert not os.access(mount, os.W_OK)
        size = (mount / "events.jsonl").stat().st_size
        terminal = Terminal([sys.executable, "-m", "sftscope.tui.cli", "replay", str(mount), "--speed", "0"])
        try:
            terminal.wait_for(lambda s: "the saved answer" in s, timeout=60)
            time.sleep(0.5)  # a key this soon after the answer appeared is not a label
            terminal.keys("4")
            terminal.wait_for(lambda s: "✗" in s, timeout=20)  # the label refused (not saved)
            terminal.keys("q")
            terminal.wait_for(lambda s: "the saved answer" not in s, timeout=20)
        finally:
            terminal.close()
        assert (mount / "events.jsonl").stat().st_size == size
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_an_export_onto_a_terminal_is_inert_and_into_a_pipe_exact(tmp_path: Path) -> None:
    from tests.tmux_helpers import Terminal

    session = cut_session(tmp_path)
    piped = run_cli("export", str(session), "--format", "csv")
    assert "\x1b[2J" in piped.stdout  # a file or a pipe gets exactly what was saved
    script = f"{sys.executable} -m sftscope.tui.cli export {session} --format csv; echo EXPORTED; sleep 30"
    terminal = Terminal(["sh", "-c", script], size=(200, 50))
    try:
        screen = terminal.wait_for(lambda s: "EXPORTED" in s, timeout=60)
        title = terminal.tmux("display-message", "-p", "-t", terminal.name, "#{pane_title}")
    finally:
        terminal.close()
    assert "␛[2J␛[H␛[31mFAKE: saved" in screen and screen.lstrip().startswith("item,category")
    assert "pwned" not in title
