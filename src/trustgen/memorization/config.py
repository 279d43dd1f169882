"""Settings of ``trustgen memorization``.

Two algorithm settings — :class:`NemoSettings` (detection and localization; defaults: Hintersdorf et al., 2024, and
their code's ``3_detect_memorized_neurons.py``) and :class:`MitigationSettings` (the four mitigations and the
re-trigger search) — and one settings model per command (``CalibrateSettings`` … ``CompareSettings``: what the
command runs) that holds the model, the input files and the algorithm settings, so the ``config.yaml`` of a run
records everything needed to repeat it.
"""

from __future__ import annotations

from pathlib import Path
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


MITIGATION_METHODS = ("nemo", "embedding", "attention", "finetune")


class MitigationSettings(Settings):
    """Settings of the four mitigations and of the re-trigger search (``trustgen memorization mitigate`` and
    ``evaluate --compare``); defaults are each paper's unless noted."""

    # embedding — Wen, Liu, Chen, Lyu, ICLR 2024 (their code: AdamW lr 0.05, 10 iterations, stop at a target loss,
    # optimised at the first DDIM step, the beginning token frozen)
    embed_lr: float = Field(0.05, gt=0)
    embed_iters: int = Field(10, ge=1)
    # stop once the mean text-conditional noise norm is at most this; "auto" = the mean over the calibration
    # captions at the same step (calibrated per model; the paper sets a number for SD 1.4); "none" = all iterations
    embed_target_loss: float | Literal["auto", "none"] = "auto"
    embed_step: int = Field(0, ge=0)  # index of the DDIM step the embedding is optimised at (paper: 0)
    # attention — Ren, Li, Zeng, Xu, Lyu, Xing, Tang, ECCV 2024: multiply the beginning token's cross-attention
    # logits by c1 and mask the summary tokens (end token and padding) at every step and layer
    attn_c1: float = Field(1.25, gt=0)
    attn_mask_summary: bool = True
    # embedding and attention act only on prompts NeMo's detector flags (threshold calibrated on non-memorized
    # captions), as Wen et al. pair their detector with their mitigation; "none" applies them to every prompt
    gate: Literal["detector", "none"] = "detector"
    # finetune (ours, the direction of Hintersdorf et al. 2025, "Finding Dori"): train the cross-attention (attn2)
    # weights so a memorized caption predicts what the frozen model predicts for the empty prompt, while a
    # distillation loss keeps every other caption's prediction
    ft_steps: int = Field(200, ge=1)
    ft_lr: float = Field(1e-4, gt=0)
    ft_batch: int = Field(16, ge=1)
    ft_utility_weight: float = Field(1.0, ge=0)
    ft_images: int = Field(64, ge=1)  # x0 pool: the frozen model's own samples for the utility captions (no data)
    # re-trigger search (after Finding Dori): PGD on the caption's token features within an L2 ball of radius
    # retrigger_radius × ‖features‖, minimising the denoising loss of the memorized training image (a white-box
    # attacker who knows the image: an upper bound on what a caption-only attacker can do)
    retrigger_radius: float = Field(0.1, ge=0)
    retrigger_steps: int = Field(10, ge=1)
    retrigger_batch: int = Field(16, ge=1)
    seed: int = 0


# -- what each command runs ----------------------------------------------------------------------------------------

class CalibrateSettings(Settings):
    """What ``trustgen memorization calibrate`` runs: the threshold and activation statistics of ``model`` from the
    non-memorized ``prompts``."""

    model: str  # zoo name or diffusers pipeline folder
    prompts: Path  # text file, one non-memorized prompt per line
    nemo: NemoSettings = Field(default_factory=NemoSettings)


class DetectSettings(Settings):
    """What ``trustgen memorization detect`` runs: ``prompts`` scored against a calibration."""

    model: str
    prompts: Path
    calibration: Path  # folder written by ``trustgen memorization calibrate``
    nemo: NemoSettings = Field(default_factory=NemoSettings)


class LocalizeSettings(DetectSettings):
    """What ``trustgen memorization localize`` runs: the value neurons of each memorized prompt of ``prompts``."""


class PruneSettings(Settings):
    """What ``trustgen memorization prune`` runs: ``model`` exported with the chosen neurons scaled by ``scale``;
    the neurons come from exactly one of ``neurons_file`` and ``neurons``."""

    model: str
    neurons_file: Path | None = None  # a localize run folder or its neurons.json
    neurons: str | None = None  # LAYER:INDEX,…
    scale: float = 0.0  # multiplier of the chosen neurons (0 = off)


class MitigateSettings(Settings):
    """What ``trustgen memorization mitigate`` runs: the memorized prompts of ``prompts`` (NeMo's detector, with
    ``nemo``) mitigated by ``method`` (with ``mitigation``)."""

    model: str
    prompts: Path
    method: str  # one of MITIGATION_METHODS (checked by the run, with the choices in its message)
    calibration: Path | None = None  # None: the model's own caption lists, if it has them
    mitigation: MitigationSettings = Field(default_factory=MitigationSettings)
    nemo: NemoSettings = Field(default_factory=NemoSettings)


class EvaluateSettings(Settings):
    """What ``trustgen memorization evaluate`` runs: the whole NeMo validation on a model trained on
    ``digits-memorized``. ``seed`` seeds everything, NeMo's detection latents included (it replaces ``nemo.seed``)."""

    model: str
    seed: int = 0
    per_digit: int = Field(20, ge=1)  # samples per digit of the accuracy check
    gen_steps: int = Field(25, ge=1)  # DDIM steps of the evaluation generations
    nemo: NemoSettings = Field(default_factory=NemoSettings)


class CompareSettings(Settings):
    """What ``trustgen memorization evaluate --compare`` runs: every mitigation of ``methods`` on the same captions
    and seeds. NeMo's detection and localization use the model's recommended settings with ``seed``."""

    model: str
    seed: int = 0
    per_digit: int = Field(20, ge=1)
    gen_steps: int = Field(25, ge=1)
    methods: list[str] = Field(default_factory=lambda: list(MITIGATION_METHODS))
    limit: int | None = Field(None, ge=1)  # only the first N memorized captions
    nemo_from: Path | None = None  # an evaluate run's metrics.json whose NeMo neurons to reuse
    image_threshold: float | None = None  # None: calibrated here, as ``evaluate`` does
    mitigation: MitigationSettings = Field(default_factory=MitigationSettings)
