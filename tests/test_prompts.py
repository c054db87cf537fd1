"""Prompt-set loaders on every form, good and bad, and the shared benchmark files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftscope.sessions.run.prompts import PromptSetError, load_prompt_set

from tests.conftest import SHARED, write_jsonl


def test_builtin_set_has_about_thirty_varied_prompts() -> None:
    prompt_set = load_prompt_set(None)
    assert 25 <= len(prompt_set.items) <= 40
    categories = {item.category for item in prompt_set.items}
    assert {"writing", "reasoning", "coding", "format", "safety"} <= categories
    assert len({item.id for item in prompt_set.items}) == len(prompt_set.items)


def test_every_jsonl_form(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"prompt": "plain", "reference": "ref", "category": "c"},
            {"instruction": "Translate", "input": "bonjour", "output": "hello"},
            {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "gold"}]},
            {"question_id": 81, "category": "writing", "turns": ["t1", "t2"], "reference": ["r1", "r2"]},
            {
                "key": 1000,
                "prompt": "Write 3 words",
                "instruction_id_list": ["length_constraints:number_words"],
                "kwargs": [{"relation": "less than", "num_words": 4}],
            },
            {"id": "custom", "prompt": "with id"},
        ],
    )
    items = load_prompt_set(path).items
    assert [i.id for i in items] == ["1", "2", "3", "4", "81", "1000", "custom"]
    assert [i.form for i in items] == ["prompt", "alpaca", "chat", "chat", "mt-bench", "ifeval", "prompt"]
    assert items[0].reference == "ref" and items[0].category == "c"
    assert items[1].turns == ["Translate\n\nbonjour"] and items[1].reference == "hello"
    assert items[2].prefix == [{"role": "system", "content": "be brief"}] and items[2].turns == ["hi"]
    assert items[3].reference == "gold" and items[3].turns == ["q"]
    assert items[4].turns == ["t1", "t2"] and items[4].reference == ["r1", "r2"]
    assert items[5].instructions == ["length_constraints:number_words"]
    assert items[5].kwargs == [{"relation": "less than", "num_words": 4}]
    # MT-Bench's second turn is asked after the model's own first answer.
    assert items[4].messages_for_turn(1, ["A1"], system="sys") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "t1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "t2"},
    ]


def test_json_array_and_csv(tmp_path: Path) -> None:
    array = tmp_path / "p.json"
    array.write_text(json.dumps([{"prompt": "a"}, {"instruction": "b"}]))
    assert [i.turns for i in load_prompt_set(array).items] == [["a"], ["b"]]
    table = tmp_path / "p.csv"
    table.write_text('id,prompt,reference\nx,"Hello, world",hi\n,second,\n')
    items = load_prompt_set(table).items
    assert [(i.id, i.turns[0], i.reference) for i in items] == [
        ("x", "Hello, world", "hi"),
        ("2", "second", None),
    ]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("", "p.jsonl", "prompts file is empty"),
        ("  \n\n", "p.jsonl", "prompts file is empty"),
        ('{"prompt": "ok"}\n{"prompt": "broken"\n', "p.jsonl", r"p\.jsonl:2: not valid JSON"),
        ('{"prompt": "ok"}\n\n{"text": "no prompt"}\n', "p.jsonl", r"p\.jsonl:3: no prompt found"),
        ('{"prompt": ""}\n', "p.jsonl", r"p\.jsonl:1: 'prompt' is empty"),
        ('{"prompt": 5}\n', "p.jsonl", r"p\.jsonl:1: 'prompt' must be a string"),
        ("[1, 2]\n", "p.jsonl", r"p\.jsonl:1: expected a JSON object"),
        (
            '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
            "p.jsonl",
            r":2: duplicate id 'a' \(first on line 1\)",
        ),
        ('{"turns": []}\n', "p.jsonl", r":1: 'turns' must be a non-empty list"),
        (
            '{"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}, '
            '{"role": "assistant", "content": "z"}, {"role": "assistant", "content": "w"}]}\n',
            "p.jsonl",
            r":1: the conversation must end with a user message",
        ),
        ("id,text\n1,hello\n", "p.csv", r"p\.csv:1: CSV needs a 'prompt' column"),
        ('{"a": 1}', "p.json", r"p\.json: expected a JSON array"),
        ("[{]", "p.json", r"p\.json:1: not valid JSON"),
    ],
)
def test_bad_prompt_files_name_the_line(tmp_path: Path, content: str, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PromptSetError, match=message):
        load_prompt_set(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptSetError, match="prompts file not found"):
        load_prompt_set(tmp_path / "nope.jsonl")


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/datasets is not beside this checkout")
def test_shared_benchmark_files_load() -> None:
    mt = load_prompt_set(SHARED / "mt_bench" / "question.jsonl").items
    assert len(mt) == 80 and all(len(i.turns) == 2 for i in mt)
    assert mt[0].id == "81" and mt[0].form == "mt-bench"
    ifeval = load_prompt_set(SHARED / "ifeval" / "input_data.jsonl").items
    assert len(ifeval) == 541 and all(i.form == "ifeval" and i.instructions for i in ifeval)
    assert any(i.reference for i in mt)  # math, reasoning and coding carry references
    # The answers file is not a prompt set: a clear error, not a crash.
    with pytest.raises(PromptSetError, match=r"reference_answer_gpt-4\.jsonl:1: no prompt found"):
        load_prompt_set(SHARED / "mt_bench" / "reference_answer_gpt-4.jsonl")


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        # The quote opened on line 3 never closes: the csv module would fold lines 3-5 into one prompt.
        (
            'id,prompt\na,first\nb,"second\nc,third\nd,fourth\n',
            "p.csv",
            r"p\.csv:3: a quoted field opens here and is never closed \(unterminated quote\)",
        ),
        # Closed too early by the next row's own quote: text follows the closing quote.
        (
            'id,prompt\na,"first\nb,"second"\n',
            "p.csv",
            r"p\.csv:2: the quoted field opened here is followed by text after its closing quote on line 3",
        ),
        ('id,prompt\na,"multi\nline" ok\n', "p.csv", r"p\.csv:2: the quoted field opened here"),
        ('id,prompt\na,"x""\n', "p.csv", r"p\.csv:2: a quoted field opens here and is never closed"),
        ("id,prompt\na,b,c\n", "p.csv", r"p\.csv:2: more fields than the header has"),
        (
            '{"prompt": "ok"}\n{"prompt": "bad \\ud800 text"}\n',
            "p.jsonl",
            r"p\.jsonl:2: 'prompt' holds a lone",
        ),
        (
            '{"prompt": "ok", "reference": ["fine", "\\udfff"]}\n',
            "p.jsonl",
            r"p\.jsonl:1: 'reference' holds a lone surrogate \(\\udfff\)",
        ),
        (
            '{"messages": [{"role": "user", "content": "\\ud83d"}]}\n',
            "p.jsonl",
            r"p\.jsonl:1: 'messages' holds a lone surrogate \(\\ud83d\)",
        ),
        ('[{"prompt": "ok"}, {"prompt": "\\ud800"}]', "p.json", r"p\.json\[1\]: 'prompt' holds a lone"),
    ],
)
def test_bad_quotes_and_lone_surrogates_name_the_line(
    tmp_path: Path, content: str, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PromptSetError, match=message):
        load_prompt_set(path)


def test_good_csv_quoting_and_line_endings_still_load(tmp_path: Path) -> None:
    table = tmp_path / "p.csv"
    table.write_text('id,prompt\na,"two\nlines, ""quoted"""\n\nb,say ""hi"" plainly\n')
    items = load_prompt_set(table).items
    assert [(i.id, i.turns[0]) for i in items] == [("a", 'two\nlines, "quoted"'), ("b", 'say ""hi"" plainly')]
    assert [i.line for i in items] == [2, 5]  # the line each row starts on
    for ending in ("\r\n", "\r"):
        table.write_bytes(ending.join(["id,prompt", 'a,"x' + ending + 'y"', "b,z", ""]).encode())
        items = load_prompt_set(table).items
        assert [(i.id, i.turns[0]) for i in items] == [("a", f"x{ending}y"), ("b", "z")]
    # A prompt longer than the csv module's default field limit (128 KiB) is not an error.
    table.write_text('prompt\n"' + "long " * 30_000 + '"\n')
    assert len(load_prompt_set(table).items[0].turns[0]) == 150_000
    # A valid surrogate pair is one character (an emoji), not an error.
    emoji = tmp_path / "e.jsonl"
    emoji.write_text('{"prompt": "smile \\ud83d\\ude00"}\n')
    assert load_prompt_set(emoji).items[0].turns == ["smile \U0001f600"]


def test_bad_prompt_files_on_the_command_line_exit_2(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    table = tmp_path / "p.csv"
    table.write_text('id,prompt\na,first\nb,"second\nc,third\n')
    surrogate = tmp_path / "s.jsonl"
    surrogate.write_text('{"prompt": "fine"}\n{"prompt": "\\ud800"}\n')
    for path, where in ((table, "p.csv:3: "), (surrogate, "s.jsonl:2: ")):
        result = run_cli("run", "--headless", "--prompts", str(path), "--session", str(tmp_path / "s"))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and where in lines[0] and "Traceback" not in result.stderr, result.stderr
        assert not (tmp_path / "s").exists()
