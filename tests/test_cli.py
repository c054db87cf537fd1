"""The command line, end to end in subprocesses: runs, resume, export, bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SHARED, one_line_error, run_cli, run_headless, write_jsonl

HEAVY = ("textual", "torch", "transformers", "llama_cpp", "aiohttp", "rich")


def test_help_and_version_import_nothing_heavy() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from tui.cli import main as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: cli.main(['--help'])\n"
        "    except SystemExit: pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("sftscope 0.")


def test_core_modules_import_no_ui_and_no_model_library() -> None:
    modules = [
        "sftscope.engines.base",
        "sftscope.engines.registry",
        "sftscope.engines.llama",
        "sftscope.engines.hf",
        "sftscope.engines.openai_compat",
        "sftscope.sessions.run.replay",
        "sftscope.engines.threaded",
        "sftscope.sessions.core.store",
        "sftscope.sessions.core.session",
        "sftscope.sessions.run.generator",
        "sftscope.sessions.run.judging",
        "sftscope.sessions.run.launch",
        "sftscope.sessions.run.prompts",
        "sftscope.sessions.run.export",
        "sftscope.sessions.core.state",
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "heavy = {'textual', 'torch', 'transformers', 'llama_cpp'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


headless = run_headless


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    one_line_error(
        run_cli("run", "--headless", "--engine", f"llama:{tmp_path}/missing.gguf"),
        "missing.gguf",
        "not found",
    )
    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    one_line_error(run_cli("run", "--headless", "--engine", f"llama:{junk}"), "junk.gguf", "not a GGUF")
    one_line_error(run_cli("run", "--headless", "--engine", "vllm:foo"), "unknown engine scheme", "vllm:foo")
    one_line_error(
        run_cli("run", "--headless", "--prompts", str(tmp_path / "none.jsonl")), "none.jsonl", "not found"
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    one_line_error(run_cli("run", "--headless", "--prompts", str(empty)), "empty.jsonl", "empty")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"prompt": \n')
    one_line_error(run_cli("run", "--headless", "--prompts", str(bad)), "bad.jsonl:2")
    one_line_error(run_cli("run", "--headless", "--max-tokens", "0"), "--max-tokens")
    one_line_error(run_cli("run", "--headless", "--config", str(tmp_path / "nope.toml")), "--config")
    config = tmp_path / "c.toml"
    config.write_text('max_tokens = 5\ncolour = "red"\n')
    one_line_error(run_cli("run", "--headless", "--config", str(config)), "c.toml", "colour")
    one_line_error(run_cli("export", str(tmp_path / "nosession")), "no such session")
    assert not (tmp_path / "sftscope-sessions").exists()


def test_missing_extra_names_the_pip_install(tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['transformers'] = None\n")
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    result = run_cli(
        "run",
        "--headless",
        "--engine",
        f"hf:{checkpoint}",
        env={"PYTHONPATH": f"{hide}{os.pathsep}{ROOT}"},
    )
    one_line_error(result, "pip install 'sftscope[hf]'")


def test_truncated_gguf_exits_2(tmp_path: Path, bundled_gguf: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with open(bundled_gguf, "rb") as source:
        cut.write_bytes(source.read(3_000_000))
    result = run_cli("run", "--headless", "--engine", f"llama:{cut}", "--session", str(tmp_path / "s"))
    one_line_error(result, "cut.gguf", "cannot load")
    assert not (tmp_path / "s").exists()  # a session that never started leaves nothing


@pytest.mark.slow
def test_headless_run_every_form_then_export_with_parity(tmp_path: Path, bundled_gguf: Path) -> None:
    """A real run on the bundled model over every prompt form; the export holds what
    create_chat_completion returns for the same messages."""
    prompts = write_jsonl(
        tmp_path / "forms.jsonl",
        [
            {"id": "plain", "prompt": "What is 2 + 2?"},
            {"instruction": "Give a synonym for happy.", "input": "One word."},
            {
                "messages": [
                    {"role": "system", "content": "Be terse."},
                    {"role": "user", "content": "Name a planet."},
                ]
            },
            {"question_id": 81, "category": "writing", "turns": ["Name a colour.", "Now another one."]},
            {
                "key": 7,
                "prompt": "Say hello in lowercase.",
                "instruction_id_list": ["change_case:english_lowercase"],
                "kwargs": [{}],
            },
            {"id": "long", "prompt": "word " * 600},
        ],
    )
    session = tmp_path / "session"
    result = run_cli(
        "run",
        "--headless",
        "--prompts",
        str(prompts),
        "--session",
        str(session),
        "--max-tokens",
        "24",
        "--n-ctx",
        "512",
        "--system",
        "You are helpful.",
    )
    assert result.returncode == 0, result.stderr
    assert "5 done, 1 skipped, 0 errors" in result.stderr
    exported = run_cli("export", str(session), "--format", "jsonl")
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["item"] for r in rows] == ["plain", "2", "3", "81", "7", "long"]
    by_id = {r["item"]: r for r in rows}
    assert by_id["long"]["status"] == "skipped" and "context window is 512" in by_id["long"]["error"]
    for row in rows[:5]:
        assert row["status"] == "done"
        assert row["tokens"] > 0 and row["seconds"] > 0 and row["ttft"] is not None
        assert row["engine"].startswith("llama:")
        assert row["human"] == {} and row["judge"] == {}
        if row["item"] == "7":  # the IFEval item is checked, strict and loose
            assert set(row["checks"]) == {"change_case:english_lowercase", "ifeval_strict", "ifeval_loose"}
        else:
            assert row["checks"] == {}
        assert row["transcript"][-1] == {"role": "assistant", "content": row["response"]}
    mt = by_id["81"]["transcript"]
    assert [m["role"] for m in mt] == ["system", "user", "assistant", "user", "assistant"]
    assert by_id["3"]["transcript"][0] == {"role": "system", "content": "Be terse."}

    from llama_cpp import Llama
    from sftscope.engines.llama import default_threads

    llama = Llama(model_path=str(bundled_gguf), n_ctx=512, n_threads=default_threads(), verbose=False)
    for row in rows[:5]:
        transcript = row["transcript"]
        # every assistant turn equals the library's answer to the conversation before it
        for index, message in enumerate(transcript):
            if message["role"] != "assistant":
                continue
            answer = llama.create_chat_completion(transcript[:index], max_tokens=24, temperature=0.0)
            assert message["content"] == answer["choices"][0]["message"]["content"], row["item"]
    llama.close()

    table = run_cli("export", str(session), "--format", "csv", "-o", str(tmp_path / "out.csv"))
    assert table.returncode == 0
    parsed = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert [r["item"] for r in parsed] == [r["item"] for r in rows]
    assert json.loads(parsed[0]["transcript"]) == rows[0]["transcript"]
    header = (session / "session.toml").read_text()
    # Everything generated but nothing labelled: stopped, not complete (sessions/review.py).
    assert 'status = "stopped"' in header and "sha256" in header and 'quantization = "Q4_1"' in header


def _generation_counts(session: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in (session / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "generation":
            counts[event["item"]] = counts.get(event["item"], 0) + 1
    return counts


def test_kill_9_then_resume_never_regenerates_a_finished_item(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"question {i}"} for i in range(8)])
    session = tmp_path / "s"
    args = [
        sys.executable,
        "-m",
        "sftscope.tui.cli",
        "run",
        "--headless",
        "--engine",
        f"openai:{server_url}#m",
        "--prompts",
        str(prompts),
        "--session",
        str(session),
        "--concurrency",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (session / "events.jsonl").exists() and sum(_generation_counts(session).values()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _generation_counts(session)
    assert 3 <= sum(before.values()) < 8
    result = run_cli("run", "--headless", "--session", str(session))
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    after = _generation_counts(session)
    assert sorted(after) == [str(i) for i in range(1, 9)]
    for item, count in before.items():
        assert after[item] == count == 1  # finished before the kill: never generated again
    assert 'status = "stopped"' in (session / "session.toml").read_text()  # answered, not labelled


def test_resume_refuses_a_different_engine_or_prompts(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "one"}, {"prompt": "two"}])
    session = tmp_path / "s"
    ok = run_cli(
        "run",
        "--headless",
        "--engine",
        f"openai:{server_url}#m",
        "--prompts",
        str(prompts),
        "--session",
        str(session),
    )
    assert ok.returncode == 0, ok.stderr
    one_line_error(
        run_cli("run", "--headless", "--session", str(session), "--engine", "llama:x.gguf"), "was made with"
    )
    other = write_jsonl(tmp_path / "q.jsonl", [{"prompt": "three"}])
    one_line_error(
        run_cli("run", "--headless", "--session", str(session), "--prompts", str(other)), "differs"
    )
    one_line_error(
        run_cli("run", "--headless", "--session", str(session), "--max-tokens", "3"), "--max-tokens"
    )
    again = run_cli("run", "--headless", "--session", str(session))
    assert again.returncode == 0 and "0 of 2 items to generate" in again.stderr


def test_locked_session_exits_2(tmp_path: Path, server_url: str) -> None:
    from sftscope.sessions.core.store import SessionStore

    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "one"}])
    session = tmp_path / "s"
    assert headless(server_url, prompts, session).returncode == 0
    holder = SessionStore(session)
    holder.open()
    try:
        one_line_error(
            run_cli("run", "--headless", "--session", str(session)),
            "in use by another sftscope",
            f"pid {os.getpid()}",
        )
    finally:
        holder.close()


def test_config_file_and_piped_progress_lines(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}])
    config = tmp_path / "run.toml"
    config.write_text(
        f'engine = "openai:{server_url}#m"\nprompts = "{prompts}"\nmax_tokens = 17\nheadless = true\n'
        f'session = "{tmp_path / "s"}"\nconcurrency = 2\n'
    )
    result = run_cli("--config", str(config), "--max-tokens", "19")
    assert result.returncode == 0, result.stderr
    assert "[3/3]" in result.stderr  # plain lines when not a terminal
    header = (tmp_path / "s" / "session.toml").read_text()
    assert "max_tokens = 19" in header  # the flag wins over the file


def test_replay_engine_plays_a_session_back(tmp_path: Path, server_url: str) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}, {"prompt": "b"}])
    first = tmp_path / "first"
    assert (
        run_cli(
            "run",
            "--headless",
            "--engine",
            f"openai:{server_url}#m",
            "--prompts",
            str(prompts),
            "--session",
            str(first),
        ).returncode
        == 0
    )
    second = tmp_path / "second"
    result = run_cli(
        "run",
        "--headless",
        "--engine",
        f"replay:{first}",
        "--speed",
        "0",
        "--prompts",
        str(prompts),
        "--session",
        str(second),
    )
    assert result.returncode == 0, result.stderr
    a = [json.loads(x) for x in run_cli("export", str(first)).stdout.splitlines()]
    b = [json.loads(x) for x in run_cli("export", str(second)).stdout.splitlines()]
    assert [r["response"] for r in a] == [r["response"] for r in b]
    assert [r["tokens"] for r in a] == [r["tokens"] for r in b]
    assert b[0]["engine"] == f"replay:{first}"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/datasets is not beside this checkout")
def test_shared_sets_run_headless_against_a_server(tmp_path: Path, server_url: str) -> None:
    result = run_cli(
        "run",
        "--headless",
        "--engine",
        f"openai:{server_url}#m",
        "--concurrency",
        "16",
        "--prompts",
        str(SHARED / "mt_bench" / "question.jsonl"),
        "--session",
        str(tmp_path / "mt"),
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in run_cli("export", str(tmp_path / "mt")).stdout.splitlines()]
    assert len(rows) == 80 and all(r["status"] == "done" for r in rows)
    assert all(len(r["transcript"]) == 4 for r in rows)  # both turns answered in order


def test_replay_headless_prints_transcripts_and_scores(tmp_path: Path, server_url: str) -> None:
    from sftscope.sessions.core.store import SessionStore

    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": "a", "prompt": "first question"}, {"turns": ["one", "two"], "question_id": 9}],
    )
    session = tmp_path / "s"
    assert headless(server_url, prompts, session).returncode == 0
    store = SessionStore(session)
    store.open()
    store.append({"type": "score", "item": "a", "criterion": "helpfulness", "value": 4}, durable=True)
    store.append({"type": "score", "item": "a", "criterion": "harmless", "value": True}, durable=True)
    store.append({"type": "flag", "item": "a", "on": True}, durable=True)
    store.close()
    result = run_cli("replay", str(session), "--headless", "--speed", "0")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "=== a [done]" in text and "user: first question" in text
    assert "assistant: A steady scripted answer." in text
    assert "scores: helpfulness=4, harmless=yes" in text and "flagged" in text
    assert "=== 9 [done]" in text and "user: one" in text and "user: two" in text
    paced = run_cli("replay", str(session), "--headless", "--speed", "1")
    assert paced.returncode == 0 and paced.stdout == text  # same text, streamed at the recorded pace
    # Replay labels as a rater (issue 18): never refused for the writer's lock, but a rater
    # already labelling this session in another console is (tests/test_raters.py).
    from sftscope.sessions.core.session import Session

    locked = SessionStore(session)
    locked.open(follow=True)
    alice = Session(locked, rater="alice")
    try:
        one_line_error(run_cli("replay", str(session), "--rater", "alice"), "alice is already labelling")
    finally:
        alice.close_rater()
    one_line_error(run_cli("replay", str(tmp_path / "nope"), "--headless"), "no such session")


def test_judges_from_config_tables(tmp_path: Path) -> None:
    from sftscope.sessions.run.config import ConfigError as UsageError
    from sftscope.sessions.run.config import load_config

    config = tmp_path / "run.toml"
    config.write_text(
        'max_tokens = 64\n[[judges]]\nname = "strict"\nengine = "openai:http://127.0.0.1:9/v1#j"\n'
        'template = "mt-bench-single"\nconcurrency = 2\ntimeout = 30\nretries = 1\n'
    )
    settings = load_config(str(config))
    assert settings["max_tokens"] == 64
    (judge,) = settings["judges"]
    assert (judge.name, judge.template, judge.concurrency, judge.timeout, judge.retries) == (
        "strict",
        "mt-bench-single",
        2,
        30,
        1,
    )
    config.write_text('[[judges]]\nengine = "local"\ncolour = "red"\n')
    with pytest.raises(UsageError, match="unknown key 'colour'"):
        load_config(str(config))
    bad = run_cli("run", "--headless", "--judge", "gpt4", "--session", str(tmp_path / "s"))
    one_line_error(bad, "--judge gpt4")
    template = run_cli(
        "run", "--headless", "--judge", "local", "--judge-template", "nope", "--session", str(tmp_path / "s2")
    )
    one_line_error(template, "--judge-template nope")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("prompts = 5\n", 1, "prompts = 5: must be a non-empty string"),
        ("engine = 5\n", 1, "engine = 5: must be a non-empty string"),
        ("session = 5\n", 1, "session = 5: must be a non-empty string"),
        ("system = 5\n", 1, "system = 5: must be a string"),
        ('max_tokens = 8\nseed = "x"\n', 2, 'seed = "x": must be an integer'),
        ("max_tokens = true\n", 1, "max_tokens = true: must be a positive integer"),
        ("ahead = false\n", 1, "ahead = false: must be an integer"),
        ('headless = "no"\n', 1, 'headless = "no": must be true or false'),
        ("temperature = inf\n", 1, "temperature = inf: must be a finite number"),
        ("top_p = nan\n", 1, "top_p = nan: must be a number in (0, 1]"),
        ("judge_timeout = 0\n", 1, "judge_timeout = 0: must be a finite number of seconds above 0"),
        ("judge_concurrency = 0\n", 1, "judge_concurrency = 0: must be a positive integer"),
        ('judge = ["local", 5]\n', 1, "judge = ['local', 5]: must be a judge spec or a list of them"),
        ("[run]\nmax_tokens = 1.5\n", 2, "max_tokens = 1.5: must be a positive integer"),
        ("max_tokens = 3\n[run]\nmax_tokens = 4\n", 3, "max_tokens is set twice"),
        ("run = 5\n", 1, "run must be a [run] table"),
        ("[[judges]]\nengine = 5\n", 2, "[[judges]] judge engine must be a string, not 5"),
        (
            '[[judges]]\nengine = "local"\nconcurrency = "x"\n',
            3,
            "[[judges]] judge local: concurrency must be a positive integer, not 'x'",
        ),
        (
            '[[judges]]\nengine = "local"\n\n[[judges]]\nname = "b"\nengine = "local"\ntimeout = inf\n',
            7,
            "[[judges]] judge b: timeout must be a finite number of seconds above 0",
        ),
        ('[[judges]]\nengine = "local"\nretries = true\n', 3, "retries must be an integer of 0 or more"),
        ('[judges]\nengine = "local"\n', 1, "judges must be [[judges]] tables"),
    ],
)
def test_config_values_of_the_wrong_type_exit_2_naming_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("run", "--headless", "--config", str(config), "--session", str(tmp_path / "s"))
    one_line_error(result, f"c.toml:{line}: ", needle)
    assert not (tmp_path / "s").exists()


def test_a_config_that_is_not_a_toml_file_exits_2(tmp_path: Path) -> None:
    one_line_error(run_cli("run", "--headless", "--config", str(tmp_path)), "--config", "cannot read")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'system = "caf\xe9"\n')
    one_line_error(run_cli("run", "--headless", "--config", str(latin)), "latin.toml", "not UTF-8")


def test_every_setting_has_a_type_rule() -> None:
    from sftscope.sessions.run.config import SETTING_RULES, SETTINGS

    assert set(SETTINGS) <= set(SETTING_RULES)  # [[judges]] tables are checked by JudgeSpec


def flag_helps(command: str) -> dict[str, str]:
    """`sftscope COMMAND --help`, each flag's help with its lines joined."""
    result = run_cli(command, "--help", env={"COLUMNS": "1000"})
    assert result.returncode == 0, result.stderr
    helps: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("  --"):
            flag = line.split()[0]
            helps[flag] = line
        elif line.startswith("   ") and helps:
            helps[flag] += " " + line.strip()
    return helps


def test_help_shows_each_default_from_where_it_is_decided() -> None:
    """`sftscope run --help` and `sftscope judge --help` say each setting's default as RunConfig
    (or the judge, or the engine) has it: a default retyped in a help string, and then changed
    in one place only, fails here."""
    import dataclasses
    import inspect
    import re

    from sftscope.engines.openai_compat import OpenAIEngine
    from sftscope.scorers.judge import JudgeSpec
    from sftscope.sessions.run.config import RunConfig

    judge = {f.name: f.default for f in dataclasses.fields(JudgeSpec)}
    run = {
        f"--{f.name.replace('_', '-')}": f.default
        for f in dataclasses.fields(RunConfig)
        if f.default is not None and not isinstance(f.default, (bool, tuple)) and f.name != "given"
    }
    run["--judge-concurrency"] = judge["concurrency"]
    run["--judge-timeout"] = judge["timeout"]
    run["--concurrency"] = inspect.signature(OpenAIEngine.__init__).parameters["concurrency"].default
    judging = {
        "--judge-template": judge["template"],
        "--concurrency": judge["concurrency"],
        "--timeout": judge["timeout"],
        "--api-key-env": judge["api_key_env"],
    }
    for command, expected, silent in (
        ("run", run, ("--session", "--system", "--headless", "--judge", "--config")),
        ("judge", judging, ("--judge", "--only-missing")),
    ):
        helps = flag_helps(command)
        assert set(expected) <= set(helps), sorted(set(expected) - set(helps))
        for flag, default in expected.items():
            assert helps[flag].count("default") == 1, helps[flag]  # said once, not retyped beside it
            assert re.findall(r"\(default: ([^)]*)\)", helps[flag]) == [str(default)], helps[flag]
        for flag in silent:  # no default to say
            assert "default" not in helps[flag], helps[flag]
    assert len(run) >= 14


def test_the_consoles_never_import_the_command_line() -> None:
    """The command line opens the consoles (tui/cli/consoles.py, inside its functions); nothing
    else in tui imports the command line, not even inside a function (issue 15: no cycle)."""
    import ast

    tui = ROOT / "tui"
    offenders, openers = [], set()
    for path in sorted(tui.rglob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            elif isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
        inside_cli = path.parent == tui / "cli"
        for name in names:
            if not inside_cli and name.startswith("sftscope.tui.cli"):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
            consoles = name.startswith("sftscope.tui.") and not name.startswith(
                ("sftscope.tui.cli", "sftscope.tui.render")
            )
            if inside_cli and consoles:
                openers.add(path.name)
    assert not offenders, offenders
    assert openers == {"consoles.py"}, openers


def test_judge_as_a_string_in_the_config_is_one_judge(tmp_path: Path) -> None:
    from sftscope.tui.cli.parser import build_parser, resolve_run_options

    config = tmp_path / "c.toml"
    config.write_text('judge = "openai:http://127.0.0.1:9/v1#j"\njudge_concurrency = 3\n')
    options = resolve_run_options(build_parser().parse_args(["run", "--config", str(config)]))
    assert options.judge == ("openai:http://127.0.0.1:9/v1#j",)  # not a list of characters
    (judge,) = options.judges
    assert (judge.engine, judge.name, judge.concurrency) == ("openai:http://127.0.0.1:9/v1#j", "j", 3)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--temperature", "inf"], "--temperature inf: must be a finite number of 0 or more"),
        (["--temperature", "nan"], "--temperature nan: must be a finite number"),
        (["--top-p", "nan"], "--top-p nan: must be a number in (0, 1]"),
        (["--speed", "inf"], "--speed inf: must be a finite number"),
        (["--judge", "local", "--judge-timeout", "inf"], "--judge-timeout inf: must be a finite number"),
        (["--judge", "local", "--judge-timeout", "nan"], "--judge-timeout nan: must be a finite number"),
        (["--judge", "local", "--judge-timeout", "0"], "--judge-timeout 0.0: must be a finite number"),
        (["--judge", "local", "--judge-concurrency", "0"], "--judge-concurrency 0: must be a positive"),
        (["--judge-concurrency", "-2"], "--judge-concurrency -2: must be a positive integer"),
    ],
)
def test_flags_must_be_finite_and_in_range(tmp_path: Path, flags: list[str], needle: str) -> None:
    result = run_cli("run", "--headless", *flags, "--session", str(tmp_path / "s"))
    one_line_error(result, needle)
    assert not (tmp_path / "s").exists()


def test_judge_concurrency_zero_is_never_the_default() -> None:
    from sftscope.scorers.judge import JudgeConfigError, parse_judge_flag

    with pytest.raises(JudgeConfigError, match="--judge-concurrency 0: must be a positive integer"):
        parse_judge_flag("local", "rubric-json", 0, None, "OPENAI_API_KEY")
    with pytest.raises(JudgeConfigError, match="--judge-timeout 0: must be a finite number"):
        parse_judge_flag("local", "rubric-json", None, 0, "OPENAI_API_KEY")
    spec = parse_judge_flag("local", "rubric-json", None, None, "OPENAI_API_KEY")
    assert (spec.concurrency, spec.timeout) == (4, 120.0)  # not given: the defaults


def test_every_argument_of_every_command_has_a_help() -> None:
    """Each flag and positional of each command says what it is in `--help`: the grammar is
    walked, so an argument added without a help fails here (DIR, --api-key-env did)."""
    import argparse

    from sftscope.tui.cli.parser import DEFAULT, build_parser

    def walk(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.ArgumentParser]]:
        found = [(name, parser)]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    found += walk(child, f"{name} {sub}")
        return found

    parsers = walk(build_parser(), "sftscope")
    assert {name for name, _ in parsers} == {
        f"sftscope {c}"
        for c in ("run", "replay", "judge", "compare", "export", "report", "serve", "merge", "adjudicate")
    } | {"sftscope"}
    bare = [
        f"{name} {'/'.join(action.option_strings) or action.metavar or action.dest}"
        for name, parser in parsers
        for action in parser._actions
        if action.help is argparse.SUPPRESS or not (action.help or "").replace(DEFAULT, "").strip()
    ]
    assert bare == []
    # What `judge --help` prints: its DIR described, not a bare name.
    shown = run_cli("judge", "--help").stdout
    positionals = shown.split("positional arguments:")[1].split("options:")[0]
    assert " ".join(positionals.split()) == "DIR the saved run session whose answers are judged", shown


def test_an_unknown_config_setting_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    """A typo in a --config file: one line, exit 2, the file and line, and the setting meant;
    a name close to nothing gets no guess."""
    typo = tmp_path / "run.toml"
    typo.write_text("temperature = 0.5\nmax_token = 64\n")
    line = one_line_error(run_cli("run", "--headless", "--config", str(typo)), "run.toml:2", "'max_token'")
    assert line.endswith("did you mean max_tokens?"), line
    judge = tmp_path / "judges.toml"
    judge.write_text('[[judges]]\nengine = "local"\ntemplte = "rubric-json"\n')
    line = one_line_error(run_cli("run", "--headless", "--config", str(judge)), "judges.toml:3", "'templte'")
    assert line.endswith("did you mean template?"), line
    far = tmp_path / "far.toml"
    far.write_text("[run]\nzebra_stripes = 3\n")
    line = one_line_error(run_cli("run", "--headless", "--config", str(far)), "far.toml:2", "zebra_stripes")
    assert "did you mean" not in line, line
    assert not (tmp_path / "sftscope-sessions").exists()
