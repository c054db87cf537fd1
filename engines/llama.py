"""llama.cpp through llama-cpp-python: quantized GGUF models on the CPU.

Parity rule: with temperature 0, every answer equals what
`Llama.create_chat_completion(messages, max_tokens=N, temperature=0.0)` returns.
To keep it, the prompt is built by the library's own chat handler (its
`create_completion` call is captured instead of run), and the token loop below
follows `Llama._create_completion` step for step: the same `generate` call,
end-of-generation check, multi-byte hold-back, stop sequences and length limit.
What differs is only how text reaches the screen: each token's bytes go
through an incremental UTF-8 decoder instead of re-detokenizing the whole
answer on every token, which the library's streaming path does (quadratic).
"""

from __future__ import annotations

import codecs
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sftscope.engines.base import (
    Capabilities,
    Chunk,
    EngineError,
    EngineInfo,
    Generation,
    GenerationFailed,
    GenerationRequest,
    OutputConstraint,
    PromptTooLong,
    raw_prompt,
)
from sftscope.engines.threaded import Emit, ThreadedEngine

GGUF_MAGIC = b"GGUF"

# general.file_type values (llama_ftype) for the session header.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


def check_gguf(path: Path) -> None:
    """Fail with one line before llama.cpp sees a file that is not a GGUF model."""
    if not path.exists():
        raise EngineError(f"{path}: model file not found")
    if path.is_dir():
        raise EngineError(
            f"{path}: is a directory; the llama engine needs a .gguf file (use hf: for checkpoints)"
        )
    with open(path, "rb") as handle:
        head = handle.read(24)
    if head[:4] != GGUF_MAGIC:
        raise EngineError(f"{path}: not a GGUF file (bad magic bytes)")
    if len(head) < 24:
        raise EngineError(f"{path}: truncated GGUF file ({len(head)} bytes)")


def default_threads() -> int:
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        available = os.cpu_count() or 1
    return max(1, min(8, available))


class _CaptureCompletion:
    """Stands in for `Llama` inside the chat handler: runs its tokenize, keeps its
    `create_completion` arguments instead of generating."""

    def __init__(self, llama: Any) -> None:
        self._llama = llama
        self.kwargs: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llama, name)

    def create_completion(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return iter(())


class LlamaEngine(ThreadedEngine):
    capabilities = Capabilities(structured_output=("grammar",), model_thread=True)

    def __init__(
        self,
        target: str,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        prompt_template: str | None = None,
        **_: Any,
    ) -> None:
        self.path = Path(target).expanduser()
        check_gguf(self.path)
        super().__init__("sftscope-llama")
        self.n_ctx = n_ctx
        self.threads = threads or default_threads()
        self.prompt_template = prompt_template
        self.llama: Any = None
        self.info = EngineInfo(name="llama", spec=f"llama:{self.path}", model=self.path.stem)

    def _load(self) -> None:
        from llama_cpp import Llama
        from sftscope.engines.modelfacts import file_facts

        try:
            self.llama = Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise EngineError(
                f"{self.path}: llama.cpp cannot load this model (truncated or unsupported GGUF: {exc})"
            ) from None
        meta = self.llama.metadata
        arch = meta.get("general.architecture", "")
        file_type = meta.get("general.file_type")
        quant = FILE_TYPES.get(int(file_type)) if file_type and str(file_type).isdigit() else None
        facts = file_facts(self.path)
        facts.pop("path")
        import llama_cpp

        self.info = EngineInfo(
            name="llama",
            spec=f"llama:{self.path}",
            model=meta.get("general.name") or self.path.stem,
            device="cpu",
            quantization=quant,
            context_length=self.n_ctx,
            path=str(self.path.resolve()),
            extra={
                **facts,
                "architecture": arch,
                "trained_context_length": _int(meta.get(f"{arch}.context_length")),
                "threads": self.threads,
                "chat_template": "prompt-template" if self.prompt_template else "gguf",
                "llama_cpp_python": llama_cpp.__version__,
            },
        )

    # --- prompt ----------------------------------------------------------------
    def _completion_args(
        self, messages: list[dict[str, str]], params: Any, constraint: OutputConstraint | None = None
    ) -> dict[str, Any]:
        """What `create_chat_completion` would pass to `create_completion`."""
        llama = self.llama
        grammar = _grammar(constraint)
        if self.prompt_template:
            text = raw_prompt(messages, self.prompt_template)
            tokens = llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
            return {"prompt": tokens, "stop": [], "stopping_criteria": None, "grammar": grammar}
        from llama_cpp import llama_chat_format

        handler = (
            llama.chat_handler
            or llama._chat_handlers.get(llama.chat_format)
            or llama_chat_format.get_chat_completion_handler(llama.chat_format)
        )
        capture = _CaptureCompletion(llama)
        handler(
            grammar=grammar,
            llama=capture,
            messages=messages,
            temperature=params.temperature,
            top_p=params.top_p,
            stream=True,  # the handler then converts lazily; nothing runs
            max_tokens=params.max_tokens,
            seed=params.seed,
            repeat_penalty=1.0,
        )
        if capture.kwargs is None:  # pragma: no cover - a handler that does not complete
            raise EngineError(f"{self.path}: its chat format cannot be streamed")
        return capture.kwargs

    # --- the token loop ----------------------------------------------------------
    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self.thread.stream_request(
            self.cancels, request.key, lambda emit, flag: self._generate(request, emit, flag)
        )

    def _generate(self, request: GenerationRequest, emit: Emit, cancelled: threading.Event) -> Generation:
        import llama_cpp

        llama = self.llama
        started = time.monotonic()
        params = request.params
        args = self._completion_args(request.messages, params, request.constraint)
        prompt_tokens: list[int] = list(args["prompt"])
        n_ctx = llama.n_ctx()
        if len(prompt_tokens) >= n_ctx:
            raise PromptTooLong(f"prompt is {len(prompt_tokens)} tokens; the context window is {n_ctx}")
        stop = args.get("stop") or []
        stop = stop if isinstance(stop, list) else [stop]
        stop_sequences = [s.encode("utf-8") for s in stop]
        longest_stop = max((len(s) for s in stop_sequences), default=0)
        max_tokens = params.max_tokens
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - len(prompt_tokens)
        if max_tokens + len(prompt_tokens) >= n_ctx:
            max_tokens = n_ctx - len(prompt_tokens)
        if params.seed is not None:
            llama.set_seed(params.seed)

        completion: list[int] = []
        data = bytearray()  # the answer's bytes, grown one token at a time
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        emitted = 0  # bytes handed to the decoder so far
        finish = "length"
        cut: int | None = None
        first: float | None = None
        multibyte_fix = 0
        vocab = llama._model.vocab
        for token in llama.generate(
            prompt_tokens,
            top_k=args.get("top_k", 40),
            top_p=args.get("top_p", params.top_p),
            min_p=args.get("min_p", 0.05),
            typical_p=args.get("typical_p", 1.0),
            temp=args.get("temperature", params.temperature),
            tfs_z=args.get("tfs_z", 1.0),
            mirostat_mode=args.get("mirostat_mode", 0),
            mirostat_tau=args.get("mirostat_tau", 5.0),
            mirostat_eta=args.get("mirostat_eta", 0.1),
            frequency_penalty=args.get("frequency_penalty", 0.0),
            presence_penalty=args.get("presence_penalty", 0.0),
            repeat_penalty=args.get("repeat_penalty", 1.0),
            stopping_criteria=args.get("stopping_criteria"),
            logits_processor=args.get("logits_processor"),
            grammar=args.get("grammar"),
        ):
            if first is None:
                first = time.monotonic() - started
            if cancelled.is_set():
                finish = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            completion.append(token)
            piece = llama.detokenize([token])
            data.extend(piece)
            emit("", 1)
            # The library holds back an incomplete multi-byte character and skips
            # the stop and length checks for that token; do the same.
            tail = bytes(data[-3:])
            for k, char in enumerate(tail):
                k = len(tail) - k
                for num, pattern in ((2, 192), (3, 224), (4, 240)):
                    if num > k and pattern & char == pattern:
                        multibyte_fix = num - k
            if multibyte_fix > 0:
                multibyte_fix -= 1
                continue
            if stop_sequences:
                window = bytes(data[max(0, len(data) - len(piece) - longest_stop + 1) :])
                hits = [s for s in stop_sequences if s in window]
                if hits:
                    # Same choice as the library: the first listed stop that occurs.
                    cut = bytes(data).index(hits[0])
                    finish = "stop"
                    break
                safe = len(data) - _partial_stop(data, stop_sequences)
            else:
                safe = len(data)
            if safe > emitted:
                emit(decoder.decode(bytes(data[emitted:safe])), 0)
                emitted = safe
            if len(completion) >= max_tokens:
                finish = "length"
                break
        criteria = args.get("stopping_criteria")
        if (
            criteria is not None
            and finish != "cancelled"
            and criteria(llama._input_ids, llama._scores[-1, :])
        ):
            finish = "stop"
        # The authoritative text, computed once exactly as the library does.
        final_bytes = llama.detokenize(completion, prev_tokens=prompt_tokens)
        if cut is not None:
            final_bytes = final_bytes[:cut]
        text = final_bytes.decode("utf-8", errors="ignore")
        return Generation(
            text=text,
            tokens=len(completion),
            prompt_tokens=len(prompt_tokens),
            ttft=first,
            seconds=time.monotonic() - started,
            finish_reason=finish,
        )

    async def close(self) -> None:
        self.cancels.cancel_all()
        await self.thread.call(self._free)
        self.thread.shutdown()

    def _free(self) -> None:
        if self.llama is not None:
            self.llama.close()
            self.llama = None


def _grammar(constraint: OutputConstraint | None) -> Any:
    """The llama.cpp grammar a reply is decoded under: the constraint's own GBNF, else one
    built from its JSON schema; None for free text. A grammar llama.cpp cannot parse is the
    caller's bug, so it fails loudly (GenerationFailed on that request), never silently free."""
    if constraint is None or (constraint.grammar is None and constraint.json_schema is None):
        return None
    from llama_cpp import LlamaGrammar

    try:
        if constraint.grammar is not None:
            return LlamaGrammar.from_string(constraint.grammar, verbose=False)
        return LlamaGrammar.from_json_schema(json.dumps(constraint.json_schema), verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise GenerationFailed(f"llama.cpp cannot use the reply's grammar: {exc}") from None


def _partial_stop(data: bytearray, stops: list[bytes]) -> int:
    """How many trailing bytes could be the start of a stop sequence (held back)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(data)), 0, -1):
            if data.endswith(stop[:size]):
                longest = max(longest, size)
                break
    return longest


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
