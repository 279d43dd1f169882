"""Settings of backdoor poisoning, diffusion variations and knowledge distillation.

Defaults follow *Leveraging Diffusion-Based Image Variations for Robust Training on Poisoned Data*
(Struppek, Hentschel, Poth, Hintersdorf & Kersting, NeurIPS 2023 workshop, arXiv 2310.06372;
``configs/defaults/*.yaml`` of the authors' code): target class 0, 10 % of the non-target samples poisoned
(a fixed subset, seed 42), the trigger applied before augmentation; the student distils with α = 0.5 and
T = 10. What differs here and why:

- the images are 16×16 gray digits, not 224 px ImageNette, so the BadNets patch is 3×3 (the authors' 9×9 is
  4 % of a 224 px side; 3 px is 19 % of 16 px, the smallest checkerboard that still alternates);
- the blend ratio is 0.2 (the authors' config value; their code default is 0.1);
- the variation model is a small DDPM (``digits-ddpm`` by default) used SDEdit-style — noise to strength ``s``,
  deterministic DDIM back to ``t = 0`` — instead of Versatile Diffusion's image-variation pipeline;
- the classifier recipe is :class:`~trustgen.classifiers.config.ClassifierTrainSettings` with fewer epochs.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from trustgen.classifiers.config import ArchitectureSettings, ClassifierTrainSettings
from trustgen.core.config import Settings

Attack = Literal["badnets", "blended", "warp"]
Defense = Literal["none", "variations", "kd"]
Corner = Literal["bottom-right", "bottom-left", "top-right", "top-left", "random"]
ATTACKS: tuple[str, ...] = ("badnets", "blended", "warp")
DEFENSES: tuple[str, ...] = ("none", "variations", "kd")


class AttackSettings(Settings):
    """Which trigger, which target, how many samples (Gu et al., 2017; Chen et al., 2017; Nguyen & Tran, 2021)."""

    kind: Attack = "badnets"
    target: int = Field(0, ge=0)  # the class every poisoned sample is relabelled to
    rate: float = 0.1  # share of the non-target training samples that get the trigger, in [0, 1)
    poison_seed: int = 42  # which samples (a fixed subset, as the authors' random_poisoning: false)
    # BadNets: a two-colour checkerboard (+1/−1) of patch_size × patch_size pixels at `position`
    patch_size: int = Field(3, ge=1)
    position: Corner = "bottom-right"
    # Blended: x' = (1 − ratio)·x + ratio·pattern, pattern uniform in [−1, 1], seeded
    blend_ratio: float = Field(0.2, gt=0, le=1)
    pattern_seed: int = 42
    # warp (WaNet-like): a smooth displacement field from a grid_size × grid_size control grid of random
    # offsets, upsampled bicubically, at most `warp_strength` pixels; seeded by pattern_seed
    warp_strength: float = Field(1.0, gt=0)
    warp_grid: int = Field(4, ge=2)

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"the poisoning rate must lie in [0, 1), got {value}")
        return value


class VariationSettings(Settings):
    """SDEdit-style variations (Meng et al., 2022) with a DDPM: x_s = √ᾱ_s·x + √(1−ᾱ_s)·ε, DDIM back to 0."""

    model: str = "digits-ddpm"  # zoo name or folder of an unconditional or class-conditional diffusion model
    strength: float = Field(0.5, gt=0, le=1)  # s: the start timestep is round(s·T) − 1
    steps: int = Field(5, ge=1)  # DDIM steps from the start timestep to 0
    color_transfer: bool = True  # per-image, per-channel mean/std of the original (the authors' colour transfer)
    batch_size: int = Field(256, ge=1)
    seed: int = 42  # the authors' variation seed


class DistillSettings(Settings):
    """L = α·T²·KL(p_t^T ‖ p_s^T) + (1 − α)·CE (Hinton et al., 2015)."""

    alpha: float = Field(0.5, ge=0, le=1)
    temperature: float = Field(10.0, gt=0)
    # "textbook": the CE term on the student's plain logits; "authors": on logits / T (their losses/kl_loss.py)
    ce: Literal["textbook", "authors"] = "textbook"


def default_classifier() -> ClassifierTrainSettings:
    """The recipe of every model in a comparison: a small plain CNN, 20 epochs (Adam 1e-3, steps at 75/90 %)."""
    return ClassifierTrainSettings(architecture=ArchitectureSettings(name="cnn", widths=[16, 32]), epochs=20,
                                   batch_size=128)


def merged_recipe(value: Any) -> Any:
    """Overrides of ``classifier.*`` apply on top of :func:`default_classifier`, not of the generic recipe (so that
    ``classifier.epochs=5`` keeps the small CNN)."""
    if not isinstance(value, dict):
        return value

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, item in extra.items():
            out[key] = merge(out[key], item) if isinstance(item, dict) and isinstance(out.get(key), dict) else item
        return out

    return merge(default_classifier().model_dump(), value)


class PoisonTrainSettings(Settings):
    """What ``trustgen poison train`` runs: poison the training split, then one defence."""

    dataset: str = "digits"
    attack: AttackSettings = Field(default_factory=AttackSettings)
    defense: Defense = "none"
    variations: VariationSettings = Field(default_factory=VariationSettings)
    distill: DistillSettings = Field(default_factory=DistillSettings)
    classifier: ClassifierTrainSettings = Field(default_factory=default_classifier)
    teacher: str | None = None  # kd: a trained teacher (a `poison train --defense none` folder); None: train one
    train_limit: int | None = Field(None, ge=2)  # use only the first N training images (tests, quick looks)
    test_limit: int | None = Field(None, ge=1)
    seed: int = 0

    @field_validator("classifier", mode="before")
    @classmethod
    def _recipe(cls, value: Any) -> Any:
        return merged_recipe(value)


class PoisonEvaluateSettings(Settings):
    """What ``trustgen poison evaluate`` runs: for each attack, a clean model, the poisoned teacher, a student on
    variations without KD and a student with KD, all measured on clean and triggered test images."""

    dataset: str = "digits"
    attacks: list[Attack] = Field(default_factory=lambda: list(get_args(Attack)))
    attack: AttackSettings = Field(default_factory=AttackSettings)  # `kind` is replaced by each of `attacks`
    variations: VariationSettings = Field(default_factory=VariationSettings)
    distill: DistillSettings = Field(default_factory=DistillSettings)
    classifier: ClassifierTrainSettings = Field(default_factory=default_classifier)
    train_limit: int | None = Field(None, ge=2)
    test_limit: int | None = Field(None, ge=1)
    seed: int = 0

    @field_validator("classifier", mode="before")
    @classmethod
    def _recipe(cls, value: Any) -> Any:
        return merged_recipe(value)
