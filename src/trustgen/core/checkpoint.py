"""Resumable trainer state on disk: safetensors and JSON only, never half-written.

A checkpoint is a folder ``<run>/checkpoints/<kind>-<number>/`` (``step-0000400``, ``epoch-0003``,
``round-00002``). :func:`save_checkpoint` writes a trainer's state into it: each set of weights as
``<part>.safetensors`` (``model``, ``ema``, …), the optimizer's tensors as ``optimizer.safetensors`` and its
structure (param groups, scalars) as ``optimizer.json``, the random-number-generator states as
``rng.safetensors``, and ``state.json`` last. Every checkpoint is built under a temporary name and renamed
when complete (:func:`new_checkpoint`), so a run killed mid-write leaves nothing that :func:`latest_checkpoint`
(and so ``--resume``) takes for complete.

The diffusion trainer, the classifier recipes and CollaFuse's Flower server (which stores its own tensors in
the folder :func:`new_checkpoint` gives it) keep their checkpoints this way.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustgen.core.errors import CorruptFileError, TrustgenError
from trustgen.core.safe_io import load_state_dict, save_state_dict

if TYPE_CHECKING:
    import torch

__all__ = [
    "STATE_FILE",
    "flatten_optimizer",
    "latest_checkpoint",
    "load_checkpoint",
    "new_checkpoint",
    "require_checkpoint",
    "save_checkpoint",
    "unflatten_optimizer",
]

STATE_FILE = "state.json"  # written last: a checkpoint folder without it is incomplete


def flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimizer ``state_dict`` as (tensors for safetensors, JSON-able structure: param groups, scalars)."""
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            name = f"{idx}.{key}"
            if hasattr(value, "shape"):
                tensors[name] = value
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, Any], structure: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *structure["scalars"].items()]:
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": structure["param_groups"]}


@contextmanager
def new_checkpoint(folder: Path, kind: str, number: int, *, digits: int, keep_older: bool = True) -> Iterator[Path]:
    """A fresh temporary folder to fill with checkpoint ``folder/<kind>-<number>``; renamed into place (replacing
    one of that name) when the block ends without an error. With ``keep_older=False`` the other ``<kind>-*``
    checkpoints in ``folder`` are removed once the new one is in place."""
    final = folder / f"{kind}-{number:0{digits}d}"
    tmp = folder / f".{final.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    yield tmp
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if not keep_older:
        for old in folder.glob(f"{kind}-*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(folder: Path, kind: str, number: int, *, digits: int, weights: dict[str, dict[str, Any]],
                    optimizer: torch.optim.Optimizer, generator: torch.Generator, state: dict[str, Any],
                    keep_older: bool = True) -> Path:
    """Write checkpoint ``folder/<kind>-<number>`` atomically: ``weights[part]`` as ``<part>.safetensors``, the
    optimizer, the states of ``generator`` and of torch's global generator, and ``state`` (JSON) as
    ``state.json``. Returns the checkpoint folder."""
    import torch

    with new_checkpoint(folder, kind, number, digits=digits, keep_older=keep_older) as tmp:
        for part, tensors in weights.items():
            save_state_dict(tensors, tmp / f"{part}.safetensors")
        opt_tensors, opt_structure = flatten_optimizer(optimizer.state_dict())
        save_state_dict(opt_tensors, tmp / "optimizer.safetensors")
        (tmp / "optimizer.json").write_text(json.dumps(opt_structure), encoding="utf-8")
        save_state_dict({"generator": generator.get_state(), "torch": torch.get_rng_state()}, tmp / "rng.safetensors")
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return folder / f"{kind}-{number:0{digits}d}"


def load_checkpoint(path: Path, weights: Sequence[str] = ("model",)) -> dict[str, Any]:
    """Read what :func:`save_checkpoint` wrote: ``state`` (``state.json``), each part of ``weights``, ``optimizer``
    (a ``state_dict``), ``generator`` and ``torch_rng`` (generator states). :class:`CorruptFileError` if a part is
    missing or unreadable."""
    try:
        state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        structure = json.loads((path / "optimizer.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"checkpoint {path} is incomplete or corrupt: {exc}") from None
    rng = load_state_dict(path / "rng.safetensors")
    return {"state": state, **{part: load_state_dict(path / f"{part}.safetensors") for part in weights},
            "optimizer": unflatten_optimizer(load_state_dict(path / "optimizer.safetensors"), structure),
            "generator": rng["generator"], "torch_rng": rng["torch"]}


def latest_checkpoint(run_dir: Path, kind: str) -> Path | None:
    """The newest complete ``<kind>-*`` checkpoint under ``run_dir/checkpoints`` (``run_dir`` itself if it is a
    complete checkpoint); None if there is none."""
    if (run_dir / STATE_FILE).is_file():
        return run_dir
    folder = run_dir / "checkpoints"
    done = sorted(p for p in folder.glob(f"{kind}-*") if (p / STATE_FILE).is_file()) if folder.is_dir() else []
    return done[-1] if done else None


def require_checkpoint(run_dir: Path, kind: str) -> Path:
    """:func:`latest_checkpoint`, or a :class:`TrustgenError` saying why there is nothing to resume."""
    if not run_dir.is_dir():
        raise TrustgenError(f"nothing to resume: run folder not found: {run_dir}")
    found = latest_checkpoint(run_dir, kind)
    if found is None:
        raise TrustgenError(f"nothing to resume in {run_dir}: no complete checkpoint under {run_dir / 'checkpoints'}")
    return found
