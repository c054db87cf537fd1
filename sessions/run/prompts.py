"""Prompt sets in: JSONL, a JSON array or CSV, in the forms people already have.

Every form becomes an `Item`: a message prefix (system text, earlier turns) and
one or more user turns to answer in order. MT-Bench's second turn is asked after
the model's own first answer, so turns are kept apart rather than flattened.
Errors name the file and line, because a 541-line file with one bad line should
take seconds to fix, not a bisection.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sftscope.sessions.core.item import Item

BUILTIN = "builtin"


class PromptSetError(Exception):
    """A prompt set cannot be read: one line naming the file (and line)."""


@dataclass
class PromptSet:
    items: list[Item]
    path: str
    sha256: str


def load_prompt_set(path: str | Path | None) -> PromptSet:
    """Load a prompt file, or the built-in set when `path` is None or 'builtin'."""
    if path is None or str(path) == BUILTIN:
        data = resources.files("sftscope.sessions.run").joinpath("data/default_prompts.jsonl").read_bytes()
        items = _parse_jsonl(data.decode("utf-8"), "builtin:default_prompts.jsonl")
        return PromptSet(items, BUILTIN, hashlib.sha256(data).hexdigest())
    file = Path(path)
    if not file.exists():
        raise PromptSetError(f"{file}: prompts file not found")
    if file.is_dir():
        raise PromptSetError(f"{file}: is a directory, not a prompts file")
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptSetError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise PromptSetError(f"{file}: prompts file is empty")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        items = _parse_csv(text, str(file))
    elif suffix == ".json" or (suffix != ".jsonl" and text.lstrip().startswith("[")):
        items = _parse_json_array(text, str(file))
    else:
        items = _parse_jsonl(text, str(file))
    if not items:
        raise PromptSetError(f"{file}: no prompts found")
    _check_unique(items, str(file))
    return PromptSet(items, str(file.resolve()), hashlib.sha256(raw).hexdigest())


def _parse_jsonl(text: str, name: str) -> list[Item]:
    items: list[Item] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptSetError(f"{name}:{number}: not valid JSON ({exc.msg})") from None
        items.append(item_from_record(record, len(items) + 1, f"{name}:{number}", number))
    return items


def _parse_json_array(text: str, name: str) -> list[Item]:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptSetError(f"{name}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(records, list):
        raise PromptSetError(f"{name}: expected a JSON array of prompts")
    return [
        item_from_record(record, index, f"{name}[{index - 1}]", index)
        for index, record in enumerate(records, start=1)
    ]


def _parse_csv(text: str, name: str) -> list[Item]:
    _check_csv_quotes(text, name)
    # No field can be longer than the file: a long-context prompt is not an error.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    # newline="": the csv module sees every line ending (\r\n, \r, \n) itself, as its docs ask.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or "prompt" not in header:
            raise PromptSetError(f"{name}:1: CSV needs a 'prompt' column")
        items: list[Item] = []
        end = reader.line_num
        for row in reader:
            number, end = end + 1, reader.line_num  # the line the row starts on
            if not row:
                continue
            if len(row) > len(header):
                raise PromptSetError(f"{name}:{number}: more fields than the header has")
            record = {k: v for k, v in zip(header, row, strict=False) if v != ""}
            items.append(item_from_record(record, len(items) + 1, f"{name}:{number}", number))
    except csv.Error as exc:
        raise PromptSetError(f"{name}:{reader.line_num}: not valid CSV ({exc})") from None
    return items


_LINE_END = re.compile(r"\r\n|\r|\n")
_UNQUOTED = re.compile(r"[^,\r\n]*")


def _check_csv_quotes(text: str, name: str) -> None:
    """Find a quote that never closes, or one closed too early, and name the line it opened on.

    The csv module (not strict) reads an unterminated quote to the end of the file, or to the
    next lone quote, silently folding the rows after it into one field. This walks the fields
    as the csv module's default dialect does, one field at a time.
    """

    def line_of(position: int) -> int:
        return len(_LINE_END.findall(text, 0, position)) + 1

    position, size = 0, len(text)
    while position < size:
        if text[position] == '"':  # a quoted field: find its closing quote ("" is an escaped one)
            opened = position
            position += 1
            while True:
                close = text.find('"', position)
                if close == -1:
                    raise PromptSetError(
                        f"{name}:{line_of(opened)}: a quoted field opens here and is never closed "
                        "(unterminated quote)"
                    )
                if text.startswith('"', close + 1):
                    position = close + 2
                    continue
                position = close + 1
                break
            if position < size and text[position] not in ",\r\n":
                raise PromptSetError(
                    f"{name}:{line_of(opened)}: the quoted field opened here is followed by text after "
                    f"its closing quote on line {line_of(position)} (an unbalanced quote?)"
                )
        else:  # an unquoted field runs to the next comma or line end; quotes inside it are text
            match = _UNQUOTED.match(text, position)
            position = match.end() if match else position
        position += 1  # the comma or line end (\r\n: the \n is an empty field start, harmless)


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise PromptSetError(f"{where}: '{key}' must be a string")
    if not value.strip():
        raise PromptSetError(f"{where}: '{key}' is empty")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> str | None:
    """The escape of the first lone surrogate (JSON's "\\ud800") anywhere in `value`, else None.

    JSON joins a valid pair into one character, so a surrogate left in a str is always a lone
    one; it could not be encoded to send to a model, save or export.
    """
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return f"\\u{ord(found.group()):04x}" if found else None
    if isinstance(value, dict):
        return next((s for k, v in value.items() if (s := _lone_surrogate(k) or _lone_surrogate(v))), None)
    if isinstance(value, list):
        return next((s for v in value if (s := _lone_surrogate(v))), None)
    return None


def item_from_record(record: Any, position: int, where: str, line: int) -> Item:
    """Turn one record of any supported form into an Item, or say why not."""
    if not isinstance(record, dict):
        raise PromptSetError(f"{where}: expected a JSON object")
    for key, value in record.items():
        surrogate = _lone_surrogate(key) or _lone_surrogate(value)
        if surrogate:
            raise PromptSetError(
                f"{where}: {key!r} holds a lone surrogate ({surrogate}), which is not valid Unicode text"
            )
    common: dict[str, Any] = {
        "reference": record.get("reference"),
        "category": record.get("category"),
        "checks": record.get("checks"),
        "line": line,
    }
    if "turns" in record:  # MT-Bench
        turns = record["turns"]
        if not isinstance(turns, list) or not turns:
            raise PromptSetError(f"{where}: 'turns' must be a non-empty list of strings")
        turns = [_text(t, where, "turns") for t in turns]
        ident = record.get("id", record.get("question_id", position))
        return Item(id=str(ident), turns=turns, form="mt-bench", **common)
    if "instruction_id_list" in record:  # IFEval
        prompt = _text(record.get("prompt"), where, "prompt")
        ids = record["instruction_id_list"]
        kwargs = record.get("kwargs") or [{} for _ in ids]
        if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
            raise PromptSetError(f"{where}: 'instruction_id_list' and 'kwargs' must be lists of equal length")
        ident = record.get("id", record.get("key", position))
        return Item(id=str(ident), turns=[prompt], form="ifeval", instructions=ids, kwargs=kwargs, **common)
    if "messages" in record:  # chat
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            raise PromptSetError(f"{where}: 'messages' must be a non-empty list")
        clean: list[dict[str, str]] = []
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise PromptSetError(f"{where}: each message needs a role of system, user or assistant")
            clean.append(
                {"role": message["role"], "content": _text(message.get("content"), where, "content")}
            )
        if clean[-1]["role"] == "assistant":
            # A chat record with the gold answer: the answer becomes the reference.
            if common["reference"] is None:
                common["reference"] = clean[-1]["content"]
            clean = clean[:-1]
        if not clean or clean[-1]["role"] != "user":
            raise PromptSetError(f"{where}: the conversation must end with a user message")
        ident = record.get("id", position)
        return Item(id=str(ident), turns=[clean[-1]["content"]], prefix=clean[:-1], form="chat", **common)
    if "instruction" in record:  # Alpaca
        instruction = _text(record["instruction"], where, "instruction")
        extra = record.get("input")
        prompt = f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
        if common["reference"] is None and isinstance(record.get("output"), str):
            common["reference"] = record["output"]
        ident = record.get("id", position)
        return Item(id=str(ident), turns=[prompt], form="alpaca", **common)
    if "prompt" in record:
        prompt = _text(record["prompt"], where, "prompt")
        prefix = []
        if isinstance(record.get("system"), str) and record["system"].strip():
            prefix = [{"role": "system", "content": record["system"]}]
        ident = record.get("id", position)
        return Item(id=str(ident), turns=[prompt], prefix=prefix, form="prompt", **common)
    raise PromptSetError(
        f"{where}: no prompt found (expected 'prompt', 'instruction', 'messages', 'turns' "
        "or IFEval's 'instruction_id_list')"
    )


def _check_unique(items: list[Item], name: str) -> None:
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            raise PromptSetError(
                f"{name}:{item.line}: duplicate id {item.id!r} (first on line {seen[item.id]})"
            )
        seen[item.id] = item.line
