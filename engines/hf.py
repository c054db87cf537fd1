"""Hugging Face transformers: CUDA with bf16 when a GPU is present, CPU float32 otherwise.

Streaming runs `generate` on the engine's own thread with a streamer whose
finalised text goes through the batched hand-over in `engines.threaded`;
cancelling is a `StoppingCriteria` that reads a `threading.Event` once per
token. Headless runs on a GPU use `generate_batch` (left-padded), where a batch
of 16 answers costs little more than one. Works offline on a local directory
(or a single GGUF file, which transformers dequantises).
"""

from __future__ import annotations

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
    GenerationRequest,
    PromptTooLong,
    raw_prompt,
)
from sftscope.engines.threaded import Emit, ThreadedEngine

# The masterclass's form for base models that have no chat template.
DEFAULT_TEMPLATE = "Instruction: {prompt}\nResponse:"


class HFEngine(ThreadedEngine):
    capabilities = Capabilities(batching=True, model_thread=True)

    def __init__(
        self,
        target: str,
        *,
        prompt_template: str | None = None,
        threads: int | None = None,
        device: str | None = None,
        **_: Any,
    ) -> None:
        path = Path(target).expanduser()
        self.gguf_file: str | None = None
        if path.exists():
            if path.is_file():
                if path.suffix != ".gguf":
                    raise EngineError(f"hf:{target}: expected a checkpoint directory or a .gguf file")
                self.gguf_file = path.name
                path = path.parent
            elif not (path / "config.json").exists():
                raise EngineError(f"hf:{target}: no config.json in that directory (not a checkpoint)")
            self.source = str(path.resolve())
        elif target.count("/") == 1 and not target.startswith((".", "/", "~")):
            self.source = target  # a hub id, loaded from the local cache only when offline
        else:
            raise EngineError(f"hf:{target}: model path not found")
        super().__init__("sftscope-hf")
        self.target = target
        self.prompt_template = prompt_template
        self.threads = threads
        self.requested_device = device
        self.model: Any = None
        self.tokenizer: Any = None
        self.info = EngineInfo(name="hf", spec=f"hf:{target}", model=Path(self.source).name)

    # --- loading ---------------------------------------------------------------
    def _load(self) -> None:
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        if self.threads:
            torch.set_num_threads(self.threads)
        device = self.requested_device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        kwargs: dict[str, Any] = {}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.source, **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(self.source, dtype=dtype, **kwargs)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"hf:{self.target}: cannot load the model ({first})") from None
        model.to(device)
        model.eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = model, tokenizer
        config = model.config
        context = getattr(config, "max_position_embeddings", None)
        facts: dict[str, Any] = {}
        from sftscope.engines.modelfacts import directory_facts, file_facts

        source = Path(self.source)
        if self.gguf_file:
            facts = file_facts(source / self.gguf_file)
        elif source.exists():
            facts = directory_facts(source)
        self.info = EngineInfo(
            name="hf",
            spec=f"hf:{self.target}",
            model=Path(self.source).name,
            device=device,
            dtype=str(dtype).replace("torch.", ""),
            context_length=context,
            path=facts.pop("path", None),
            extra={
                **facts,
                "chat_template": "tokenizer" if tokenizer.chat_template else "prompt-template",
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
        )

    # --- prompts ---------------------------------------------------------------
    def render(self, messages: list[dict[str, str]]) -> str:
        """The model's own chat template, or the raw prompt template for base models."""
        if self.tokenizer.chat_template and not self.prompt_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return raw_prompt(messages, self.prompt_template or DEFAULT_TEMPLATE)

    def _encode(self, messages: list[dict[str, str]]) -> Any:
        text = self.render(messages)
        # The template already holds the special tokens it wants.
        has_template = self.tokenizer.chat_template and not self.prompt_template
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=not has_template)
        return ids

    def _check_fits(self, prompt_tokens: int) -> None:
        limit = self.info.context_length
        if limit and prompt_tokens >= limit:
            raise PromptTooLong(f"prompt is {prompt_tokens} tokens; the context window is {limit}")

    def _generate_kwargs(self, params: Any, max_room: int | None) -> dict[str, Any]:
        import torch

        max_new = params.max_tokens
        if max_room is not None:
            max_new = max(1, min(max_new, max_room))
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.temperature > 0:
            if params.seed is not None:
                torch.manual_seed(params.seed)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    # --- streaming -------------------------------------------------------------
    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self.thread.stream_request(
            self.cancels, request.key, lambda emit, flag: self._generate_one(request, emit, flag)
        )

    def _generate_one(self, request: GenerationRequest, emit: Emit, cancelled: threading.Event) -> Generation:
        import torch
        import transformers

        started = time.monotonic()
        encoded = self._encode(request.messages).to(self.model.device)
        prompt_tokens = int(encoded["input_ids"].shape[1])
        self._check_fits(prompt_tokens)
        first: list[float] = []
        counted = [0]

        class Streamer(transformers.TextStreamer):
            def put(self, value: Any) -> None:  # called once per new token
                if not self.next_tokens_are_prompt:
                    if not first:
                        first.append(time.monotonic() - started)
                    counted[0] += int(value.numel())
                    emit("", int(value.numel()))
                super().put(value)

            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    emit(text, 0)

        class Stop(transformers.StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = cancelled.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        room = (self.info.context_length - prompt_tokens) if self.info.context_length else None
        kwargs = self._generate_kwargs(request.params, room)
        streamer = Streamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                streamer=streamer,
                stopping_criteria=transformers.StoppingCriteriaList([Stop()]),
                **kwargs,
            )
        new = output[0][prompt_tokens:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        finish = self._finish_reason(new, kwargs["max_new_tokens"], cancelled.is_set())
        return Generation(
            text=text,
            tokens=int(new.shape[0]),
            prompt_tokens=prompt_tokens,
            ttft=first[0] if first else None,
            seconds=time.monotonic() - started,
            finish_reason=finish,
        )

    def _finish_reason(self, new: Any, max_new: int, cancelled: bool) -> str:
        if cancelled:
            return "cancelled"
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        ids = [int(t) for t in new]
        if ids and ids[-1] in eos_ids:
            return "stop"
        return "length" if len(ids) >= max_new else "stop"

    # --- batched (headless on GPU) ----------------------------------------------
    async def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        return await self.thread.call(self._generate_batch, requests)

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        import torch

        started = time.monotonic()
        results: list[Generation | Exception | None] = [None] * len(requests)
        texts: list[str] = []
        rows: list[int] = []
        for index, request in enumerate(requests):
            text = self.render(request.messages)
            length = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            try:
                self._check_fits(length)
            except PromptTooLong as exc:
                results[index] = exc
                continue
            texts.append(text)
            rows.append(index)
        if texts:
            has_template = bool(self.tokenizer.chat_template and not self.prompt_template)
            self.tokenizer.padding_side = "left"
            encoded = self.tokenizer(
                texts, return_tensors="pt", padding=True, add_special_tokens=not has_template
            ).to(self.model.device)
            width = int(encoded["input_ids"].shape[1])
            room = (self.info.context_length - width) if self.info.context_length else None
            kwargs = self._generate_kwargs(requests[rows[0]].params, room)
            with torch.inference_mode():
                output = self.model.generate(**encoded, **kwargs)
            elapsed = time.monotonic() - started
            pad = self.tokenizer.pad_token_id
            eos = self.model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
            for row, index in enumerate(rows):
                new = [int(t) for t in output[row][width:]]
                # Rows that finished early are padded after their end of sequence.
                end = next((i + 1 for i, t in enumerate(new) if t in eos_ids), len(new))
                new = new[:end]
                while new and new[-1] == pad and pad not in eos_ids:
                    new.pop()
                finish = (
                    "stop"
                    if (new and new[-1] in eos_ids) or len(new) < kwargs["max_new_tokens"]
                    else "length"
                )
                results[index] = Generation(
                    text=self.tokenizer.decode(new, skip_special_tokens=True),
                    tokens=len(new),
                    prompt_tokens=int(encoded["attention_mask"][row].sum()),
                    ttft=None,
                    seconds=elapsed,
                    finish_reason=finish,
                )
        return [r if r is not None else RuntimeError("not generated") for r in results]

    async def close(self) -> None:
        self.cancels.cancel_all()
        self.thread.shutdown()
        self.model = None
