"""The engine protocol: capabilities are declared, never guessed; shared helpers have one home.

Nothing here loads a model: the local engines are built on a stub file (a GGUF header, a
config.json) and their model objects stubbed where a test needs one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sftscope.engines.base import Capabilities, Generation, GenerationRequest, SamplingParams, raw_prompt
from sftscope.engines.hf import DEFAULT_TEMPLATE, HFEngine
from sftscope.engines.llama import LlamaEngine
from sftscope.engines.openai_compat import OpenAIClient, OpenAIEngine
from sftscope.engines.retry import backoff_delay
from sftscope.scorers import judge as judge_module
from sftscope.scorers.judge import Judge, JudgeCache, JudgeInput, JudgeSpec
from sftscope.scorers.rubric import DEFAULT_RUBRIC
from sftscope.sessions.core.item import Item
from sftscope.sessions.core.session import Session
from sftscope.sessions.core.store import SessionStore
from sftscope.sessions.run.config import RunConfig
from sftscope.sessions.run.generator import Generator
from sftscope.sessions.run.launch import _batch_size
from sftscope.sessions.run.replay import ReplaySource

from tests.fake_engine import FakeEngine, FakeJudgeEngine


@pytest.fixture
def gguf_stub(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + bytes(20))  # enough for the engine's check; never loaded
    return path


@pytest.fixture
def hf_stub(tmp_path: Path) -> Path:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    return tmp_path / "ckpt"


def test_each_engine_declares_its_capabilities(gguf_stub: Path, hf_stub: Path) -> None:
    llama = LlamaEngine(str(gguf_stub))
    assert llama.capabilities == Capabilities(structured_output=("grammar",), model_thread=True)
    hf = HFEngine(str(hf_stub))
    assert hf.capabilities == Capabilities(batching=True, model_thread=True)
    openai = OpenAIEngine("http://127.0.0.1:9/v1#m")
    assert openai.capabilities == Capabilities(structured_output=("json_schema", "json_object"))
    # The form tried first is the first one the engine declares.
    assert openai.structured_output == "json_schema"
    assert FakeEngine().capabilities == Capabilities()
    assert ReplaySource.capabilities == Capabilities()
    with pytest.raises(AttributeError):
        llama.capabilities.batching = True  # type: ignore[misc]  # frozen


def test_lower_priority_reaches_the_model_thread_and_never_raises_it(gguf_stub: Path, hf_stub: Path) -> None:
    for engine in (LlamaEngine(str(gguf_stub)), HFEngine(str(hf_stub))):
        assert engine.thread.nice == 0
        engine.lower_priority(10)
        assert engine.thread.nice == 10
        engine.lower_priority(0)  # a judge's default: never brings the priority back up
        assert engine.thread.nice == 10
    openai = OpenAIEngine("http://127.0.0.1:9/v1#m")
    openai.lower_priority(10)  # no model thread: nothing to do, and no error
    assert not hasattr(openai, "thread")
    FakeEngine().lower_priority(10)


def test_a_judge_lowers_its_engine_through_the_protocol(tmp_path: Path, gguf_stub: Path) -> None:
    class Recording(FakeJudgeEngine):
        def __init__(self) -> None:
            super().__init__()
            self.lowered: list[int] = []

        def lower_priority(self, nice: int) -> None:
            self.lowered.append(nice)

    engine = Recording()
    judge = Judge(JudgeSpec(engine="local"), DEFAULT_RUBRIC, engine=engine, cache=JudgeCache(tmp_path / "c"))
    judge.nice = 10  # what the console sets
    asyncio.run(judge.start())
    assert engine.lowered == [10]
    llama = LlamaEngine(str(gguf_stub))
    judge = Judge(JudgeSpec(engine="local"), DEFAULT_RUBRIC, engine=llama, cache=JudgeCache(tmp_path / "c"))
    judge.nice = 10
    llama.start = lambda: asyncio.sleep(0)  # type: ignore[method-assign]  # no model to load
    asyncio.run(judge.start())
    assert llama.thread.nice == 10
    llama.thread.shutdown()


class _BatchMethodOnly(FakeEngine):
    """Has a `generate_batch` but does not declare batching: it must never be used."""

    batch_calls = 0

    async def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        self.batch_calls += 1
        raise AssertionError("generate_batch called on an engine that does not declare batching")


class _Batching(FakeEngine):
    capabilities = Capabilities(batching=True)

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        self.batches.append(len(requests))
        return [Generation(f"batched {r.key[0]}", 2, 3, None, 0.01, "stop") for r in requests]


def _run(tmp_path: Path, engine: Any) -> Session:
    store = SessionStore(tmp_path / "s")
    store.open({"status": "running"})
    session = Session(store)
    generator = Generator(session, engine, SamplingParams(max_tokens=8), batch_size=4)
    session.add_items([Item(id=str(n), turns=[f"prompt {n}"]) for n in range(3)])
    generator.queue()
    asyncio.run(generator.run())
    store.close()
    return session


def test_the_generator_batches_only_engines_that_declare_batching(tmp_path: Path) -> None:
    undeclared = _BatchMethodOnly()
    runner = _run(tmp_path / "a", undeclared)
    assert undeclared.batch_calls == 0
    assert [s.status for s in runner.state.ordered()] == ["done"] * 3
    declared = _Batching()
    runner = _run(tmp_path / "b", declared)
    assert declared.batches == [3]
    assert [s.response for s in runner.state.ordered()] == ["batched 0", "batched 1", "batched 2"]


def test_launch_picks_a_batch_size_from_the_declared_capability() -> None:
    on_gpu = SimpleNamespace(device="cuda:0")
    batching = SimpleNamespace(info=on_gpu, capabilities=Capabilities(batching=True))
    method_only = SimpleNamespace(info=on_gpu, capabilities=Capabilities(), generate_batch=None)
    headless, console = RunConfig(headless=True), RunConfig(headless=False)
    assert _batch_size(headless, batching) == 16  # type: ignore[arg-type]
    assert _batch_size(headless, method_only) == 1  # type: ignore[arg-type]
    assert _batch_size(console, batching) == 1  # type: ignore[arg-type]


# --- the raw prompt template: one function, used by both local engines ------------------
TEMPLATE = "Q: {prompt}\nA:"
LATE_SYSTEM = [
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "1"},
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "two"},
]


def test_raw_prompt_puts_the_system_message_first_once() -> None:
    expected = "Be brief.\n\nQ: one\nA: 1\n\nQ: two\nA:"
    assert raw_prompt(LATE_SYSTEM, TEMPLATE) == expected
    first = [LATE_SYSTEM[2], *LATE_SYSTEM[:2], LATE_SYSTEM[3]]
    assert raw_prompt(first, TEMPLATE) == expected  # the same wherever it stood
    two = [{"role": "system", "content": "A."}, *LATE_SYSTEM[:2], {"role": "system", "content": "B."}]
    assert raw_prompt(two, TEMPLATE).startswith("A.\n\nB.\n\nQ: one")
    assert raw_prompt([{"role": "user", "content": "hi"}], TEMPLATE) == "Q: hi\nA:"
    # An answer with no user turn before it stands alone, never glued to the system text.
    leading = [{"role": "system", "content": "S"}, {"role": "assistant", "content": "Hello"}]
    assert raw_prompt([*leading, {"role": "user", "content": "x"}], TEMPLATE) == "S\n\nHello\n\nQ: x\nA:"


def test_llama_and_hf_render_raw_prompts_with_the_same_function(gguf_stub: Path, hf_stub: Path) -> None:
    llama = LlamaEngine(str(gguf_stub), prompt_template=TEMPLATE)
    seen: list[str] = []

    def tokenize(text: bytes, add_bos: bool, special: bool) -> list[int]:
        seen.append(text.decode("utf-8"))
        return list(text)

    llama.llama = SimpleNamespace(tokenize=tokenize)
    llama._completion_args(LATE_SYSTEM, SamplingParams())
    hf = HFEngine(str(hf_stub), prompt_template=TEMPLATE)
    hf.tokenizer = SimpleNamespace(chat_template=None)
    assert seen == [raw_prompt(LATE_SYSTEM, TEMPLATE)]
    assert hf.render(LATE_SYSTEM) == seen[0]
    # A base model without a chat template or --prompt-template: hf's default template.
    hf.prompt_template = None
    assert hf.render(LATE_SYSTEM) == raw_prompt(LATE_SYSTEM, DEFAULT_TEMPLATE)


# --- backoff: one function for the HTTP client and the judges ----------------------------
def test_backoff_delay_is_jittered_capped_and_honours_retry_after() -> None:
    delays = [backoff_delay(3, 0.5, 20.0) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays) and len(set(delays)) > 100  # full jitter
    assert all(backoff_delay(10, 0.5, 2.0) <= 2.0 for _ in range(50))  # the cap
    assert backoff_delay(0, 0.5, 20.0, retry_after=7.0) == 7.0  # the server's word wins
    assert backoff_delay(0, 0.5, 20.0, retry_after=900.0) == 120.0  # within reason


def test_the_client_and_the_judges_back_off_through_the_same_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def recording(*args: Any, **kwargs: Any) -> float:
        calls.append((*args, *kwargs.values()))
        return 0.0

    from sftscope.engines import openai_compat

    monkeypatch.setattr(openai_compat, "backoff_delay", recording)
    monkeypatch.setattr(judge_module, "backoff_delay", recording)
    assert OpenAIClient("http://127.0.0.1:9/v1", backoff_base=0.25, backoff_cap=4.0).backoff(2, 1.5) == 0.0
    assert calls == [(2, 0.25, 4.0, 1.5)]
    calls.clear()

    class Stalling(FakeJudgeEngine):
        async def stream(self, request: GenerationRequest) -> Any:
            await asyncio.sleep(60)
            yield  # pragma: no cover

    spec = JudgeSpec(engine="local", timeout=0.05, retries=2)
    judge = Judge(spec, DEFAULT_RUBRIC, engine=Stalling(), cache=JudgeCache(tmp_path / "c"))
    event = asyncio.run(judge.judge(JudgeInput(item="1", turns=("q",), answers=("a",))))
    assert "timed out after 0.05s (3 attempts)" in event["error"]
    assert calls == [(1, 0.5, 10.0), (2, 0.5, 10.0)]  # the judge's own base and cap


# --- the cache directory: one function for model digests and judgments ------------------
def test_digests_and_judgments_share_one_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sftscope.engines.cache import cache_dir
    from sftscope.engines.modelfacts import sha256_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sftscope"
    model = tmp_path / "weights.bin"
    model.write_bytes(b"abc")
    sha256_file(model)
    assert (cache_dir() / "sha256.json").is_file()
    assert JudgeCache().path == cache_dir() / "judgments.jsonl"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "sftscope"


# --- one transcript: what the model is sent and what an export shows ---------------------
def test_the_transcript_and_the_next_request_are_built_by_one_method() -> None:
    from sftscope.sessions.core.state import ItemState

    item = Item(id="q", turns=["t1", "t2"], prefix=[{"role": "user", "content": "earlier"}], form="mt-bench")
    state = ItemState(item, 0)
    system = {"role": "system", "content": "sys"}
    earlier = {"role": "user", "content": "earlier"}
    first, second = {"role": "user", "content": "t1"}, {"role": "user", "content": "t2"}
    answer = {"role": "assistant", "content": "A1"}
    # Both against the conversation written out: checked only against each other, the one
    # method they share would be compared with itself.
    assert state.transcript("sys") == item.messages_for_turn(0, [], "sys") == [system, earlier, first]
    state.turns.append({"text": "A1", "finish_reason": "stop"})
    assert state.transcript("sys") == [system, earlier, first, answer, second]
    assert item.messages_for_turn(1, ["A1", "later"], "sys") == [system, earlier, first, answer, second]
    state.turns.append({"text": "A2", "finish_reason": "stop"})
    assert state.transcript() == [earlier, first, answer, second, {"role": "assistant", "content": "A2"}]
    own = {"role": "system", "content": "own"}  # a prefix with its own system message keeps it
    assert Item(id="o", turns=["t1"], prefix=[own]).messages_for_turn(0, [], "sys") == [own, first]
    with pytest.raises(IndexError):
        item.messages_for_turn(1, [])  # turn 2 cannot be asked before turn 1 is answered
