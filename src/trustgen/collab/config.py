"""Settings of a CollaFuse run (defaults: the digits preset, small enough for two CPU cores)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from trustgen.core.config import Settings
from trustgen.diffusion.config import UNetSettings


def _small_unet() -> UNetSettings:
    return UNetSettings(block_out_channels=(32, 64, 64))


PRESETS: dict[str, dict[str, object]] = {
    # 3 clients, non-IID by label (Dirichlet 0.3): the and the sweep's set-up
    "digits": {"dataset": "digits", "clients": 3, "partition": "dirichlet:0.3"},
    # the paper's healthcare example: 3 "hospitals" holding consecutive slice ranges of the MRI template,
    # scored in a generic pixel feature space (no MRI feature extractor is trained offline)
    "mri": {"dataset": "mri", "clients": 3, "partition": "contiguous", "extractor": "pixels",
            "samples_per_client": 60},
}


def preset(name: str | None) -> dict[str, object]:
    """The settings of a named preset (``digits`` or ``mri``); an empty dict for ``None``."""
    from trustgen.core.errors import TrustgenError

    if name is None:
        return {}
    if name not in PRESETS:
        raise TrustgenError(f"unknown preset {name!r}: use {' or '.join(PRESETS)}")
    return dict(PRESETS[name])


class CollabSettings(Settings):
    """What ``trustgen collab run`` runs."""

    dataset: str = "digits"
    clients: int = Field(3, ge=1)
    cut: float | list[float] = 0.2  # the client's share c of the T steps (t_c = round(c·T)), or one per client
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
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    sample_steps: int | None = None  # steps at generation, 1..T (None: all T, so client evals = t_c exactly)
    samples_per_client: int = Field(200, ge=2)
    extractor: str | None = None  # feature space of the fidelity scores (None: the data set's own)
    seed: int = 0
    unet: UNetSettings = Field(default_factory=_small_unet)

    @field_validator("cut")
    @classmethod
    def _cuts_in_range(cls, value: float | list[float]) -> float | list[float]:
        for c in value if isinstance(value, list) else [value]:
            if not 0.0 <= c <= 1.0:
                raise ValueError(f"cut must be in [0, 1], got {c}")
        return value

    @field_validator("sample_steps")
    @classmethod
    def _positive_sample_steps(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"sample_steps must be at least 1 (leave it out to sample with all T steps), got {value}")
        return value

    @model_validator(mode="after")
    def _one_cut_per_client(self) -> CollabSettings:
        if isinstance(self.cut, list) and len(self.cut) != self.clients:
            raise ValueError(f"got {len(self.cut)} per-client cuts for {self.clients} clients")
        return self

    @model_validator(mode="after")
    def _sample_steps_within_T(self) -> CollabSettings:
        if self.sample_steps is not None and self.sample_steps > self.num_train_timesteps:
            raise ValueError(f"sample_steps {self.sample_steps} is more than the T = {self.num_train_timesteps} "
                             "diffusion steps")
        return self

    def client_cuts(self) -> list[float]:
        """Every client's share ``c`` (the same for all unless ``cut`` is a list)."""
        return list(self.cut) if isinstance(self.cut, list) else [float(self.cut)] * self.clients
