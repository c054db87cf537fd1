"""Judge panels (issue 17, section 4): the rule (a strict majority of the judges CONFIGURED,
not of those that answered; the median for scales; pairwise verdicts), the panel's flag and
table refused with one line and exit 2, a real session on disk whose panel shows in the
report, the export columns and a comparison's DPO rows, and the effective number of
independent judges on constructed data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from compare_helpers import write_run_session
from conftest import ScriptedServer, one_line_error, run_cli, run_headless, serve_in_thread, write_jsonl
from sftscope.scorers.panel import PanelError, PanelSpec, check_panels, panel_table, parse_panel_flag
from sftscope.scorers.stats.panels import effective_judges, majority, median_verdict
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core.events import Judged, PairJudged, Scored
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore, read_header
from sftscope.sessions.report.document import build_report
from sftscope.sessions.run.config import ConfigError, RunConfig, load_config

JUDGE_REPLY = '{"helpfulness": 4, "instruction_following": 5, "harmless": "yes", "format": "no"}'

# ---------------------------------------------------------------------------------------
# The rule.


def test_majority_counts_the_judges_configured_not_those_that_answered() -> None:
    assert majority([True, True, None], 3) is True  # 2 of 3 configured: 2 > 3/2
    assert majority([True, None, None], 3) is None  # 1 yes, 2 failures: no verdict
    assert majority([True, False, None], 3) is None
    assert majority([False, False, True], 3) is False
    assert majority([True, True, None, None], 4) is None  # 2 of 4 is not more than half
    assert majority([True, True, True, None], 4) is True


def test_pairwise_majority_includes_ties() -> None:
    assert majority(["a", "a", "b"], 3) == "a"
    assert majority(["tie", "tie", None], 3) == "tie"
    assert majority(["a", "b", "tie"], 3) is None
    assert majority(["b", None, None], 3) is None


def test_median_needs_more_than_half_answering_and_stays_on_the_scale() -> None:
    assert median_verdict([2, 5, 4], 3) == 4
    assert median_verdict([2, 5, None], 3) == 2  # the lower middle: a value of the scale
    assert median_verdict([5, None, None], 3) is None
    assert median_verdict([1, 2, 3, 4], 4) == 2
    assert median_verdict([], 3) is None


# ---------------------------------------------------------------------------------------
# Flags and tables.


def test_flag_and_table_parsing_and_checks() -> None:
    assert parse_panel_flag("trio=a,b,c") == PanelSpec("trio", ("a", "b", "c"))
    assert panel_table({"name": "duo", "judges": ["a", "b"]}) == PanelSpec("duo", ("a", "b"))
    for bad, words in (
        ("trio", "expected NAME=JUDGE"),
        ("trio=a", "at least 2 judges"),
        ("trio=a,a,b", "named twice"),
        ("=a,b", "expected NAME=JUDGE"),
    ):
        with pytest.raises(PanelError, match=words):
            parse_panel_flag(bad)
    judges = ["a", "b", "c"]
    check_panels([PanelSpec("trio", ("a", "b", "c"))], judges, lambda i: "x")
    for panels, words in (
        ([PanelSpec("trio", ("a", "zz"))], "unknown judge 'zz'"),
        ([PanelSpec("a", ("b", "c"))], "a judge has that name"),
        ([PanelSpec("p", ("a", "b")), PanelSpec("p", ("b", "c"))], "defined twice"),
    ):
        with pytest.raises(PanelError, match=words):
            check_panels(panels, judges, lambda i: f"where{i}")


def test_run_config_reads_flags_and_tables_with_their_line(tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        '[[judges]]\nname = "a"\nengine = "openai:http://127.0.0.1:1#a"\n'
        '[[judges]]\nname = "b"\nengine = "openai:http://127.0.0.1:1#b"\n'
        '[[panels]]\nname = "duo"\njudges = ["a", "b"]\n'
    )
    built = RunConfig.build(load_config(str(config)), {"judge": ["openai:http://127.0.0.1:1#c"]})
    assert built.session_panels(None) == (PanelSpec("duo", ("a", "b")),)
    with pytest.raises(ConfigError, match="--judge-panel trio=a,b,c: panel trio: unknown judge 'c'"):
        RunConfig.build(load_config(str(config)), {"judge_panel": ["trio=a,b,c"]}).session_panels(None)
    # On resume the judges saved in session.toml count as known; its saved panels are kept.
    header = {"judges": [{"name": "c"}], "panels": [{"name": "old", "judges": ["a", "c"]}]}
    resumed = RunConfig.build(load_config(str(config)), {"judge_panel": ["trio=a,b,c"]})
    assert resumed.session_panels(header) == (
        PanelSpec("old", ("a", "c")),
        PanelSpec("duo", ("a", "b")),
        PanelSpec("trio", ("a", "b", "c")),
    )
    config.write_text(config.read_text() + '[[panels]]\nname = "solo"\njudges = ["a"]\n')
    with pytest.raises(ConfigError, match=r"run.toml:12: \[\[panels\]\] solo: a panel needs at least 2"):
        load_config(str(config))


def test_cli_refuses_a_bad_panel_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        "--headless",
        "--session",
        str(tmp_path / "s"),
        "--judge",
        "openai:http://127.0.0.1:1#a",
        "--judge-panel",
        "duo=a,nobody",
    )
    one_line_error(result, "--judge-panel duo=a,nobody", "unknown judge 'nobody'")
    assert not (tmp_path / "s").exists()
    session = write_run_session(tmp_path / "saved", {"1": "x"})
    result = run_cli(
        "judge", str(session), "--judge", "openai:http://127.0.0.1:1#a", "--judge-panel", "a=a,b"
    )
    one_line_error(result, "--judge-panel a=a,b", "unknown judge 'b'")


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes: what "nothing changed on disk" compares."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_resume_counts_the_saved_judges_for_a_panel(tmp_path: Path) -> None:
    """`run SESSION --judge-panel` on resume, without --judge: the judges saved in session.toml
    are known, so a panel of them is added (and kept on the next resume); a judge the session
    never had is refused in one line with nothing on disk changed."""
    srv = ScriptedServer()
    srv.default = {"text": JUDGE_REPLY}  # the answers and both judges' replies
    rows = [{"id": "q1", "prompt": "Hi?"}, {"id": "q2", "prompt": "Yo?"}]
    prompts = write_jsonl(tmp_path / "p.jsonl", rows)
    session = tmp_path / "s"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with serve_in_thread(srv) as url:
        judges = ["--judge", f"openai:{url}#a", "--judge", f"openai:{url}#b"]
        first = run_headless(url, prompts, session, *judges, env=env)
        assert first.returncode == 0, first.stderr
        assert "panels" not in read_header(session)
        resumed = run_cli("run", "--headless", "--session", str(session), "--judge-panel", "duo=a,b", env=env)
        assert resumed.returncode == 0, resumed.stderr
        header = read_header(session)
        assert header["panels"] == [{"name": "duo", "judges": ["a", "b"]}]
        assert [judge["name"] for judge in header["judges"]] == ["a", "b"]
        again = run_cli("run", "--headless", "--session", str(session), env=env)
        assert again.returncode == 0, again.stderr
        assert read_header(session)["panels"] == header["panels"]
        before = files_of(session)
        bad = run_cli("run", "--headless", "--session", str(session), "--judge-panel", "trio=a,zz", env=env)
    one_line_error(bad, "--judge-panel trio=a,zz", "unknown judge 'zz'", "judges: a, b")
    assert files_of(session) == before


# ---------------------------------------------------------------------------------------
# A real session on disk.

VERDICTS: dict[str, list[Any]] = {  # per judge, per item: (harmless, helpfulness) or an error
    "a": [(True, 4), (True, 2), (False, 5), "error", (True, 3)],
    "b": [(True, 5), (False, 2), (False, 1), "error", (False, 3)],
    "c": [(False, 1), (False, 3), "error", (True, 4), "error"],
}
# The panel "trio": harmless by majority of 3, helpfulness the (lower) median of 2 or more.
TRIO = [(True, 4), (False, 2), (False, 1), (None, None), (None, 3)]


def panel_session(directory: Path) -> Path:
    write_run_session(directory, {str(i): f"answer {i}" for i in range(5)})
    store = SessionStore(directory)
    store.open()
    store.update_header(panels=[{"name": "trio", "judges": ["a", "b", "c"]}])
    session = Session(store)
    for judge, verdicts in VERDICTS.items():
        for i, verdict in enumerate(verdicts):
            if verdict == "error":
                session.record(Judged(str(i), judge, None, {"error": "HTTP 500"}))
            else:
                session.record(Judged(str(i), judge, {"harmless": verdict[0], "helpfulness": verdict[1]}))
    for i in range(5):
        session.record(Scored(str(i), "harmless", i % 2 == 0))
    store.close(status="complete")
    return directory


def test_replay_headless_shows_the_panel_as_a_judge(tmp_path: Path) -> None:
    """`replay --headless` prints each judge's verdict and the panel's, named as a panel and
    derived on reading: nothing of it is written to the log."""
    directory = panel_session(tmp_path / "run")
    before = (directory / "events.jsonl").read_bytes()
    result = run_cli("replay", str(directory), "--headless", "--speed", "0")
    assert result.returncode == 0, result.stderr
    items = {block.split("\n", 1)[0]: block for block in result.stdout.split("=== ")[1:]}
    first, fourth = items["0 [done]"], items["3 [done]"]
    assert "judge trio (panel of a, b, c): helpfulness=4, harmless=yes\n" in first
    assert "judge c: harmless=no, helpfulness=1\n" in first
    assert "judge a: failed (HTTP 500)\n" in fourth  # one member of three answered: no verdict
    assert "judge trio (panel of a, b, c): no verdict\n" in fourth
    assert (directory / "events.jsonl").read_bytes() == before
    store = SessionStore(directory)
    store.open()
    store.update_header(panels=[])
    store.close(status="complete")
    result = run_cli("replay", str(directory), "--headless", "--speed", "0")
    assert "judge a:" in result.stdout and "panel" not in result.stdout  # no panel: judges only


def test_the_panel_is_a_source_in_report_and_export(tmp_path: Path) -> None:
    directory = panel_session(tmp_path / "run")
    doc = json.loads(json.dumps(build_report([directory], resamples=50).to_dict()))
    harmless = doc["criteria"]["harmless"]["judges"]["trio"]
    assert harmless["n"] == 3 and harmless["rate"] == pytest.approx(1 / 3)
    assert doc["criteria"]["helpfulness"]["judges"]["trio"]["n"] == 4
    assert "trio" in doc["agreement"]["harmless"]
    assert "trio" not in doc["judge_health"] and {"a", "b", "c"} <= set(doc["judge_health"])
    context = doc["sessions"][0]["context"]
    assert context["panels"] == [{"name": "trio", "judges": ["a", "b", "c"]}]
    assert "trio" not in [j["name"] for j in context["judges"]]

    from sftscope.tui.render.report import render_text

    text = render_text(build_report([directory], resamples=50).to_dict())
    assert "panel trio" in text and "a, b, c: majority of 3" in text  # what the run compared

    result = run_cli("export", str(directory), "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row, (harmless_value, helpful_value) in zip(rows, TRIO, strict=True):
        assert row["judge.trio.harmless"] == harmless_value
        assert row["judge.trio.helpfulness"] == helpful_value


def test_a_changed_member_verdict_changes_the_panel(tmp_path: Path) -> None:
    directory = panel_session(tmp_path / "run")
    store = SessionStore(directory)
    store.open()
    Session(store).record(Judged("4", "c", {"harmless": False, "helpfulness": 1}))  # c answers item 4
    store.close(status="complete")
    result = run_cli("export", str(directory), "--format", "jsonl")
    last = json.loads(result.stdout.splitlines()[-1])
    assert (last["judge.trio.harmless"], last["judge.trio.helpfulness"]) == (False, 3)
    events = (directory / "events.jsonl").read_text()
    assert '"trio"' not in events  # derived, never written


def test_dpo_source_panel(tmp_path: Path) -> None:
    a = write_run_session(tmp_path / "a", {str(i): f"answer a {i}" for i in range(3)})
    b = write_run_session(tmp_path / "b", {str(i): f"answer b {i}" for i in range(3)}, model="other")
    target = tmp_path / "cmp"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    pairs = comparison.state.ordered()
    votes = {"x": ["b", "a", "b"], "y": ["b", "a", "tie"], "z": ["a", "tie", "error"]}
    for judge, verdicts in votes.items():
        for pair, verdict in zip(pairs, verdicts, strict=True):
            comparison.session.record(PairJudged(pair.item.id, pair.pair, judge, verdict, verdict, verdict))
    comparison.store.update_header(panels=[{"name": "xyz", "judges": ["x", "y", "z"]}])
    comparison.close("complete")
    result = run_cli("export", str(target), "--format", "dpo", "--source", "xyz")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2  # b on the first pair, a on the second; no majority on the third
    doc = json.loads(json.dumps(build_report([target], resamples=50).to_dict()))
    assert "xyz" in json.dumps(doc["comparison"])
    result = run_cli("export", str(target), "--format", "jsonl")
    columns = [json.loads(line).get("judge.xyz") for line in result.stdout.splitlines()]
    assert columns == ["b", "a", None]
    replay = run_cli("replay", str(target), "--headless")
    assert replay.returncode == 0, replay.stderr
    row = next(line for line in replay.stdout.splitlines() if line.strip().startswith("xyz"))
    assert row.split()[:7] == ["xyz", "(panel)", "2", "1", "0", "1", "–"]  # n A tie B, no failures


def test_compare_refuses_a_bad_panel_before_making_anything(tmp_path: Path) -> None:
    """A --judge-panel at fault is refused in one line before the comparison's directory is
    made (given, or the default one in the sessions folder), and a saved comparison is left
    byte for byte as it was."""
    a = write_run_session(tmp_path / "a", {str(i): f"answer a {i}" for i in range(3)})
    b = write_run_session(tmp_path / "b", {str(i): f"answer b {i}" for i in range(3)}, model="other")
    target = tmp_path / "cmp"
    result = run_cli(
        "compare", str(a), str(b), "--headless", "--session", str(target), "--judge-panel", "duo=x,y"
    )
    one_line_error(result, "--judge-panel duo=x,y", "unknown judge 'x'")
    assert not target.exists()
    result = run_cli("compare", str(a), str(b), "--headless", "--judge-panel", "duo", cwd=tmp_path)
    one_line_error(result, "--judge-panel 'duo'", "NAME=JUDGE,JUDGE")
    assert not (tmp_path / "sftscope-sessions").exists()
    open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target))).close("complete")
    before = files_of(target)
    result = run_cli("compare", "--session", str(target), "--headless", "--judge-panel", "duo=x,y")
    one_line_error(result, "--judge-panel duo=x,y", "unknown judge 'x'")
    assert files_of(target) == before


# ---------------------------------------------------------------------------------------
# The effective number of independent judges.


def test_identical_judges_are_worth_one_and_independent_ones_k() -> None:
    rng = np.random.default_rng(0)
    shared = rng.normal(size=400)
    same = effective_judges({j: shared.tolist() for j in "abcd"})
    assert same.n_effective == pytest.approx(1.0) and same.k == 4 and same.n == 400
    apart = effective_judges({j: rng.normal(size=400).tolist() for j in "abcd"})
    assert apart.n_effective == pytest.approx(4.0, abs=0.4)
    rho = 0.5  # a shared part of variance 0.5: mean correlation 0.5, n_eff = 4 / 2.5
    half = effective_judges(
        {j: (np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.normal(size=400)).tolist() for j in "abcd"}
    )
    assert half.n_effective == pytest.approx(4 / (1 + 3 * rho), abs=0.3)
    constant = effective_judges({"a": [0.0] * 5, "b": [1.0, 0, 1, 0, 1], "c": [0.0, 1, 1, 0, 1]})
    assert constant.constant == ("a",) and constant.k == 2
    assert effective_judges({"a": [1.0, 0], "b": [0.0, 1], "c": [1.0, 1]}).n_effective is None


def test_the_report_gives_the_effective_number_for_three_judges(tmp_path: Path) -> None:
    directory = write_run_session(tmp_path / "run", {str(i): f"answer {i}" for i in range(40)})
    store = SessionStore(directory)
    store.open()
    store.update_header(panels=[{"name": "abc", "judges": ["a", "b", "c"]}])
    session = Session(store)
    rng = np.random.default_rng(1)
    for i in range(40):
        human = int(rng.integers(1, 6))
        session.record(Scored(str(i), "helpfulness", human))
        shared = int(rng.integers(-1, 2))
        for judge in "abc":
            session.record(Judged(str(i), judge, {"helpfulness": min(5, max(1, human + shared))}))
    store.close(status="complete")
    doc = json.loads(json.dumps(build_report([directory], resamples=50).to_dict()))
    entry = doc["judges_effective"]["helpfulness"]
    assert entry["k"] == 3 and entry["n"] == 40  # the panel abc is not a fourth judge
    assert entry["n_effective"] == pytest.approx(1.0, abs=0.05)  # the same errors: one judge
    assert "harmless" not in doc["judges_effective"]  # no labels there
    from sftscope.tui.render.report import render_markdown

    markdown = render_markdown(build_report([directory], resamples=50).to_dict())
    assert "Effective number of independent judges" in markdown
    assert "abc (panel)" in markdown
