"""Comparisons as sessions: matching, pairs, staleness, resume, bad input, exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from compare_helpers import write_run_session
from conftest import one_line_error, run_cli
from sftscope.sessions.compare.comparison import CompareConfig, CompareError, open_comparison
from sftscope.sessions.compare.export import DpoError, DpoOptions, comparison_rows, dpo_rows
from sftscope.sessions.core.events import Generated, Regenerated
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, load_session


def two_sessions(tmp_path: Path, n: int = 12) -> tuple[Path, Path]:
    a = write_run_session(tmp_path / "runA", {str(i): f"short {i}" for i in range(n)} | {"extra": None})
    b = write_run_session(
        tmp_path / "runB", {str(i): f"a longer answer number {i}" for i in range(n)}, system="Be kind."
    )
    return a, b


def events(directory: Path) -> list[dict[str, Any]]:
    return load_session(directory)[1]


def regenerate(directory: Path, item: str, text: str) -> None:
    """A source session's item answered again (what `r` in the console does)."""
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    session.record(Regenerated(item, 0))
    session.record(Generated(item, 0, text, "stop"))
    store.close(status="complete")


def test_pairs_match_items_by_id_and_count_what_is_left_out(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path)
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "c")))
    pairs = comparison.state.ordered()
    comparison.close("stopped")
    assert len(pairs) == 12 and comparison.left_out == 1  # "extra" is answered by A only
    assert {(p.a, p.b) for p in pairs} == {("runA", "runB")}
    assert pairs[0].answers_a == ["short 0"] and pairs[0].answers_b == ["a longer answer number 0"]
    header = load_session(tmp_path / "c")[0]
    assert header["kind"] == "comparison"
    assert [s["name"] for s in header["sources"]] == ["runA", "runB"]
    assert all(len(s["answers_sha256"]) == 64 for s in header["sources"])
    # Which side is shown first is shuffled per item, and the same again for the same seed.
    firsts = [p.first for p in pairs]
    assert set(firsts) == {"a", "b"}
    again = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "d")))
    assert [p.first for p in again.state.ordered()] == firsts
    again.close("stopped")
    other = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "e"), seed=7))
    assert [p.first for p in other.state.ordered()] != firsts
    other.close("stopped")


def test_three_sessions_every_pair_or_each_against_the_baseline(tmp_path: Path) -> None:
    paths = [
        str(write_run_session(tmp_path / name, {str(i): f"{name} {i}" for i in range(4)}))
        for name in ("x", "y", "z")
    ]
    every = open_comparison(CompareConfig(sources=tuple(paths), session=str(tmp_path / "all")))
    assert {(p.a, p.b) for p in every.state.ordered()} == {("x", "y"), ("x", "z"), ("y", "z")}
    assert len(every.state.ordered()) == 12
    every.close("stopped")
    base = open_comparison(CompareConfig(sources=tuple(paths), session=str(tmp_path / "b"), baseline="y"))
    assert {(p.a, p.b) for p in base.state.ordered()} == {("y", "x"), ("y", "z")}
    base.close("stopped")


def test_a_prompt_that_differs_is_an_error_naming_the_item(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "a", {"1": "x", "2": "y"})
    b = write_run_session(tmp_path / "b", {"1": "x", "2": "y"}, prompts={"2": ["another question"]})
    with pytest.raises(CompareError, match="item 2: its prompt differs"):
        open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(tmp_path / "c")))
    assert not (tmp_path / "c").exists()


def test_votes_undo_and_skip_are_fsynced_events_and_survive_a_resume(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path)
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    first, second, third = comparison.state.ordered()[:3]
    comparison.session.prefer(first.pair, "b")
    comparison.session.prefer(second.pair, "tie")
    comparison.session.undo_pair(second.pair)
    comparison.session.skip_pair(third.pair)
    comparison.session.prefer(third.pair, "both_bad")
    comparison.close("stopped")
    kinds = [e["type"] for e in events(target)]
    assert kinds.count("preference") == 3 and kinds.count("undo") == 1 and kinds.count("skip") == 1
    resumed = open_comparison(CompareConfig(session=str(target)))  # the sources come from the header
    state = resumed.state
    assert state.pairs[first.pair].human == "b"
    assert state.pairs[second.pair].human is None and not state.pairs[second.pair].voted
    assert state.pairs[third.pair].human == "both_bad"
    assert len(state.ordered()) == 12  # no pair made twice
    resumed.close("stopped")
    header, log, _ = load_session(target)
    rows = comparison_rows(header, log)
    assert [r["human"] for r in rows[:3]] == ["b", None, "both_bad"]
    assert rows[0]["human_shown_first"] == first.first and rows[0]["stale"] is False
    # What was compared, beside the verdicts: each side's system message and answer.
    item = first.item.id
    assert rows[0]["prompt"] == first.item.turns[-1]
    assert (rows[0]["system_a"], rows[0]["system_b"]) == (None, "Be kind.")
    assert (rows[0]["answer_a"], rows[0]["answer_b"]) == (f"short {item}", f"a longer answer number {item}")


def test_a_changed_source_answer_makes_its_pair_stale(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path)
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    old = comparison.state.pairs["3:runA|runB"]
    comparison.session.prefer(old.pair, "a")
    comparison.close("stopped")
    regenerate(b, "3", "a regenerated answer")
    resumed = open_comparison(CompareConfig(session=str(target)))
    assert resumed.stale_marked == 1
    assert resumed.state.pairs[old.pair].stale == "the answer of runB changed"
    fresh = [p for p in resumed.state.ordered() if p.item.id == "3"]
    assert len(fresh) == 1 and fresh[0].replaces == old.pair
    assert fresh[0].answers_b == ["a regenerated answer"] and fresh[0].human is None
    resumed.close("stopped")
    header, log, _ = load_session(target)
    rows = comparison_rows(header, log)
    assert [r["stale"] for r in rows if r["item"] == "3"] == [True, False]
    # Each row keeps the answers its pair compared: the stale one the old answer.
    answers = [r["answer_b"] for r in rows if r["item"] == "3"]
    assert answers == ["a longer answer number 3", "a regenerated answer"]
    # The stale vote is never exported as a preference.
    assert dpo_rows(header, log, DpoOptions(system="none")) == []
    # A later resume with nothing changed makes no new pair.
    again = open_comparison(CompareConfig(session=str(target)))
    assert again.stale_marked == 0 and len(again.state.pairs) == 13
    again.close("stopped")


def test_reference_side_comes_from_the_prompt_set(tmp_path: Path) -> None:
    run = write_run_session(
        tmp_path / "run",
        {"1": "four", "2": "Paris", "3": "blue"},
        references={"1": "4", "2": "Paris is the capital of France."},
    )
    comparison = open_comparison(
        CompareConfig(sources=(str(run),), session=str(tmp_path / "c"), reference=True)
    )
    pairs = comparison.state.ordered()
    comparison.close("stopped")
    assert [(p.item.id, p.a, p.b) for p in pairs] == [("1", "reference", "run"), ("2", "reference", "run")]
    assert pairs[0].answers_a == ["4"] and comparison.left_out == 1
    header = load_session(tmp_path / "c")[0]
    assert header["sources"][0] == {**header["sources"][0], "name": "reference", "reference": True}


def test_dpo_rows_in_trl_formats(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path, n=4)
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    p0, p1, p2, p3 = comparison.state.ordered()
    comparison.session.prefer(p0.pair, "b")
    comparison.session.prefer(p1.pair, "a")
    comparison.session.prefer(p2.pair, "tie")
    comparison.session.prefer(p3.pair, "both_bad")
    comparison.close("stopped")
    header, log, _ = load_session(target)
    # B ran with a system prompt and A without: a row carrying its chosen side's system
    # message would give the winner away, so the export asks which one every row gets.
    with pytest.raises(DpoError, match=r"system messages differ .*--dpo-system none\|a\|b\|TEXT"):
        dpo_rows(header, log, DpoOptions())
    rows = dpo_rows(header, log, DpoOptions(system="b"))
    assert [r["item"] for r in rows] == ["0", "1"]  # ties and both-bad are left out
    chosen_b, chosen_a = rows
    assert chosen_b["prompt"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "question 0"},
    ]
    assert chosen_a["prompt"] == [*chosen_b["prompt"][:1], {"role": "user", "content": "question 1"}]
    rows = dpo_rows(header, log, DpoOptions(system="none"))
    chosen_b, chosen_a = rows
    assert chosen_b["prompt"] == [{"role": "user", "content": "question 0"}]
    assert chosen_b["chosen"] == [{"role": "assistant", "content": "a longer answer number 0"}]
    assert chosen_b["rejected"] == [{"role": "assistant", "content": "short 0"}]
    assert (chosen_b["chosen_session"], chosen_b["rejected_session"], chosen_b["source"]) == (
        "runB",
        "runA",
        "human",
    )
    assert chosen_a["prompt"] == [{"role": "user", "content": "question 1"}]
    standard = dpo_rows(header, log, DpoOptions(style="standard", system="none"))
    assert standard[1]["prompt"] == "question 1" and standard[1]["chosen"] == "short 1"
    own = dpo_rows(header, log, DpoOptions(style="standard", system="Answer well."))
    assert [r["prompt"] for r in own] == [f"System: Answer well.\n\nUser: question {i}" for i in (0, 1)]
    assert dpo_rows(header, log, DpoOptions(style="standard", system="a"))[0]["prompt"] == "question 0"
    with pytest.raises(DpoError, match="--source nobody"):
        dpo_rows(header, log, DpoOptions(source="nobody"))


def test_dpo_rows_by_judge_and_by_agreement(tmp_path: Path) -> None:
    from sftscope.sessions.core.events import PairJudged

    a, b = two_sessions(tmp_path, n=4)
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    pairs = comparison.state.ordered()
    verdicts = [("b", "b", "b"), ("a", "a", "a"), ("tie", "a", "b"), ("b", "b", "b")]
    for pair, (verdict, ab, ba) in zip(pairs, verdicts, strict=True):
        comparison.session.record(PairJudged(pair.item.id, pair.pair, "j", verdict, ab, ba))
    comparison.session.prefer(pairs[0].pair, "b")  # agrees with j
    comparison.session.prefer(pairs[1].pair, "b")  # disagrees
    comparison.session.prefer(pairs[2].pair, "a")  # j flipped: a tie
    comparison.close("stopped")
    header, log, _ = load_session(target)
    by_judge = dpo_rows(header, log, DpoOptions(source="j", system="none"))
    assert [(r["item"], r["chosen_session"]) for r in by_judge] == [
        ("0", "runB"),
        ("1", "runA"),
        ("3", "runB"),
    ]
    agree = dpo_rows(header, log, DpoOptions(source="agree", system="none"))
    assert [r["item"] for r in agree] == ["0"]


def test_dpo_rows_pass_trls_own_checks(tmp_path: Path, hf_checkpoint: Path) -> None:
    """DPOTrainer's data path on our rows: TRL's format detection and its chat templating
    with the bundled model's own tokenizer."""
    pytest.importorskip("trl")
    from transformers import AutoTokenizer
    from trl.data_utils import apply_chat_template, is_conversational

    a, b = two_sessions(tmp_path, n=2)
    target = tmp_path / "c"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    comparison.session.prefer(comparison.state.ordered()[0].pair, "b")
    comparison.close("stopped")
    header, log, _ = load_session(target)
    row = dpo_rows(header, log, DpoOptions(system="b"))[0]
    assert is_conversational(row)
    tokenizer = AutoTokenizer.from_pretrained(hf_checkpoint)
    applied = apply_chat_template(row, tokenizer)
    assert applied["prompt"].endswith("assistant\n") and "Be kind." in applied["prompt"]
    assert applied["chosen"].startswith("a longer answer number 0")
    assert applied["rejected"].startswith("short 0")
    standard = dpo_rows(header, log, DpoOptions(style="standard", system="b"))[0]
    assert not is_conversational(standard)
    assert isinstance(standard["prompt"], str) and isinstance(standard["chosen"], str)


# --- the command line -------------------------------------------------------------------


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path)
    lonely = write_run_session(tmp_path / "lonely", {"zz": "nothing in common"})
    one_line_error(run_cli("compare", str(tmp_path / "nope"), str(a)), "nope", "no such session")
    one_line_error(run_cli("compare", str(tmp_path), str(a)), str(tmp_path), "not a session")
    one_line_error(run_cli("compare", str(a), str(a)), "runA", "same session is given twice")
    one_line_error(run_cli("compare", str(a), str(lonely)), "no answered item in common")
    one_line_error(run_cli("compare", str(a)), "runA", "second session")
    one_line_error(run_cli("compare", str(a), str(b), "--judge", "nonsense"), "--judge nonsense")
    one_line_error(run_cli("compare", str(a), str(b), "--baseline", "runC"), "--baseline runC")
    one_line_error(
        run_cli("compare", str(a), str(b), "--judge", "local", "--judge-template", "rubric-json"),
        "--judge-template rubric-json",
        "pairwise",
    )
    one_line_error(
        run_cli(
            "compare",
            str(a),
            str(b),
            "--judge-template",
            str(tmp_path / "none.jsonl#pair-v2"),
            "--judge",
            "local",
        ),
        "none.jsonl",
    )
    unknown = run_cli("compare", str(a), str(b), "--judge", "foo:bar", "--session", str(tmp_path / "u"))
    one_line_error(unknown, "--judge foo:bar", "unknown engine scheme")
    missing = run_cli("compare", str(a), str(b), "--judge", f"llama:{tmp_path}/none.gguf", "--headless")
    one_line_error(missing, "none.gguf", "not found")
    assert not (tmp_path / "u").exists()  # nothing is opened before the judges are known to be usable
    made = run_cli("compare", str(a), str(b), "--headless", "--session", str(tmp_path / "c"))
    assert made.returncode == 0, made.stderr
    # A comparison where a run session is expected, and the reverse.
    one_line_error(run_cli("compare", str(tmp_path / "c"), str(a)), "is a comparison")
    one_line_error(run_cli("compare", "--session", str(a)), "is a run session")
    one_line_error(run_cli("run", "--headless", "--session", str(tmp_path / "c")), "is a comparison")
    one_line_error(run_cli("judge", str(tmp_path / "c"), "--judge", "local"), "is a comparison")
    one_line_error(run_cli("export", str(a), "--format", "dpo"), "is a run session")
    one_line_error(
        run_cli("export", str(tmp_path / "c"), "--format", "dpo", "--source", "gpt"), "--source gpt"
    )
    one_line_error(run_cli("compare", str(a), str(lonely), "--session", str(tmp_path / "c")), "--session")


def test_headless_compare_then_export(tmp_path: Path) -> None:
    a, b = two_sessions(tmp_path)
    target = tmp_path / "c"
    result = run_cli("compare", str(a), str(b), "--headless", "--session", str(target))
    assert result.returncode == 0, result.stderr
    assert "12 items in common, 12 pairs" in result.stderr
    assert "1 items left out" in result.stderr
    exported = run_cli("export", str(target))
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 12 and list(rows[0]) == [
        "item", "pair", "a", "b", "human", "human_shown_first", "sample", "judges", "stale",
        "prompt", "system_a", "system_b", "answer_a", "answer_b",
    ]  # fmt: skip
    assert (rows[0]["system_a"], rows[0]["system_b"]) == (None, "Be kind.")
    csv_out = run_cli("export", str(target), "--format", "csv")
    assert csv_out.stdout.splitlines()[0] == (
        "item,pair,a,b,human,human_shown_first,sample,judges,stale,prompt,system_a,system_b,answer_a,answer_b"
    )


def test_kill_9_mid_judging_then_resume_judges_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT, ScriptedServer, serve_in_thread

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a, b = two_sessions(tmp_path)
    target = tmp_path / "c"
    slow = ScriptedServer()
    slow.default = {"text": "Better: [[B]]", "delay": 0.15}
    with serve_in_thread(slow) as url:
        args = [
            sys.executable, "-m", "sftscope.tui.cli", "compare", str(a), str(b), "--headless",
            "--session", str(target), "--judge", f"openai:{url}#slow", "--judge-concurrency", "1",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log = target / "events.jsonl"
            if log.exists() and log.read_text().count('"pair_judge"') >= 3:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        judged_before = (target / "events.jsonl").read_text().count('"pair_judge"')
        assert 3 <= judged_before < 12
        # Resumed with nothing but the directory: the sources and the judge come from the header.
        resumed = run_cli("compare", "--session", str(target), "--headless")
    assert resumed.returncode == 0, resumed.stderr
    log = events(target)
    judged = [e["pair"] for e in log if e["type"] == "pair_judge"]
    assert sorted(set(judged)) == sorted(p["pair"] for p in log if p["type"] == "pair")
    assert len(judged) == 12  # the pairs judged before the kill are not asked again
    assert len(slow.requests) <= 2 * 12 + 2  # at most the pair in flight at the kill twice
    assert load_session(target)[0]["status"] == "stopped"  # judged, not yet voted


def test_fastchat_prompt_file_and_reference_side_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--judge-template FILE#pair-v2` in FastChat's shape (our own words, not its prompts),
    against the prompt set's references (`--reference`), judged by a loopback judge."""
    from conftest import ScriptedServer, serve_in_thread

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    prompts = tmp_path / "judge_prompts.jsonl"
    line = {
        "name": "pair-v2",
        "type": "pairwise",
        "system_prompt": "You compare two answers.",
        "prompt_template": "Q: {question}\nFIRST: {answer_a}\nSECOND: {answer_b}\nSay [[A]], [[B]] or [[C]].",
        "description": "a test prompt",
        "category": "general",
        "output_format": "[[A]]",
    }
    prompts.write_text(json.dumps(line) + "\n")
    run = write_run_session(
        tmp_path / "run",
        {str(i): f"model answer {i}" for i in range(3)},
        references={str(i): f"reference answer {i}" for i in range(3)},
    )
    judge = ScriptedServer()
    judge.default = {"text": "The second. [[B]]"}
    with serve_in_thread(judge) as url:
        result = run_cli(
            "compare", str(run), "--reference", "--headless", "--session", str(tmp_path / "c"),
            "--judge", f"openai:{url}#fc", "--judge-template", f"{prompts}#pair-v2",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first = judge.requests[0]["messages"]
    assert first[0] == {"role": "system", "content": "You compare two answers."}
    assert first[1]["content"].startswith("Q: question ") and "\nFIRST: " in first[1]["content"]
    rows = [json.loads(x) for x in run_cli("export", str(tmp_path / "c")).stdout.splitlines()]
    assert [(r["a"], r["b"]) for r in rows] == [("reference", "run")] * 3
    # "[[B]]" in both orders: whichever is shown second wins, so the verdict is a tie.
    assert {r["judges"]["fc"]["verdict"] for r in rows} == {"tie"}
    assert {(r["judges"]["fc"]["ab"], r["judges"]["fc"]["ba"]) for r in rows} == {("b", "a")}


def test_comparison_csv_guards_formula_cells_unless_csv_raw(tmp_path: Path) -> None:
    import csv
    import io

    formula = '=HYPERLINK("http://x")'
    a = write_run_session(tmp_path / "a", {formula: "one", "plain": "two"})
    b = write_run_session(tmp_path / "b", {formula: "uno", "plain": "dos"})
    target = tmp_path / "c"
    assert run_cli("compare", str(a), str(b), "--headless", "--session", str(target)).returncode == 0
    guarded = run_cli("export", str(target), "--format", "csv")
    assert guarded.returncode == 0, guarded.stderr
    items = [row["item"] for row in csv.DictReader(io.StringIO(guarded.stdout))]
    assert sorted(items) == sorted(["'" + formula, "plain"])
    raw = run_cli("export", str(target), "--format", "csv", "--csv-raw")
    assert raw.returncode == 0, raw.stderr
    items = [row["item"] for row in csv.DictReader(io.StringIO(raw.stdout))]
    assert sorted(items) == sorted([formula, "plain"])
