"""The run console's keys: the footer's bindings built from the rubric, and the two fixed
keys (`d`, `m`) a rubric may take for itself."""

from __future__ import annotations

from sftscope.scorers.rubric import Rubric, canonical_key
from textual.binding import Binding


def key_label(key: str) -> str:
    return {"question_mark": "?", "right": "→", "left": "←", "shift+tab": "shift+tab"}.get(key, key)


# The next item where a revealed judge and you differ. Not one of the rubric's remappable
# actions: a rubric that binds `d` to an action keeps it, and the palette still has this.
DISAGREEMENT_KEY = "d"


def disagreement_key_free(rubric: Rubric) -> bool:
    """`d` jumps to the next disagreement unless the rubric binds it to something else."""
    return all(canonical_key(key) != DISAGREEMENT_KEY for key in rubric.keys.values())


# Markdown or the raw text of the answer (exactly the saved characters). Like `d`, not one
# of the rubric's remappable actions: a rubric that binds `m` keeps it (the palette has this).
MARKDOWN_KEY = "m"


def markdown_key_free(rubric: Rubric) -> bool:
    """`m` toggles Markdown / raw text unless the rubric binds it to something else."""
    return all(canonical_key(key) != MARKDOWN_KEY for key in rubric.keys.values())


def build_bindings(rubric: Rubric) -> list[Binding]:
    # The footer shows these after the score keys, in this order: Textual's footer cuts off
    # what does not fit at the right, so on a narrow terminal the last ones go first.
    footer = ("help", "quit", "next_item", "undo", "skip", "reveal")
    keys = rubric.keys
    kinds = {c.kind for c in rubric.criteria}
    likert = [c for c in rubric.criteria if c.kind == "likert"]
    low = min((c.min for c in likert), default=1)
    high = max((c.max for c in likert), default=9)
    # One footer entry for every scoring key: "1-5 y/n score".
    score_keys = [f"{low}-{high}"] if kinds & {"likert", "tags"} else []
    if "binary" in kinds:
        score_keys.append(f"{key_label(keys['yes'])}/{key_label(keys['no'])}")
    bindings = [
        Binding(str(d), f"app.digit({d})", "score", show=(d == low), key_display=" ".join(score_keys))
        for d in range(10)
    ]
    labels = {"next_item": "next", "prev_item": "prev", "next_criterion": "criterion"}
    for action in sorted(keys, key=lambda a: footer.index(a) if a in footer else len(footer)):
        key = keys[action]
        display = key_label(key)
        bindings.append(
            Binding(
                key,
                f"app.{action}",
                labels.get(action, action.replace("_", " ")),
                show=action in footer,
                key_display=display,
                # Before the conversation's own (horizontal scroll) bindings, so the footer
                # shows them; the answer wraps, so it never scrolls sideways.
                priority=key in ("tab", "shift+tab", "left", "right"),
            )
        )
    if disagreement_key_free(rubric):  # not remappable: a rubric that takes `d` keeps it
        bindings.append(Binding(DISAGREEMENT_KEY, "app.next_disagreement", "disagreement", show=False))
    if markdown_key_free(rubric):  # last in the footer: the first cut on a narrow terminal
        bindings.append(Binding(MARKDOWN_KEY, "app.toggle_markdown", "raw/md", show=True))
    bindings += [
        Binding("escape", "app.stop", "stop", show=False),
        Binding("up", "app.scroll(-1)", "scroll", show=False),
        Binding("down", "app.scroll(1)", "scroll", show=False),
        Binding("pageup", "app.scroll(-10)", "scroll", show=False),
        Binding("pagedown", "app.scroll(10)", "scroll", show=False),
    ]
    return bindings
