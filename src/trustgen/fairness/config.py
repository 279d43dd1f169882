"""Settings of fair generation and its evaluation.

SEGA defaults are those of Fair Diffusion's reproduction script (Friedrich et al., 2023,
``generate_images.py``, edit mode): edit scale 4, warm-up 5 steps, threshold 0.95, momentum scale 0.5,
momentum β 0.6 (the SEGA paper's own defaults, 5 / 10 / 0.9 / 0.1 / 0.4, are those of
:class:`~trustgen.fairness.sega.EditConcept` and :class:`~trustgen.fairness.sega.SemanticGuidance`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from trustgen.core.config import Settings

TARGET_TOLERANCE = 1e-6


class EditSettings(Settings):
    """SEGA hyperparameters shared by the edit concepts of fair generation."""

    scale: float = 4.0  # edit guidance scale s_e (>= 0; the direction says add or remove)
    warmup: int = Field(5, ge=0)
    threshold: float = Field(0.95, ge=0, lt=1)
    momentum_scale: float = Field(0.5, ge=0)
    momentum_beta: float = Field(0.6, ge=0, lt=1)
    cooldown: int | None = Field(None, ge=0)  # step from which the edits stop (momentum then fades)

    @field_validator("scale")
    @classmethod
    def _non_negative_scale(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"the edit scale must be >= 0, got {value}: fair sampling already steers away "
                             "from the other values, a negative scale would reverse it")
        return value


def effective_edit(edit: EditSettings, meta: dict[str, Any]) -> EditSettings:
    """The SEGA settings a run uses: what the user set, else the model's recommendation (``trustgen.json``
    key ``fairness.edit``, chosen on a tuning seed when the zoo model was built), else the defaults."""
    recommended = dict((meta.get("fairness") or {}).get("edit") or {})
    return EditSettings(**{**recommended, **edit.model_dump(include=edit.model_fields_set)})


def parse_attribute(text: str) -> list[str]:
    """``"female person:male person"`` → the attribute's values (edit prompts); at least two, distinct."""
    values = [v.strip() for v in str(text).split(":")]
    if len(values) < 2:
        raise ValueError(f"the attribute {text!r} has one value: give at least two separated by ':', "
                         "e.g. 'thin strokes:thick strokes'")
    if any(not v for v in values):
        raise ValueError(f"the attribute {text!r} has an empty value")
    if len(set(values)) != len(values):
        raise ValueError(f"the attribute {text!r} repeats a value")
    return values


def parse_targets(text: str | list[float], k: int) -> list[float]:
    """Target shares for ``k`` values: ``"0.3"`` (two values: the first's share) or ``"0.2,0.3,0.5"``."""
    raw = [float(v) for v in str(text).split(",")] if isinstance(text, str) else [float(v) for v in text]
    if len(raw) == 1 and k == 2:
        raw = [raw[0], 1.0 - raw[0]]
    if len(raw) != k:
        raise ValueError(f"got {len(raw)} targets for {k} attribute values")
    if any(not 0.0 <= t <= 1.0 for t in raw):
        raise ValueError(f"targets must be shares in [0, 1], got {raw}")
    if abs(sum(raw) - 1.0) > TARGET_TOLERANCE:
        raise ValueError(f"targets must sum to 1, got {raw} (sum {sum(raw):g})")
    return raw


class GuidedSampling(Settings):
    """What every fair-generation run shares: the model, its sampler and SEGA's settings."""

    model: str = "digits-t2i-biased"
    attribute: str = "thin strokes:thick strokes"
    measure: str | None = None  # attribute measure (default: the one registered for the model's data set)
    draw: Literal["stratified", "probabilistic"] = "stratified"  # exact counts (the authors') or per image
    round_size: int = Field(25, ge=1)  # closed loop: images generated between two measurements
    sampler: Literal["ddim", "ddpm"] = "ddim"
    steps: int = Field(50, ge=1)
    guidance_scale: float | None = None  # classifier-free guidance (default: the model's)
    batch_size: int = Field(50, ge=1)
    seed: int = 0
    edit: EditSettings = Field(default_factory=EditSettings)

    @field_validator("guidance_scale")
    @classmethod
    def _non_negative_guidance(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError(f"the guidance scale must be >= 0, got {value}")
        return value

    @field_validator("attribute")
    @classmethod
    def _attribute(cls, value: str) -> str:
        parse_attribute(value)
        return value

    @property
    def values(self) -> list[str]:
        return parse_attribute(self.attribute)


class FairGenerateSettings(GuidedSampling):
    """What ``trustgen fairness generate`` runs."""

    prompt: str = "a handwritten seven"
    targets: list[float] = Field(default_factory=lambda: [0.5, 0.5])
    num: int = Field(200, ge=1)
    closed_loop: bool = False

    @model_validator(mode="after")
    def _check_targets(self) -> FairGenerateSettings:
        parse_targets(self.targets, len(self.values))
        return self


class FairEvaluateSettings(GuidedSampling):
    """What ``trustgen fairness evaluate`` runs: plain vs fair generation on a text-to-digit model."""

    per_digit: int = Field(20, ge=1)  # images per prompted digit ("a handwritten N"), 200 in all
    targets: list[float] = Field(default_factory=lambda: [0.5, 0.3, 0.7])  # shares of the first value
    closed_loop: bool = True  # false: open loop only (e.g. to tune SEGA's settings with targets [1, 0])

    @field_validator("targets")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not value or any(not 0.0 <= t <= 1.0 for t in value):
            raise ValueError(f"targets are shares of the first value in [0, 1], got {value}")
        return value
