"""Sample-quality scores: classifier confidence, class entropy, SSIM and MS-SSIM.

SSIM is not shift-invariant (its luminance term divides by mean intensities), so images
in [-1, 1] are shifted to [0, 2] and scored with ``data_range=2``; this is identical to
the usual [0, 1] / ``data_range=1`` convention.

MS-SSIM keeps its standard settings (5 scales, weights 0.0448…0.1333, 11×11 Gaussian
window, σ=1.5), which need images of at least 176 px. Smaller images (16×16 digits,
32×32 faces) are first upsampled bilinearly so the short side is 176 px. Upsampling adds
no detail, so the finest scales mostly agree and small-image MS-SSIM reads higher than
SSIM; it is not comparable with MS-SSIM published on large images.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from trustgen.core.errors import TrustgenError

MS_SSIM_MIN_SIDE = 176


def classifier_confidence(probs: np.ndarray | torch.Tensor) -> float:
    """Mean over samples of the largest class probability (N×K softmax outputs)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise TrustgenError(f"probabilities must be N×K with N >= 1, got shape {p.shape}")
    return float(p.max(axis=1).mean())


def class_histogram(preds: np.ndarray | torch.Tensor, num_classes: int) -> np.ndarray:
    """Fraction of predictions in each of ``num_classes`` classes (sums to 1)."""
    y = np.asarray(preds, dtype=np.int64).ravel()
    if y.size == 0:
        raise TrustgenError("class histogram of an empty set of predictions")
    if y.min() < 0 or y.max() >= num_classes:
        raise TrustgenError(f"predicted classes must lie in [0, {num_classes}), got {y.min()}..{y.max()}")
    return np.bincount(y, minlength=num_classes) / y.size


def class_entropy(preds: np.ndarray | torch.Tensor, num_classes: int) -> float:
    """Entropy (nats) of the predicted-class histogram: ln K when all K classes are equally frequent."""
    h = class_histogram(preds, num_classes)
    nz = h[h > 0]
    return float(-(nz * np.log(nz)).sum())


def max_class_entropy(num_classes: int) -> float:
    """ln K, the largest possible class entropy."""
    return math.log(num_classes)


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(a).detach().cpu().float()
    y = torch.as_tensor(b).detach().cpu().float()
    if x.ndim != 4 or x.shape != y.shape:
        raise TrustgenError(
            f"SSIM needs two N×C×H×W batches of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x + 1, y + 1  # [-1, 1] → [0, 2]


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of paired images in [-1, 1] (11×11 Gaussian window, σ=1.5)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, y = _pair(a, b)
    try:
        value = structural_similarity_index_measure(x, y, data_range=2.0)
    except (ValueError, RuntimeError) as exc:
        raise TrustgenError(f"cannot compute SSIM for images of shape {tuple(x.shape)}: {exc}") from None
    assert isinstance(value, torch.Tensor)  # a plain score (no full image / contrast map requested)
    return float(value)


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean MS-SSIM (standard settings) of paired images in [-1, 1]; small images are upsampled to 176 px."""
    import torch.nn.functional as F
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    x, y = _pair(a, b)
    h, w = x.shape[-2:]
    if min(h, w) < MS_SSIM_MIN_SIDE:
        f = MS_SSIM_MIN_SIDE / min(h, w)
        size = (math.ceil(h * f), math.ceil(w * f))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    try:
        return float(multiscale_structural_similarity_index_measure(x, y, data_range=2.0))
    except (ValueError, RuntimeError) as exc:
        raise TrustgenError(f"cannot compute MS-SSIM for images of shape {tuple(x.shape)}: {exc}") from None
