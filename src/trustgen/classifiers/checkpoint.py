"""Resumable training checkpoints of a classifier: ``checkpoints/epoch-NNNN/`` with the network, the optimizer
state (tensors as safetensors, structure as JSON), the random-number-generator states and ``state.json`` written
last. A checkpoint is built under a temporary name and renamed when complete, so a run killed mid-write leaves
nothing that looks complete; older checkpoints are removed once a newer one is in place."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.optimizer_state import flatten_optimizer, unflatten_optimizer
from trustgen.core.safe_io import load_state_dict, save_state_dict

STATE = "state.json"


def save_checkpoint(run_dir: Path, epoch: int, *, network: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, state: dict[str, Any]) -> Path:
    """Write the state after ``epoch`` completed epochs; remove older checkpoints."""
    folder = run_dir / "checkpoints"
    final = folder / f"epoch-{epoch:04d}"
    tmp = folder / f".epoch-{epoch:04d}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_state_dict(network.state_dict(), tmp / "model.safetensors")
    tensors, rest = flatten_optimizer(optimizer.state_dict())
    save_state_dict(tensors, tmp / "optimizer.safetensors")
    (tmp / "optimizer.json").write_text(json.dumps(rest), encoding="utf-8")
    save_state_dict({"generator": generator.get_state(), "torch": torch.get_rng_state()}, tmp / "rng.safetensors")
    (tmp / STATE).write_text(json.dumps({"epoch": epoch, **state}, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in folder.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of ``run_dir`` (None if there is none)."""
    folder = run_dir / "checkpoints"
    done = sorted(p for p in folder.glob("epoch-*") if (p / STATE).is_file()) if folder.is_dir() else []
    return done[-1] if done else None


def require_checkpoint(run_dir: Path) -> Path:
    """:func:`latest_checkpoint` or a :class:`TrustgenError` saying there is nothing to resume."""
    found = latest_checkpoint(run_dir)
    if found is None:
        raise TrustgenError(f"nothing to resume in {run_dir}: no complete checkpoint under {run_dir / 'checkpoints'}")
    return found


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint folder; :class:`CorruptFileError` if a part is unreadable."""
    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        rest = json.loads((path / "optimizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"corrupt checkpoint {path}: {exc}") from None
    rng = load_state_dict(path / "rng.safetensors")
    return {"state": state, "model": load_state_dict(path / "model.safetensors"),
            "optimizer": unflatten_optimizer(load_state_dict(path / "optimizer.safetensors"), rest),
            "generator": rng["generator"], "torch_rng": rng["torch"]}
