"""Starting or resuming a run: prompts, rubric, session directory, engine, header.

Shared by the headless command and the console so both open sessions the same
way. Two phases, so that every cheap check (prompts file, rubric, engine spec,
model file, session lock) fails with one line before a console opens, while the
slow part (loading the model) runs behind the console's first paint:

    launch = open_run(config)   # a RunConfig: validate, lock; raises one-line errors
    await launch.start()        # load the model, write the header, register items
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftscope.engines.base import Engine, EngineError, SamplingParams
from sftscope.engines.registry import EngineSpec, load_engine, parse_spec
from sftscope.scorers.rubric import Rubric, load_rubric
from sftscope.sessions.core.assignment import Assignment, AssignmentError, assigned_queue
from sftscope.sessions.core.inert import inert_line
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.state import audit_order
from sftscope.sessions.core.store import (
    SessionError,
    SessionStore,
    check_labels,
    lock_holder,
    paused_gc,
    read_header,
)
from sftscope.sessions.core.version import VERSION
from sftscope.sessions.run.config import ORDERS, ConfigError, RunConfig
from sftscope.sessions.run.generator import Generator
from sftscope.sessions.run.judging import JudgePool
from sftscope.sessions.run.prompts import load_prompt_set

if TYPE_CHECKING:
    from sftscope.sessions.run.replay import Playback


class LaunchError(Exception):
    """Options that contradict each other or the session being resumed."""


@dataclass
class Launch:
    store: SessionStore
    engine: Engine
    session: Session
    generator: Generator
    pool: JudgePool
    rubric: Rubric
    resumed: bool
    directory: Path
    # A new session's header, written by start(); on resume, what start() changes in it.
    header: dict[str, Any] = field(default_factory=dict)
    items: list[Item] | None = None
    created: bool = False
    started: bool = False
    config: RunConfig = field(default_factory=RunConfig)
    # A saved session played again (`sftscope replay`): what the console plays instead of
    # the Generator. The console never asks which it has; the differences are said here.
    playback: Playback | None = None

    @property
    def source(self) -> Generator | Playback:
        """What the console plays: the live Generator, or the Playback of the session's fold."""
        return self.playback if self.playback is not None else self.generator

    @property
    def saved(self) -> dict[str, Any]:
        """The session's header: as on disk once written, else as it is about to be."""
        return self.store.header or self.header

    @property
    def order(self) -> str:
        """How items are presented: "shuffled" (the seeded random audit order) or "file",
        as saved in session.toml; a session written before issue 17 has no key: "file"."""
        order = self.saved.get("order", "file")
        return order if order in ORDERS else "file"

    def walk(self) -> list[str]:
        """The item ids in the order the console presents them (and generates ahead in):
        the seeded random order of a shuffled session (its --seed), else prompt-set order.
        Exports and reports keep prompt-set order."""
        ids = [s.item.id for s in self.session.state.ordered()]
        if self.order == "shuffled":
            seed = (self.saved.get("params") or {}).get("seed", 0)
            ids = audit_order(ids, seed if isinstance(seed, int) else 0)
        return assigned_queue(ids, self.assigned_items())  # an assigned rater's items first

    def assigned_items(self) -> frozenset[str]:
        """The items the session's [assignment] gives this console's rater (none without
        one, or for a rater it does not name)."""
        try:
            assignment = Assignment.from_header(self.saved)
        except AssignmentError:
            return frozenset()  # refused when the session is opened (check_resume)
        if assignment is None or self.session.rater is None:
            return frozenset()
        return assignment.items_of(self.session.rater, self.session.state.items)

    @property
    def regenerates(self) -> bool:
        """An answer can be asked for again (`r`): not a recorded one."""
        return self.playback is None

    @property
    def badge(self) -> str:
        """How the console's header names what it plays when it is not a live run."""
        return "replay" if self.playback is not None else ""

    async def start(self) -> None:
        """Load the model, write (or refresh) the header, register the prompt set."""
        try:
            await self.engine.start()
            for judge in self.pool.judges:
                await judge.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.engine.close()
                for judge in self.pool.judges:
                    await judge.close()
            self.session.close_rater()
            self.store.close()
            if self.created:
                _remove_empty(self.directory)
            raise
        judges = [judge.info() for judge in self.pool.judges]  # specs and models, never keys
        # The probe rate stays with the session, so a resume goes on probing at it.
        probes = {"probe_rate": self.probe_rate} if self.probe_rate > 0 else {}
        if self.store.read_only:
            # A replay of a session on a read-only disk: watched as saved, nothing written
            # (refreshing the header here made the console exit 2 before it opened).
            self.started = True
            return
        if not self.resumed:
            self.header["engine"] = {**self.header.get("engine", {}), **self.engine.info.to_dict()}
            self.store.update_header(**self.header, judges=judges, **probes)
        else:
            self.store.update_header(
                status="running", rubric=self.rubric.to_dict(), judges=judges, **probes, **self.header
            )
        self.pool.catch_up()  # finished answers not yet checked or judged
        if self.items is not None:
            self.session.add_items(self.items)
        self.generator.set_order(self.walk())
        # The device is known only once the model is loaded (hf picks CUDA when present).
        self.generator.batch_size = _batch_size(self.config, self.engine)
        self.started = True

    async def close(self, status: str, *, free_models: bool = True) -> list[str]:
        """Stop, then save: the status goes into the header and the lock is released
        before any model is freed, so quitting never waits on a model. Returns the
        writes that failed (disk full at exit), as lines to show."""
        self.stop()
        self.session.close_rater()
        problems = self.store.close(status=status)
        if free_models:
            for closer in (self.engine.close, *(judge.close for judge in self.pool.judges)):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(closer(), timeout=5.0)
        return problems

    @property
    def probe_rate(self) -> float:
        """`--probe-rate` when given, else the rate the session was started with; none on a
        replay (a probe asks about an answer being generated, not one watched again)."""
        if self.playback is not None:
            return 0.0
        if "probe_rate" in self.config.given:
            return self.config.probe_rate
        saved = self.store.header.get("probe_rate")
        return float(saved) if isinstance(saved, (int, float)) and 0 <= saved <= 1 else self.config.probe_rate

    def stop(self) -> None:
        """Stop generating and judging, and write nothing more (quit, a signal)."""
        self.generator.stop()  # cancels the pool's judges too
        if self.playback is not None:
            self.playback.stop()
        self.session.detach()


def parse_source(spec_text: str | None) -> EngineSpec:
    """An engine spec, or `replay:SESSION_DIR`: a saved session played as a source
    (sessions' own business, so engines never read a session)."""
    if spec_text and spec_text.startswith("replay:"):
        target = spec_text.partition(":")[2]
        if not target:
            raise EngineError(f"--engine {spec_text!r}: missing the session after 'replay:'")
        return EngineSpec("replay", target)
    return parse_spec(spec_text)


def open_source(spec: EngineSpec, config: RunConfig) -> Engine:
    if spec.scheme == "replay":
        from sftscope.sessions.run.replay import ReplaySource

        return ReplaySource(spec.target, speed=config.speed)
    return load_engine(spec, **config.engine_options())


def default_session_dir(model: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model).stem or model).strip("-")[:60] or "model"
    return Path("sftscope-sessions") / f"{stamp}-{slug}"


def open_run(config: RunConfig, *, engine: Engine | None = None) -> Launch:
    """Validate everything cheap and lock the session. `engine` overrides the spec (tests)."""
    directory = Path(config.session) if config.session else None
    header: dict[str, Any] | None = None
    if directory is not None and (directory / "session.toml").exists():
        header = read_header(directory)
        if header.get("kind") == "comparison":
            raise LaunchError(
                f"--session {directory}: is a comparison, not a run session; "
                f"resume it with sftscope compare --session {directory}"
            )

    items: list[Item] | None = None
    if header is not None:
        spec_text = header.get("engine", {}).get("requested")
        try:
            config.check_resume(header, directory)
            panels = config.session_panels(header)  # its saved judges count as known
        except ConfigError as exc:
            raise LaunchError(str(exc)) from None
        if "prompts" in config.given and config.prompts:
            prompt_set = load_prompt_set(config.prompts)
            if prompt_set.sha256 != header.get("prompts", {}).get("sha256"):
                raise LaunchError(
                    f"--prompts {config.prompts}: differs from the prompt set session {directory} "
                    "was made with; start a new --session"
                )
        params = SamplingParams(**header.get("params", {}))
        system = header.get("system")
        if config.rubric:
            rubric = load_rubric(config.rubric)
        elif header.get("rubric"):
            rubric = Rubric.from_dict(header["rubric"])
        else:
            rubric = load_rubric(None)
        spec = parse_source(spec_text)
    else:
        try:
            panels = config.session_panels(None)
        except ConfigError as exc:
            raise LaunchError(str(exc)) from None
        prompt_set = load_prompt_set(config.prompts)
        items = prompt_set.items
        assignment = config.assignment
        if assignment is not None:
            try:
                assignment.check_items(len(items))
            except AssignmentError as exc:
                raise LaunchError(str(exc)) from None
        rubric = load_rubric(config.rubric)
        spec_text = config.engine
        spec = parse_source(spec_text)
        params = config.params
        system = config.system
        if directory is None:
            directory = default_session_dir(spec.target.partition("#")[2] or spec.target)
        if directory.exists() and (
            not directory.is_dir()
            or any(p.name not in ("session.lock", "events.jsonl", "ratings") for p in directory.iterdir())
        ):
            raise LaunchError(f"--session {directory}: exists and is not a session directory")
        log = directory / "events.jsonl"
        if log.exists() and log.stat().st_size > 0:
            # A log without its header: never start afresh on top of it (that merged the
            # old items into a new session on another prompt set).
            raise LaunchError(
                f"--session {directory}: has events.jsonl but no session.toml (damaged or "
                "incomplete); restore session.toml, or move the directory aside and start afresh"
            )
        header = {
            "format_version": 1,
            "sftscope_version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": "running",
            "engine": {"requested": spec_text or "bundled"},
            "params": {k: v for k, v in params.to_dict().items() if v is not None},
            "system": system,
            "prompts": {"path": prompt_set.path, "sha256": prompt_set.sha256, "count": len(items)},
            "rubric": rubric.to_dict(),
            "order": config.order,
            "assignment": assignment.to_header() if assignment is not None else None,
            "panels": [panel.to_dict() for panel in panels] or None,  # derived when read
        }
        header = {k: v for k, v in header.items() if v is not None}

    resumed = (directory / "session.toml").exists()
    # (Headless generates or nothing: it is refused by the lock below, as before.)
    holder = lock_holder(directory) if resumed and config.rater and not config.headless else None
    if holder is not None:
        # Another sftscope generates (and judges) this session: this console only labels,
        # following what that writer appends; its labels go to this rater's own file.
        print(
            f"sftscope: {inert_line(directory)} is being generated by another sftscope "
            f"({inert_line(holder)}): labelling only, as rater {config.rater}",
            flush=True,
        )
        return open_replay(directory, 0.0, rater=config.rater)
    changes = {"panels": [panel.to_dict() for panel in panels]} if config.panels else {}  # on resume
    if engine is None:
        engine = open_source(spec, config)
    # The judges (their templates) are checked before anything is created: a refused
    # --judge-template left an empty events.jsonl and a session.lock behind.
    judges = _judges(config, header if resumed else None, rubric)
    created = not directory.exists()
    store = SessionStore(directory)
    store.open(create=True)
    if resumed and config.rubric:  # the labels saved so far must stay readable under it
        try:
            check_labels({"rubric": rubric.to_dict()}, store.events, store.events_path)
        except SessionError as exc:
            store.close()
            raise LaunchError(f"--rubric {config.rubric}: does not accept a saved label: {exc}") from None
    for warning in store.warnings:
        print(f"sftscope: warning: {inert_line(warning)}", flush=True)
    try:
        session = Session(store, rater=config.rater)
    except BaseException:
        store.close()
        raise
    return _assemble(
        session,
        engine,
        params,
        system,
        rubric,
        directory,
        judges=judges,
        concurrency=config.concurrency,
        resumed=resumed,
        header=header if not resumed else changes,
        items=items,
        created=created,
        config=config,
    )


def _assemble(
    session: Session,
    engine: Engine,
    params: SamplingParams,
    system: str | None,
    rubric: Rubric,
    directory: Path,
    *,
    judges: list[Any] | None = None,
    concurrency: int | None = None,
    **launch: Any,
) -> Launch:
    """The parts every launch has, wired the one way: the Session, its JudgePool and a
    Generator writing through both."""
    pool = JudgePool(session, judges)
    generator = Generator(session, engine, params, system=system, concurrency=concurrency, pool=pool)
    return Launch(
        store=session.store,
        engine=engine,
        session=session,
        generator=generator,
        pool=pool,
        rubric=rubric,
        directory=Path(directory),
        **launch,
    )


def _judges(config: RunConfig, header: dict[str, Any] | None, rubric: Rubric) -> list[Any]:
    """The judges given now, else (on resume) the ones the session was run with."""
    from sftscope.scorers.judge import Judge, JudgeSpec

    specs = list(config.judges)
    if not specs and header is not None:
        specs = [JudgeSpec.from_dict(saved) for saved in header.get("judges", [])]
    return [Judge(spec, rubric) for spec in specs]


def open_replay(directory: Path, speed: float, *, rater: str | None = None, follow: bool = False) -> Launch:
    """Open a saved session to watch it again and go on labelling; nothing is generated.
    With a `rater`, events.jsonl is followed read-only (no writer lock: another process may
    generate or judge it meanwhile, Session.poll) and the labels go to the rater's file.
    `follow` follows it before a rater is named (serve's tabs ask, then Session.attach_rater)."""
    from sftscope.sessions.run.replay import Playback, ReplaySource

    # A session on a read-only disk (or someone else's) still replays; labels are refused.
    writable = _writable(Path(directory))
    header, rubric, session = _open_saved(Path(directory), read_only=not writable, rater=rater, follow=follow)
    # The Session has read and folded the log: the source plays its answers from that fold.
    engine = ReplaySource(str(directory), speed=speed, state=session.state, header=header)
    params = SamplingParams(**header.get("params", {}))
    system = header.get("system")
    playback = Playback(session, engine, system=system)
    return _assemble(session, engine, params, system, rubric, directory, resumed=True, playback=playback)


def _open_saved(
    directory: Path, *, read_only: bool, rater: str | None = None, follow: bool = False
) -> tuple[dict[str, Any], Rubric, Session]:
    """A saved session's header, rubric and Session on its open store (replay and judging);
    a rater's console follows the log read-only."""
    header = read_header(directory)
    rubric = Rubric.from_dict(header["rubric"]) if header.get("rubric") else load_rubric(None)
    store = SessionStore(directory)
    follow = follow or rater is not None
    store.open(read_only=read_only and not follow, follow=follow)
    # The fold builds an object or more per event, none in a cycle: a third faster without
    # the cyclic collector walking them as they pile up (0.1 s of a 16,000-item replay).
    with paused_gc():
        session = Session(store, rater=rater)
    return header, rubric, session


@dataclass
class Judging:
    """A saved session opened for judging (`sftscope judge`): a Session and a JudgePool,
    no engine and no generator."""

    store: SessionStore
    session: Session
    pool: JudgePool
    header: dict[str, Any]


def open_judging(directory: Path, specs: list[Any]) -> Judging:
    """The third entry point: judge (or re-judge) a saved session's answers."""
    from sftscope.scorers.judge import Judge

    header, rubric, session = _open_saved(Path(directory), read_only=False)
    pool = JudgePool(session, [Judge(spec, rubric) for spec in specs])
    return Judging(store=session.store, session=session, pool=pool, header=header)


def _batch_size(config: RunConfig, engine: Engine) -> int:
    if config.batch_size:
        return config.batch_size
    if config.headless and engine.info.device.startswith("cuda") and engine.capabilities.batching:
        return 16
    return 1


def _remove_empty(directory: Path) -> None:
    """A session that never started leaves no directory behind."""
    try:
        ratings = directory / "ratings"  # a rater's lock and empty file (sessions/core/raters.py)
        for path in ratings.iterdir() if ratings.is_dir() else ():
            if path.stat().st_size == 0 or path.suffix == ".lock":
                path.unlink()
        if ratings.is_dir():
            ratings.rmdir()
        for name in ("session.lock", "events.jsonl"):
            path = directory / name
            if path.exists() and path.stat().st_size == 0:
                path.unlink()
        directory.rmdir()
    except OSError:
        pass


def _writable(directory: Path) -> bool:
    import os

    return os.access(directory, os.W_OK) and (
        not (directory / "events.jsonl").exists() or os.access(directory / "events.jsonl", os.W_OK)
    )
