"""Every report says what was compared (issue 16, section 2): each run session's engine,
model, digest, system message, sampling, prompt set, judges, when it ran and its answers'
length; a comparison's sides and per-category win rates; the Markdown's distributions; one
line instead of a page of "n too small"; the items where you and the judges disagree most.
Real sessions written through the real store and Session, read by the real build_report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compare_helpers import write_run_session
from sftscope.scorers.intervals import TOO_SMALL
from sftscope.scorers.rubric import Criterion, Rubric
from sftscope.scorers.stats.intervals import MIN_N
from sftscope.sessions.compare.comparison import CompareConfig, open_comparison
from sftscope.sessions.core.events import Generated, Judged, PairJudged
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.report.document import build_report
from sftscope.sessions.report.layout import Note, Table, layout
from sftscope.tui.render.report import render_html, render_markdown, render_text

RUBRIC = Rubric(criteria=(Criterion("helpfulness", "likert", min=1, max=5), Criterion("harmless", "binary")))
SHA = "ab" * 32
MODEL_SHA = "cd" * 32


def write_session(
    directory: Path, n: int, *, system: str | None = "Be brief.", labelled: int | None = None
) -> Path:
    """n items (half "math", half "code"), answer k is k+1 words with k+1 tokens; the human
    labels the first `labelled` items; judge J agrees except on item 3 (off by 4) and 5
    (off by 1)."""
    header: dict[str, Any] = {
        "format_version": 1,
        "created": "2026-12-01T09:00:00Z",
        "engine": {"requested": "llama:/m/x.gguf", "name": "llama", "model": "x.gguf", "sha256": MODEL_SHA},
        "params": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 256, "seed": 1},
        "prompts": {"path": "set.jsonl", "sha256": "ef" * 32, "count": n},
        "rubric": RUBRIC.to_dict(),
        "judges": [
            {"name": "J", "engine": "openai:http://h#judge-m", "model": "judge-m", "template": "rubric-json",
             "template_sha256": SHA},
        ],
        "status": "running",
    }  # fmt: skip
    if system is not None:
        header["system"] = system
    store = SessionStore(directory)
    store.open(header=header)
    session = Session(store)
    items = [Item(id=f"i{k}", turns=[f"q{k}"], category="math" if k < n // 2 else "code") for k in range(n)]
    session.add_items(items)
    for k, item in enumerate(items):
        session.record(Generated(item.id, 0, " ".join(["word"] * (k + 1)), "stop", tokens=k + 1))
    for k, item in enumerate(items[: n if labelled is None else labelled]):
        human = 1 if k == 3 else 3
        session.score(item.id, "helpfulness", human)
        session.score(item.id, "harmless", True)
        judged = {3: 5, 5: 4}.get(k, human)
        extra = {"model": "judge-m", "template": "rubric-json", "template_sha256": SHA}
        session.record(Judged(item.id, "J", {"helpfulness": judged, "harmless": True}, extra))
    store.close(status="complete")
    return directory


def doc_of(*directories: Path) -> dict[str, Any]:
    return json.loads(json.dumps(build_report(list(directories), resamples=200).to_dict()))


def test_a_run_session_says_what_it_compared(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 20))
    context = doc["sessions"][0]["context"]
    assert context["engine"] == "llama" and context["model"] == "x.gguf"
    assert context["model_sha256"] == MODEL_SHA and context["system"] == "Be brief."
    assert context["params"] == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 256, "seed": 1}
    assert context["prompts"] == {"path": "set.jsonl", "sha256": "ef" * 32, "count": 20}
    assert context["judges"] == [
        {"name": "J", "model": "judge-m", "template": "rubric-json", "template_sha256": SHA}
    ]
    assert context["created"] == "2026-12-01T09:00:00Z" and context["updated"]
    words = [k + 1 for k in range(20)]  # answer k: k+1 words of 4 letters and k spaces
    chars = sum(5 * w - 1 for w in words) / 20
    assert context["length"] == {"n": 20, "chars": chars, "tokens": sum(words) / 20, "tokens_n": 20}
    text = render_text(doc, 100)
    assert "What run compared" in text and "Be brief." in text and MODEL_SHA[:12] in text
    assert f"{chars:.0f} characters, {sum(words) / 20:.0f} tokens (n=20)" in text
    assert "judge-m, template rubric-json@abababab" in text
    assert "set.jsonl, 20 items, sha256 efefefefefef" in render_markdown(doc)


def test_a_session_without_a_system_message_says_none(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 20, system=None))
    assert doc["sessions"][0]["context"]["system"] is None
    assert "| system message | none |" in render_markdown(doc)


def test_the_items_where_you_and_the_judge_disagree_most_come_first(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 20))
    first, second = doc["disagreements"]  # only two items differ at all
    assert (first["item"], first["human"], first["judge_value"], first["gap"]) == ("i3", 1, 5, 1.0)
    assert (second["item"], second["gap"]) == ("i5", 0.25)
    assert first["excerpt"] == "word word word word" and first["category"] == "math"
    for text in (render_text(doc, 120), render_markdown(doc)):
        assert "Where you and the judges disagree most" in text
        assert "i3 (math) · helpfulness: you 1, judge J 5 · answer: word word word word" in text


def test_a_disagreement_excerpt_is_short_inert_and_escaped(tmp_path: Path) -> None:
    directory = write_session(tmp_path / "run", 12)
    store = SessionStore(directory)
    store.open()
    session = Session(store)
    hostile = "\x1b[31m<script>x</script> | **bold** " + "long " * 100
    session.record(Generated("i3", 0, hostile, "stop"))
    session.score("i3", "helpfulness", 1)
    session.record(Judged("i3", "J", {"helpfulness": 5}, {"model": "judge-m"}))
    store.close(status="complete")
    doc = doc_of(directory)
    assert len(doc["disagreements"][0]["excerpt"]) <= 160
    assert "\x1b" not in render_text(doc, 120)
    md = render_markdown(doc)
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\| \\*\\*bold" in md


def test_no_disagreement_no_section(tmp_path: Path) -> None:
    directory = write_run_session(tmp_path / "run", {str(i): "same" for i in range(3)})
    doc = doc_of(directory)
    assert doc["disagreements"] == []
    assert "disagree most" not in render_text(doc)


def test_a_small_session_says_n_too_small_in_one_line_everywhere(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 6, labelled=4))
    _, sections = layout(doc)
    titles = [s.title for s in sections]
    assert "Figures" in titles and "Scores" not in titles and "Agreement" not in titles
    more = MIN_N - 4
    line = f"label about {more} more"
    for text in (render_text(doc, 200), render_markdown(doc)):
        assert line in text
    # Judge health stays (a judge's failures are shown at any n); no other section says it.
    for section in sections:
        cells = " ".join(
            [b.text for b in section.blocks if isinstance(b, Note)]
            + [c for b in section.blocks if isinstance(b, Table) for row in b.rows for c in row]
        )
        if section.title == "Figures":
            assert TOO_SMALL in cells
        elif section.title != "Judge health":
            assert TOO_SMALL not in cells, section.title
    page = render_html(doc)
    assert line in page


def test_a_big_session_keeps_its_sections(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 20))
    titles = [s.title for s in layout(doc)[1]]
    assert "Figures" not in titles and "Scores" in titles and "Agreement" in titles


def test_markdown_keeps_the_score_distributions(tmp_path: Path) -> None:
    doc = doc_of(write_session(tmp_path / "run", 20))
    md = render_markdown(doc)
    assert "**helpfulness: distribution of scores**" in md
    # 19 of the human's 20 labels are 3s, one is a 1; the judge gave 18 3s, a 5 and a 4.
    assert "| 3 | 19 (95%) ██████████ | 18 (90%) █████████ |" in md
    assert "| 1 | 1 (5%) | 0 (0%) |" in md  # under half a block: no bar


def categorised_comparison(tmp_path: Path, n: int) -> Path:
    """Two runs of n items (the first half "math"), B's answers longer; judge J picks B
    on every pair, you pick B on math and A on code."""
    items = {str(i): f"short {i}" for i in range(n)}
    a = write_run_session(tmp_path / "runA", items, model="model-a")
    b = write_run_session(
        tmp_path / "runB", {k: f"a much longer answer {k}" for k in items}, system="Be kind.", model="model-b"
    )
    for directory in (a, b):  # the categories come from the prompt set: rewrite the items
        lines = (directory / "events.jsonl").read_text().splitlines()
        out = []
        for line in lines:
            record = json.loads(line)
            if record.get("type") == "item":
                record["data"]["category"] = "math" if int(record["item"]) < n // 2 else "code"
            out.append(json.dumps(record))
        (directory / "events.jsonl").write_text("\n".join(out) + "\n")
    target = tmp_path / "cmp"
    comparison = open_comparison(CompareConfig(sources=(str(a), str(b)), session=str(target)))
    for pair in comparison.state.ordered():
        comparison.session.record(PairJudged(pair.item.id, pair.pair, "J", "b", "b", "b"))
        comparison.session.prefer(pair.pair, "b" if pair.item.category == "math" else "a")
    comparison.close("stopped")
    return target


def test_a_comparison_names_its_sides_and_wins_per_category(tmp_path: Path) -> None:
    doc = doc_of(categorised_comparison(tmp_path, 2 * MIN_N))
    comp = doc["comparison"]
    side_a, side_b = comp["sides"]
    assert (side_a["name"], side_a["engine"], side_a["model"], side_a["system"]) == (
        "runA", "openai", "model-a", None
    )  # fmt: skip
    assert (side_b["model"], side_b["system"]) == ("model-b", "Be kind.")
    assert side_a["length"]["n"] == 2 * MIN_N and side_b["length"]["chars"] > side_a["length"]["chars"]
    by = {(g["category"], name): s for g in comp["by_category"] for name, s in g["sources"].items()}
    assert by[("math", "human")]["win_rate_b"] == 1.0 and by[("code", "human")]["win_rate_b"] == 0.0
    assert by[("math", "J")]["n"] == MIN_N and by[("math", "J")]["win_rate_b_ci"] is not None
    text = render_text(doc, 120)
    assert "win rate of B per category" in text and "Be kind." in text and "model-a" in text
    assert "you a, judges J b" in text  # the code pairs: you and the judge differ
    assert len(comp["disagreements"]) == 5 and comp["disagreements"][0]["excerpt_b"].startswith("a much")


def test_a_category_below_min_n_says_n_too_small(tmp_path: Path) -> None:
    doc = doc_of(categorised_comparison(tmp_path, MIN_N + 2))  # 6 pairs per category
    assert all(s["n"] < MIN_N for g in doc["comparison"]["by_category"] for s in g["sources"].values())
    _, sections = layout(doc)
    tables = [b for s in sections for b in s.blocks if getattr(b, "title", "").endswith("per category")]
    (table,) = tables
    assert all(row[3] == TOO_SMALL for row in table.rows)
