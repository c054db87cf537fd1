"""Files sftscope writes: strict JSONL, formula-safe CSV, and atomic replacement.

What is written is safe to open: JSON is strict (a NaN or infinity, which no log holds but
a row from elsewhere might, is written as null), and a CSV cell that a spreadsheet would
run as a formula (it starts with =, +, -, @, a tab or a carriage return) is written with a
leading `'`, as OWASP advises, unless the caller asks for the raw text (`--csv-raw`). Run
exports, comparison exports and reports all write through here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from sftscope.sessions.core.store import finite_json


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    """One JSON object per line, non-ASCII as UTF-8, floats written as Python writes them.

    orjson writes the rows of a large session in half the time json.dumps takes (compact:
    no space after `,` and `:`). A row it cannot write (an integer past 64 bits, a lone
    surrogate) or would write otherwise (NaN, a float below 1e-4) is written by json.dumps
    with the same separators.
    """
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    lines = []
    for row in rows:
        try:
            line = dumps(row, option=option)
        except TypeError:
            line = None
        # Checked after orjson took the row: it refuses cycles and nesting past 254 levels.
        if line is None or not _orjson_writes_as_json(row):
            text = _strict_dumps(row, separators=(",", ":")) + "\n"
            line = text.encode("utf-8", "surrogatepass")
        lines.append(line)
    data = b"".join(lines)
    del lines
    return data.decode("utf-8", "surrogatepass")


def _orjson_writes_as_json(row: dict[str, Any]) -> bool:
    """Whether orjson writes every value in `row` as json.dumps does. It does not for
    NaN and infinity (null), nor for floats below 1e-4 (1e-05 as 0.00001, 1e-06 as 1e-6)."""
    stack: list[Any] = [row]
    pop, extend, plain, inf = stack.pop, stack.extend, _PLAIN, math.inf
    while stack:
        value = pop()
        kind = type(value)
        if kind in plain:
            continue
        if kind is dict:
            extend(value.values())
        elif kind is list:
            extend(value)
        elif kind is float:
            if not (value == 0.0 or 1e-4 <= abs(value) < inf):
                return False
        else:  # a tuple, a subclass, ...: json.dumps decides
            return False
    return True


_PLAIN = frozenset((str, int, bool, type(None)))


def _strict_dumps(value: Any, **options: Any) -> str:
    """json.dumps, never writing a bare NaN or Infinity (not JSON): they become null."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        return json.dumps(finite_json(value), ensure_ascii=False, **options)


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP, "CSV Injection"): `=HYPERLINK(...)` in a model's answer would run when opened.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading `'` before a formula's first character."""
    return "'" + text if text.startswith(FORMULA_START) else text


# A column name's part is made of word characters (letters, digits, `_`); any other run of
# characters (`:`, `[`, `'`, a space, a `.`, which would split `judge.NAME.CRITERION`) is one `_`.
_UNSAFE = re.compile(r"[^\w]+")


def safe_names(names: Iterable[str]) -> dict[str, str]:
    """Each name as a part of a column name (`check.NAME`, `judge.NAME.CRITERION`) a data
    frame can hold as an identifier: `contains:['def', 'return']` becomes `contains_def_return`.

    Runs of characters other than letters, digits and `_` become one `_`, and `_` is
    trimmed at both ends (nothing left: `name`). A name that is already safe keeps itself.
    When several names come out the same, each one that changed gets `_` and the first 8
    hex digits of its SHA-1: they stay distinct, and the suffix depends on the name alone
    (not on the order the names come in).
    """
    unique = list(dict.fromkeys(str(name) for name in names))
    base = {name: _UNSAFE.sub("_", name).strip("_") or "name" for name in unique}
    count: dict[str, int] = {}
    for name in unique:
        count[base[name]] = count.get(base[name], 0) + 1
    taken = {name for name in unique if base[name] == name}
    out = {}
    for name in unique:
        safe = base[name]
        if safe != name and count[safe] > 1:
            digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()
            width = 8
            while f"{safe}_{digest[:width]}" in taken:
                width += 4
            safe = f"{safe}_{digest[:width]}"
        taken.add(safe)
        out[name] = safe
    return out


def to_csv(rows: list[dict[str, Any]], columns: list[str], *, raw: bool = False) -> str:
    """Nested values (transcript, scores) and true/false are JSON inside their cell. Every
    cell that starts like a formula gets a leading `'` (safe_cell) unless `raw`; a number
    is written as it is (-3 is a number to a spreadsheet, not a formula)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writerow({key: key if raw else safe_cell(key) for key in columns})
    for row in rows:
        flat = {}
        for key in columns:
            value = row.get(key)
            if isinstance(value, (dict, list, bool)):  # JSON in the cell: true/false, not True/False
                value = _strict_dumps(value)
            elif isinstance(value, float) and not math.isfinite(value):
                value = None  # strict: an empty cell, never "nan"
            if value is None:
                value = ""
            elif isinstance(value, str) and not raw:
                value = safe_cell(value)
            flat[key] = value
        writer.writerow(flat)
    return buffer.getvalue()


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file in the same folder and os.replace,
    so a reader (a browser, a second scp) never sees half a page."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
