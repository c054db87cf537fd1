"""Rubric files: the default, remapped keys, and clear errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sftscope.scorers.rubric import DEFAULT_RUBRIC, RubricError, load_rubric

from tests.conftest import run_cli


def test_default_rubric_covers_the_masterclass_goals() -> None:
    kinds = {c.name: c.kind for c in DEFAULT_RUBRIC.criteria}
    assert kinds == {
        "helpfulness": "likert",
        "instruction_following": "likert",
        "harmless": "binary",
        "format": "binary",
    }
    assert DEFAULT_RUBRIC.auto_advance is True
    assert DEFAULT_RUBRIC.keys["undo"] == "u" and DEFAULT_RUBRIC.keys["reveal"] == "v"


def test_a_full_rubric(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        "auto_advance = false\n"
        '[[criteria]]\nname = "accuracy"\nkind = "likert"\nmin = 0\nmax = 9\ndescription = "Is it right?"\n'
        '[[criteria]]\nname = "refusal"\nkind = "binary"\n'
        '[[criteria]]\nname = "issues"\nkind = "tags"\ntags = ["verbose", "hallucination"]\n'
        '[[criteria]]\nname = "notes"\nkind = "note"\n'
        '[keys]\nundo = "z"\nnext_item = "l"\n'
    )
    rubric = load_rubric(path)
    assert [c.name for c in rubric.criteria] == ["accuracy", "refusal", "issues", "notes"]
    assert rubric.criteria[0].min == 0 and rubric.criteria[0].max == 9
    assert rubric.criteria[2].tags == ("verbose", "hallucination")
    assert not rubric.criteria[3].required
    assert rubric.keys["undo"] == "z" and rubric.keys["next_item"] == "l" and rubric.keys["skip"] == "s"
    assert rubric.auto_advance is False
    assert rubric.criteria[0].accepts(9) and not rubric.criteria[0].accepts(10)
    assert rubric.criteria[1].accepts(True) and not rubric.criteria[1].accepts(1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[criteria]]\nname = "a"\nkind = "stars"\n', r"r\.toml:3: unknown kind 'stars'"),
        ('[[criteria]]\nname = "a"\n[[criteria]]\nname = "a"\n', r"r\.toml:4: duplicate criterion name 'a'"),
        ('[[criteria]]\nname = "a"\nmin = 5\nmax = 1\n', r"r\.toml:2: min 5 > max 1"),
        ('[[criteria]]\nname = "a"\nmax = 10\n', r"r\.toml:2: 'a' ranges 1-10"),
        (
            '[[criteria]]\nname = "a"\n[keys]\nundo = "s"\n',
            r"r\.toml:4: key 's' is bound twice \(undo and skip\)",
        ),
        ('[[criteria]]\nname = "a"\n[keys]\nflag = "3"\n', r"r\.toml:4: '3' is a score key"),
        ('[[criteria]]\nname = "a"\n[keys]\nfly = "w"\n', r"r\.toml:4: unknown action 'fly'"),
        ('[[criteria]]\nname = "a"\nkind = "tags"\n', r"r\.toml:2: tags criterion 'a' needs"),
        ("auto_advance = true\n", r"r\.toml: a rubric needs at least one"),
        ('colour = 1\n[[criteria]]\nname = "a"\n', r"r\.toml:1: unknown setting 'colour'"),
        ("[[criteria]\n", r"r\.toml: "),
    ],
)
def test_bad_rubrics_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RubricError, match=message):
        load_rubric(path)


def test_bad_rubric_on_the_command_line_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[criteria]]\nname = "a"\nkind = "stars"\n')
    result = run_cli("run", "--rubric", str(path), "--session", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"sftscope: error: {path}:3: unknown kind 'stars' for 'a' "
        "(expected one of likert, binary, tags, note)"
    ]
    missing = run_cli("run", "--rubric", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "rubric file not found" in missing.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[criteria]]\nname = "a"\n[keys]\nundo = "banana split"\n',
            r"r\.toml:4: key 'banana split' for 'undo': not a key name",
        ),
        ('[[criteria]]\nname = "a"\n[keys]\nundo = "hyper+ctrl+nope"\n', r"r\.toml:4: .*not a key name"),
        ('[[criteria]]\nname = "a"\n[keys]\nundo = "cmd+z"\n', r"r\.toml:4: .*unknown modifier 'cmd'"),
        ('[[criteria]]\nname = "a"\n[keys]\nundo = "z,x"\n', r"r\.toml:4: key 'z,x' for 'undo'"),
        ('[[criteria]]\nname = "a"\n[keys]\nundo = ","\n', r"r\.toml:4: .*use 'comma'"),
        ('[[criteria]]\nname = "a"\n[keys]\nundo = " "\n', r"r\.toml:4: .*use 'space'"),
        (
            '[[criteria]]\nname = "a"\n[keys]\nundo = "?"\n',  # `?` is question_mark, help's key
            r"r\.toml:4: key 'question_mark' is bound twice \(undo and help\)",
        ),
        (
            '[[criteria]]\nname = "a"\nkind = "tags"\ntags = ["verbose", "refusal", "verbose"]\n',
            r"r\.toml:4: tag 'verbose' is listed twice in 'a'",
        ),
        ('[[criteria]]\nname = "a"\nkind = "tags"\ntags = ["ok", 5]\n', r"r\.toml:4: every tag of 'a'"),
        (
            '[[criteria]]\nname = "a"\n\n[[criteria]]\nname = "b"\nkind = "binary"\ncolour = "red"\n',
            r"r\.toml:7: unknown key 'colour' in criterion 'b' \(expected name, kind",
        ),
        ('[[criteria]]\nname = "a"\nmaximum = 7\n', r"r\.toml:3: unknown key 'maximum' in criterion 'a'"),
    ],
)
def test_bad_keys_tags_and_criterion_keys_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RubricError, match=message):
        load_rubric(path)


def test_textual_key_names_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[[criteria]]\nname = "a"\n[keys]\nundo = "ctrl+z"\nnext_item = "l"\nprev_item = "H"\n'
        'flag = "f12"\nhelp = "?"\nskip = "shift+right"\nstop = "escape"\nreveal = "space"\n'
        'comment = "full_stop"\nquit = "pageup"\n'
    )
    keys = load_rubric(path).keys
    assert keys["undo"] == "ctrl+z" and keys["help"] == "?" and keys["comment"] == "full_stop"


def test_a_bad_key_name_on_the_command_line_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[criteria]]\nname = "a"\n\n[keys]\nundo = "banana split"\n')
    result = run_cli("run", "--headless", "--rubric", str(path), "--session", str(tmp_path / "s"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"sftscope: error: {path}:5: key 'banana split' for 'undo': not a key name")
