"""Training checkpoints that resume bit-for-bit.

A checkpoint is a folder ``checkpoints/step-NNNNNNN/`` holding the model, the EMA copy
(``ema.safetensors``), the AdamW state and the random-number-generator states, in the layout of
:mod:`trustgen.core.checkpoint`: written under a temporary name and renamed when complete, with
``state.json`` last, so a run killed mid-write leaves nothing that ``--resume`` would take for complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustgen.core import checkpoint

if TYPE_CHECKING:
    import torch

KIND = "step"


def save_checkpoint(
    folder: Path, step: int, *, model: torch.nn.Module, ema: dict[str, Any], optimizer: torch.optim.Optimizer,
    generator: torch.Generator, extra: dict[str, Any]
) -> Path:
    """Write checkpoint ``step`` into ``folder/step-NNNNNNN`` atomically."""
    return checkpoint.save_checkpoint(folder, KIND, step, digits=7, weights={"model": model.state_dict(), "ema": ema},
                                      optimizer=optimizer, generator=generator, state={"step": step, **extra})


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint under ``run_dir/checkpoints`` (or ``run_dir`` itself is one)."""
    return checkpoint.latest_checkpoint(run_dir, KIND)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint folder (``state``, ``model``, ``ema``, ``optimizer``, ``generator``, ``torch_rng``);
    :class:`~trustgen.core.errors.CorruptFileError` if any part is unreadable."""
    return checkpoint.load_checkpoint(path, ("model", "ema"))


def require_checkpoint(run_dir: Path) -> Path:
    """The checkpoint to resume from, or a clear error."""
    return checkpoint.require_checkpoint(run_dir, KIND)
