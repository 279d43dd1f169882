"""Compute accounting: floating-point operations of a client's UNet, measured with torch's flop counter."""

from __future__ import annotations

from typing import Any

from trustgen.diffusion.bundle import DiffusionModel


def _unet_inputs(model: DiffusionModel, batch: int) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    x = torch.zeros((batch, *model.image_shape))
    t = torch.full((batch,), 1, dtype=torch.long)
    kwargs = {"class_labels": torch.zeros(batch, dtype=torch.long)} if model.conditioning == "class" else {}
    return x, t, kwargs


def forward_flops(model: DiffusionModel) -> int:
    """FLOPs of one UNet evaluation on one image (``torch.utils.flop_counter``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x, t, kwargs = _unet_inputs(model, 1)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.unet(x, t, **kwargs)
    return int(counter.get_total_flops())


def train_step_flops_per_sample(model: DiffusionModel, batch: int = 8) -> int:
    """FLOPs of forward + backward per training image (optimizer update excluded)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, t, kwargs = _unet_inputs(model, batch)
    counter = FlopCounterMode(display=False)
    with counter:
        model.unet(x, t, **kwargs).sample.pow(2).mean().backward()
    model.unet.zero_grad(set_to_none=True)
    return int(counter.get_total_flops()) // batch
