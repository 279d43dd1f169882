"""Export a model with memorization neurons switched off in its weights, plus a model card.

The ``to_v`` weight rows of the chosen neurons are multiplied by the scale (0 by default), which is exactly
what the deactivation hook does at run time (``to_v`` is linear). The folder keeps the source's diffusers
layout: its ``unet/`` loads with ``UNet2DConditionModel.from_pretrained`` as is, and a Stable Diffusion
pipeline folder stays a pipeline folder (every other component is copied unchanged).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from trustgen.core.runs import write_text_atomic
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.hooks import patched_unet
from trustgen.memorization.layers import Neurons, as_pairs, check_neurons, count, value_layers
from trustgen.memorization.report import patched_model_card

CARD = "README.md"
RECORD = "memorization.json"


def export_patched(model: DiffusionModel, neurons: Neurons, folder: str | Path, *, scale: float = 0.0,
                   why: dict[str, list[str]] | None = None, source: str = "") -> Path:
    """Write ``model`` with ``neurons`` scaled by ``scale`` in its weights to ``folder``; ``why`` maps
    ``"layer:index"`` to the prompts that neuron was found for (written to the model card)."""
    out = Path(folder)
    neurons = check_neurons(neurons, value_layers(model.unet, include_up=True))
    unet = patched_unet(model.unet, neurons, scale=scale)
    foreign = model.meta.get("source") == "diffusers pipeline folder"
    if foreign:  # copy the user's pipeline folder, then replace its UNet
        src = Path(model.meta["path"])
        shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("unet"))
        unet.save_pretrained(out / "unet", safe_serialization=True)
    else:
        meta = {**model.meta, "memorization_neurons_off": count(neurons)}
        replace(model, unet=unet, meta=meta).save(out)
    record: dict[str, Any] = {"source": source, "scale": scale, "neurons": as_pairs(neurons), "why": why or {}}
    write_text_atomic(out / RECORD, json.dumps(record, indent=2) + "\n")
    write_text_atomic(out / CARD, patched_model_card(source, neurons, scale, why or {}))
    return out
