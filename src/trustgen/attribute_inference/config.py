"""Settings of Caia (Struppek et al., 2023) on the writers data set.

Paper defaults kept: filter threshold 0.6 for every value, the score-advantage vote, one edit per value from one
shared starting point. Changed for 16×16 digits on a CPU: SDEdit at strength 0.6 with 10 DDIM steps and
classifier-free guidance 3 instead of null-text inversion + Prompt-to-Prompt at 50 steps and guidance 7.5;
120 attack images (the authors keep the first 100 accepted sets of 300 generated).
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from trustgen.core.config import Settings

DEFAULT_PROMPTS = {
    "thickness": "a handwritten {word} with {value} strokes",
    "slant": "a {value} {word}",
}


class CaiaSettings(Settings):
    """What ``trustgen caia attack`` runs."""

    attribute: str = "thickness"
    values: list[str] | None = None  # edit values; default: the writers' values of ``attribute``
    prompt: str | None = None  # template with {value}, {word}, {numeral}; default per attribute
    editor: str = "digits-t2i"
    strength: float = Field(0.6, gt=0, le=1)
    steps: int = Field(10, ge=1)
    guidance_scale: float = Field(3.0, gt=0)
    attack_images: int = Field(120, ge=0)  # public digits edited into candidate sets
    filter_threshold: float = Field(0.6, ge=0, lt=1)
    modes: list[str] = Field(default_factory=lambda: ["probabilities", "top1"])
    filter_epochs: int = Field(8, ge=1)
    seed: int = 0
    device: str = "cpu"

    @field_validator("values")
    @classmethod
    def _values(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) < 2:
            raise ValueError(f"an attribute needs at least two distinct values to infer between, got {value}")
        return value

    @field_validator("modes")
    @classmethod
    def _modes(cls, value: list[str]) -> list[str]:
        bad = [m for m in value if m not in ("probabilities", "top1")]
        if not value or bad:
            raise ValueError(f"query modes are probabilities and/or top1, got {value}")
        return value

    @model_validator(mode="after")
    def _known(self) -> CaiaSettings:
        from trustgen.attribute_inference.writers import ATTRIBUTES

        if self.values is None and self.attribute not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {self.attribute!r} (known: {', '.join(ATTRIBUTES)}); give its "
                             "values for another one")
        return self

    def resolved_values(self) -> list[str]:
        from trustgen.attribute_inference.writers import ATTRIBUTES

        return list(self.values) if self.values is not None else list(ATTRIBUTES[self.attribute])

    def resolved_prompt(self) -> str:
        return self.prompt or DEFAULT_PROMPTS.get(self.attribute, "a handwritten {word}, {value}")


class TargetSettings(Settings):
    """The target (writer) classifiers: a standard one and a PGD-robust one (the paper: ε = 8/255, 7 steps)."""

    epochs: int = Field(15, ge=1)
    batch_size: int = Field(64, ge=2)
    widths: list[int] = Field(default_factory=lambda: [16, 32])
    hidden: int = Field(64, ge=1)
    robust_eps: float = Field(0.0627, gt=0)  # 8/255 of [0, 1] is 16/255 of [-1, 1]
    robust_steps: int = Field(7, ge=1)


class CaiaEvaluateSettings(Settings):
    """What ``trustgen caia evaluate`` runs: both attributes, standard and robust target, over seeds."""

    seeds: list[int] = Field(default_factory=lambda: [0])
    attributes: list[str] = Field(default_factory=lambda: ["thickness", "slant"])
    robust: bool = True
    whitebox: bool = True  # the white-box reference (pixel-space inversion + filter; not PPA)
    whitebox_per_class: int = Field(25, ge=1)  # the paper's PPA baseline: 25 images per class
    whitebox_steps: int = Field(60, ge=1)
    target: TargetSettings = Field(default_factory=TargetSettings)
    attack: CaiaSettings = Field(default_factory=CaiaSettings)
