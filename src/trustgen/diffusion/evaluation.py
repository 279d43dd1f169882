"""Evaluation of diffusion models: sample scores against the data, prompt following for text models."""

from __future__ import annotations

from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.diffusion.bundle import DiffusionModel
from trustgen.diffusion.sampling import sample


def prompted_accuracy(
    model: DiffusionModel,
    *,
    per_digit: int = 20,
    seed: int = 0,
    sampler: str = "ddim",
    steps: int | None = None,
    guidance_scale: float | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Prompt a text-to-digit model with "a handwritten N" for every digit and let the shipped digits
    classifier judge: the fraction of samples recognised as the prompted digit.

    Returns the metrics and the samples (10·per_digit images, digit-major order).
    """
    import numpy as np
    import torch

    from trustgen.core.data.captions import prompt_for_digit
    from trustgen.core.metrics import get_extractor

    if model.conditioning != "text":
        raise TrustgenError("prompted accuracy needs a text-conditional model (e.g. digits-t2i)")
    if model.image_shape != (1, 16, 16):
        raise TrustgenError(f"prompted accuracy scores 1×16×16 digits, this model makes {model.image_shape}")
    if per_digit < 1:
        raise TrustgenError(f"--per-digit must be at least 1, got {per_digit}")
    prompts = [prompt_for_digit(d) for d in range(10) for _ in range(per_digit)]
    images = sample(model, len(prompts), prompts=prompts, sampler=sampler, steps=steps, seed=seed,
                    guidance_scale=guidance_scale, progress=progress)
    probs = get_extractor("digits").probabilities(images)  # type: ignore[attr-defined]
    target = np.repeat(np.arange(10), per_digit)
    hits = probs.argmax(axis=1) == target
    metrics = {
        "prompted_accuracy": float(hits.mean()),
        "prompted_accuracy_per_digit": [float(hits[target == d].mean()) for d in range(10)],
        "prompt_template": prompt_for_digit(7).replace("seven", "{digit word}"),
        "per_digit": per_digit,
        "confidence": float(probs.max(axis=1).mean()),
    }
    return metrics, torch.as_tensor(images)
