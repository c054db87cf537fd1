"""The built wheel installs one namespace, `sftscope`, and nothing a user's files can shadow.

`tui` and `engines` are other projects' names on PyPI, and a user's own
`sessions.py` in the working directory used to shadow our `sessions` package.
The wheel is built from this checkout, installed (without its dependencies,
which the suite's own environment lends through a plain path entry) into a
fresh virtual environment, and run from a directory holding a `sessions.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from sftscope.engines.toml import tomllib

from tests.conftest import ROOT, ScriptedServer, serve_in_thread, write_jsonl


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        pytest.fail(f"building the wheel failed: {built.stderr[-800:]}")
    # setuptools' deprecations and "package would be ignored" notices (pip's own lines say WARNING).
    output = (built.stdout + built.stderr).splitlines()
    warned = [line for line in output if "Warning" in line or "ignored" in line]
    assert not warned, "\n".join(warned)
    (path,) = out.glob("sftscope-*.whl")
    return path


DATA = {".py", ".tcss", ".toml", ".jsonl", ".js", ".css"}  # modules and the package data


def test_the_wheel_holds_only_the_sftscope_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"sftscope"}, top
    # Every module and data file of the four folders, subpackages found by setup.py, not listed.
    source = {
        f"sftscope/{path.relative_to(ROOT).as_posix()}"
        for folder in ("tui", "engines", "scorers", "sessions")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in DATA and "__pycache__" not in path.parts
    }
    assert not source - set(names), sorted(source - set(names))
    for expected in (
        "sftscope/tui/console/sftscope.tcss",
        "sftscope/tui/render/viewer.js",  # the HTML report's viewer, inlined into the page
        "sftscope/engines/openai_compat.py",
        "sftscope/scorers/templates/rubric-json.toml",
        "sftscope/sessions/run/data/default_prompts.jsonl",
    ):
        assert expected in names, expected
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["sftscope"]
    assert f"sftscope = {script}" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_installed_wheel_runs_beside_a_users_sessions_py(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-800:]
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    # The dependencies (textual, aiohttp, ...) come from the suite's environment as a plain
    # path entry: its .pth files (our own editable install among them) are not run.
    (site / "lend-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "sessions.py").write_text("raise SystemExit('the user\\'s own sessions.py was imported')\n")
    (work / "tui.py").write_text("raise SystemExit('the user\\'s own tui.py was imported')\n")
    write_jsonl(work / "p.jsonl", [{"id": "a", "prompt": "Hi?"}, {"id": "b", "prompt": "Bye?"}])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [str(python), "-c", "import sftscope.tui.cli as c; print(c.__file__)"],
        cwd=work, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site)), where.stdout  # the wheel, not this checkout
    # The installed `sftscope` script resolves its entry point (pyproject's [project.scripts]).
    helped = subprocess.run([str(venv / "bin" / "sftscope"), "--help"], cwd=work, capture_output=True,
                            text=True, env=env)  # fmt: skip
    assert helped.returncode == 0 and "usage: sftscope" in helped.stdout, helped.stderr[-800:]
    srv = ScriptedServer()
    srv.default = {"text": "From the installed wheel."}
    with serve_in_thread(srv) as url:
        run = subprocess.run(
            [str(python), "-m", "sftscope.tui.cli", "run", "--headless", "--engine", f"openai:{url}#m",
             "--prompts", "p.jsonl", "--session", "s"],
            cwd=work, capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    exported = subprocess.run(
        [str(python), "-m", "sftscope.tui.cli", "export", "s"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["item"], r["status"], r["response"]) for r in rows] == [
        ("a", "done", "From the installed wheel."),
        ("b", "done", "From the installed wheel."),
    ]
