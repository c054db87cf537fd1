"""The real commands are fast (issue 14, section 11): what made them slow stays out.

The figures themselves are benchmarks (bench/session_scale.py times `sftscope replay` in a
terminal, bench/report_speed.py the whole `sftscope report` process); these tests hold the
causes: the replayed session read and folded once, the first paint not sharing the GIL with
the running agreement, no worker described by the repr of 16,000 item states, and
scikit-learn imported without pandas on the command line.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.store import SessionStore

from tests.console_helpers import wait_until

ANSWER = "Here is the answer to question {n}.\nIt has a second line."


def write_judged_session(directory: Path, count: int) -> None:
    """A finished, fully scored session with a judge's verdict on every item, written through
    the real store (as bench/session_scale.py does, smaller)."""
    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "stopped",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#fake", "spec": "fake:"},
            "params": {"max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": 0},
            "prompts": {"path": "test", "sha256": "0", "count": count},
            "rubric": DEFAULT_RUBRIC.to_dict(),
        }
    )
    for index in range(count):
        item_id = f"item-{index:05d}"
        item = Item(id=item_id, turns=[f"Question number {index}?"], line=index + 1)
        store.append({"type": "item", "item": item_id, "index": index, "data": item.to_dict()})
        store.append(
            {"type": "generation", "item": item_id, "turn": 0, "text": ANSWER.format(n=index),
             "tokens": 12, "ttft": 0.01, "seconds": 0.1, "finish_reason": "stop"}
        )  # fmt: skip
        labels = {"helpfulness": 1 + index % 5, "instruction_following": 3, "harmless": True, "format": True}
        for criterion, value in labels.items():
            store.append(
                {"type": "score", "item": item_id, "criterion": criterion, "value": value,
                 "judge_visible": False}
            )  # fmt: skip
        store.append(
            {"type": "judge", "item": item_id, "judge": "j1", "model": "judge-model",
             "template": "rubric-json", "template_sha256": "ab" * 32,
             "scores": {**labels, "helpfulness": 1 + (index * 3) % 5}, "error": None, "raw": "{}",
             "latency": 0.1, "attempts": 1}
        )  # fmt: skip
    store.close()


def test_replay_plays_the_answers_of_the_session_it_opened(tmp_path: Path) -> None:
    """`sftscope replay` read and folded a 16,000-item log twice (the Session, then the
    ReplaySource): a second before the first paint. The source now plays the Session's fold."""
    from sftscope.sessions.run.launch import open_replay

    write_judged_session(tmp_path / "s", 3)
    launch = open_replay(tmp_path / "s", 0.0)
    try:
        assert launch.engine.state is launch.session.state
        assert launch.engine.recorded(("item-00001", 0))["text"] == ANSWER.format(n=1)
    finally:
        launch.store.close()


async def test_headless_replay_folds_the_log_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`replay --headless` folded the log for its transcript and again in the ReplaySource."""
    from sftscope.sessions.core import state
    from sftscope.sessions.core.store import load_session
    from sftscope.sessions.run import replay
    from sftscope.tui.cli.replay import _print_replay

    write_judged_session(tmp_path / "s", 3)
    header, events, _ = load_session(tmp_path / "s")
    folds: list[int] = []
    real = state.fold

    def counted(*args: Any, **kwargs: Any) -> Any:
        folds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(state, "fold", counted)
    monkeypatch.setattr(replay, "fold", counted)
    assert await _print_replay(tmp_path / "s", header, events, 0.0) == 0
    assert len(folds) == 1
    assert ANSWER.format(n=2).splitlines()[0] in capsys.readouterr().out


def test_a_replay_source_given_only_a_directory_reads_it(tmp_path: Path) -> None:
    """`--engine replay:DIR` on another run: nobody else has read that session."""
    from sftscope.sessions.run.replay import ReplaySource

    write_judged_session(tmp_path / "s", 2)
    source = ReplaySource(str(tmp_path / "s"), speed=0.0)
    assert source.recorded(("item-00001", 0))["text"] == ANSWER.format(n=1)
    from sftscope.engines.base import GenerationFailed

    with pytest.raises(GenerationFailed):
        source.recorded(("item-00009", 0))


async def test_replay_paints_the_answer_before_the_running_agreement_starts(tmp_path: Path) -> None:
    """The running agreement is computed in a thread that holds the GIL half the time: it
    waits for the answer on screen to be painted. Its worker is described in words, not by
    textual's default repr of the work (every item's state: 41 MB on 16,000 items)."""
    from sftscope.sessions.run.launch import open_replay
    from sftscope.tui.console.app import SftscopeApp

    write_judged_session(tmp_path / "s", 300)
    app = SftscopeApp(open_replay(tmp_path / "s", 0.0))
    painted_when_started: list[float | None] = []
    compute = app.compute_agreement

    def noting(states: list[Any], judge: str) -> None:
        painted_when_started.append(app.answer_since)
        compute(states, judge)

    app.compute_agreement = noting  # type: ignore[method-assign]
    descriptions: list[str] = []
    run_worker = app.run_worker

    def recording(*args: Any, **kwargs: Any) -> Any:
        worker = run_worker(*args, **kwargs)
        descriptions.append(worker.description)
        return worker

    app.run_worker = recording  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app.agreement))
        assert painted_when_started, "the running agreement was never computed"
        assert all(when is not None for when in painted_when_started), painted_when_started
        assert descriptions and max(len(text) for text in descriptions) < 200, max(map(len, descriptions))
        await pilot.press("q")


needs_pandas = pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None, reason="pandas is not installed: nothing to hide"
)


def _python(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@needs_pandas
def test_the_command_line_imports_scikit_learn_without_pandas() -> None:
    """0.2 s of `sftscope report`: scikit-learn imports pandas when it is installed, and
    uses none of it on numpy labels. Hidden while it loads; importable again afterwards."""
    code = (
        "import sys\n"
        "from sftscope.scorers.stats.libraries import import_sklearn\n"
        "from sftscope.scorers.stats.agreement import agreement_stats\n"
        "print(agreement_stats([1, 2, 3, 3], [1, 2, 3, 2], 'likert', (1, 3)).kappa is not None)\n"
        "print('pandas' in sys.modules)\n"
        "import pandas\n"
        "print(pandas.__name__)\n"
    )
    assert _python(code) == ["True", "False", "pandas"]


@needs_pandas
def test_with_other_threads_running_scikit_learn_is_imported_as_usual() -> None:
    """In the console (worker threads) pandas is never hidden: another thread could be
    importing it at that moment."""
    code = (
        "import sys, threading\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait, daemon=True).start()\n"
        "from sftscope.scorers.stats.libraries import import_sklearn\n"
        "import_sklearn()\n"
        "print('pandas' in sys.modules)\n"
        "stop.set()\n"
    )
    assert _python(code) == ["True"]
