"""The test groups: every test file is of exactly one kind (unit, console, cli, e2e), each
kind is a registered marker, and the kind reaches each test, so `pytest -m console` runs
the console tests and nothing else (tests/README.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import KINDS

HERE = Path(__file__).resolve().parent


def test_every_test_file_is_of_exactly_one_kind() -> None:
    listed = Counter(name for names in KINDS.values() for name in names)
    files = {path.name for path in HERE.glob("test_*.py")}
    assert sorted(files - set(listed)) == [], "add these to a kind in tests/conftest.py KINDS"
    assert sorted(set(listed) - files) == [], "listed in KINDS but not in tests/"
    assert [name for name, count in listed.items() if count > 1] == [], "in more than one kind"


def test_each_kind_is_a_registered_marker(pytestconfig: pytest.Config) -> None:
    registered = {line.split(":")[0].strip() for line in pytestconfig.getini("markers")}
    assert set(KINDS) <= registered, "list the kind in pyproject's [tool.pytest.ini_options] markers"


def test_a_test_carries_its_files_kind(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert [kind for kind in KINDS if request.node.get_closest_marker(kind)] == ["unit"]
