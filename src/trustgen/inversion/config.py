"""Settings of the Plug & Play attack, its generator, and the label-smoothing study.

Attack defaults are the paper's (Struppek et al., ICML 2022; ``configs/attacking/FaceScrub_FFHQ.yaml`` of
LukasStruppek/Plug-and-Play-Attacks): 2,000 latents searched with truncation ψ = 0.5, the top 200 per class kept
(scored on the image and its mirror), 50 Adam steps (lr 0.005, betas 0.1/0.1) on the Poincaré loss (ξ = 1e-4) with
RandomResizedCrop(scale 0.9–1, ratio 1) each step, and the final 50 per class by mean target confidence over 100
RandomResizedCrop(scale 0.5–0.9, ratio 0.8–1.2) + flip transforms. The paper's centre crop and resize (StyleGAN's
1024² faces → 224² classifier input) are off by default: our generators make the target's input size.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings
from trustgen.core.config import Settings

PRIVATE_DIGITS = [0, 1, 2, 3, 4]
PUBLIC_DIGITS = [5, 6, 7, 8, 9]


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    if not 0 < value[0] <= value[1]:
        raise ValueError(f"a range must satisfy 0 < low <= high, got {list(value)}")
    return value


class CandidateSettings(Settings):
    """Initial selection: sample ``search_space`` latents, keep the ``per_class`` most confident per class."""

    search_space: int = Field(2000, ge=1)
    per_class: int = Field(200, ge=1)
    truncation: float = Field(0.5, gt=0)  # ψ
    hflip: bool = True  # average the target's softmax over the image and its mirror
    batch_size: int = Field(500, ge=1)


class OptimizationSettings(Settings):
    """Latent optimisation: Adam on the Poincaré loss of the target's logits of randomly cropped images."""

    steps: int = Field(50, ge=0)
    lr: float = Field(0.005, gt=0)
    betas: tuple[float, float] = (0.1, 0.1)
    lr_milestones: list[int] = Field(default_factory=list)  # steps where lr ×= lr_gamma (default_attacking: 30, 40)
    lr_gamma: float = Field(0.1, gt=0)
    xi: float = Field(1e-4, ge=0, lt=1)  # Poincaré loss: the one-hot target is clipped to 1 − ξ
    crop_scale: tuple[float, float] = (0.9, 1.0)
    crop_ratio: tuple[float, float] = (1.0, 1.0)
    hflip: float = Field(0.0, ge=0, le=1)
    clip: bool = False  # clamp images to [-1, 1] before the target (the paper's default: off)
    batch_size: int = Field(250, ge=1)  # latents per optimisation batch (a compute choice: Adam is per latent)

    @field_validator("crop_scale", "crop_ratio")
    @classmethod
    def _crop(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _check_range(value)


class FinalSelectionSettings(Settings):
    """Final selection: keep the ``per_class`` latents with the highest mean target confidence over
    ``iterations`` random transforms."""

    per_class: int = Field(50, ge=1)
    iterations: int = Field(100, ge=1)
    crop_scale: tuple[float, float] = (0.5, 0.9)
    crop_ratio: tuple[float, float] = (0.8, 1.2)
    hflip: float = Field(0.5, ge=0, le=1)
    batch_size: int = Field(1000, ge=1)

    @field_validator("crop_scale", "crop_ratio")
    @classmethod
    def _crop(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _check_range(value)


class AttackSettings(Settings):
    """What ``trustgen inversion attack`` runs."""

    classes: list[int] | None = None  # target classes (data-set labels the target knows); None: all of them
    candidates: CandidateSettings = Field(default_factory=CandidateSettings)
    optimization: OptimizationSettings = Field(default_factory=OptimizationSettings)
    final: FinalSelectionSettings = Field(default_factory=FinalSelectionSettings)
    center_crop: float | None = Field(None, gt=0, le=1)  # fraction of each side kept before the target (paper 0.78)
    resize: bool = False  # resize generated images to the target's input size (else the sizes must match)
    seed: int = 0
    device: str = "auto"

    @model_validator(mode="after")
    def _final_fits(self) -> AttackSettings:
        if self.final.per_class > self.candidates.per_class:
            raise ValueError(f"final.per_class ({self.final.per_class}) cannot exceed candidates.per_class "
                             f"({self.candidates.per_class})")
        return self


class GeneratorTrainSettings(Settings):
    """The attack's image prior: a VAE trained on the public classes only."""

    dataset: str = "digits"
    classes: list[int] = Field(default_factory=lambda: list(PUBLIC_DIGITS))
    split: Literal["train", "test", "all"] = "all"  # public data: every split of the public classes
    latent_dim: int = Field(16, ge=1)
    widths: list[int] = Field(default_factory=lambda: [32, 64])
    beta: float = Field(1.0, ge=0)
    epochs: int = Field(150, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-3, gt=0)
    seed: int = 0

    @field_validator("widths")
    @classmethod
    def _two(cls, value: list[int]) -> list[int]:
        if len(value) != 2 or any(w < 2 for w in value):
            raise ValueError(f"the VAE takes two widths >= 2, got {value}")
        return value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _digits_attack() -> AttackSettings:
    # digits are not mirror-symmetric (a mirrored 3 is no 3), so the flips the paper uses on faces are off
    return AttackSettings(candidates=CandidateSettings(hflip=False), final=FinalSelectionSettings(hflip=0.0))


def _target_recipe() -> ClassifierTrainSettings:
    return ClassifierTrainSettings(classes=list(PRIVATE_DIGITS))


def _evaluation_recipe() -> ClassifierTrainSettings:
    return ClassifierTrainSettings(classes=list(PRIVATE_DIGITS), seed=1,
                                   architecture=ArchitectureSettings(name="cnn", widths=[16, 32], hidden=128))


class InversionEvaluateSettings(Settings):
    """What ``trustgen inversion evaluate`` runs: three targets identical but for the smoothing factor, attacked
    with PPA and judged by an independent evaluation classifier.

    ``seed`` seeds the targets and the attack. The generator and the evaluation classifier keep their own seeds
    (``generator.seed`` 0, ``evaluation.seed`` 1) across study seeds: like the paper's one public StyleGAN and one
    Inception-v3 judge, they are fixed instruments, not part of what is repeated. ``classes`` come from
    ``private_classes`` / ``public_classes``.
    """

    seed: int = 0
    dataset: str = "digits"
    private_classes: list[int] = Field(default_factory=lambda: list(PRIVATE_DIGITS))
    public_classes: list[int] = Field(default_factory=lambda: list(PUBLIC_DIGITS))
    alphas: list[float] = Field(default_factory=lambda: [0.0, 0.1, -0.05])
    # auto: shipped zoo models when they were trained with exactly these settings, else train; zoo: only
    # shipped models (an error if they differ); train: always train here
    models: Literal["auto", "zoo", "train"] = "auto"
    target: ClassifierTrainSettings = Field(default_factory=_target_recipe)
    evaluation: ClassifierTrainSettings = Field(default_factory=_evaluation_recipe)
    generator: GeneratorTrainSettings = Field(default_factory=GeneratorTrainSettings)
    attack: AttackSettings = Field(default_factory=_digits_attack)
    device: str = "auto"

    @model_validator(mode="before")
    @classmethod
    def _partial_sections(cls, data: Any) -> Any:
        """A partial ``target`` / ``evaluation`` / ``attack`` section (``evaluation.epochs=50``) changes those keys
        of this study's recipe, not of the generic defaults (the evaluation classifier stays a CNN)."""
        if not isinstance(data, dict):
            return data
        recipes = {"target": _target_recipe, "evaluation": _evaluation_recipe, "attack": _digits_attack}
        merged = dict(data)
        for key, recipe in recipes.items():
            if isinstance(data.get(key), dict):
                merged[key] = _deep_merge(recipe().model_dump(mode="json"), data[key])
        return merged

    @field_validator("alphas")
    @classmethod
    def _alphas(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one smoothing factor")
        bad = [a for a in value if not -1 < a < 1]
        if bad:
            raise ValueError(f"the label smoothing factor α must lie in (-1, 1), got {bad[0]}")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> InversionEvaluateSettings:
        shared = sorted(set(self.private_classes) & set(self.public_classes))
        if shared:
            raise ValueError(f"the generator's public classes must not include private ones: {shared}")
        if len(self.private_classes) < 2:
            raise ValueError("private_classes needs at least two classes")
        return self

    def target_settings(self, alpha: float) -> ClassifierTrainSettings:
        return self.target.model_copy(update={"classes": list(self.private_classes), "label_smoothing": alpha,
                                              "seed": self.seed, "dataset": self.dataset, "device": self.device})

    def evaluation_settings(self) -> ClassifierTrainSettings:
        return self.evaluation.model_copy(update={"classes": list(self.private_classes), "dataset": self.dataset,
                                                  "device": self.device})

    def generator_settings(self) -> GeneratorTrainSettings:
        return self.generator.model_copy(update={"classes": list(self.public_classes), "dataset": self.dataset})

    def attack_settings(self) -> AttackSettings:
        return self.attack.model_copy(update={"classes": list(self.private_classes), "seed": self.seed,
                                              "device": self.device})
