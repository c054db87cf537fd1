"""The console's report: the running agreement line (n, then kappa with its 95% interval,
computed off the UI thread), the report screen from the command palette, and report.html."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sftscope.scorers.stats.intervals import MIN_N
from sftscope.sessions.core.events import Judged
from sftscope.sessions.run import review
from sftscope.tui.base.app import Throttle

from tests.conftest import write_jsonl
from tests.console_helpers import make_app, wait_until
from tests.fake_engine import FakeEngine

COUNT = MIN_N + 2


def judged_app(tmp_path: Path, count: int = COUNT) -> Any:
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": f"q{i}", "category": "odd" if i % 2 else "even", "prompt": f"Question number {i}?"}
            for i in range(1, count + 1)
        ],
    )
    return make_app(tmp_path / "s", engine=FakeEngine(), prompts=prompts, ahead=count)


def judge_says(number: int) -> dict[str, Any]:
    return {
        "helpfulness": number % 5 + 1,
        "instruction_following": 4,
        "harmless": number % 3 != 0,
        "format": True,
    }


def you_say(number: int) -> dict[str, Any]:
    """You agree with the judge's helpfulness on most items, not all."""
    helpful = number % 5 + 1 if number % 4 else (number + 2) % 5 + 1
    return {"helpfulness": helpful, "instruction_following": 3, "harmless": True, "format": True}


async def judged(app: Any, pilot: Any) -> None:
    """Every answer in, and a judge's verdict on each, written through the Session."""
    items = app.session.state.items
    await wait_until(pilot, lambda: app.ready and all(s.status == "done" for s in items.values()))
    for number in range(1, len(items) + 1):
        app.session.record(Judged(f"q{number}", "fj", judge_says(number)))
    await pilot.pause()


def score(app: Any, numbers: range) -> None:
    for number in numbers:
        for name, value in you_say(number).items():
            app.session.score(f"q{number}", name, value, judge_visible=True)


def agreement_line(app: Any) -> str:
    lines = str(app.screen.query_one("#scores").render()).splitlines()
    return next((line for line in lines if line.startswith("you vs fj")), "")


async def test_agreement_line_n_too_small_then_kappa_with_its_interval(tmp_path: Path) -> None:
    from sklearn.metrics import cohen_kappa_score

    app = judged_app(tmp_path)
    threads: list[str] = []
    compute = review.running_agreement

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return compute(*args, **kwargs)

    async with app.run_test(size=(80, 24)) as pilot:
        await judged(app, pilot)
        score(app, range(1, MIN_N))
        app.refresh_scores()  # q1, fully scored: the judge is revealed
        await wait_until(pilot, lambda: agreement_line(app) != "")
        assert agreement_line(app) == f"you vs fj: n={MIN_N - 1} · n too small for κ"
        assert "[" not in agreement_line(app)
        review.running_agreement = spy  # type: ignore[assignment]
        try:
            score(app, range(MIN_N, COUNT + 1))
            await wait_until(pilot, lambda: "CI" in agreement_line(app) or "[" in agreement_line(app))
        finally:
            review.running_agreement = compute  # type: ignore[assignment]
        line = agreement_line(app)
        assert line.startswith(f"you vs fj: n={COUNT} · exact "), line
        found = re.search(r"κ ([+-]\d\.\d\d)(?:, 95% CI)? \[([+-]\d\.\d\d), ([+-]\d\.\d\d)\]", line)
        assert found, line
        kappa, low, high = (float(x) for x in found.groups())
        assert low <= kappa <= high and low < high
        # The focused criterion's (helpfulness) kappa is scikit-learn's on the same pairs.
        mine = [you_say(n)["helpfulness"] for n in range(1, COUNT + 1)]
        theirs = [judge_says(n)["helpfulness"] for n in range(1, COUNT + 1)]
        expected = cohen_kappa_score(mine, theirs, labels=[1, 2, 3, 4, 5], weights="quadratic")
        assert kappa == pytest.approx(expected, abs=0.005)
        assert threads and threading.main_thread().name not in threads  # never on the UI thread
        # Another criterion in focus: its own kappa (you never vary on format: undefined).
        await pilot.press("tab", "tab", "tab")
        await pilot.pause(0.1)
        assert agreement_line(app).endswith("κ – (undefined)") or agreement_line(app).endswith("κ –")
        await pilot.press("q")


def test_throttle_starts_a_burst_at_once_then_a_few_a_second() -> None:
    throttle = Throttle(rate=4.0, burst=3)
    assert [throttle.wait() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = throttle.wait()
    assert 0.15 < wait <= 0.25  # the fourth waits for a token
    time.sleep(wait + 0.01)
    assert throttle.wait() == 0.0


async def test_agreement_is_computed_a_few_times_a_second_while_keys_are_held(tmp_path: Path) -> None:
    app = judged_app(tmp_path)
    runs: list[float] = []
    compute = review.running_agreement

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(time.monotonic())
        return compute(*args, **kwargs)

    async with app.run_test(size=(80, 24)) as pilot:
        await judged(app, pilot)
        score(app, range(1, COUNT + 1))
        await pilot.press("left")
        review.running_agreement = counted  # type: ignore[assignment]
        try:
            started = time.monotonic()
            for value in [1, 2, 3, 4, 5] * 8:  # 40 labels as fast as the keys go
                await pilot.press(str(value))
                await pilot.press("left")  # back to the revealed item after auto-advance
            elapsed = time.monotonic() - started
            await pilot.pause(0.5)
        finally:
            review.running_agreement = compute  # type: ignore[assignment]
        assert runs, "the agreement was never computed again"
        assert len(runs) <= 3 + 4 * (elapsed + 0.5) + 1, (len(runs), elapsed)
        await pilot.press("q")


async def open_palette_entry(pilot: Any, name: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.press(*name)
    await pilot.pause(0.5)
    await pilot.press("enter")


async def test_palette_report_screen_scrolls_and_escape_closes(tmp_path: Path, monkeypatch: Any) -> None:
    import sftscope.sessions.report.document as report_data

    release = threading.Event()
    build = report_data.build_report

    def held(*args: Any, **kwargs: Any) -> Any:  # the report waits until the test has looked
        release.wait(30)
        return build(*args, **kwargs)

    monkeypatch.setattr(report_data, "build_report", held)
    app = judged_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await judged(app, pilot)
        score(app, range(1, COUNT + 1))
        await open_palette_entry(pilot, "Report")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ReportScreen")
        screen = app.screen
        await pilot.pause(0.2)
        text = str(screen.query_one("#report-text").render())
        assert "computing" in text  # at once, while the report is computed in a thread
        release.set()
        await wait_until(pilot, lambda: screen.text != "", timeout=60)
        for criterion in ("helpfulness", "instruction_following", "harmless", "format"):
            assert criterion in screen.text
        assert re.search(r"\d\.\d\d", screen.text)  # numbers
        assert all(len(line) <= 80 - 5 for line in screen.text.splitlines())  # fits its box
        scroller = screen.query_one("#report")
        assert scroller.max_scroll_y > 0  # longer than the terminal
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: scroller.scroll_y > 0)
        assert app.item_ids[app.index] == "q1"  # the keys scroll the report, never score
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ScoringScreen")
        await pilot.press("q")


async def test_palette_writes_report_html_and_says_where(tmp_path: Path) -> None:
    app = judged_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await judged(app, pilot)
        score(app, range(1, 4))
        target = tmp_path / "s" / "report.html"
        assert not target.exists()
        await open_palette_entry(pilot, "Write HTML report")
        await wait_until(pilot, target.exists, timeout=60)
        await wait_until(pilot, lambda: "wrote report.html" in str(app.screen.query_one("#status").render()))
        status = str(app.screen.query_one("#status").render())
        assert f"wrote report.html in {tmp_path / 's'}" in status
        page = target.read_text()
        assert page.lstrip().lower().startswith("<!doctype html") and "helpfulness" in page
        assert 'id="viewer-data"' in page  # the items viewer, as `sftscope report --format html`
        await pilot.press("q")


async def test_a_report_that_cannot_be_made_says_why(tmp_path: Path, monkeypatch: Any) -> None:
    import sftscope.sessions.report.document as report_data

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise report_data.ReportError("s: not a session")

    monkeypatch.setattr(report_data, "build_report", broken)
    app = judged_app(tmp_path, count=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.ready)
        app.action_report()
        await wait_until(pilot, lambda: getattr(app.screen, "text", "") != "")
        assert app.screen.text == "no report: s: not a session"  # type: ignore[attr-defined]
        await pilot.press("escape")
        app.action_write_html_report()
        await wait_until(pilot, lambda: "not written" in app.status_note)
        assert not (tmp_path / "s" / "report.html").exists()
        await pilot.press("q")
