"""`sftscope compare A B` a second time reopens the comparison of A and B (votes and
judgments kept, only the missing pairs judged); `--new` starts another. Real run sessions
through the real writer, the real command in a subprocess, a scripted judge on 127.0.0.1
that counts what it is asked."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import write_run_session
from conftest import ScriptedServer, one_line_error, run_cli, serve_in_thread
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core.events import Generated, Regenerated
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, load_session

N = 6  # items both sessions answered: N pairs, each judged in two orders
_caches = itertools.count()


@pytest.fixture
def judge() -> Any:
    """A pairwise judge on 127.0.0.1 that prefers the answer shown second, counting requests."""
    server = ScriptedServer()
    server.default = {"text": "The second is better. [[B]]"}
    with serve_in_thread(server) as url:
        server.spec = f"openai:{url}#j1"  # type: ignore[attr-defined]
        yield server


def sessions(tmp_path: Path) -> tuple[Path, Path]:
    a = write_run_session(tmp_path / "runA", {f"q{i}": f"short {i}" for i in range(N)} | {"late": None})
    b = write_run_session(
        tmp_path / "runB", {f"q{i}": f"a longer answer {i}" for i in range(N)} | {"late": "b"}
    )
    return a, b


def compare(tmp_path: Path, *args: str) -> Any:
    """The real command, run from tmp_path (its sessions folder), with a judge cache of its
    own: every judgment the server is spared was spared by the comparison, not the cache."""
    cache = tmp_path / f"cache{next(_caches)}"
    return run_cli("compare", *args, cwd=tmp_path, env={"XDG_CACHE_HOME": str(cache)})


def comparisons(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "sftscope-sessions").glob("compare-*"))


def judged(directory: Path) -> list[str]:
    return [e["pair"] for e in load_session(directory)[1] if e["type"] == "pair_judge"]


def vote(directory: Path, count: int) -> None:
    """Votes on the first `count` pairs, through the comparison's own writer (as `1` in the console)."""
    comparison = open_comparison(CompareConfig(session=str(directory)), revisit=True)
    for pair in comparison.state.ordered()[:count]:
        comparison.session.prefer(pair.pair, "b")
    comparison.close("stopped")


def answer(directory: Path, item: str, text: str, *, again: bool = False) -> None:
    """A source session answers an item (resumed), or answers it again (`r` in the console)."""
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    if again:
        session.record(Regenerated(item, 0))
    session.record(Generated(item, 0, text, "stop"))
    store.close(status="complete")


def reopened_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if "reopened" in line]


def test_the_same_sessions_reopen_their_comparison_and_new_starts_another(tmp_path: Path, judge: Any) -> None:
    a, b = sessions(tmp_path)
    first = compare(tmp_path, str(a), str(b), "--headless", "--judge", judge.spec)
    assert first.returncode == 0, first.stderr
    assert not reopened_lines(first)  # a new one says nothing of reopening
    [made] = comparisons(tmp_path)
    assert len(judge.requests) == 2 * N and len(judged(made)) == N
    vote(made, 4)

    # Again, from another working directory's view of the same paths (relative ones too).
    again = compare(tmp_path, "runA", "runB", "--headless", "--judge", judge.spec)
    assert again.returncode == 0, again.stderr
    assert comparisons(tmp_path) == [made]
    [line] = reopened_lines(again)
    assert line == (
        f"sftscope: reopened {made.relative_to(tmp_path)}, the comparison of these sessions "
        f"({N} pairs, 4 voted); --new starts another"
    )
    assert len(judge.requests) == 2 * N  # no judge asked again about a pair it judged
    assert len(judged(made)) == N
    human = next(x for x in again.stdout.splitlines() if x.strip().startswith("human"))
    assert human.split()[1:5] == ["4", "0", "0", "4"], again.stdout  # your votes in the summary

    # Without --judge, the judges come from the comparison, and again ask nothing.
    bare = compare(tmp_path, str(a), str(b), "--headless")
    assert bare.returncode == 0 and reopened_lines(bare), bare.stderr
    assert len(judge.requests) == 2 * N

    fresh = compare(tmp_path, str(a), str(b), "--headless", "--new", "--judge", judge.spec)
    assert fresh.returncode == 0, fresh.stderr
    assert not reopened_lines(fresh)
    assert len(comparisons(tmp_path)) == 2
    assert len(judge.requests) == 4 * N  # a new comparison is judged anew
    # Two comparisons of A and B: the one written last is the one reopened.
    last = compare(tmp_path, str(a), str(b), "--headless")
    [newer] = [c for c in comparisons(tmp_path) if c != made]
    assert reopened_lines(last)[0].startswith(f"sftscope: reopened {newer.relative_to(tmp_path)},")
    assert f"({N} pairs, 0 voted)" in last.stderr


def test_other_sessions_or_another_order_or_seed_make_a_new_comparison(tmp_path: Path) -> None:
    a, b = sessions(tmp_path)
    c = write_run_session(tmp_path / "runC", {f"q{i}": f"third {i}" for i in range(N)})
    assert compare(tmp_path, str(a), str(b), "--headless").returncode == 0
    for args in ([str(a), str(c)], [str(b), str(a)], [str(a), str(b), "--seed", "3"]):
        result = compare(tmp_path, *args, "--headless")
        assert result.returncode == 0 and not reopened_lines(result), (args, result.stderr)
    assert len(comparisons(tmp_path)) == 4
    # --new beside a --session that holds a comparison: one line, exit 2, nothing written.
    one_line_error(
        compare(tmp_path, "--session", str(comparisons(tmp_path)[0]), "--new"),
        "--new",
        "is a comparison already",
    )


def test_only_the_missing_pairs_are_judged_and_a_changed_answer_is_paired_again(
    tmp_path: Path, judge: Any
) -> None:
    a, b = sessions(tmp_path)
    assert compare(tmp_path, str(a), str(b), "--headless", "--judge", judge.spec).returncode == 0
    [made] = comparisons(tmp_path)
    answer(a, "late", "answered at last")  # a new item in common: one new pair
    answer(b, "q0", "a better answer 0", again=True)  # a changed answer: stale, paired again
    result = compare(tmp_path, str(a), str(b), "--headless")
    assert result.returncode == 0, result.stderr
    assert comparisons(tmp_path) == [made] and reopened_lines(result)
    assert f"{N + 1} items in common, {N + 1} pairs" in result.stderr
    assert "1 pairs stale (a source's answer changed); new pairs made" in result.stderr
    assert len(judge.requests) == 2 * N + 2 * 2  # the new pair and the remade one, both orders
    log = load_session(made)[1]
    stale = [e["pair"] for e in log if e["type"] == "stale"]
    assert stale == ["q0:runA|runB"]
    assert sorted(judged(made)) == sorted(
        ["q0:runA|runB", "q0:runA|runB#2", "late:runA|runB"] + [f"q{i}:runA|runB" for i in range(1, N)]
    )


def test_a_moved_source_is_named_and_its_pairs_kept(tmp_path: Path, judge: Any) -> None:
    a, b = sessions(tmp_path)
    assert compare(tmp_path, str(a), str(b), "--headless", "--judge", judge.spec).returncode == 0
    [made] = comparisons(tmp_path)
    vote(made, 2)
    b.rename(tmp_path / "elsewhere")
    for args in ([str(a), str(b)], ["--session", str(made)]):
        result = compare(tmp_path, *args, "--headless")
        assert result.returncode == 0, result.stderr
        moved = [x for x in result.stderr.splitlines() if x.startswith("sftscope: source ")]
        assert moved == [f"sftscope: source runB moved ({b} not found): pairs kept, no new pairs"], (
            result.stderr
        )
        assert f"{N} pairs" in result.stderr and comparisons(tmp_path) == [made]
        assert "human" in result.stdout  # the summary, from the pairs as saved
    assert len(judge.requests) == 2 * N
    assert len(judged(made)) == N
    assert json.loads(run_cli("export", str(made)).stdout.splitlines()[0])["human"] == "b"
    # With --new (or no comparison of these sessions) a missing source is still an error.
    one_line_error(compare(tmp_path, str(a), str(b), "--new"), str(b), "no such session directory")


def test_of_two_comparisons_the_one_whose_answers_still_match_is_reopened(tmp_path: Path) -> None:
    """X was written last, but B's answer changed since X last saw it; Y was opened after the
    change: `compare A B` reopens Y (its pairs are the current answers), not X."""
    import os

    a, b = sessions(tmp_path)
    assert compare(tmp_path, str(a), str(b), "--headless").returncode == 0
    assert compare(tmp_path, str(a), str(b), "--headless", "--new").returncode == 0
    x, y = sorted(comparisons(tmp_path), key=lambda d: d.name)
    answer(b, "q1", "changed", again=True)
    assert compare(tmp_path, "--session", str(y), "--headless").returncode == 0  # Y sees the change
    later = (y / "events.jsonl").stat().st_mtime + 60
    os.utime(x / "events.jsonl", (later, later))  # X written last
    result = compare(tmp_path, str(a), str(b), "--headless")
    assert reopened_lines(result)[0].startswith(f"sftscope: reopened {y.relative_to(tmp_path)},"), (
        result.stderr
    )
    assert "pairs stale" not in result.stderr  # nothing to remake in Y
