"""The HTML report's viewer in a real browser: the page `sftscope report DIR --format html`
writes, opened from a file:// URL in headless Chromium (Debian's chromium-headless-shell,
driven by Playwright's Python package), filtered, and read back row by row.

Without the browser every browser test here is skipped, saying how to install it; none
can pass without a browser having run (SFTSCOPE_CHROMIUM=/nonexistent shows the skips).
Run under the model lock (one browser at a time):

    flock /tmp/sftscope-model.lock .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_report_viewer.py
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_helpers import chromium
from tests.conftest import run_cli
from tests.test_report_cli import judged_comparison

pytestmark = pytest.mark.slow

HOSTILE = '</script><script>alert(1)</script> and <img src=x onerror="alert(2)"> and &amp;'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium("open the report in") as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page that fails the test on any dialog (alert) or script error."""
    opened = browser.new_page(viewport={"width": 1100, "height": 900})
    failures: list[str] = []
    opened.on("dialog", lambda dialog: (failures.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    opened.on("pageerror", lambda error: failures.append(f"script error: {error}"))
    yield opened
    opened.close()
    assert not failures, failures


def run_session(directory: Path) -> Path:
    """Twelve items in three categories, labelled, two judges (one failing once), checks,
    a flag, a comment, a stale label and one hostile answer, through the real writer."""
    from sftscope.sessions.core.events import Checked, Generated, Judged, Regenerated
    from sftscope.sessions.core.item import Item
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(directory)
    store.open(
        {
            "format_version": 1,
            "status": "complete",
            "engine": {"requested": "openai:http://127.0.0.1:9/v1#m", "model": "m"},
            "params": {"temperature": 0.0},
            "prompts": {"path": "p.jsonl", "sha256": "0", "count": 12},
            "system": "You are terse.",
        }
    )
    session = Session(store)
    categories = ("writing", "coding", "math")
    items = [
        Item(id=f"q{i:02d}", turns=[f"question {i} about {categories[i % 3]}"], category=categories[i % 3])
        for i in range(12)
    ]
    session.add_items(items)
    for i, item in enumerate(items):
        text = (
            HOSTILE
            if i == 7
            else f"answer {i}\nsecond line of answer {i}" + (" long" * 400 if i == 4 else "")
        )
        session.record(Generated(item.id, 0, text, "stop", tokens=5))
        human = 1 + i % 5
        session.score(item.id, "helpfulness", human)
        # qwen agrees on even items, differs by 3 on q01 and q03 (by 1 on the other odd ones).
        offset = 0 if i % 2 == 0 else (3 if i in (1, 3) else 1)
        qwen = human + offset if human + offset <= 5 else human - offset
        session.record(Judged(item.id, "qwen", {"helpfulness": qwen}, {"raw": f"qwen says {qwen}"}))
        if i == 5:
            session.record(Judged(item.id, "llama", None, {"error": "parse error: no JSON", "raw": "??"}))
        else:
            session.record(Judged(item.id, "llama", {"helpfulness": human}, {"raw": "{}"}))
        session.record(Checked(item.id, checks={"short": i % 2 == 0}))
    session.flag("q02")
    session.comment("q02", "look at this one")
    # q10: labelled, then answered again: its label is stale, not shown as a label.
    session.record(Regenerated("q10", 0))
    session.record(Generated("q10", 0, "a new answer to q10", "stop", tokens=4))
    store.close(status="complete")
    return directory


def write_page(session: Path, target: Path) -> Path:
    result = run_cli("report", str(session), "--resamples", "50", "--format", "html", "-o", str(target))
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture(scope="module")
def run_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("viewer")
    return write_page(run_session(base / "run"), base / "report.html")


def shown(page: Any) -> list[str]:
    return page.eval_on_selector_all("#viewer-list article", "rows => rows.map(r => r.dataset.id)")


def open_page(page: Any, path: Path, fragment: str = "") -> None:
    page.goto(path.as_uri() + fragment)
    page.wait_for_selector("#viewer-list article, #viewer-list .empty")


def test_the_page_is_one_file_with_its_data_inert(run_page: Path) -> None:
    """No external URL; the data block cannot be closed by an answer (`<` is \\u003c)."""
    text = run_page.read_text(encoding="utf-8")
    lowered = text.lower()
    for needle in ("http://", "https://", "<link", "@import", "url("):
        assert needle not in lowered, needle
    assert not re.search(r"<[^>]*\ssrc=", lowered)  # no element loads anything
    block = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', text, re.S)
    assert block is not None and "<" not in block.group(1)
    data = json.loads(block.group(1))
    assert HOSTILE in [a for item in data["items"] for a in item["answers"]]
    assert text.count("<script") == 2  # the data block and the viewer's own script


def test_every_item_and_a_category_filter(page: Any, run_page: Path) -> None:
    open_page(page, run_page)
    assert shown(page) == [f"q{i:02d}" for i in range(12)]
    page.select_option("select[data-key=cat]", "coding")
    assert shown(page) == ["q01", "q04", "q07", "q10"]
    assert page.url.endswith("#items?cat=coding")
    # The category row of the numbers above opens the same list.
    page.select_option("select[data-key=cat]", "")
    assert len(shown(page)) == 12
    page.click('a[href="#items?cat=math"] >> nth=0')
    page.wait_for_function("document.querySelectorAll('#viewer-list article').length === 4")
    assert shown(page) == ["q02", "q05", "q08", "q11"]


def test_an_item_shows_its_parts(page: Any, run_page: Path) -> None:
    open_page(page, run_page, "#items?flag=1")
    assert shown(page) == ["q02"]
    card = page.inner_text("#viewer-list article")
    for part in ("You are terse.", "question 2 about math", "answer 2\nsecond line of answer 2",
                 "look at this one", "flagged", "qwen", "llama", "short pass"):  # fmt: skip
        assert part in card, part
    # A long answer is folded, and "show all" unfolds it.
    open_page(page, run_page, "#items?q=answer%204")
    assert shown(page) == ["q04"]
    assert page.locator("#viewer-list .text.folded").count() == 1
    page.click("#viewer-list button.more")
    assert page.locator("#viewer-list .text.folded").count() == 0
    # A stale label is said to be stale, never shown as the label.
    open_page(page, run_page, "#items?q=new%20answer")
    assert shown(page) == ["q10"]
    card = page.inner_text("#viewer-list article")
    assert "labels given on an earlier answer, not counted: helpfulness 1" in card
    assert page.locator("#viewer-list table.scores").count() == 0  # no label in force, no verdict on it


def test_a_disagreement_link_restores_the_filter(page: Any, run_page: Path) -> None:
    """A link at "qwen and you differ by 2+", largest first, opens exactly those rows."""
    open_page(page, run_page, "#items?judge=qwen&diff=2&sort=disagree")
    assert shown(page) == ["q01", "q03"]
    assert page.input_value("select[data-key=judge]") == "qwen"
    assert page.input_value("select[data-key=diff]") == "2"
    open_page(page, run_page, "#items?judge=qwen&diff=1&sort=disagree")
    rows = shown(page)
    assert rows[:2] == ["q01", "q03"] and sorted(rows) == ["q01", "q03", "q05", "q07", "q09", "q11"]
    open_page(page, run_page, "#items?jerr=1")
    assert shown(page) == ["q05"]
    open_page(page, run_page, "#items?crit=helpfulness&val=3")
    assert shown(page) == ["q02", "q07"]


def test_a_distribution_bar_opens_the_items_with_that_value(page: Any, run_page: Path) -> None:
    """A bar of your own labels in a score distribution links to the items you gave that
    value; the judges' bars do not (the viewer filters on your labels)."""
    text = run_page.read_text(encoding="utf-8")
    bars = re.findall(r'<a href="(#items\?crit=helpfulness&amp;val=\d)">', text)
    assert sorted(bars) == [f"#items?crit=helpfulness&amp;val={v}" for v in range(1, 6)]
    open_page(page, run_page)
    page.click('a[href="#items?crit=helpfulness&val=3"]')
    page.wait_for_function("document.querySelectorAll('#viewer-list article').length === 2")
    assert shown(page) == ["q02", "q07"]
    assert page.input_value("select[data-key=crit]") == "helpfulness"


def test_a_text_search(page: Any, run_page: Path) -> None:
    open_page(page, run_page)
    page.fill("input[data-key=q]", "question 11")
    page.wait_for_function("document.querySelectorAll('#viewer-list article').length === 1")
    assert shown(page) == ["q11"]
    assert "q=question%2011" in page.url
    page.fill("input[data-key=q]", "no such words anywhere")
    page.wait_for_selector("#viewer-list .empty")
    assert shown(page) == []


def test_a_hostile_answer_is_text_and_runs_nothing(page: Any, run_page: Path) -> None:
    open_page(page, run_page, "#items?q=onerror")
    assert shown(page) == ["q07"]
    assert HOSTILE in page.inner_text("#viewer-list article")
    assert page.locator("#viewer-list img").count() == 0
    assert page.locator("script").count() == 2
    page.wait_for_timeout(200)  # an onerror would have fired by now (the page fixture fails on it)


def test_a_comparison_shows_its_pairs(page: Any, tmp_path: Path) -> None:
    target = write_page(judged_comparison(tmp_path), tmp_path / "cmp.html")
    open_page(page, target)
    assert len(shown(page)) == 14
    first = page.inner_text("#viewer-list article")
    assert "ANSWER 1 — A: RUNA" in first.upper() and "ANSWER 2 — B: RUNB" in first.upper() and "qwen" in first
    page.select_option("select[data-key=you]", "tie")
    ties = shown(page)
    assert len(ties) == 5  # pairs 0, 3, 6, 9, 12
    page.select_option("select[data-key=you]", "")
    page.select_option("select[data-key=agree]", "agree")
    agree = shown(page)
    page.select_option("select[data-key=agree]", "differ")
    differ = shown(page)
    assert agree and differ and not set(agree) & set(differ) and len(agree) + len(differ) == 14
    open_page(page, target, "#pairs?jv=a")
    assert len(shown(page)) == 4  # the judge said a on pairs 0, 4, 8, 12
    page.check("input[data-key=diff]")
    assert page.locator("#viewer-list ins.w, #viewer-list del.w").count() > 0
