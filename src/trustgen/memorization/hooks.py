"""Switching neurons off: forward hooks (weights untouched) and a weight-patched export.

As in NeMo (Hintersdorf et al., 2024) a deactivated neuron's value output is multiplied by
``scale`` (0 = off) for every token, timestep and batch row; the hook sees the whole batch, so both
classifier-free-guidance branches are affected alike. Because ``to_v`` is linear, scaling its output
channel equals scaling that row of its weight (and bias): :func:`patched_unet` bakes the same change
into a copy of the UNet for export.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trustgen.memorization.layers import Neurons, check_neurons, value_layers


def _scale_hook(indices: list[int], scale: float) -> Any:
    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        out = output.clone()
        out[..., indices] = out[..., indices] * scale
        return out

    return hook


@contextmanager
def deactivate(unet: Any, neurons: Neurons, *, scale: float = 0.0, include_up: bool = True) -> Iterator[None]:
    """Within the block, multiply the chosen value neurons' outputs by ``scale`` (default 0: off).

    Works on any diffusers ``UNet2DConditionModel``; neuron indices are checked first (a bad index
    raises :class:`~trustgen.core.errors.TrustgenError` before any hook is placed).
    """
    layers = value_layers(unet, include_up=include_up)
    neurons = check_neurons(neurons, layers)
    handles = [layers[name].register_forward_hook(_scale_hook(idx, scale)) for name, idx in neurons.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def patched_unet(unet: Any, neurons: Neurons, *, scale: float = 0.0) -> Any:
    """A copy of ``unet`` whose ``to_v`` weight rows (and bias entries) of ``neurons`` are multiplied by ``scale``."""
    import torch

    patched = copy.deepcopy(unet)
    layers = value_layers(patched, include_up=True)
    with torch.no_grad():
        for name, indices in check_neurons(neurons, layers).items():
            layers[name].weight[indices] *= scale
            if layers[name].bias is not None:
                layers[name].bias[indices] *= scale
    return patched


@contextmanager
def count_unet_evals(unet: Any) -> Iterator[list[int]]:
    """Count UNet evaluations (one per batch row and forward pass) inside the block: ``box[0]``."""
    box = [0]

    def hook(_module: Any, args: Any, kwargs: Any) -> None:
        sample = args[0] if args else kwargs["sample"]
        box[0] += int(sample.shape[0])

    handle = unet.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield box
    finally:
        handle.remove()
