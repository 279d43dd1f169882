"""Settings of name removal and its evaluation, with the defaults of the paper's code.

Hintersdorf, Struppek, Neider & Kersting, *Defending Our Privacy With Backdoors* (ECAI 2024,
arXiv 2310.08320), ``configs/concept_removal/defaults.yaml``: λ_bd 0.6, λ_w 0.01, 400 steps,
128 clean + 128 poisoned captions per step, AdamW lr 1e-4 (weight decay 0), MultiStepLR at
[200, 300] with γ 0.5, target attribute "a person" (the paper's wording; the config says "human").
"""

from __future__ import annotations

from pydantic import Field, field_validator

from trustgen.core.config import Settings


class RemovalSettings(Settings):
    """One name-removal run: which encoder, which names, and the fine-tuning hyperparameters."""

    encoder: str = "minilm"  # minilm | clip | a folder (sentence-transformers, transformers, pipeline, bundle)
    names: list[str] = Field(default_factory=list)  # the names to remove (triggers)
    target: str = "a person"  # what every name is mapped to, unless targets names one
    targets: dict[str, str] = Field(default_factory=dict)  # per-name target attribute
    captions: str | None = None  # a text file of captions, one a line (default: the generated corpus)
    num_captions: int = Field(4000, ge=2)  # size of the generated corpus
    holdout: float = Field(0.1, ge=0.0, lt=1.0)  # share of captions kept out of training (utility check)
    steps: int = Field(400, ge=1)
    clean_batch: int = Field(128, ge=1)
    poison_batch: int = Field(128, ge=1)
    lambda_bd: float = Field(0.6, ge=0.0)
    lambda_w: float = Field(0.01, ge=0.0)
    lr: float = Field(1e-4, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    milestones: list[int] = Field(default_factory=lambda: [200, 300])
    gamma: float = Field(0.5, gt=0.0, le=1.0)
    max_length: int | None = Field(None, ge=4)  # tokens per caption (default: the encoder's own)
    paraphrases: int = Field(300, ge=2)  # paraphrase pairs of the similarity check
    idia: bool = True  # run the text IDIA over the shipped people before and after
    seed: int = 0

    @field_validator("names")
    @classmethod
    def _clean_names(cls, names: list[str]) -> list[str]:
        cleaned = [" ".join(str(n).split()) for n in names]
        if any(not n for n in cleaned):
            raise ValueError("a name is empty")
        seen: list[str] = []
        for name in cleaned:
            if name.lower() not in {s.lower() for s in seen}:
                seen.append(name)
        return seen

    def target_for(self, name: str) -> str:
        """The target attribute a name is mapped to."""
        return self.targets.get(name, self.target)


class EvaluateSettings(Settings):
    """``trustgen names evaluate``: remove names from an encoder, then measure forgetting and utility.

    The fine-tuning runs with :class:`RemovalSettings` (the paper's loss and schedule); ``steps`` and the
    batch sizes default lower than the paper's so that the whole study runs in minutes on two CPU cores.
    """

    encoder: str = "minilm"
    num_names: list[int] = Field(default_factory=lambda: [1, 8, 32, 64])  # one removal run per count
    steps: int = Field(60, ge=1)
    clean_batch: int = Field(32, ge=1)
    poison_batch: int = Field(32, ge=1)
    lambda_bd: float = Field(0.6, ge=0.0)
    lambda_w: float = Field(0.01, ge=0.0)
    lr: float = Field(1e-4, gt=0.0)
    num_captions: int = Field(4000, ge=2)
    holdout: float = Field(0.1, gt=0.0, lt=1.0)
    utility_captions: int = Field(400, ge=1)  # held-out captions scored for utility
    paraphrases: int = Field(300, ge=2)  # paraphrase pairs of the similarity check
    seed: int = 0

    @field_validator("num_names")
    @classmethod
    def _positive_counts(cls, counts: list[int]) -> list[int]:
        if not counts or any(k < 1 for k in counts):
            raise ValueError(f"num_names must be counts >= 1, got {counts}")
        return counts

    def removal(self, names: list[str]) -> RemovalSettings:
        """The removal run of ``names`` under these settings (milestones scaled to ``steps`` as 200/300 of 400)."""
        return RemovalSettings(
            encoder=self.encoder, names=names, steps=self.steps, clean_batch=self.clean_batch,
            poison_batch=self.poison_batch, lambda_bd=self.lambda_bd, lambda_w=self.lambda_w, lr=self.lr,
            num_captions=self.num_captions, holdout=self.holdout, seed=self.seed, paraphrases=self.paraphrases,
            milestones=[max(1, self.steps // 2), max(1, self.steps * 3 // 4)])
