"""Training checkpoints that resume bit-for-bit.

A checkpoint is a folder ``checkpoints/step-NNNNNNN/`` holding the model, the EMA copy, the
AdamW state (tensors as safetensors, structure as JSON) and the random-number-generator
states. It is written under a temporary name and renamed when complete, and ``state.json`` is
its last file: a run killed mid-write leaves nothing that ``--resume`` would take for complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.optimizer_state import flatten_optimizer, unflatten_optimizer
from trustgen.core.safe_io import load_state_dict, save_state_dict

STATE = "state.json"


def save_checkpoint(
    folder: Path, step: int, *, model: Any, ema: dict[str, Any], optimizer: Any, generator: Any, extra: dict[str, Any]
) -> Path:
    """Write checkpoint ``step`` into ``folder/step-NNNNNNN`` atomically."""
    import torch

    final = folder / f"step-{step:07d}"
    tmp = folder / f".step-{step:07d}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_state_dict(model.state_dict(), tmp / "model.safetensors")
    save_state_dict(ema, tmp / "ema.safetensors")
    opt_tensors, opt_structure = flatten_optimizer(optimizer.state_dict())
    save_state_dict(opt_tensors, tmp / "optimizer.safetensors")
    save_state_dict({"generator": generator.get_state(), "torch": torch.get_rng_state()}, tmp / "rng.safetensors")
    (tmp / "optimizer.json").write_text(json.dumps(opt_structure), encoding="utf-8")
    (tmp / STATE).write_text(json.dumps({"step": step, **extra}, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint under ``run_dir/checkpoints`` (or ``run_dir`` itself is one)."""
    if (run_dir / STATE).is_file():
        return run_dir
    folder = run_dir / "checkpoints"
    done = sorted(p for p in folder.glob("step-*") if (p / STATE).is_file()) if folder.is_dir() else []
    return done[-1] if done else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint folder; :class:`CorruptFileError` if any part is unreadable."""
    try:
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        structure = json.loads((path / "optimizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"checkpoint {path} is incomplete or corrupt: {exc}") from None
    rng = load_state_dict(path / "rng.safetensors")
    return {
        "state": state,
        "model": load_state_dict(path / "model.safetensors"),
        "ema": load_state_dict(path / "ema.safetensors"),
        "optimizer": unflatten_optimizer(load_state_dict(path / "optimizer.safetensors"), structure),
        "generator": rng["generator"],
        "torch_rng": rng["torch"],
    }


def require_checkpoint(run_dir: Path) -> Path:
    """The checkpoint to resume from, or a clear error."""
    if not run_dir.is_dir():
        raise TrustgenError(f"--resume: run folder not found: {run_dir}")
    path = latest_checkpoint(run_dir)
    if path is None:
        raise TrustgenError(f"--resume: no complete checkpoint in {run_dir}")
    return path
