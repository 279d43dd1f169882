"""Seeding for reproducible CPU runs: the same seed gives the same numbers."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and, if present, CUDA) generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def torch_generator(seed: int, device: str = "cpu"):  # -> torch.Generator
    """A fresh ``torch.Generator`` seeded with ``seed`` on ``device``."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g
