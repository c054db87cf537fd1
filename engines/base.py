"""The engine protocol: what every way of producing text must offer the Generator.

The Generator never knows which library is underneath; it asks for a stream of
`Chunk`s and reads the final `Generation` off the last one. Keeping the final
text authoritative (rather than the concatenation of chunks) lets an engine
hold back text that might still turn out to be a stop sequence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class EngineError(Exception):
    """An engine cannot run at all (bad model file, missing extra, bad spec).

    The command line turns it into one line on stderr and exit code 2.
    """


class PromptTooLong(Exception):
    """The prompt does not fit the context window: the item is skipped, the run goes on."""


class GenerationFailed(Exception):
    """One request failed (server error after retries, a crash in the model call).

    Recorded on the item as an error; the run goes on. `status` keeps the HTTP
    status when there was one, so callers decide on it rather than on the text.
    """

    def __init__(self, message: str, *, status: int | None = None, requests: int = 0) -> None:
        super().__init__(message)
        self.status = status
        # Requests made before giving up that nobody has counted yet (0: none beyond the one
        # the caller knows of), so a judge can say how often the server was asked.
        self.requests = requests


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings sent with every request. temperature 0 means greedy."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class OutputConstraint:
    """The form a reply must take, for an engine that can hold its model to it (judges).

    A judge's verdict is only worth something when it parses, and a small model left free
    rarely writes `[[7]]` or a whole JSON object. `json_schema` is a JSON schema (a rubric
    verdict): servers get it as `response_format`, llama.cpp decodes under the grammar built
    from it. `grammar` is a llama.cpp GBNF grammar, for replies that are not JSON (reasoning,
    then `[[rating]]` or `[[A]]`); it wins over `json_schema` where both are given and the
    engine decodes under grammars. An engine honours the forms its `Capabilities` declare and
    ignores the rest: the reply is parsed the same way either way.
    """

    json_schema: dict[str, Any] | None = None
    grammar: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One assistant turn to produce: the conversation so far and how to sample.

    `key` identifies the turn (item id and turn index) so that replay can find
    the recorded answer and so engines can log what they are doing.
    """

    messages: list[dict[str, str]]
    params: SamplingParams = field(default_factory=SamplingParams)
    key: tuple[str, int] = ("", 0)
    # The form the reply must take (judges); None: free text.
    constraint: OutputConstraint | None = None

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema the reply must follow, if any."""
        return self.constraint.json_schema if self.constraint is not None else None


def raw_prompt(messages: list[dict[str, str]], template: str) -> str:
    """A conversation as one plain prompt, for a model without a chat template.

    The system message goes first, once, wherever it stands in `messages` (several are
    joined in order): a raw template has no place for one mid-conversation. Each user
    message is `template` with `{prompt}` filled in; an assistant message follows the
    turn it answers after a space (one with no user turn before it stands alone). Parts
    are separated by a blank line.
    """
    system = [m["content"] for m in messages if m["role"] == "system"]
    parts = ["\n\n".join(system)] if system else []
    answers_turn = False  # the last part is a user turn, so an answer joins it
    for message in messages:
        if message["role"] == "user":
            parts.append(template.replace("{prompt}", message["content"]))
            answers_turn = True
        elif message["role"] == "assistant":
            if answers_turn:
                parts[-1] += " " + message["content"]
            else:
                parts.append(message["content"])
            answers_turn = False
    return "\n\n".join(parts)


@dataclass
class Generation:
    """The finished turn, as saved in the event log."""

    text: str
    tokens: int
    prompt_tokens: int | None
    ttft: float | None
    seconds: float
    # stop | length | cancelled, or what the server said instead (content_filter, ...)
    finish_reason: str
    # Requests it took: a server's error or a cut stream asked again counts each time, so a
    # judge's "attempts" says what the server was asked, not only how often the judge asked.
    requests: int = 1


FINISHED = ("stop", "length")


@dataclass
class Chunk:
    """A batch of new text. The last chunk of a stream carries `final`.

    `reset` says that the text streamed so far is void: the engine is asking
    again from the start (a stream the server cut), so a display clears it.
    `notice` is something the operator should read once (e.g. "concurrency
    lowered"); it travels with the stream because that is where it happens.
    """

    text: str = ""
    tokens: int = 0
    final: Generation | None = None
    reset: bool = False
    notice: str | None = None


@dataclass
class EngineInfo:
    """Facts about the loaded model, written into session.toml."""

    name: str
    spec: str
    model: str
    device: str = "cpu"
    dtype: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "spec": self.spec,
            "model": self.model,
            "device": self.device,
        }
        for key in ("dtype", "quantization", "context_length", "path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do beyond `stream`, declared by the engine, never guessed.

    `batching`: it has `generate_batch(requests)`, answering a list at once (transformers).
    `structured_output`: the forms in which it honours `request.constraint`, in the order
    it tries them: "grammar" (llama.cpp decodes under the constraint's GBNF grammar, or one
    built from its JSON schema), "json_schema" and "json_object" (the server's
    `response_format`, for a JSON schema only: a GBNF grammar is not sent). Empty: the
    constraint is ignored and the reply is parsed as plain text.
    `model_thread`: it runs a local model on its own thread, whose priority
    `lower_priority` lowers; without one, `lower_priority` has nothing to do.
    """

    batching: bool = False
    structured_output: tuple[str, ...] = ()
    model_thread: bool = False


@runtime_checkable
class Engine(Protocol):
    """What the Generator needs from an engine.

    `start` loads the model (off the event loop, so a console paints first);
    `stream` yields chunks; the last one has `final` set. Cancelling is done with
    `cancel(key)`, which the engine must honour within one token. `concurrency`
    says how many streams the engine can usefully serve at once; `capabilities`
    what else it offers.
    """

    info: EngineInfo
    concurrency: int
    capabilities: Capabilities

    async def start(self) -> None:
        """Load the model or reach the server; may take seconds, never blocks the loop."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]: ...

    def cancel(self, key: tuple[str, int]) -> None: ...

    def lower_priority(self, nice: int) -> None:
        """Run the model's threads at least `nice` below normal priority (call before
        `start`), so a keypress never waits behind a matrix multiply; an engine without
        a model thread (`capabilities.model_thread` false) has nothing to lower."""
        ...

    async def close(self) -> None: ...
