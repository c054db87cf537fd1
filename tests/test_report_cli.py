"""`sftscope report` from the command line: bad input is one line and exit code 2 (never
a traceback, and checked before any statistic is computed); each format comes out of
the real command on real session directories written by the real writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.compare_helpers import write_run_session
from tests.conftest import ROOT, one_line_error, run_cli


def a_session(tmp_path: Path, name: str = "run-a") -> Path:
    return write_run_session(tmp_path / name, {str(i): f"answer {i}" for i in range(4)})


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-session"
    one_line_error(run_cli("report", str(missing)), str(missing))


def test_a_file_is_not_a_session_directory(tmp_path: Path) -> None:
    file = tmp_path / "events.jsonl"
    file.write_text("{}\n")
    one_line_error(run_cli("report", str(file)), str(file), "not a session directory")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_resamples_must_be_positive(tmp_path: Path, value: str) -> None:
    one_line_error(run_cli("report", str(a_session(tmp_path)), "--resamples", value), f"--resamples {value}")


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--resamples", "many"], "--resamples"),
        (["--seed", "x"], "--seed"),
        (["--format", "pdf"], "--format"),
    ],
)
def test_argparse_errors_are_one_line(tmp_path: Path, flags: list[str], needle: str) -> None:
    one_line_error(run_cli("report", str(a_session(tmp_path)), *flags), needle)


def test_no_directory_at_all_is_one_line() -> None:
    one_line_error(run_cli("report"), "DIR")


def test_output_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "report.html"
    result = run_cli("report", str(a_session(tmp_path)), "--format", "html", "-o", str(target))
    one_line_error(result, f"-o {target}", "does not exist")
    assert not target.parent.exists()


def test_output_onto_a_directory_is_one_line(tmp_path: Path) -> None:
    one_line_error(run_cli("report", str(a_session(tmp_path)), "-o", str(tmp_path)), f"-o {tmp_path}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_output_into_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run_cli("report", str(a_session(tmp_path)), "-o", str(folder / "r.txt"))
    finally:
        folder.chmod(0o755)
    one_line_error(result, f"-o {folder / 'r.txt'}", "not writable")


def test_report_help_is_instant_and_imports_nothing_heavy() -> None:
    """`sftscope report --help` parses with the standard library only: the renderers,
    rich, plotext and numpy are imported when a report is made."""
    code = (
        "import sys\n"
        "from sftscope.tui.cli import parser, report\n"
        "parser.build_parser()\n"
        "heavy = [m for m in ('rich', 'plotext', 'numpy', 'textual', 'sftscope.sessions.report.layout',"
        " 'sftscope.sessions.report.document') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
    result = run_cli("report", "--help")
    assert result.returncode == 0
    for flag in ("--format", "--resamples", "--seed", "-o"):
        assert flag in result.stdout


# ---------------------------------------------------------------------------------------
# Real sessions through the real build_report and the real command.


def labelled_run(directory: Path, shift: int = 0, n: int = 24) -> Path:
    """A finished run session with human labels, one judge (two failed judgments) and
    per-item checks and a reference metric, written through the real Session writer."""
    from sftscope.sessions.core.events import Checked, Judged, Scored
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    write_run_session(directory, {str(i): "word " * (3 + (i * 7) % 30) for i in range(n)})
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    for i in range(n):
        item = str(i)
        human = 1 + (i + shift) % 5
        session.record(Scored(item, "helpfulness", human))
        session.record(Scored(item, "harmless", i % 7 != 0))
        if i % 11 == 5:
            session.record(Judged(item, "qwen", None, {"error": "parse: no JSON in the reply"}))
        else:
            scores = {"helpfulness": min(5, human + i % 2), "harmless": True}
            session.record(Judged(item, "qwen", scores))
        session.record(
            Checked(
                item, checks={"contains:word": True, "short": i % 3 == 0}, metrics={"rougeL": 0.1 * (i % 6)}
            )
        )
    store.close(status="complete")
    return directory


def judged_comparison(tmp_path: Path) -> Path:
    from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
    from sftscope.sessions.core.events import PairJudged

    a = write_run_session(tmp_path / "runA", {str(i): f"short {i}" for i in range(14)})
    b = write_run_session(tmp_path / "runB", {str(i): f"a longer answer number {i}" for i in range(14)})
    target = tmp_path / "cmp"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    for index, pair in enumerate(comparison.state.ordered()):
        verdict = "b" if index % 4 else "a"
        comparison.session.record(PairJudged(pair.item.id, pair.pair, "qwen", verdict, verdict, verdict))
        comparison.session.prefer(pair.pair, "b" if index % 3 else "tie")
    comparison.close("stopped")
    return target


def build(*directories: Path) -> dict[str, Any]:
    from sftscope.sessions.report.document import build_report

    return json.loads(json.dumps(build_report(list(directories), resamples=200, seed=0).to_dict()))


def test_a_real_run_session_in_every_format(tmp_path: Path) -> None:
    from sftscope.sessions.report.layout import fmt, fmt_ci
    from sftscope.tui.render.report import render_html, render_markdown, render_text

    session = labelled_run(tmp_path / "run-a")
    doc = build(session)
    human = doc["criteria"]["helpfulness"]["human"]
    judge = doc["criteria"]["helpfulness"]["judges"]["qwen"]
    assert human["n"] == 24 and judge["n"] == 22
    text = render_text(doc)
    assert all(len(line) <= 80 for line in text.splitlines())
    for number in (fmt(human["mean"]), fmt_ci(human["ci"]), fmt(judge["mean"]), fmt_ci(judge["ci"])):
        assert number in text
    kappa = doc["agreement"]["helpfulness"]["qwen"]
    assert f"{fmt(kappa['kappa'])} {fmt_ci(kappa['kappa_ci'])}" in text
    kinds = doc["judge_health"]["qwen"]["errors_by_kind"]
    assert sum(kinds.values()) == 2  # the judge's two failures, by kind
    assert ", ".join(f"{kind} {count}" for kind, count in kinds.items() if count) in text
    assert "contains:word" in text and "ROUGE-L" in text and "overlap with one reference" in text

    result = run_cli("report", str(session), "--resamples", "200")
    assert result.returncode == 0, result.stderr
    assert result.stdout == text  # a pipe gets the plain 80-column text
    as_json = run_cli("report", str(session), "--resamples", "200", "--format", "json")
    assert json.loads(as_json.stdout) == doc
    md = run_cli("report", str(session), "--resamples", "200", "--format", "md")
    assert md.stdout == render_markdown(doc)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    html = run_cli("report", str(session), "--resamples", "200", "--format", "html", "-o", str(page))
    assert html.returncode == 0 and html.stdout == "" and html.stderr == ""
    from sftscope.sessions.report.document import build_report

    # The page also carries the items for its viewer (build_report's items=True).
    viewed = build_report([session], resamples=200, seed=0, items=True).to_dict()
    assert page.read_text(encoding="utf-8") == render_html(viewed)
    assert "http" not in page.read_text(encoding="utf-8").replace(str(tmp_path), "")


def test_two_real_run_sessions_report_paired_differences(tmp_path: Path) -> None:
    from sftscope.sessions.report.layout import fmt_ci
    from sftscope.tui.render.report import render_text

    a = labelled_run(tmp_path / "run-a")
    b = labelled_run(tmp_path / "run-b", shift=1)
    doc = build(a, b)
    paired = next(p for p in doc["paired"] if p["criterion"] == "helpfulness" and p["source"] == "human")
    assert paired["a"] == "run-a" and paired["b"] == "run-b" and paired["n"] == 24
    text = render_text(doc)
    assert "Paired differences run-b − run-a" in text
    assert fmt_ci(paired["ci"], signed=True) in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_real_comparison_session(tmp_path: Path) -> None:
    from sftscope.sessions.report.layout import fmt, fmt_ci
    from sftscope.tui.render.report import render_html, render_text

    target = judged_comparison(tmp_path)
    doc = build(target)
    human = doc["comparison"]["sources"]["human"]
    judge = doc["comparison"]["sources"]["qwen"]
    assert human["n"] == 14 and judge["n"] == 14
    text = render_text(doc)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert f"{fmt(human['win_rate_b'])} {fmt_ci(human['win_rate_b_ci'])}" in text
    assert f"{fmt(judge['win_rate_b'])} {fmt_ci(judge['win_rate_b_ci'])}" in text
    assert "Win rate of runB over runA" in text
    page = render_html(doc)
    assert page.count("<svg") == 1 and "https://" not in page and "http://" not in page
    result = run_cli("report", str(target), "--resamples", "200", "--format", "json")
    assert json.loads(result.stdout) == doc


def test_a_directory_that_is_not_a_session_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(run_cli("report", str(empty)), str(empty))


def test_a_comparison_mixed_with_run_sessions_is_one_line(tmp_path: Path) -> None:
    target = judged_comparison(tmp_path)
    one_line_error(run_cli("report", str(target), str(tmp_path / "runA")))


def test_an_unwritable_output_even_for_root_is_one_line(tmp_path: Path) -> None:
    session = a_session(tmp_path)
    one_line_error(run_cli("report", str(session), "-o", "/proc/sftscope-report.txt"), "-o /proc/")
