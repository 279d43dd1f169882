"""Differentiable, per-image random augmentations on batches (affine grids), seeded by a ``torch.Generator``.

``random_resized_crop`` follows torchvision's ``RandomResizedCrop`` (area fraction uniform in ``scale``,
log aspect ratio uniform in ``log(ratio)``, a uniformly placed window, resized back) with two differences: every
image draws its own window (torchvision's transform draws one per call, so one for the whole batch), and a window
that would not fit is clipped to the image instead of redrawn. Gradients flow to the input images, which model
inversion needs. Used by classifier training and by the Plug & Play attack.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None, device: torch.device
             ) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def crop_grid(n: int, scale: tuple[float, float], ratio: tuple[float, float], hflip: float,
              generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """N×2×3 affine matrices of random crops (as fractions of the image) with random horizontal flips."""
    area = _uniform(n, scale[0], scale[1], generator, device)
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), generator, device)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=generator, device=device) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=generator, device=device) * 2 - 1) * (1 - h)
    flip = torch.rand(n, generator=generator, device=device) < hflip
    sx = torch.where(flip, -w, w)
    zero = torch.zeros_like(w)
    return torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)


def random_resized_crop(images: torch.Tensor, *, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.0,
                        size: tuple[int, int] | None = None, generator: torch.Generator | None = None
                        ) -> torch.Tensor:
    """Each image cropped to its own random window and resized (bilinear) to ``size`` (default: its own size),
    flipped horizontally with probability ``hflip``. ``scale=(1, 1)`` and ``hflip=0`` return ``images``."""
    if scale == (1.0, 1.0) and ratio == (1.0, 1.0) and hflip == 0.0 and size in (None, tuple(images.shape[-2:])):
        return images
    n, c = images.shape[:2]
    h, w = size if size is not None else images.shape[-2:]
    theta = crop_grid(n, scale, ratio, hflip, generator, images.device).to(images.dtype)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def center_crop_resize(images: torch.Tensor, crop: float | None, size: tuple[int, int] | None) -> torch.Tensor:
    """The central ``crop`` fraction of each side (None: all of it), resized to ``size`` (None: unchanged)."""
    if crop is not None and crop < 1.0:
        h, w = images.shape[-2:]
        ch, cw = max(round(h * crop), 1), max(round(w * crop), 1)
        top, left = (h - ch) // 2, (w - cw) // 2
        images = images[..., top : top + ch, left : left + cw]
    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
    return images
