"""Shared fixtures: the real bundled model, a transformers checkpoint built from it,
and a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

# Every test file's kind, so `pytest -m unit` (console, cli, e2e) runs one group: the
# marker is set on each of its tests by `pytest_collection_modifyitems` below, and
# tests/README.md says what each kind means. A new file goes in exactly one list;
# tests/test_kinds.py fails until it does. (`slow`, a real model, is marked per test.)
KINDS: dict[str, tuple[str, ...]] = {
    # In-process calls on the real parts (a scripted server on 127.0.0.1 at most): no
    # terminal, no `sftscope` subprocess.
    "unit": (
        "test_agreement_stats.py", "test_checks.py", "test_compare_stats.py", "test_docs.py",
        "test_engine_protocol.py", "test_events.py", "test_inert.py", "test_kinds.py",
        "test_openai_engine.py", "test_paired_tests.py", "test_pairwise_judge.py", "test_prompts.py",
        "test_ppi.py", "test_ppi_report.py", "test_report_data.py", "test_report_context.py",
        "test_report_render.py", "test_store.py", "test_trust_core.py", "test_trust_judges.py",
        "test_trust_stats.py", "test_typed_events.py",
        "test_assignment.py",
    ),
    # The Textual console driven in-process by Pilot (keys, screens, snapshots).
    "console": (
        "test_adjudicate.py",
        "test_audit_order.py", "test_audit_order_ab.py", "test_compare_console.py", "test_console.py",
        "test_console_base.py",
        "test_console_report.py",
        "test_disagreement.py", "test_durability.py", "test_narrow.py", "test_perf_commands.py",
        "test_ppi_console.py", "test_probes.py", "test_scale.py", "test_snapshots.py",
        "test_trust_compare_console.py",
        "test_trust_console.py",
        "test_raters_compare.py",
        "test_panel_console.py",
    ),
    # The real `sftscope` command in a subprocess (run_cli, run_headless): exit codes, the
    # one-line errors, what it writes.
    "cli": (
        "test_cli.py", "test_compare.py", "test_compare_resume.py", "test_export.py",
        "test_export_pandas.py", "test_hardening.py",
        "test_judge_panels.py",
        "test_raters_report.py",
        "test_raters_compare_report.py",
        "test_judges.py", "test_raters.py", "test_report_cli.py", "test_rubric.py", "test_trust_cli.py",
        "test_v1_session.py",
        "test_merge.py",
    ),
    # The product as shipped: the bundled model through llama.cpp, transformers or
    # llama_cpp.server, a real terminal (tmux), the built wheel.
    "e2e": (
        "test_compare_real.py", "test_compare_tmux.py", "test_hf_engine.py", "test_llama_engine.py",
        "test_llama_server.py", "test_report_viewer.py", "test_tmux.py", "test_wheel.py",
        "test_serve.py",
        "test_raters_tmux.py",
    ),
}  # fmt: skip
KIND_OF = {name: kind for kind, names in KINDS.items() for name in names}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its file's kind (a file in no kind stays unmarked: test_kinds says so)."""
    for item in items:
        kind = KIND_OF.get(item.path.name)
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def bundled_gguf() -> Path:
    from sftscope.engines.registry import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory, bundled_gguf: Path) -> Path:
    """A real transformers checkpoint directory, dequantised once from the bundled GGUF."""
    out = tmp_path_factory.mktemp("smollm2-hf")
    script = (
        "import sys, transformers\n"
        "src, name, out = sys.argv[1:4]\n"
        "tok = transformers.AutoTokenizer.from_pretrained(src, gguf_file=name)\n"
        "model = transformers.AutoModelForCausalLM.from_pretrained(src, gguf_file=name)\n"
        "config = model.config\n"
        "if hasattr(config, 'quantization_config'): del config.quantization_config\n"
        "plain = transformers.AutoModelForCausalLM.from_config(config)\n"
        "plain.load_state_dict(model.state_dict())\n"
        "plain.generation_config = model.generation_config\n"
        "plain.save_pretrained(out)\n"
        "tok.save_pretrained(out)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(bundled_gguf.parent), bundled_gguf.name, str(out)],
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return out


@pytest.fixture(scope="session")
def llama_server(bundled_gguf: Path) -> Any:
    """`python -m llama_cpp.server` on the bundled model (alias smol-judge): a real peer."""
    import socket
    import time
    import urllib.request

    pytest.importorskip("llama_cpp.server.app", reason="the llama-cpp-python[server] extra is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smol-judge"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(30)


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def answered_session(
    directory: Path, ids: list[str], header: dict[str, Any] | None = None, *, question: str = "Q{n}?"
) -> Path:
    """A finished session on disk written by the real writer: items `ids` (question
    "Q1?".. by position from 1) with one answer each ("answer 1".., gen "g1"..), no labels:
    what raters, adjudicators and reports start from."""
    from sftscope.sessions.core.events import Generated, ItemAdded
    from sftscope.sessions.core.session import Session
    from sftscope.sessions.core.store import SessionStore

    store = SessionStore(directory)
    base = {"status": "running", "engine": {"spec": "x"}, "prompts": {"count": len(ids)}}
    store.open({**base, **(header or {})})
    writer = Session(store)
    for n, item in enumerate(ids, 1):
        writer.record(ItemAdded(item, {"id": item, "turns": [question.format(n=n)]}, n - 1))
        writer.record(Generated(item, 0, f"answer {n}", "stop", gen=f"g{n}"))
    store.close(status="complete")
    return directory


def prompts_file(tmp_path: Path, count: int = 5, name: str = "p.jsonl", **extra: Any) -> Path:
    """A prompt set q1..q<count>, "Question number <n>?" each, plus `extra` fields on every row
    (the number lets a fake judge or a test tell the items apart)."""
    rows = [{"id": f"q{i}", "prompt": f"Question number {i}?", **extra} for i in range(1, count + 1)]
    return write_jsonl(tmp_path / name, rows)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str, rc: int = 2) -> str:
    """The way every command fails for the operator: exit `rc`, one line on stderr naming each
    of `needles`, no traceback, nothing half-written on stdout. Returns the line."""
    assert result.returncode == rc, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert not result.stdout, result.stdout  # None where the test sent stdout elsewhere
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run the real `sftscope` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "sftscope.tui.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})},
    )


def run_headless(
    url: str, prompts: Path, session: Path, *extra: str, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """A headless run of the real command against an OpenAI-compatible server at `url`."""
    return run_cli(
        "run", "--headless", "--engine", f"openai:{url}#m", "--prompts", str(prompts),
        "--session", str(session), *extra, **kw,
    )  # fmt: skip


class ScriptedServer:
    """A real aiohttp server speaking the OpenAI chat API, answers scripted per request.

    `script` is a list of callables or dicts consumed in order; when it runs out,
    `default` answers. Every request body is kept in `requests`.
    """

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.default: Any = {"text": "Hello from the scripted server."}
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.models = ["scripted-model"]
        self.url = ""
        self.active = 0
        self.peak = 0

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/v1/chat/completions", self.chat)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def list_models(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        )

    async def chat(self, request: Any) -> Any:
        from aiohttp import web

        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        step = self.script.pop(0) if self.script else self.default
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if callable(step):
                return await step(request, body)
            if "status" in step:
                return web.json_response(
                    {"error": {"message": step.get("message", "scripted failure")}},
                    status=step["status"],
                    headers=step.get("headers", {}),
                )
            await asyncio.sleep(step.get("delay", 0))
            return await self.sse(request, body, step)
        finally:
            self.active -= 1

    async def sse(self, request: Any, body: dict[str, Any], step: dict[str, Any]) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        text = step["text"]
        pieces = step.get("pieces") or [text[i : i + 4] for i in range(0, len(text), 4)]
        for index, piece in enumerate(pieces):
            if step.get("stall_after") is not None and index == step["stall_after"]:
                await asyncio.sleep(step.get("stall", 30))
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(step.get("gap", 0))
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": step.get("finish", "stop")}]}
        await response.write(f"data: {json.dumps(done)}\n\n".encode())
        usage = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": len(pieces)}}
        await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response


@pytest.fixture
async def server() -> Any:
    srv = ScriptedServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def events_of() -> Callable[[Path], list[dict[str, Any]]]:
    def read(directory: Path) -> list[dict[str, Any]]:
        lines = (directory / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    return read


def serve_in_thread(srv: ScriptedServer) -> Any:
    """Run a scripted server on its own thread and loop (for tests that start subprocesses)."""
    import contextlib
    import threading

    @contextlib.contextmanager
    def running() -> Any:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(srv.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield srv.url
        finally:
            asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    return running()


@pytest.fixture(scope="session")
def server_url() -> Any:
    """A scripted server on its own thread; each answer takes about 0.1 s so a test can
    interrupt a run part-way."""
    srv = ScriptedServer()
    srv.default = {"text": "A steady scripted answer.", "gap": 0.015}
    with serve_in_thread(srv) as url:
        yield url
