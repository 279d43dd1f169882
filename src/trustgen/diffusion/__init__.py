"""DDPM/DDIM training and sampling on diffusers models (Ho et al., 2020; Song et al., 2021).

No home-made UNet or scheduler: models are diffusers ``UNet2DModel`` (unconditional or
class-conditional) and ``UNet2DConditionModel`` (text-conditional, cross-attention over a
pretrained text encoder), with diffusers' DDPM and DDIM schedulers. Classifier-free
guidance follows Ho & Salimans (2022).

>>> from trustgen.diffusion import load_model, sample
>>> model = load_model("digits-ddpm")   # doctest: +SKIP
>>> images = sample(model, num=16, seed=0)   # doctest: +SKIP
>>> from pathlib import Path
>>> from trustgen.diffusion import SampleSettings, run_sample
>>> run_sample(SampleSettings(model="digits-ddpm", num=16), Path("runs/sample"))   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustgen.core.lazy import lazy_exports

if TYPE_CHECKING:
    from trustgen.diffusion.bundle import DiffusionModel, load_model
    from trustgen.diffusion.config import (
        DiffusionTrainSettings,
        EvaluateModelSettings,
        EvaluateSamplesSettings,
        SampleSettings,
        UNetSettings,
    )
    from trustgen.diffusion.experiment import run_evaluate_model, run_evaluate_samples, run_sample, run_train
    from trustgen.diffusion.sampling import sample
    from trustgen.diffusion.trainer import DenoiserTrainer
    from trustgen.diffusion.training import train_diffusion

_EXPORTS = {
    "DenoiserTrainer": "trustgen.diffusion.trainer",
    "DiffusionModel": "trustgen.diffusion.bundle",
    "DiffusionTrainSettings": "trustgen.diffusion.config",
    "EvaluateModelSettings": "trustgen.diffusion.config",
    "EvaluateSamplesSettings": "trustgen.diffusion.config",
    "SampleSettings": "trustgen.diffusion.config",
    "UNetSettings": "trustgen.diffusion.config",
    "load_model": "trustgen.diffusion.bundle",
    "run_evaluate_model": "trustgen.diffusion.experiment",
    "run_evaluate_samples": "trustgen.diffusion.experiment",
    "run_sample": "trustgen.diffusion.experiment",
    "run_train": "trustgen.diffusion.experiment",
    "sample": "trustgen.diffusion.sampling",
    "train_diffusion": "trustgen.diffusion.training",
}
__all__ = [
    "DenoiserTrainer",
    "DiffusionModel",
    "DiffusionTrainSettings",
    "EvaluateModelSettings",
    "EvaluateSamplesSettings",
    "SampleSettings",
    "UNetSettings",
    "load_model",
    "run_evaluate_model",
    "run_evaluate_samples",
    "run_sample",
    "run_train",
    "sample",
    "train_diffusion",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
