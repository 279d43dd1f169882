"""Settings of classifier training: architecture, loss (cross-entropy, label smoothing ±α with the warm-up of
Struppek et al., 2024), optional PGD adversarial training, optimiser and augmentation.

Defaults follow the target-model recipe of *Be Careful What You Smooth For* (ICLR 2024;
``configs/training/targets/ResNet152_FaceScrub.yaml`` of LukasStruppek/Plug-and-Play-Attacks): Adam lr 1e-3,
betas (0.9, 0.999), no weight decay, 100 epochs, batch 128, the learning rate ×0.1 at 75 % and 90 % of training,
RandomResizedCrop with scale 0.85–1 and ratio 1. The network is a small ResNet sized for 16×16 digits, not a
ResNet-152, and neither colour jitter nor horizontal flips are on by default (digits are gray and not mirror-symmetric).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from trustgen.core.config import Settings

Architecture = Literal["resnet", "cnn"]


class ArchitectureSettings(Settings):
    """Which network: ``resnet`` (basic residual blocks, BatchNorm, global pooling) or ``cnn`` (a plain VGG-style
    network with max pooling and a fully connected feature layer), and its widths."""

    name: Architecture = "resnet"
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64])  # resnet: per stage; cnn: per conv pair
    blocks: list[int] = Field(default_factory=lambda: [1, 1, 1])  # resnet: residual blocks per stage
    hidden: int = Field(128, ge=1)  # cnn: size of the fully connected feature layer
    dropout: float = Field(0.0, ge=0, lt=1)  # before the last layer

    @field_validator("widths")
    @classmethod
    def _widths(cls, value: list[int]) -> list[int]:
        if not value or any(w < 1 for w in value):
            raise ValueError(f"widths must be a non-empty list of positive integers, got {value}")
        return value

    @model_validator(mode="after")
    def _blocks(self) -> ArchitectureSettings:
        if self.name == "resnet" and (len(self.blocks) != len(self.widths) or any(b < 1 for b in self.blocks)):
            raise ValueError(f"a resnet needs one block count >= 1 per stage: widths {self.widths}, blocks "
                             f"{self.blocks}")
        return self


class PGDSettings(Settings):
    """Projected gradient descent in an L∞ ball (Madry et al., 2018), on images in [-1, 1]."""

    enabled: bool = False
    eps: float = Field(0.1, gt=0)  # radius (the image range is 2 wide: 0.1 here is 0.05 of [0, 1])
    step_size: float = Field(0.025, gt=0)
    steps: int = Field(7, ge=1)
    random_start: bool = True


class ClassifierTrainSettings(Settings):
    """What ``trustgen classify train`` runs."""

    dataset: str = "digits"
    classes: list[int] | None = None  # a subset of the data set's labels (e.g. [0, 1, 2, 3, 4]); None: all
    architecture: ArchitectureSettings = Field(default_factory=ArchitectureSettings)
    # label smoothing factor α: 0 is cross-entropy with hard labels, α > 0 classic smoothing, α < 0 negative
    # smoothing; the loss is (1 − α)·(−log p_y) + α·mean_c(−log p_c) for every α
    label_smoothing: float = 0.0
    # negative α only (as the paper's code): "paper" keeps α = 0 for the first half of training, ramps it as
    # α·(epoch + 1 − start)/(epochs − start) until 3/4 of training, then uses α; "none" applies α from the start
    ls_warmup: Literal["paper", "none"] = "paper"
    ls_warmup_start: float = Field(0.5, ge=0, le=1)  # fraction of the epochs (paper: 50 of 100)
    ls_warmup_end: float = Field(0.75, ge=0, le=1)  # fraction of the epochs (paper: 75 of 100)
    adversarial: PGDSettings = Field(default_factory=PGDSettings)
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    lr_milestones: list[float] = Field(default_factory=lambda: [0.75, 0.9])  # fractions of the epochs
    lr_gamma: float = Field(0.1, gt=0)
    crop_scale: tuple[float, float] = (0.85, 1.0)  # RandomResizedCrop area range; (1, 1) switches it off
    crop_ratio: tuple[float, float] = (1.0, 1.0)
    hflip: float = Field(0.0, ge=0, le=1)  # probability of a horizontal flip (the paper's faces: 0.5)
    checkpoint_every: int = Field(1, ge=1)  # epochs between resumable checkpoints
    seed: int = 0
    device: str = "auto"

    @field_validator("label_smoothing")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not -1.0 < value < 1.0:
            raise ValueError(f"the label smoothing factor α must lie in (-1, 1), got {value}")
        return value

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (len(value) < 2 or len(set(value)) != len(value)):
            raise ValueError(f"classes must list at least two distinct labels, got {value}")
        return value

    @field_validator("crop_scale", "crop_ratio")
    @classmethod
    def _range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError(f"a range must satisfy 0 < low <= high, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _warmup(self) -> ClassifierTrainSettings:
        if self.ls_warmup_end < self.ls_warmup_start:
            raise ValueError("ls_warmup_end must not come before ls_warmup_start")
        if self.crop_scale[1] > 1:
            raise ValueError(f"crop_scale is a fraction of the image area, at most 1, got {list(self.crop_scale)}")
        return self
