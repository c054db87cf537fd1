"""The HTML report's viewer: the items (a run) or pairs (a comparison) with a few filters.

The report document's "items" or "pairs" (sessions/report/items.py) go into the page as
one JSON block, `<script type="application/json">`, every `<` written as \\u003c so that
no answer, prompt or judge reply can close the block; viewer.js reads it with JSON.parse
and builds every element with textContent, never innerHTML on data. The script and its
stylesheet are package files beside this module, inlined: the page still refers to
nothing outside itself and opens offline.

A run's scores are packed for the page: each item's labels and each judge's scores as a
list in the order of `criteria`, not a dict repeating every criterion's name (a third of
a 16,000-item page's size otherwise, beside the answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import quote

ITEMS_ID = "items"
PAIRS_ID = "pairs"


def has_views(doc: Mapping[str, Any]) -> bool:
    """Whether the document carries items or pairs to show."""
    return bool(doc.get("items")) or bool(doc.get("pairs"))


def _asset(name: str) -> str:
    return files("sftscope.tui.render").joinpath(name).read_text(encoding="utf-8")


def _criteria(items: list[Mapping[str, Any]]) -> list[str]:
    """Every criterion any label or judge score names, in the order first seen."""
    seen: dict[str, None] = {}
    for item in items:
        for name in item.get("human") or ():
            seen.setdefault(name, None)
        for judge in (item.get("judges") or {}).values():
            for name in judge.get("scores") or ():
                seen.setdefault(name, None)
    return list(seen)


def _packed_item(item: Mapping[str, Any], criteria: list[str]) -> dict[str, Any]:
    out = dict(item)
    human = item.get("human")
    if human:
        out["human"] = [human.get(c) for c in criteria]
    judges = item.get("judges")
    if judges:
        packed = {}
        for name, judge in judges.items():
            judge = dict(judge)
            scores = judge.get("scores")
            judge["scores"] = None if scores is None else [scores.get(c) for c in criteria]
            packed[name] = judge
        out["judges"] = packed
    return out


def payload(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What viewer.js reads: the kind, and the items (scores packed) or pairs."""
    if doc.get("pairs"):
        return {"kind": "pairs", "pairs": doc["pairs"]}
    items = list(doc.get("items") or [])
    criteria = _criteria(items)
    return {"kind": "items", "criteria": criteria, "items": [_packed_item(i, criteria) for i in items]}


def json_block(data: Any) -> str:
    """`data` as a JSON script block that no string inside it can end: `<` is \\u003c."""
    import orjson

    text = orjson.dumps(data).decode("utf-8").replace("<", "\\u003c")
    return f'<script type="application/json" id="viewer-data">{text}</script>'


def viewer_html(doc: Mapping[str, Any]) -> str:
    """The section, the data block, the stylesheet and the script, for the page's end."""
    anchor, title = (PAIRS_ID, "Pairs") if doc.get("pairs") else (ITEMS_ID, "Items")
    return "\n".join(
        (
            f'<section id="{anchor}" class="viewer">',
            f"<h2>{title}</h2>",
            '<div id="viewer-controls" class="controls"></div>',
            '<div id="viewer-pager-top" class="pager"></div>',
            '<div id="viewer-list"></div>',
            '<div id="viewer-pager" class="pager"></div>',
            "<noscript><p>The items need JavaScript; the numbers above do not.</p></noscript>",
            "</section>",
            json_block(payload(doc)),
            f"<style>{_asset('viewer.css')}</style>",
            f"<script>{_asset('viewer.js')}</script>",
        )
    )


def category_link(category: str) -> str:
    """The fragment that opens the items of one category."""
    return f"#items?cat={quote(category, safe='')}"


def value_link(criterion: str, value: str) -> str:
    """The fragment that opens the items you gave `value` on `criterion` (a distribution's
    bar of your own labels)."""
    return f"#items?crit={quote(criterion, safe='')}&val={quote(value, safe='')}"


def judge_link(judge: str, criterion: str | None = None) -> str:
    """The fragment that opens the items where `judge` and you differ (on `criterion`,
    else on any), largest difference first."""
    on = f"&crit={quote(criterion, safe='')}" if criterion else ""
    return f"#items?judge={quote(judge, safe='')}{on}&diff=1&sort=disagree"
