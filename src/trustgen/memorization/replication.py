"""Image-space replication: does a caption's generation reproduce a training image?

A generation *replicates* when its largest SSIM to the training image reaches an image threshold calibrated like
NeMo's detection threshold (Hintersdorf et al., NeurIPS 2024): the mean plus one standard deviation, over held-out
non-memorized captions, of the largest SSIM between their generations and the nearest training image. Used by
``evaluate`` (:mod:`.evaluate`) and ``evaluate --compare`` (:mod:`.compare`). No I/O here.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from trustgen.diffusion.bundle import DiffusionModel
from trustgen.memorization.layers import Neurons

__all__ = ["generate", "image_threshold", "pairwise_ssim"]


def pairwise_ssim(a: Any, b: Any, chunk: int = 8192) -> Any:
    """SSIM of every image of ``a`` (N) with every image of ``b`` (M): an N×M array (11×11 Gaussian window)."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    n, m = len(a), len(b)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(m), indexing="ij")
    i, j = i.flatten(), j.flatten()
    out = torch.empty(n * m)
    for s in range(0, n * m, chunk):
        x, y = a[i[s:s + chunk]] + 1, b[j[s:s + chunk]] + 1
        out[s:s + chunk] = torch.as_tensor(structural_similarity_index_measure(x, y, data_range=2.0,
                                                                              reduction="none"))
    return out.reshape(n, m).numpy()


def generate(model: DiffusionModel, prompt: str, n: int, seed: int, steps: int,
             neurons: Neurons | None = None) -> Any:
    """``n`` DDIM images of ``prompt`` from ``seed``, with ``neurons`` switched off when given."""
    from trustgen.diffusion.sampling import sample
    from trustgen.memorization.hooks import deactivate

    block = deactivate(model.unet, neurons) if neurons else nullcontext()
    with block:
        return sample(model, n, prompts=[prompt], sampler="ddim", steps=steps, seed=seed)


def image_threshold(model: DiffusionModel, captions: list[str], train_images: Any, *, gen_seeds: int, seed: int,
                    steps: int, progress: bool = False) -> float:
    """Mean + 1 std over ``captions`` of the max SSIM between their generations and the nearest training image."""
    from trustgen.core.progress import track

    nearest = [float(pairwise_ssim(generate(model, p, gen_seeds, seed, steps), train_images).max())
               for p in track(captions, description="image threshold", enabled=progress)]
    return float(np.mean(nearest) + np.std(nearest))
