"""Settings of NeMo (defaults: Hintersdorf et al., 2024, and their code's ``3_detect_memorized_neurons.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from trustgen.core.config import Settings


class NemoSettings(Settings):
    """Detection and localization settings; the threshold itself is calibrated per model."""

    seeds: int = Field(10, ge=2)  # samples per prompt
    seed: int = 1  # detection latents' seed (their default)
    steps: int = Field(50, ge=2)  # DDIM steps; fixes the timestep grid the probe runs on
    # index i of the DDIM timestep at which the probe starts: the chain runs T → t_i, predicts there, takes one
    # step and predicts again. 0 = the paper (the first timestep); "auto" = the first step whose total SNR
    # d·ᾱ/(1−ᾱ) reaches Stable Diffusion 1.4's at its first step (0 for SD-sized latents; see detection.py)
    probe_step: int | Literal["auto"] = "auto"
    initial_theta: float = 5.0
    theta_step: float = Field(0.25, gt=0)
    min_theta: float = 1.0
    initial_k: int = Field(0, ge=0)
    scale: float = 0.0  # activation multiplier of switched-off neurons
    include_up: bool = False  # also search the up blocks' value layers
    # when is a memorization suppressed during localization? "paper": same-seed MS-SSIM between the noise
    # differences with and without the neurons < τ (NeMo's code); "score": the detection score with the neurons
    # off < τ (see localization.Checker)
    check: Literal["paper", "score"] = "paper"

    @field_validator("probe_step")
    @classmethod
    def _probe_step(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"probe_step must be 'auto' or an index >= 0, got {value}")
        return value


def effective_settings(settings: NemoSettings, meta: dict[str, Any]) -> NemoSettings:
    """The settings a run uses: what the user set, else the model's recommendation (``trustgen.json`` key
    ``memorization``, e.g. ``include_up`` for a model whose memorization also runs through its up blocks), else
    the defaults."""
    recommended = dict(meta.get("memorization") or {})
    return NemoSettings(**{**recommended, **settings.model_dump(include=settings.model_fields_set)})
