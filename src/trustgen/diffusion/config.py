"""Settings of ``trustgen diffusion``: training (defaults sized for 16×16 digits on two CPU cores), sampling and
evaluation. Each command's settings hold its inputs (model, data, sample paths) too, so the ``config.yaml`` of a
run says everything needed to repeat it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from trustgen.core.config import Settings

Conditioning = Literal["none", "class", "text"]


class UNetSettings(Settings):
    """Shape of the denoiser (a diffusers UNet)."""

    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    # attention (self-attention; for text also cross-attention) at the lowest `attention_levels`
    # resolutions and in the middle block; 0 = none (text models always keep the middle block's)
    attention_levels: int = Field(0, ge=0)
    norm_num_groups: int = 8
    attention_head_dim: int = 8
    pooled_text: bool = True  # text UNets: add the pooled sentence embedding to the time embedding


class DiffusionTrainSettings(Settings):
    """What ``trustgen diffusion train`` runs."""

    dataset: str = "digits"
    conditioning: Conditioning = "none"
    text_encoder: Literal["minilm", "clip"] = "minilm"
    steps: int = Field(4000, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(100, ge=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    cond_dropout: float = Field(0.1, ge=0, le=1)  # classifier-free guidance training drop rate
    guidance_scale: float = Field(1.0, ge=0)  # default CFG scale saved with class/text models (1 = none)
    num_train_timesteps: int = Field(1000, ge=2)
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "squaredcos_cap_v2"
    t_min: int = Field(0, ge=0)  # train only on timesteps in [t_min, t_max); CollaFuse uses this
    t_max: int | None = None
    checkpoint_every: int = Field(1000, ge=1)
    seed: int = 0
    device: str = "auto"
    # fine-tune: start from this model's weights (zoo name or folder) instead of a fresh UNet;
    # its architecture and text encoder are kept and `unet` is ignored, except `unet.pooled_text: false`,
    # which removes the pooled-text path (text then enters only through cross-attention)
    init_from: str | None = None
    unet: UNetSettings = Field(default_factory=UNetSettings)

    @model_validator(mode="after")
    def _check_range(self) -> DiffusionTrainSettings:
        t_max = self.num_train_timesteps if self.t_max is None else self.t_max
        if not 0 <= self.t_min < t_max <= self.num_train_timesteps:
            raise ValueError(f"need 0 <= t_min < t_max <= {self.num_train_timesteps}, got [{self.t_min}, {t_max})")
        return self


class SampleSettings(Settings):
    """What ``trustgen diffusion sample`` runs: the model, how many images, the prompt and the sampler."""

    model: str  # zoo name or model folder
    num: int = Field(64, ge=1)
    prompt: str | None = None  # text-conditional models
    sampler: str = "ddim"  # ddim or ddpm (checked by the sampler, with the choices in its message)
    steps: int | None = Field(None, ge=1)  # None: T for ddpm, 50 for ddim
    seed: int = 0
    guidance_scale: float | None = None  # None: the model's own
    allow_pickle: bool = False
    evaluate: bool = True  # score the samples against the model's data set


class EvaluateSamplesSettings(Settings):
    """What ``trustgen diffusion evaluate --samples`` runs: stored samples scored against a data set."""

    samples: Path  # a sample run folder or its samples.npy
    dataset: str
    seed: int = 0
    extractor: str | None = None  # None: the data set's own feature extractor


class EvaluateModelSettings(Settings):
    """What ``trustgen diffusion evaluate --model`` runs: prompt following of a text-to-digit model."""

    model: str
    per_digit: int = Field(20, ge=1)
    seed: int = 0
    sampler: str = "ddim"
    steps: int | None = Field(None, ge=1)
    guidance_scale: float | None = None
