"""Starting or resuming a run: prompts, session directory, engine, header.

Shared by the headless command and the console so both open sessions the same
way. Order matters for clear errors: everything that can be checked cheaply
(prompts file, engine spec, model file) is checked before a directory is made
or a model is loaded.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.base import Engine, SamplingParams
from engines.registry import load_engine, parse_spec
from sessions.prompts import Item, load_prompt_set
from sessions.runner import Runner
from sessions.store import SessionStore, read_header
from sessions.version import VERSION


class LaunchError(Exception):
    """Options that contradict each other or the session being resumed."""


@dataclass
class Launch:
    store: SessionStore
    engine: Engine
    runner: Runner
    resumed: bool
    directory: Path


def default_session_dir(model: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model).stem or model).strip("-")[:60] or "model"
    return Path("sftscope-sessions") / f"{stamp}-{slug}"


def _params(options: dict[str, Any]) -> SamplingParams:
    return SamplingParams(
        max_tokens=int(options["max_tokens"]),
        temperature=float(options["temperature"]),
        top_p=float(options["top_p"]),
        seed=options["seed"],
    )


def _engine_options(options: dict[str, Any]) -> dict[str, Any]:
    out = {
        "n_ctx": options["n_ctx"],
        "threads": options["threads"],
        "prompt_template": options["prompt_template"],
        "api_key_env": options["api_key_env"],
        "speed": options["speed"],
    }
    if options.get("concurrency"):
        out["concurrency"] = options["concurrency"]
    return out


async def prepare(options: dict[str, Any]) -> Launch:
    """Open (or resume) the session and start its engine. Raises one-line errors."""
    given: set[str] = options.get("_given", set())
    directory = Path(options["session"]) if options.get("session") else None
    header: dict[str, Any] | None = None
    if directory is not None and (directory / "session.toml").exists():
        header = read_header(directory)

    if header is not None:
        spec_text = header.get("engine", {}).get("requested")
        if "engine" in given and options["engine"] != spec_text:
            raise LaunchError(
                f"--engine {options['engine']}: session {directory} was made with {spec_text}; "
                "start a new --session to use another engine"
            )
        for key in ("max_tokens", "temperature", "top_p", "seed", "system"):
            if key in given and options[key] != header.get("params", {}).get(key, header.get(key)):
                recorded = header.get("params", {}).get(key, header.get(key))
                raise LaunchError(
                    f"--{key.replace('_', '-')} {options[key]}: session {directory} was made with "
                    f"{recorded}; start a new --session to change it"
                )
        params = SamplingParams(**header.get("params", {}))
        system = header.get("system")
        items: list[Item] | None = None
        if "prompts" in given:
            prompt_set = load_prompt_set(options["prompts"])
            if prompt_set.sha256 != header.get("prompts", {}).get("sha256"):
                raise LaunchError(
                    f"--prompts {options['prompts']}: differs from the prompt set session {directory} "
                    "was made with; start a new --session"
                )
        spec = parse_spec(spec_text)
        prompt_info = header.get("prompts", {})
    else:
        prompt_set = load_prompt_set(options.get("prompts"))
        items = prompt_set.items
        spec_text = options.get("engine")
        spec = parse_spec(spec_text)
        params = _params(options)
        system = options.get("system")
        prompt_info = {"path": prompt_set.path, "sha256": prompt_set.sha256, "count": len(items)}
        if directory is None:
            directory = default_session_dir(spec.target.partition("#")[2] or spec.target)

    if (
        header is None
        and directory.exists()
        and (
            not directory.is_dir()
            or any(p.name not in ("session.lock", "events.jsonl") for p in directory.iterdir())
        )
    ):
        raise LaunchError(f"--session {directory}: exists and is not a session directory")
    engine = load_engine(spec, **_engine_options(options))
    created = not directory.exists()
    store = SessionStore(directory)
    store.open(create=True)
    try:
        if store.warnings:
            for warning in store.warnings:
                print(f"sftscope: warning: {warning}", flush=True)
        await engine.start()
        if header is None:
            store.update_header(
                format_version=1,
                sftscope_version=VERSION,
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                status="running",
                engine={"requested": spec_text or "bundled", **engine.info.to_dict()},
                params={k: v for k, v in params.to_dict().items() if v is not None},
                system=system,
                prompts=prompt_info,
            )
        else:
            store.update_header(status="running")
    except BaseException:
        store.close()
        if created and header is None:
            _remove_empty(directory)
        raise
    runner = Runner(
        store,
        engine,
        params,
        system=system,
        concurrency=options.get("concurrency"),
        batch_size=_batch_size(options, engine),
    )
    if items is not None:
        runner.add_items(items)
    return Launch(store, engine, runner, header is not None, directory)


def _batch_size(options: dict[str, Any], engine: Engine) -> int:
    if options.get("batch_size"):
        return int(options["batch_size"])
    if (
        options.get("headless")
        and engine.info.device.startswith("cuda")
        and hasattr(engine, "generate_batch")
    ):
        return 16
    return 1


def _remove_empty(directory: Path) -> None:
    """A session that never started leaves no directory behind."""
    try:
        for name in ("session.lock", "events.jsonl"):
            path = directory / name
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        directory.rmdir()
    except OSError:
        pass
