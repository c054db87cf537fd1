"""Several raters on one session (issue 18 §1): each rater's labels in ratings/NAME.jsonl,
blind to each other, locked per rater, a labelling console following the writer's log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sftscope.sessions.core.events import Generated
from sftscope.sessions.core.raters import (
    LEGACY,
    RaterError,
    RaterStore,
    check_rater,
    default_rater,
    fold_for,
    read_ratings,
    resolve_rater,
)
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionError, SessionStore, SessionWriteError, load_session

from tests.conftest import ROOT, answered_session, one_line_error, run_cli

HEADER = {"status": "running", "engine": {"spec": "x"}, "prompts": {"count": 2}}


def _session(tmp_path: Path, items: int = 2) -> Path:
    """A real session directory: items q1.. with one answer each, written by a writer."""
    return answered_session(tmp_path / "s", [f"q{n}" for n in range(1, items + 1)], HEADER)


def _rater(directory: Path, name: str, *, follow: bool = True) -> Session:
    store = SessionStore(directory)
    store.open(follow=follow)
    return Session(store, rater=name)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_rater_names_are_checked() -> None:
    assert check_rater("alice.b_2-x", "--rater") == "alice.b_2-x"
    for bad in ("", ".hidden", "a/b", "a b", "x" * 65, "é"):
        with pytest.raises(RaterError, match="--rater"):
            check_rater(bad, "--rater")


def test_default_rater_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFTSCOPE_RATER", "carol")
    assert default_rater() == "carol" == resolve_rater(None)
    assert resolve_rater("dave") == "dave"  # the flag wins
    monkeypatch.setenv("SFTSCOPE_RATER", "no/slash")
    with pytest.raises(RaterError, match=r"\$SFTSCOPE_RATER"):
        default_rater()
    monkeypatch.delenv("SFTSCOPE_RATER")
    monkeypatch.setenv("USER", "Ann Smith")  # getpass reads it: made into a name, never refused
    monkeypatch.setenv("LOGNAME", "Ann Smith")
    assert default_rater() == "Ann-Smith"


def test_two_raters_label_the_same_item_blind_to_each_other(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    alice, bob = _rater(directory, "alice"), _rater(directory, "bob")
    alice.score("q1", "helpfulness", 5)
    bob.score("q1", "helpfulness", 2)
    bob.flag("q1")
    assert alice.state.items["q1"].human == {"helpfulness": 5}  # each sees only their own
    assert bob.state.items["q1"].human == {"helpfulness": 2}
    assert not alice.state.items["q1"].flagged and bob.state.items["q1"].flagged
    # Both files on disk, each line by its rater and bound to the answer on screen.
    a, b = _lines(directory / "ratings" / "alice.jsonl"), _lines(directory / "ratings" / "bob.jsonl")
    assert [(r["type"], r["value"], r["rater"], r["gen"]) for r in a] == [("score", 5, "alice", "g1")]
    assert [(r["type"], r["rater"]) for r in b] == [("score", "bob"), ("flag", "bob")]
    # events.jsonl holds no label: a writer and both raters never wrote the same file.
    _header, events, _ = load_session(directory)
    assert {e["type"] for e in events} == {"item", "generation"}
    # Undo takes back a rater's own last action only.
    bob.undo("q1")
    assert not bob.state.items["q1"].flagged and bob.state.items["q1"].human == {"helpfulness": 2}
    assert alice.state.items["q1"].human == {"helpfulness": 5}
    # Reading every rater: by name; one rater's fold from it equals that console's.
    ratings = read_ratings(directory)
    assert list(ratings) == ["alice", "bob"]
    assert fold_for(events, ratings, "bob").items["q1"].human == {"helpfulness": 2}
    assert fold_for(events, ratings, "nobody").items["q1"].human == {}
    alice.close_rater()
    bob.close_rater()


def test_every_label_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _session(tmp_path)
    alice = _rater(directory, "alice")
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    alice.score("q1", "helpfulness", 4)
    alice.comment("q2", "terse")
    assert synced.count(alice.raters._fd) == 2


def test_the_same_rater_twice_is_refused_others_are_not(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    first = _rater(directory, "alice")
    with pytest.raises(SessionError) as refused:
        _rater(directory, "alice")
    line = str(refused.value)
    assert "\n" not in line and "rater alice is already labelling" in line and f"pid {os.getpid()}" in line
    other = _rater(directory, "bob")  # another rater is never blocked
    # Nor is the writer: a generating process takes the session lock meanwhile.
    writer = SessionStore(directory)
    writer.open()
    writer.close()
    first.close_rater()
    again = _rater(directory, "alice")  # released on close
    assert again.rater == "alice" and other.rater == "bob"


def test_the_same_rater_in_another_process_is_refused(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    mine = _rater(directory, "alice")
    code = textwrap.dedent(f"""
        from sftscope.sessions.core.store import SessionStore, SessionError
        from sftscope.sessions.core.session import Session
        store = SessionStore({str(directory)!r}); store.open(follow=True)
        try:
            Session(store, rater="alice")
        except SessionError as exc:
            print("refused:", exc)
        s = Session(store, rater="bob"); s.score("q2", "harmless", True); print("bob ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        **os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)  # fmt: skip
    assert "refused:" in out.stdout and "already labelling" in out.stdout, out.stderr
    assert "bob ok" in out.stdout, out.stderr
    assert mine.rater == "alice"
    assert _lines(directory / "ratings" / "bob.jsonl")[0]["value"] is True


def test_a_failed_label_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _session(tmp_path)
    alice = _rater(directory, "alice")
    alice.score("q1", "helpfulness", 3)
    path = directory / "ratings" / "alice.jsonl"
    size = path.stat().st_size
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: _enospc())
    with pytest.raises(SessionWriteError, match="not saved"):
        alice.score("q1", "helpfulness", 1)
    monkeypatch.setattr(os, "write", real)
    assert path.stat().st_size == size
    assert alice.state.items["q1"].human == {"helpfulness": 3}  # not folded in


def _enospc() -> int:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_torn_last_line_of_a_rater_file_is_repaired(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    alice = _rater(directory, "alice")
    alice.score("q1", "helpfulness", 3)
    alice.close_rater()
    path = directory / "ratings" / "alice.jsonl"
    good = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b'{"type":"score","item":"q2","crit')
    again = _rater(directory, "alice")
    assert any("torn final line" in w and str(good) in w for w in again.warnings)
    assert path.stat().st_size == good  # cut before the next append
    again.score("q2", "helpfulness", 4)
    assert [r["item"] for r in _lines(path)] == ["q1", "q2"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ({"type": "score", "item": "q1", "criterion": "helpfulness", "value": 9}, "outside its scale"),
        ({"type": "score", "item": "zz", "criterion": "helpfulness", "value": 3}, "does not have"),
        (
            {"type": "generation", "item": "q1", "turn": 0, "text": "x", "finish_reason": "stop"},
            "rater's file",
        ),
        ({"type": "score", "item": "q1", "criterion": "helpfulness", "value": 3, "rater": "bob"}, "by 'bob'"),
        (
            {"type": "score", "item": "q1", "criterion": "helpfulness", "value": 3, "rater": "a b"},
            "rater name",
        ),
    ],
)
def test_a_bad_line_in_a_rater_file_names_it(tmp_path: Path, line: dict, error: str) -> None:
    directory = _session(tmp_path)
    (directory / "ratings").mkdir()
    path = directory / "ratings" / "alice.jsonl"
    ok = {"type": "score", "item": "q2", "criterion": "harmless", "value": True}
    path.write_text(json.dumps(ok) + "\n" + json.dumps(line) + "\n" + json.dumps(ok) + "\n")
    with pytest.raises(SessionError, match=f"alice.jsonl:2: .*{error}"):
        read_ratings(directory)
    with pytest.raises(SessionError, match=r"alice\.jsonl:2"):
        _rater(directory, "alice")


def test_a_file_not_named_as_a_rater_is_refused(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    (directory / "ratings").mkdir()
    (directory / "ratings" / "a b.jsonl").write_text("")
    with pytest.raises(SessionError, match="not a rater's file"):
        read_ratings(directory)


def test_a_legacy_session_reads_as_one_rater_claimed_by_the_first(tmp_path: Path) -> None:
    directory = tmp_path / "v2"
    shutil.copytree(ROOT / "tests" / "data" / "v2-session", directory)
    before = (directory / "events.jsonl").read_bytes()
    header, events, _ = load_session(directory)
    assert "rater" not in header
    ratings = read_ratings(directory)
    assert list(ratings) == [LEGACY]  # unclaimed: "operator"
    legacy_human = {k: s.human for k, s in fold_for(events, ratings, LEGACY).items.items()}
    assert any(legacy_human.values())
    carol = _rater(directory, "carol")
    assert carol.legacy == "carol" and load_session(directory)[0]["rater"] == "carol"
    assert {k: s.human for k, s in carol.state.items.items()} == legacy_human  # her labels
    dave = _rater(directory, "dave")
    assert dave.legacy == "carol"  # claimed once
    assert not any(s.human for s in dave.state.items.values())  # blind to carol's
    assert list(read_ratings(directory)) == ["carol"]
    assert (directory / "events.jsonl").read_bytes() == before  # the log is never rewritten


def test_a_rater_console_follows_the_writer(tmp_path: Path) -> None:
    directory = _session(tmp_path, items=3)
    alice = _rater(directory, "alice")
    seen: list[object] = []
    alice.subscribe(seen.append)
    assert alice.poll() == []
    writer = SessionStore(directory)
    writer.open()  # the writer holds the session lock; the follower holds none
    Session(writer).record(Generated("q3", 1, "second turn", "stop", gen="g3b"))
    # A line the writer is still writing is left for the next poll, not dropped.
    with open(directory / "events.jsonl", "ab") as handle:
        handle.write(b'{"type":"generation","item":"q2"')
    got = alice.poll()
    assert [type(e).__name__ for e in got] == ["Generated"] and seen == got
    assert alice.state.items["q3"].answers[-1] == "second turn"
    with open(directory / "events.jsonl", "ab") as handle:
        handle.write(b',"turn":1,"text":"late","finish_reason":"stop","gen":"g2b"}\n')
    assert [e.item for e in alice.poll()] == ["q2"]
    alice.score("q2", "helpfulness", 5)  # on the answer that arrived by polling
    assert _lines(directory / "ratings" / "alice.jsonl")[0]["gen"] == "g2b"
    with open(directory / "events.jsonl", "ab") as handle:
        handle.write(b"not json\n")
    with pytest.raises(SessionError, match=r"events.jsonl:\d+: corrupt event line"):
        alice.poll()
    writer.close()


def test_a_rater_console_follows_another_process(tmp_path: Path) -> None:
    directory = _session(tmp_path, items=3)
    alice = _rater(directory, "alice")
    code = textwrap.dedent(f"""
        from sftscope.sessions.core.events import Generated
        from sftscope.sessions.core.store import SessionStore
        from sftscope.sessions.core.session import Session
        store = SessionStore({str(directory)!r}); store.open()
        Session(store).record(Generated("q1", 1, "from the writer", "stop", gen="w1"))
        store.close()
    """)
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60
    )
    assert [e.item for e in alice.poll()] == ["q1"]
    assert alice.state.items["q1"].answers[-1] == "from the writer"


def test_attach_rater_after_start_refolds_in_place(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    _rater(directory, "bob").score("q1", "helpfulness", 1)
    store = SessionStore(directory)
    store.open(follow=True)
    session = Session(store)
    state = session.state
    session.attach_rater("alice")
    assert session.state is state and session.rater == "alice"
    assert state.items["q1"].human == {}  # blind to bob
    session.score("q1", "helpfulness", 4)
    assert _lines(directory / "ratings" / "alice.jsonl")[0]["rater"] == "alice"
    with pytest.raises(SessionError, match="labels as alice"):
        session.attach_rater("carol")


def test_an_adjudication_survives_the_adjudicators_undo(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    judge = _rater(directory, "ann")
    judge.score("q1", "helpfulness", 2)
    judge.adjudicate("q1", "helpfulness", 4, reason="both readings fit")
    judge.undo("q1")  # takes back her score, not the decision
    records = read_ratings(directory)["ann"]
    assert [r["type"] for r in records] == ["score", "adjudicate", "undo"]
    assert records[-1]["undoes"] == "score" and records[1]["reason"] == "both readings fit"
    with pytest.raises(SessionError, match="outside its scale"):
        (directory / "ratings" / "zed.jsonl").write_text(
            json.dumps({"type": "adjudicate", "item": "q1", "criterion": "helpfulness", "value": 7}) + "\n"
        )
        read_ratings(directory)


def test_a_read_only_session_refuses_labels_but_reads(tmp_path: Path) -> None:
    directory = _session(tmp_path)
    _rater(directory, "alice").score("q1", "helpfulness", 3)
    store = SessionStore(directory)
    store.open(follow=True)
    raters = RaterStore(directory, "alice")
    raters.open(store.header, ["q1", "q2"], read_only=True)
    assert len(raters.records) == 1
    with pytest.raises(SessionWriteError, match="read-only"):
        raters.append({"type": "flag", "item": "q1"})


@pytest.mark.parametrize("command", ["run", "replay"])
def test_a_bad_rater_name_is_one_line(tmp_path: Path, command: str) -> None:
    directory = _session(tmp_path)
    args = ("replay", str(directory)) if command == "replay" else ("run", "--session", str(directory))
    one_line_error(run_cli(*args, "--rater", "../x", cwd=tmp_path), "--rater", "'../x'", "rater name")
    env = {"SFTSCOPE_RATER": "a b"}
    one_line_error(run_cli(*args, cwd=tmp_path, env=env), "$SFTSCOPE_RATER", "'a b'")


async def test_two_rater_consoles_label_one_session_while_a_writer_appends(tmp_path: Path) -> None:
    """The replay console as alice and as bob (each its own Session and lock) on a session a
    writer still appends to: each label lands in its rater's file, and alice's console shows
    the writer's new answer by following the log."""
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.console.app import SftscopeApp

    from tests.console_helpers import settle, wait_until

    directory = _session(tmp_path)
    writer = SessionStore(directory)
    writer.open()  # a writer holds the session lock all along
    bob = SftscopeApp(open_replay(directory, 0.0, rater="bob"))
    alice = SftscopeApp(open_replay(directory, 0.0, rater="alice"))
    async with bob.run_test(size=(80, 24)) as bob_pilot, alice.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: alice.ready)
        await wait_until(bob_pilot, lambda: bob.ready)
        await settle(pilot, alice)
        first = alice.item_ids[alice.index]
        await pilot.press("5")
        await settle(bob_pilot, bob)
        await bob_pilot.press("1")
        Session(writer).record(Generated("q2", 0, "an answer the writer made again", "stop", gen="w2"))
        q2 = alice.session.state.items["q2"]
        await wait_until(pilot, lambda: q2.answers[-1] == "an answer the writer made again", timeout=10)
        await pilot.press("q")
        await bob_pilot.press("q")
    writer.close()
    a, b = _lines(directory / "ratings" / "alice.jsonl"), _lines(directory / "ratings" / "bob.jsonl")
    assert [(r["item"], r["criterion"], r["value"], r["rater"]) for r in a] == [
        (first, "helpfulness", 5, "alice")
    ]
    assert [(r["criterion"], r["value"], r["rater"]) for r in b] == [("helpfulness", 1, "bob")]
    assert {e["type"] for e in load_session(directory)[1]} == {"item", "generation"}
