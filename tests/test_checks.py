"""IFEval checks on hand-written responses for every instruction type, strict and loose,
plus per-item checks and reference metrics."""

from __future__ import annotations

import pytest
from sftscope.scorers import ifeval
from sftscope.scorers.checks import CheckError, evaluate_item, run_check
from sftscope.sessions.core.item import Item

# (instruction, kwargs, a response that follows it, one that does not)
CASES = [
    ("keywords:existence", {"keywords": ["apple", "pear"]}, "An apple and a pear.", "Only an apple."),
    (
        "keywords:frequency",
        {"keyword": "cat", "frequency": 3, "relation": "at least"},
        "cat cat cat",
        "cat cat",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "It is good.", "It is very good."),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "less than"},
        "A calm day.",
        "Jazz and fizz.",
    ),
    (
        "language:response_language",
        {"language": "fr"},
        "Bonjour, je suis très heureux de vous aider aujourd'hui avec votre question.",
        "Hello, I am very happy to help you today with your question.",
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": "less than"},
        "One. Two.",
        "One. Two. Three. Four.",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First part.\n***\nSecond part.",
        "Just one part.",
    ),
    (
        "length_constraints:number_words",
        {"num_words": 5, "relation": "at least"},
        "one two three four five six",
        "one two",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First we start.\n\nThen we finish.",
        "First we start.\n\nAfter that we finish.",
    ),
    (
        "detectable_content:number_placeholders",
        {"num_placeholders": 2},
        "Dear [name], at [address].",
        "Dear [name].",
    ),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Thanks.\nP.S. See you.", "Thanks."),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b\n* c", "* a\n* b"),
    ("detectable_format:constrained_response", {}, "My answer is yes.", "Yes, definitely."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*", "*one* only"),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "SECTION 1\nIntro\nSECTION 2\nBody",
        "SECTION 1\nAll in one",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "a: 1"),
    ("detectable_format:title", {}, "<<My Poem>>\nRoses are red.", "My Poem\nRoses are red."),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", "Only one answer."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Say hi. Hi!", "Hi! Say hi."),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Done. Any other questions?",
        "Any other questions? Done.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "at least"},
        "This is VERY IMPORTANT.",
        "This is Very important.",
    ),
    ("change_case:english_capital", {}, "THIS IS ALL IN CAPITAL LETTERS FOR YOU.", "This is not."),
    ("change_case:english_lowercase", {}, "this is all in lowercase letters for you.", "This is not."),
    ("punctuation:no_comma", {}, "No commas here.", "Well, a comma."),
    ("startend:quotation", {}, '"Wrapped in quotes."', "Not wrapped."),
]


def test_every_one_of_the_25_types_is_covered() -> None:
    assert len(ifeval.CHECKS) == 25
    assert {case[0] for case in CASES} == set(ifeval.CHECKS)


@pytest.mark.parametrize(("instruction", "kwargs", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_strict_and_loose(instruction: str, kwargs: dict, good: str, bad: str) -> None:
    assert ifeval.check_instruction(instruction, kwargs, good, loose=False)
    assert ifeval.check_instruction(instruction, kwargs, good, loose=True)
    assert not ifeval.check_instruction(instruction, kwargs, bad, loose=False)


# Loose mode must still fail an answer whose violation survives every loose transformation
# (first line removed, last line removed, both, and each with asterisks stripped): the
# violation sits in a middle line, or in every line, and is not made of asterisks.
# (instruction, kwargs, a three-line-or-longer response that does not follow it)
LOOSE_FAILURES = [
    ("keywords:existence", {"keywords": ["apple", "pear"]}, "Sure.\nOnly an **apple** here.\nBye."),
    (
        "keywords:frequency",
        {"keyword": "cat", "frequency": 3, "relation": "at least"},
        "cat\na *cat* sat\ndog",
    ),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "Sure.\nIt is *very* good.\nBye."),
    (
        "keywords:letter_frequency",
        {"letter": "z", "let_frequency": 2, "let_relation": "less than"},
        "Hello.\nJazz and fizz.\nBye.",
    ),
    (
        "language:response_language",
        {"language": "fr"},
        "Here is my answer.\nI am very happy to help you today with your question about the weather.\n"
        "Please let me know if there is anything else I can do for you.",
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": "less than"},
        "Hi.\nOne. Two. Three. Four.\nBye.",
    ),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "Sure.\nJust one part.\nBye."),
    (
        "length_constraints:number_words",
        {"num_words": 10, "relation": "at least"},
        "one two\nthree four\nfive",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        "First we start.\n\nAfter that we finish.\n\nBye.",
    ),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name],\nwelcome.\nBye."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Thanks.\nSee you.\nBye."),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "Here:\n* a\n* b\nThat is all."),
    ("detectable_format:constrained_response", {}, "Sure.\nMy answer is perhaps.\nBye."),
    (
        "detectable_format:number_highlighted_sections",
        {"num_highlights": 2},
        "Sure.\n*one* only\nBye.",
    ),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "SECTION", "num_sections": 2},
        "Sure.\nSECTION 1\nAll in one.\nBye.",
    ),
    ("detectable_format:json_format", {}, 'Here:\n{a: 1, "b": 2}\nDone.'),
    ("detectable_format:title", {}, "Sure.\n**My Poem**\nRoses are red."),
    ("combination:two_responses", {}, "Sure.\nOnly one answer.\nBye."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Hi!\nHello.\nSay hi. Hi!"),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Done. Any other questions?\nThanks.\nBye.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "at least"},
        "Sure.\nThis is **VERY** important.\nBye.",
    ),
    (
        "change_case:english_capital",
        {},
        "HERE IS MY ANSWER.\nThis middle line is written in ordinary sentence case for you.\n"
        "THAT IS ALL FROM ME TODAY.",
    ),
    (
        "change_case:english_lowercase",
        {},
        "here is my answer.\nThis Middle Line Has Capital Letters in it for you.\nthat is all from me.",
    ),
    ("punctuation:no_comma", {}, "Sure.\nWell, a comma in the middle.\nBye."),
    ("startend:quotation", {}, '"Quoted start\nmiddle\nunquoted end.'),
]


def test_every_type_has_a_loose_failure() -> None:
    assert {case[0] for case in LOOSE_FAILURES} == set(ifeval.CHECKS)


@pytest.mark.parametrize(("instruction", "kwargs", "bad"), LOOSE_FAILURES, ids=[c[0] for c in LOOSE_FAILURES])
def test_loose_still_fails_what_no_transformation_fixes(instruction: str, kwargs: dict, bad: str) -> None:
    assert len(bad.split("\n")) >= 3  # so that every loose variant is non-empty
    assert ifeval.check_instruction(instruction, kwargs, bad, loose=False) is False
    assert ifeval.check_instruction(instruction, kwargs, bad, loose=True) is False
    result = ifeval.evaluate([instruction], [kwargs], bad)
    assert result["checks"]["ifeval_strict"] is False
    assert result["checks"]["ifeval_loose"] is False


@pytest.mark.parametrize(("instruction", "kwargs", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_loose_fails_the_plain_bad_answers_too(instruction: str, kwargs: dict, good: str, bad: str) -> None:
    assert ifeval.check_instruction(instruction, kwargs, bad, loose=True) is False


# (instruction, kwargs, a response that only a loose transformation makes follow the instruction)
STRICT_FAILS_LOOSE_PASSES = [
    ("punctuation:no_comma", {}, "Sure, here it is:\nNo commas here at all."),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "Very well, here goes:\nIt is good."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. Any other questions?\n-- a bot"),
    ("detectable_format:json_format", {}, 'Here is the JSON:\n{"a": 1}'),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Of course!\nSay hi. Hi!"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "- a\n- b\n- c\n- that is all"),
    (
        "change_case:english_capital",
        {},
        "Sure, here it is:\nTHIS IS ALL IN CAPITAL LETTERS FOR YOU.",
    ),
    ("startend:quotation", {}, '**"Quoted, in bold."**'),
]


@pytest.mark.parametrize(
    ("instruction", "kwargs", "text"),
    STRICT_FAILS_LOOSE_PASSES,
    ids=[c[0] for c in STRICT_FAILS_LOOSE_PASSES],
)
def test_strict_fails_where_loose_passes(instruction: str, kwargs: dict, text: str) -> None:
    assert ifeval.check_instruction(instruction, kwargs, text, loose=False) is False
    assert ifeval.check_instruction(instruction, kwargs, text, loose=True) is True
    result = ifeval.evaluate([instruction], [kwargs], text)
    assert result["checks"]["ifeval_strict"] is False
    assert result["checks"]["ifeval_loose"] is True


def test_loose_forgives_a_preamble_and_markdown_that_strict_does_not() -> None:
    chatty = "Sure! Here is my answer:\nMy answer is yes."
    assert not ifeval.check_instruction("startend:quotation", {}, 'Here:\n"quoted"', loose=False)
    assert ifeval.check_instruction("startend:quotation", {}, 'Here:\n"quoted"', loose=True)
    assert ifeval.check_instruction("detectable_format:constrained_response", {}, chatty, loose=True)
    bold_title = "**<<Title>>**\nthis is all lowercase text for the reader."
    assert not ifeval.check_instruction("change_case:english_lowercase", {}, bold_title, loose=False)
    assert ifeval.check_instruction("change_case:english_lowercase", {}, bold_title, loose=True)


def test_ifeval_item_gets_strict_and_loose_summaries() -> None:
    item = Item(
        id="1",
        turns=["x"],
        form="ifeval",
        instructions=["punctuation:no_comma", "startend:quotation"],
        kwargs=[{}, {}],
    )
    result = evaluate_item(item, 'Sure:\n"no commas at all"')
    checks = result["checks"]
    assert checks["punctuation:no_comma"] is True and checks["startend:quotation"] is False
    assert checks["ifeval_strict"] is False and checks["ifeval_loose"] is True


def test_per_item_checks_and_errors() -> None:
    item = Item(
        id="c",
        turns=["code"],
        checks=[
            {"type": "contains", "value": ["def", "return"]},
            {"type": "not_contains", "value": "TODO"},
            {"type": "regex", "pattern": r"^def \w+\("},
            {"type": "bullet_count", "min": 3, "max": 3, "name": "three bullets"},
            {"type": "word_count", "max": 50},
            {"type": "starts_with", "value": "def"},
            {"type": "json"},
            {"type": "telepathy"},
        ],
    )
    result = evaluate_item(item, "def f(x):\n    return x\n- a\n- b\n- c")
    assert result["checks"] == {
        "contains:['def', 'return']": True,
        "not_contains:TODO": True,
        "regex:^def \\w+\\(": True,
        "three bullets": True,
        "word_count(max=50)": True,
        "starts_with:def": True,
        "json": False,
    }
    assert result["errors"] == [
        "unknown check type 'telepathy' (expected one of contains, not_contains, regex, "
        "json, starts_with, ends_with, word_count, sentence_count, bullet_count, "
        "paragraph_count)"
    ]
    with pytest.raises(CheckError, match="bad regex"):
        run_check({"type": "regex", "pattern": "("}, "x")


def test_reference_metrics() -> None:
    item = Item(id="m", turns=["capital?"], reference="The capital of France is Paris.")
    same = evaluate_item(item, "The capital of France is Paris.")["metrics"]
    assert same["rougeL"] == 1.0 and same["bleu"] == 100.0 and same["chrf"] == 100.0
    other = evaluate_item(item, "I like trains.")["metrics"]
    assert other["rougeL"] < 0.2 and other["bleu"] < 10
