"""Settings of NeMo (defaults: Hintersdorf et al., 2024, and their code's ``3_detect_memorized_neurons.py``)."""

from __future__ import annotations

from pydantic import Field

from trustgen.core.config import Settings


class NemoSettings(Settings):
    """Detection and localization settings; the threshold itself is calibrated per model."""

    seeds: int = Field(10, ge=2)  # samples per prompt
    seed: int = 1  # detection latents' seed (their default)
    steps: int = Field(50, ge=2)  # DDIM steps; only fixes which two timesteps are used
    initial_theta: float = 5.0
    theta_step: float = Field(0.25, gt=0)
    min_theta: float = 1.0
    initial_k: int = Field(0, ge=0)
    scale: float = 0.0  # activation multiplier of switched-off neurons
    include_up: bool = False  # also search the up blocks' value layers
