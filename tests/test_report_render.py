"""The report's renderings (sessions/report_render.py): text, Markdown, HTML and JSON made
from the one JSON document, on hand-made documents that follow the schema (a run
session, several run sessions with paired differences, a comparison).

The text report is compared exactly with tests/data/report-80.txt. After an intended
change to the text layout (or a rich/plotext upgrade that moves a character), regenerate
it and read the diff before committing:

    SFTSCOPE_REGEN_REPORT=1 .venv/bin/python -m pytest -q tests/test_report_render.py -k golden
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sftscope.sessions.report.layout import layout, render_json
from sftscope.tui.render.report import render, render_html, render_markdown, render_text, write_html_report

GOLDEN = Path(__file__).parent / "data" / "report-80.txt"


# ---------------------------------------------------------------------------------------
# Hand-made documents, shaped as the report schema (docs/reports.md) describes.


def run_doc() -> dict[str, Any]:
    return {
        "sftscope_version": "0.1.0",
        "resamples": 2000,
        "seed": 0,
        "sessions": [
            {
                "name": "run-a",
                "path": "/data/sessions/run-a",
                "kind": "run",
                "model": "sft-7b-epoch3",
                "items": 200,
                "answered": 198,
                "labelled": 150,
                "status": "complete",
                "context": {
                    "engine": "llama",
                    "model": "sft-7b-epoch3.gguf",
                    "model_sha256": "9f" * 32,
                    "system": "You are a helpful assistant.",
                    "params": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 512, "seed": 0},
                    "prompts": {"path": "mt-bench.jsonl", "sha256": "3c" * 32, "count": 200},
                    "judges": [
                        {
                            "name": "qwen72",
                            "model": "qwen2.5-72b",
                            "template": "rubric-json",
                            "template_sha256": "1a2b3c4d" + "e" * 56,
                        },
                    ],
                    "created": "2026-11-30T09:00:00Z",
                    "updated": "2026-11-30T11:30:00Z",
                    "length": {"n": 198, "chars": 812.4, "tokens": 190.2, "tokens_n": 198},
                },
            },
        ],
        "disagreements": [
            {
                "item": "q17",
                "category": "math",
                "criterion": "helpfulness",
                "judge": "qwen72",
                "human": 1,
                "judge_value": 5,
                "gap": 1.0,
                "total_gap": 1.0,
                "excerpt": "The answer is 42 because…",
            },
        ],
        "criteria": {
            "helpfulness": {
                "kind": "likert",
                "scale": [1, 5],
                "human": {
                    "n": 150,
                    "mean": 3.9,
                    "ci": [3.7, 4.1],
                    "distribution": {"1": 3, "2": 10, "3": 30, "4": 60, "5": 47},
                    "enough": True,
                },
                "judges": {
                    "qwen72": {
                        "n": 190,
                        "mean": 4.12,
                        "ci": [3.98, 4.25],
                        "distribution": {"1": 1, "2": 8, "3": 25, "4": 80, "5": 76},
                        "enough": True,
                    }
                },
                "by_category": {
                    "writing": {
                        "human": {"n": 40, "mean": 4.05, "ci": [3.8, 4.3], "enough": True},
                        "judges": {"qwen72": {"n": 50, "mean": 4.3, "ci": [4.1, 4.5], "enough": True}},
                    },
                    "math": {
                        "human": {"n": 7, "mean": 3.0, "ci": [2.1, 3.9], "enough": False},
                        "judges": {"qwen72": {"n": 8, "mean": 3.6, "ci": [3.0, 4.1], "enough": False}},
                    },
                },
            },
            "harmless": {
                "kind": "binary",
                "human": {"n": 150, "rate": 0.97, "ci": [0.94, 0.99], "enough": True},
                "judges": {"qwen72": {"n": 190, "rate": 0.99, "ci": [0.97, 1.0], "enough": True}},
                "by_category": {},
            },
            "issues": {
                "kind": "tags",
                "human": {"n": 150, "counts": {"verbose": 12, "wrong": 7, "refusal": 2}},
                "judges": {"qwen72": {"n": 190, "counts": {"verbose": 30, "wrong": 5}}},
            },
        },
        "agreement": {
            "helpfulness": {
                "qwen72": {
                    "n": 140,
                    "exact": 0.61,
                    "exact_ci": [0.53, 0.69],
                    "kappa": 0.55,
                    "kappa_ci": [0.42, 0.66],
                    "kappa_weights": "quadratic",
                    "alpha": 0.54,
                    "alpha_ci": [0.41, 0.65],
                    "alpha_level": "ordinal",
                    "spearman": 0.58,
                    "spearman_ci": [0.46, 0.68],
                    "enough": True,
                    "undefined": None,
                },
            },
            "harmless": {
                "qwen72": {
                    "n": 140,
                    "exact": 0.98,
                    "exact_ci": [0.95, 1.0],
                    "kappa": None,
                    "kappa_ci": None,
                    "kappa_weights": None,
                    "alpha": None,
                    "alpha_ci": None,
                    "alpha_level": "nominal",
                    "spearman": None,
                    "spearman_ci": None,
                    "enough": True,
                    "undefined": "the judge's labels are constant",
                },
            },
            "concise": {
                "qwen72": {
                    "n": 6,
                    "exact": 0.5,
                    "exact_ci": None,
                    "kappa": 0.2,
                    "kappa_ci": None,
                    "alpha": 0.1,
                    "alpha_ci": None,
                    "spearman": 0.3,
                    "spearman_ci": None,
                    "enough": False,
                    "undefined": None,
                },
            },
        },
        "agreement_by_template": {
            "helpfulness": {
                "rubric-json@1a2b3c4d": {
                    "n": 140,
                    "exact": 0.61,
                    "kappa": 0.55,
                    "kappa_ci": [0.42, 0.66],
                    "alpha": 0.54,
                    "alpha_ci": [0.41, 0.65],
                    "spearman": 0.58,
                    "enough": True,
                    "undefined": None,
                },
            },
        },
        "judge_health": {
            "qwen72": {
                "judged": 200,
                "errors": 4,
                "error_rate": 0.02,
                "error_rate_ci": [0.005, 0.04],
                "errors_by_kind": {"parse": 3, "timeout": 1, "http": 0, "other": 0},
                "length_spearman": {"helpfulness": {"n": 190, "rho": 0.31, "ci": [0.17, 0.44]}},
                "human_length_spearman": {"helpfulness": {"n": 150, "rho": 0.12, "ci": [-0.04, 0.28]}},
                "revisions_after_reveal": {"n": 9, "of_labels": 600, "rate": 0.015},
            },
        },
        "checks": {
            "ifeval": {
                "prompt_strict": {"n": 100, "rate": 0.41, "ci": [0.31, 0.51]},
                "prompt_loose": {"n": 100, "rate": 0.47, "ci": [0.37, 0.57]},
                "instruction_strict": {"n": 150, "rate": 0.52, "ci": [0.44, 0.6]},
                "instruction_loose": {"n": 150, "rate": 0.58, "ci": [0.5, 0.66]},
            },
            "items": {
                "contains:Paris": {"n": 20, "rate": 0.9, "ci": [0.75, 1.0]},
                "regex:^\\d+$": {"n": 4, "rate": 0.75, "ci": [0.25, 1.0]},
            },
            "metrics": {
                "note": "overlap with one reference answer; use with caution",
                "rougeL": {"n": 80, "mean": 0.31, "ci": [0.27, 0.35]},
                "bleu": {"n": 80, "mean": 12.4, "ci": [10.1, 14.9]},
                "chrf": {"n": 80, "mean": 41.2, "ci": [38.0, 44.5]},
            },
        },
        "methods": {
            "helpfulness": {
                "overall": {
                    "human": {"n": 150, "value": 3.9, "ci": [3.7, 4.1]},
                    "judge:qwen72": {"n": 190, "value": 4.12, "ci": [3.98, 4.25]},
                    "check:ifeval_strict": {"n": 100, "value": 0.41, "ci": [0.31, 0.51]},
                },
                "by_category": {
                    "writing": {
                        "human": {"n": 40, "value": 4.05, "ci": [3.8, 4.3]},
                        "judge:qwen72": {"n": 50, "value": 4.3, "ci": [4.1, 4.5]},
                    },
                    "math": {"human": {"n": 7, "value": 3.0, "ci": [2.1, 3.9]}},
                },
            },
            "harmless": {
                "overall": {
                    "human": {"n": 150, "value": 0.97, "ci": [0.94, 0.99]},
                    "judge:qwen72": {"n": 190, "value": 0.99, "ci": [0.97, 1.0]},
                },
                "by_category": {},
            },
        },
        "reliability": {
            "probes": 12,
            "test_retest": {
                "helpfulness": {"n": 12, "exact": 0.75, "kappa": 0.6, "kappa_ci": [0.3, 0.85], "enough": True}
            },
            "drift": {
                "helpfulness": {
                    "split": "first and second half",
                    "first": {"n": 60, "mean": 4.0, "ci": [3.8, 4.2]},
                    "last": {"n": 55, "mean": 3.6, "ci": [3.4, 3.8]},
                    "difference": -0.4,
                    "difference_ci": [-0.7, -0.1],
                }
            },
        },
    }


def runs_doc() -> dict[str, Any]:
    doc = run_doc()
    doc["sessions"].append(
        {
            "name": "run-b",
            "path": "/data/sessions/run-b",
            "kind": "run",
            "model": "sft-7b-epoch5",
            "items": 200,
            "answered": 200,
            "labelled": 120,
            "status": "complete",
        }
    )
    other = copy.deepcopy(doc["criteria"])
    other["helpfulness"]["human"].update(n=120, mean=4.2, ci=[4.0, 4.4])
    doc["runs"] = {
        "run-a": {
            "criteria": copy.deepcopy(doc["criteria"]),
            "agreement": doc["agreement"],
            "judge_health": doc["judge_health"],
            "checks": doc["checks"],
        },
        "run-b": {"criteria": other, "agreement": {}, "judge_health": {}, "checks": {}},
    }
    doc["paired"] = [
        {
            "a": "run-a",
            "b": "run-b",
            "criterion": "helpfulness",
            "source": "human",
            "n": 120,
            "mean_a": 3.8,
            "mean_b": 4.1,
            "difference": 0.3,
            "ci": [0.1, 0.5],
            "enough": True,
        },
        {
            "a": "run-a",
            "b": "run-b",
            "criterion": "helpfulness",
            "source": "judge:qwen72",
            "n": 8,
            "mean_a": 4.0,
            "mean_b": 4.1,
            "difference": 0.1,
            "ci": [-0.3, 0.5],
            "enough": False,
        },
    ]
    return doc


def comparison_doc() -> dict[str, Any]:
    def source(name, **kw):
        base = {
            "source": name,
            "a": "run-a",
            "b": "run-b",
            "n": 40,
            "wins_a": 12,
            "wins_b": 20,
            "ties": 8,
            "both_bad": 2,
            "errors": 0,
            "win_rate_b": 0.6,
            "win_rate_b_ci": [0.46, 0.74],
            "lc_win_rate_b": 0.58,
            "lc_win_rate_b_ci": [0.44, 0.71],
            "lc_warning": None,
            "flip_rate": None,
            "flip_rate_n": 0,
            "flip_rate_ci": None,
            "first_position_rate": 0.52,
            "first_position_rate_n": 32,
            "first_position_rate_ci": [0.35, 0.69],
            "prefer_longer_rate": 0.61,
            "prefer_longer_rate_n": 28,
            "prefer_longer_rate_ci": [0.43, 0.79],
            "enough": True,
        }
        base.update(kw)
        return base

    sources = {
        "human": source("human"),
        "qwen72": source(
            "qwen72",
            n=38,
            wins_a=8,
            wins_b=26,
            ties=4,
            win_rate_b=0.74,
            win_rate_b_ci=[0.61, 0.86],
            lc_win_rate_b=0.66,
            lc_win_rate_b_ci=[0.5, 0.8],
            lc_warning="the LC win rate differs from the win rate by more than 0.10",
            flip_rate=0.3,
            flip_rate_n=38,
            flip_rate_ci=[0.16, 0.45],
            first_position_rate=0.62,
            prefer_longer_rate=0.7,
            errors=2,
        ),
        "tiny": source(
            "tiny",
            n=5,
            wins_a=2,
            wins_b=3,
            ties=0,
            win_rate_b=0.6,
            win_rate_b_ci=[0.2, 1.0],
            lc_win_rate_b=None,
            lc_win_rate_b_ci=None,
            enough=False,
        ),
    }
    agreement = {
        "qwen72": {
            "judge": "qwen72",
            "a": "run-a",
            "b": "run-b",
            "n": 30,
            "agreement": 0.7,
            "agreement_ci": [0.53, 0.83],
            "kappa": 0.4,
            "kappa_ci": [0.1, 0.66],
            "enough": True,
        },
        "tiny": {
            "judge": "tiny",
            "a": "run-a",
            "b": "run-b",
            "n": 4,
            "agreement": 0.75,
            "agreement_ci": None,
            "kappa": None,
            "kappa_ci": None,
            "enough": False,
        },
    }
    return {
        "sftscope_version": "0.1.0",
        "resamples": 2000,
        "seed": 0,
        "sessions": [
            {
                "name": "cmp-a-b",
                "path": "/data/sessions/cmp-a-b",
                "kind": "comparison",
                "model": None,
                "items": 40,
                "answered": 40,
                "labelled": 40,
                "status": "complete",
            }
        ],
        "criteria": {},
        "agreement": {},
        "judge_health": {},
        "checks": {},
        "comparison": {
            "sessions": ["run-a", "run-b"],
            "sides": [
                {
                    "name": "run-a",
                    "engine": "llama",
                    "model": "sft-7b-epoch3.gguf",
                    "system": None,
                    "reference": False,
                    "length": {"n": 40, "chars": 640.0, "tokens": None},
                },
                {
                    "name": "run-b",
                    "engine": "llama",
                    "model": "sft-7b-epoch4.gguf",
                    "system": "Be brief.",
                    "reference": False,
                    "length": {"n": 40, "chars": 702.5, "tokens": None},
                },
            ],
            "by_category": [
                {"category": "math", "a": "run-a", "b": "run-b", "sources": {"human": source("human", n=24)}},
                {
                    "category": "coding",
                    "a": "run-a",
                    "b": "run-b",
                    "sources": {"human": source("human", n=6, win_rate_b=0.5, enough=False)},
                },
            ],
            "disagreements": [
                {
                    "pair": "p3",
                    "item": "q3",
                    "category": "math",
                    "a": "run-a",
                    "b": "run-b",
                    "human": "a",
                    "judges": {"qwen72": "b"},
                    "gap": 1.0,
                    "excerpt_a": "Short answer.",
                    "excerpt_b": "A longer answer that explains…",
                },
            ],
            "sources": sources,
            "agreement": agreement,
            "groups": [{"a": "run-a", "b": "run-b", "pairs": 40, "sources": sources, "agreement": agreement}],
            "ratings": {
                "human": [
                    {
                        "session": "run-b",
                        "rating": 1040.2,
                        "ci_low": 1010.0,
                        "ci_high": 1071.5,
                        "rank": 1,
                        "n": 40,
                        "unbounded": False,
                        "enough": True,
                    },
                    {
                        "session": "run-a",
                        "rating": 959.8,
                        "ci_low": 928.5,
                        "ci_high": 990.0,
                        "rank": 2,
                        "n": 40,
                        "unbounded": False,
                        "enough": True,
                    },
                ]
            },
        },
    }


def everything_doc() -> dict[str, Any]:
    """Every section at once (two run sessions with paired differences, and a comparison
    of them): the golden file's document."""
    doc = runs_doc()
    comparison = comparison_doc()
    doc["sessions"] += comparison["sessions"]
    doc["comparison"] = comparison["comparison"]
    return doc


def hostile_doc() -> dict[str, Any]:
    """User data that is markup in some format: HTML, rich markup, Markdown table pipes."""
    doc = run_doc()
    criteria = doc["criteria"]
    criteria["<script>alert(1)</script>"] = criteria.pop("helpfulness")
    criteria["<script>alert(1)</script>"]["by_category"]["<img src=x onerror=alert(2)>"] = criteria[
        "<script>alert(1)</script>"
    ]["by_category"].pop("writing")
    criteria["[bold]rich[/bold] | pipe"] = criteria.pop("harmless")
    doc["agreement"]["<script>alert(1)</script>"] = doc["agreement"].pop("helpfulness")
    doc["methods"]["<script>alert(1)</script>"] = doc["methods"].pop("helpfulness")
    doc["sessions"][0]["name"] = '<b onmouseover="x">run</b>'
    doc["sessions"][0]["path"] = "/tmp/<iframe>/a&b"
    return doc


def wide_doc() -> dict[str, Any]:
    """Long names everywhere, six judges, a path with no space to break at."""
    doc = everything_doc()
    doc["sessions"][0]["path"] = "/very/long/" + "x" * 150
    doc["sessions"][0]["model"] = "organisation/a-model-name-that-goes-on-and-on-" + "y" * 40
    helpfulness = doc["criteria"]["helpfulness"]
    for k in range(6):
        name = f"judge-with-a-long-name-{k}-" + "z" * 20
        helpfulness["judges"][name] = dict(helpfulness["judges"]["qwen72"])
        doc["agreement"]["helpfulness"][name] = dict(doc["agreement"]["helpfulness"]["qwen72"])
        doc["methods"]["helpfulness"]["overall"][f"judge:{name}"] = {"n": 40, "value": 3.5, "ci": [3.1, 3.9]}
        doc["judge_health"][name] = doc["judge_health"]["qwen72"]
    doc["criteria"]["a-criterion-name-of-sixty-characters-" + "w" * 23] = helpfulness
    return doc


def all_docs() -> list[dict[str, Any]]:
    return [run_doc(), runs_doc(), comparison_doc(), everything_doc(), hostile_doc(), wide_doc()]


# ---------------------------------------------------------------------------------------
# Text.


def test_text_report_matches_the_golden_file() -> None:
    text = render_text(everything_doc(), width=80)
    if os.environ.get("SFTSCOPE_REGEN_REPORT"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the text report changed; if intended, regenerate tests/data/report-80.txt "
        "(SFTSCOPE_REGEN_REPORT=1, see this file's docstring) and read the diff"
    )


@pytest.mark.parametrize("width", [80, 60, 120])
def test_no_text_line_is_wider_than_asked(width: int) -> None:
    for doc in all_docs():
        for line in render_text(doc, width=width).splitlines():
            assert len(line) <= width, line


def test_text_is_plain_even_when_the_environment_forces_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    text = render_text(run_doc())
    assert "\x1b[" not in text
    assert "\x1b[" in render_text(run_doc(), color=True)


def test_text_shows_the_documents_numbers() -> None:
    text = render_text(everything_doc())
    for expected in [
        "3.90",  # human helpfulness mean
        "[3.70, 4.10]",  # and its interval
        "4.05 [3.80, 4.30] n=40",  # a category
        "0.55 [0.42, 0.66]",  # kappa
        "0.54 [0.41, 0.65]",  # alpha
        "0.02 [0.01, 0.04]",  # error rate (0.005 prints as 0.01 at two places)
        "parse 3, timeout 1",
        "0.31 [0.17, 0.44] n=190",  # judge length bias
        "0.12 [-0.04, 0.28] n=150",  # the human's
        "0.015",  # revisions after reveal
        "prompt-level strict",
        "instruction-level loose",
        "contains:Paris",
        "ROUGE-L",
        "BLEU",
        "chrF",
        "overlap with one reference",
        "+0.30 [+0.10, +0.50]",  # paired difference
        "-0.40",  # drift
        "0.60 [0.46, 0.74]",  # win rate
        "0.58 [0.44, 0.71]",  # LC win rate
        "0.30",  # flip rate
        "0.70 [0.53, 0.83]",  # human vs judge agreement on pairs
        "1040",  # Bradley-Terry
        "[1010, 1072]",
        "Win rate of run-b over run-a",
    ]:
        assert expected in text, expected


def test_n_too_small_replaces_the_number_below_ten() -> None:
    text = render_text(run_doc())
    # The math category has n=7 (mean 3.00 [2.10, 3.90]); the concise agreement n=6.
    assert "n too small n=7" in text
    assert "[2.10, 3.90]" not in text
    concise = text[text.index("concise: human vs judge") :].splitlines()[3]
    assert concise.split()[:2] == ["qwen72", "6"] and concise.count("n too small") == 4
    assert "0.20" not in concise  # its kappa is never shown
    # A per-item check with n=4.
    assert re.search(r"regex:\^\\d\+\$\s+4\s+n too small", text)


def test_a_null_statistic_reads_undefined_with_its_reason() -> None:
    text = render_text(run_doc())
    harmless = text[text.index("harmless: human vs judge") :]
    row = harmless.splitlines()[3]
    assert row.split() == ["qwen72", "140", "0.98", "undefined", "undefined", "undefined"]
    assert "undefined: the judge's labels are constant" in harmless


def test_the_text_chart_falls_back_to_plain_characters_without_plotexts_figure_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "plotext", types.ModuleType("plotext"))  # an API it lacks
    text = render_text(comparison_doc())
    assert " human 0.60 │" in text and "█" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_user_text_is_never_rich_markup() -> None:
    text = render_text(hostile_doc())
    assert "[bold]rich[/bold] | pipe" in text
    assert "<script>alert(1)</script>" in text  # plain text shows it as it is


# ---------------------------------------------------------------------------------------
# HTML.


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, re.S)


def test_the_html_page_is_self_contained() -> None:
    for doc in all_docs():
        page = render_html(doc)
        lowered = page.lower()
        assert lowered.startswith("<!doctype html>")
        for needle in ("http://", "https://", "<link", "<script", "<iframe", "<img", "@import", "url("):
            assert needle not in lowered, needle
        # No attribute loads anything; the only links are to the page's own sections.
        assert not re.search(r"<[^>]*\ssrc=", lowered)
        assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
        if doc["sessions"][0]["path"].startswith("/data"):  # not the hostile document's <img src=…>
            assert "src=" not in lowered


def test_the_html_charts_are_inline_svg() -> None:
    run_page = render_html(run_doc())
    svgs = _svgs(run_page)
    assert len(svgs) == 2  # the helpfulness distribution, the methods side by side
    comparison_svgs = _svgs(render_html(comparison_doc()))
    assert len(comparison_svgs) == 1  # the win rates
    for svg in svgs + comparison_svgs:
        ET.fromstring(svg)  # well-formed XML
    win_rates = ET.fromstring(comparison_svgs[0])
    assert len(win_rates.findall(".//rect")) == 2  # human and qwen72; "tiny" is n too small
    assert len(win_rates.findall(".//line[@class='whisker']")) == 2 * 3  # a line and two caps each
    assert win_rates.findall(".//line[@class='reference']")  # 0.5


def test_every_string_from_the_document_is_escaped_in_html() -> None:
    page = render_html(hostile_doc())
    assert "<script" not in page.lower()
    assert "<img" not in page.lower() and "<iframe" not in page.lower()
    assert "<b " not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "/tmp/&lt;iframe&gt;/a&amp;b" in page
    for svg in _svgs(page):
        ET.fromstring(svg)  # the escaped names keep the SVG well-formed


def test_html_shows_the_same_cells_as_the_text() -> None:
    """One layout, several drawings: every table cell is in both."""
    doc = everything_doc()
    page = render_html(doc)
    text = render_text(doc, width=400)  # wide: no cell is wrapped across lines
    _, sections = layout(doc)
    for section in sections:
        for block in section.blocks:
            for row in getattr(block, "rows", []):
                for cell in row:
                    assert html.escape(cell) in page, cell
                    assert cell in text, cell


def test_write_html_report_replaces_the_page_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "report.html").write_text("old")
    path = write_html_report(tmp_path, run_doc())
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8") == render_html(run_doc())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_html_report(tmp_path, comparison_doc())
    assert path.read_text(encoding="utf-8") == render_html(run_doc())  # the old page stands
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file left


# ---------------------------------------------------------------------------------------
# Markdown and JSON.


def _md_cells(line: str) -> list[str]:
    assert line.startswith("| ") or line.startswith("|-") or line.startswith("|:"), line
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_tables_are_well_formed() -> None:
    for doc in all_docs():
        lines = render_markdown(doc).splitlines()
        tables = 0
        for index, line in enumerate(lines):
            if not line.startswith("|"):
                continue
            if index == 0 or not lines[index - 1].startswith("|"):
                tables += 1
                header = _md_cells(line)
                separator = _md_cells(lines[index + 1])
                assert all(re.fullmatch(r"---:?", c) for c in separator), lines[index + 1]
                assert len(separator) == len(header)
                assert lines[index - 1] == ""  # a table starts its own block
            else:
                assert len(_md_cells(line)) == len(header), line
        assert tables >= 3


def test_markdown_escapes_user_text() -> None:
    md = render_markdown(hostile_doc())
    assert "<script" not in md and "<img" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"\[bold\]" not in md and r"[bold]rich[/bold] \| pipe" in md


def test_markdown_has_the_same_sections_as_the_text() -> None:
    doc = everything_doc()
    text, md = render_text(doc), render_markdown(doc)
    _, sections = layout(doc)
    assert len(sections) == 10
    for section in sections:
        assert f"## {section.title}" in md
        assert section.title in text
    assert "| human | 150 | 3.90 | [3.70, 4.10] |" in md
    # The context, the largest disagreements and the per-category win rates, in both.
    for shown in (render_text(doc, 200), md):  # wide: no note wrapped
        assert "mt-bench.jsonl, 200 items, sha256 3c3c3c3c3c3c" in shown
        assert "You are a helpful assistant." in shown and "qwen2.5-72b" in shown
        assert "812 characters, 190 tokens (n=198)" in shown
        assert "q17 (math) · helpfulness: you 1, judge qwen72 5 · answer: The answer is 42 because…" in shown
        assert "win rate of B per category" in shown and "Be brief." in shown
    assert (
        "| coding | human | 6 | n too small |  |" in md
        and "| math | human | 24 | 0.60 | [0.46, 0.74] |" in md
    )
    assert "Figures" not in [s.title for s in sections]  # enough labels: nothing collapsed


def test_json_round_trips() -> None:
    for doc in all_docs():
        assert json.loads(render_json(doc)) == doc
        assert json.loads(render(doc, "json")) == doc


def test_json_never_writes_nan() -> None:
    doc = run_doc()
    doc["criteria"]["helpfulness"]["human"]["mean"] = float("nan")
    with pytest.raises(ValueError):
        render_json(doc)
    # The other formats read a NaN as a missing number.
    human = next(line for line in render_text(doc).splitlines() if line.startswith("human "))
    assert human.split()[:3] == ["human", "150", "undefined"]


def test_a_document_with_only_the_fixed_keys_renders_in_every_format() -> None:
    doc = {
        "sftscope_version": "0.1.0",
        "resamples": 2000,
        "seed": 0,
        "sessions": [{"name": "empty", "path": "/x", "kind": "run", "model": "m", "items": 0,
                      "answered": 0, "labelled": 0, "status": "complete"}],
        "criteria": {},
        "agreement": {},
        "judge_health": {},
        "checks": {},
    }  # fmt: skip
    for fmt in ("text", "json", "html", "md"):
        assert "empty" in render(doc, fmt)
    with pytest.raises(ValueError):
        render(doc, "pdf")


def test_a_copy_of_the_document_is_not_modified() -> None:
    doc = everything_doc()
    before = copy.deepcopy(doc)
    for fmt in ("text", "json", "html", "md"):
        render(doc, fmt)
    assert doc == before


def test_figure_cells_and_figure_text_are_one_rule() -> None:
    """The layout's two-cell figures (estimate, interval) and the one-line figures of the
    consoles and summaries decide "n too small" and write numbers the same way."""
    from sftscope.scorers.intervals import TOO_SMALL, figure_cells, figure_text
    from sftscope.scorers.stats.intervals import MIN_N

    assert figure_cells(0.5, [0.3, 0.7], MIN_N) == ("0.50", "[0.30, 0.70]")
    assert figure_cells(0.5, [0.3, 0.7], MIN_N - 1) == (TOO_SMALL, "")
    assert figure_cells(0.5, [0.3, 0.7], 3, shown=True) == ("0.50", "[0.30, 0.70]")  # the data's `enough`
    assert figure_cells(0.1, [-0.2, 0.4], MIN_N, signed=True) == ("+0.10", "[-0.20, +0.40]")
    assert figure_cells(None, None, MIN_N, missing="–") == ("–", "")
    cases = ((0.5, [0.3, 0.7], MIN_N), (0.5, None, MIN_N), (0.5, [0.3, 0.7], 2), (None, None, 40))
    for value, ci, n in cases:
        text, interval = figure_cells(value, ci, n)
        assert figure_text(value, ci, n) == (f"{text} {interval}" if interval else text)
