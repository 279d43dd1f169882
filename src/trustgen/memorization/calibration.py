"""Scoring prompts with NeMo's and Wen et al.'s detectors, and calibrating their thresholds.

NeMo (Hintersdorf et al., NeurIPS 2024) flags a prompt as memorized when its score exceeds the mean plus one
standard deviation of the scores of known non-memorized prompts; the activation statistics fitted on the same
prompts are what localization later compares against.
"""

from __future__ import annotations

from typing import Any

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.config import NemoSettings
from trustgen.memorization.layers import value_layers
from trustgen.memorization.statistics import ActivationStats

__all__ = ["calibrate", "scores"]


def scores(model: DiffusionModel, prompts: list[str], s: NemoSettings, threshold: float | None = None, *,
           progress: bool = False, what: str = "prompts") -> list[Any]:
    """NeMo and Wen detections of ``prompts`` (flagged against ``threshold`` when given)."""
    from trustgen.core.progress import track
    from trustgen.memorization.detection import detect

    return [detect(model, p, seeds=s.seeds, seed=s.seed, steps=s.steps, threshold=threshold,
                   probe_step=s.probe_step)[0]
            for p in track(prompts, description=f"scoring {what}", enabled=progress)]


def calibrate(model: DiffusionModel, prompts: list[str], s: NemoSettings, *,
              progress: bool = False) -> tuple[dict[str, Any], ActivationStats]:
    """Threshold (mean + 1 std of the non-memorized prompts' NeMo scores, and likewise for Wen's score) and
    activation statistics."""
    import numpy as np

    from trustgen.memorization.detection import calibrate_threshold

    dets = scores(model, prompts, s, progress=progress, what="calibration prompts")
    nemo = [d.nemo_score for d in dets]
    wen = [d.wen_score for d in dets]
    stats = ActivationStats.fit(model, prompts, value_layers(model.unet, include_up=s.include_up))
    calib = {"threshold": calibrate_threshold(nemo), "wen_threshold": calibrate_threshold(wen),
             "score_mean": float(np.mean(nemo)), "score_std": float(np.std(nemo)), "num_prompts": len(prompts),
             "settings": s.model_dump(mode="json"), "unet_evals": sum(d.unet_evals for d in dets)}
    return calib, stats
