"""Resumable training checkpoints of a classifier: ``checkpoints/epoch-NNNN/`` with the network
(``model.safetensors``), the optimizer and random-number-generator states and ``state.json``, in the layout of
:mod:`trustgen.core.checkpoint` (written atomically, ``state.json`` last). Older checkpoints are removed once a
newer one is in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trustgen.core import checkpoint

KIND = "epoch"


def save_checkpoint(run_dir: Path, epoch: int, *, network: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, state: dict[str, Any]) -> Path:
    """Write the state after ``epoch`` completed epochs; remove older checkpoints."""
    return checkpoint.save_checkpoint(run_dir / "checkpoints", KIND, epoch, digits=4,
                                      weights={"model": network.state_dict()}, optimizer=optimizer,
                                      generator=generator, state={"epoch": epoch, **state}, keep_older=False)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of ``run_dir`` (None if there is none)."""
    return checkpoint.latest_checkpoint(run_dir, KIND)


def require_checkpoint(run_dir: Path) -> Path:
    """:func:`latest_checkpoint` or a :class:`~trustgen.core.errors.TrustgenError` saying there is nothing to
    resume."""
    return checkpoint.require_checkpoint(run_dir, KIND)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint folder (``state``, ``model``, ``optimizer``, ``generator``, ``torch_rng``);
    :class:`~trustgen.core.errors.CorruptFileError` if a part is unreadable."""
    return checkpoint.load_checkpoint(path, ("model",))
