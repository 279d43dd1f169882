"""Settings of a CollaFuse run (defaults: the digits preset, small enough for two CPU cores)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trustgen.core.config import Settings
from trustgen.diffusion.config import UNetSettings


def _small_unet() -> UNetSettings:
    return UNetSettings(block_out_channels=(32, 64, 64))


class CollabSettings(Settings):
    """What ``trustgen collab run`` runs."""

    dataset: str = "digits"
    clients: int = Field(3, ge=1)
    cut: float = Field(0.2, ge=0, le=1)  # the client's share c of the T steps; t_c = round(c·T)
    partition: str = "dirichlet:0.3"
    handoff: Literal["exact", "marginal"] = "exact"
    conditioning: Literal["none", "class"] = "class"
    steps: int = Field(1500, ge=1)  # rounds; each client one step per round, the server one per client
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(100, ge=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    cond_dropout: float = Field(0.1, ge=0, le=1)
    num_train_timesteps: int = Field(1000, ge=2)
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "squaredcos_cap_v2"
    sample_steps: int | None = None  # DDPM steps at generation (None: all T, so client evals = t_c exactly)
    samples_per_client: int = Field(200, ge=2)
    seed: int = 0
    unet: UNetSettings = Field(default_factory=_small_unet)
