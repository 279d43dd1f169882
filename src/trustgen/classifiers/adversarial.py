"""Projected gradient descent (Madry et al., ICLR 2018) for adversarial training and robust accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float, step_size: float,
        steps: int, random_start: bool = True, generator: torch.Generator | None = None,
        low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """Adversarial images within ``eps`` (L∞) of ``images`` and inside [``low``, ``high``] that raise the
    cross-entropy of ``labels``: ``steps`` signed-gradient steps of ``step_size``, each projected back. The model's
    mode (train/eval) is left as it is; its parameters get no gradients."""
    x0 = images.detach()
    x = x0.clone()
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype) * 2 - 1
        x = (x0 + eps * noise).clamp(low, high)
    needed = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            x.requires_grad_(True)
            loss = F.cross_entropy(model(x), labels)
            (grad,) = torch.autograd.grad(loss, x)
            x = x.detach() + step_size * grad.sign()
            x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(low, high)
    finally:
        for p, need in zip(model.parameters(), needed, strict=True):
            p.requires_grad_(need)
    return x.detach()
