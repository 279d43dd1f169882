"""What the memorization commands read: prompt files and text-conditional models with value layers."""

from __future__ import annotations

from pathlib import Path

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.layers import value_layers

__all__ = ["load_text_model", "read_prompts"]


def read_prompts(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file; :class:`TrustgenError` if it is missing, binary or empty."""
    p = Path(path)
    if not p.is_file():
        raise TrustgenError(f"prompt file not found: {p}")
    raw = p.read_bytes()
    if b"\0" in raw:
        raise TrustgenError(f"prompt file {p} is not text (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustgenError(f"prompt file {p} is not UTF-8 text") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise TrustgenError(f"prompt file {p} has no prompts (one per line)")
    return prompts


def load_text_model(name: str, *, allow_pickle: bool = False, include_up: bool = False) -> DiffusionModel:
    """A text-conditional model with cross-attention value layers to search (else :class:`TrustgenError`)."""
    from trustgen.diffusion.bundle import load_model

    model = load_model(name, allow_pickle=allow_pickle)
    if model.conditioning != "text":
        raise TrustgenError(f"model {name!r} is not text-conditional: it has no cross-attention to search")
    value_layers(model.unet, include_up=include_up)
    return model
