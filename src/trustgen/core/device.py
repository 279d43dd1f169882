"""Device choice: CUDA when present and asked for, else CPU."""

from __future__ import annotations


def resolve_device(name: str = "auto") -> str:
    """Return ``"cuda"`` or ``"cpu"`` for ``name`` in {auto, cpu, cuda}."""
    import torch

    from trustgen.core.errors import TrustgenError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrustgenError("device 'cuda' requested but no CUDA device is available")
    if name not in {"cpu", "cuda"}:
        raise TrustgenError(f"unknown device {name!r}: use auto, cpu or cuda")
    return name
