"""The interface every feature extractor implements, and the image checks they share.

Kept apart from :mod:`trustgen.core.metrics.extractors` (the registry) so that an extractor living in its
own module (``faces``) depends on the interface only, not on the registry that lists it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from trustgen.core.errors import TrustgenError

__all__ = ["FeatureExtractor", "check_images", "to_gray"]


class FeatureExtractor(ABC):
    """Maps images in [-1, 1] (N×C×H×W) to an N×``dim`` float array."""

    name: str
    dim: int

    @abstractmethod
    def features(self, images: torch.Tensor) -> np.ndarray:
        """Features of ``images`` (batched, no gradients)."""


def check_images(images: torch.Tensor) -> torch.Tensor:
    """``images`` as a float32 CPU tensor N×C×H×W; :class:`TrustgenError` otherwise."""
    x = torch.as_tensor(images).detach().cpu().float()
    if x.ndim != 4:
        raise TrustgenError(f"images must be N×C×H×W, got shape {tuple(x.shape)}")
    return x


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """Average the channels: N×C×H×W → N×1×H×W."""
    return images if images.shape[1] == 1 else images.mean(dim=1, keepdim=True)
