"""trustgen's cache folder: files converted or prepared once and reused (the attacker LLM's safetensors copy,
TextAttack's data)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """``$TRUSTGEN_CACHE`` or ``$XDG_CACHE_HOME/trustgen`` or ``~/.cache/trustgen``."""
    if os.environ.get("TRUSTGEN_CACHE"):
        return Path(os.environ["TRUSTGEN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trustgen"
