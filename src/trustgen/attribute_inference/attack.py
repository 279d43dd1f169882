"""The Caia attack (Struppek, Hintersdorf, Friedrich, Brack, Schramowski & Kersting, *Image Classifiers Leak
Sensitive Attributes About Their Classes*, arXiv 2303.09289, 2023), black-box part.

1. *Candidates*: every attack image is edited once per attribute value (:mod:`.editing`), giving a set of
   ``|A|`` variants that differ (mostly) in the attribute.
2. *Filter*: a set is kept only if the filter classifier predicts every variant as its intended value with
   confidence above ``threshold`` (the authors' 0.6).
3. *Queries*: every kept variant is sent once to the target, a black box answering either its class
   probabilities or only its top-1 class (:class:`BlackBox` counts the queries).
4. *Vote* (paper §3, the authors' default "score advantage" rule): per target class ``c`` and set ``n``, rank the
   variants by their score for ``c``; the top variant's value wins the set with advantage = top score − second
   score. The class's inferred value is the one with the largest summed advantage. Scores are log-probabilities
   in probability mode (the authors read logits, which a black box need not give) and 1/0 in top-1 mode, where a
   set votes for ``c`` only if exactly one of its variants is classified as ``c``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from trustgen.core.errors import TrustgenError

QueryMode = Literal["probabilities", "top1"]
QUERY_MODES: tuple[str, ...] = ("probabilities", "top1")


class BlackBox:
    """A classifier reachable only through queries: answers probabilities or top-1 labels and counts queries."""

    def __init__(self, model: torch.nn.Module, mode: QueryMode, *, batch_size: int = 512) -> None:
        if mode not in QUERY_MODES:
            raise TrustgenError(f"unknown query mode {mode!r}: use {' or '.join(QUERY_MODES)}")
        self._model = model.eval()
        self.mode = mode
        self.batch_size = batch_size
        self.queries = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities (N×K) or top-1 labels (N) of ``images``; each image counts as one query."""
        device = next(self._model.parameters()).device
        with torch.no_grad():
            logits = torch.cat([self._model(images[i : i + self.batch_size].to(device)).float().cpu()
                                for i in range(0, len(images), self.batch_size)])
        self.queries += len(images)
        return logits.softmax(1) if self.mode == "probabilities" else logits.argmax(1)


def accept_sets(filter_probs: torch.Tensor, threshold: float = 0.6) -> torch.Tensor:
    """Mask (N) of candidate sets whose every variant the filter calls its own value with probability >
    ``threshold``; ``filter_probs`` is N×A×A (set, variant, value)."""
    n, a, _ = filter_probs.shape
    own = filter_probs[:, torch.arange(a), torch.arange(a)]
    right = filter_probs.argmax(2) == torch.arange(a)
    return (right & (own > threshold)).all(1)


@dataclass
class ClassInference:
    """What the attack concludes about one target class."""

    target_class: int
    inferred: str
    votes: dict[str, int]  # sets won per value
    advantage: dict[str, float]  # summed score advantage per value
    margin: float  # (best − second summed advantage) / total advantage; 0 when no set voted
    voted_sets: int
    guessed: bool  # no set voted: the value is a seeded random guess

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.target_class, "inferred": self.inferred, "votes": self.votes,
                "advantage": {k: round(v, 6) for k, v in self.advantage.items()}, "margin": round(self.margin, 6),
                "voted_sets": self.voted_sets, "guessed": self.guessed}


@dataclass
class CaiaResult:
    """Per-class inferences of one attack run."""

    attribute: str
    values: list[str]
    mode: str
    classes: list[ClassInference]
    queries: int  # images sent to the target (shared by all classes: every answer scores every class)
    sets_accepted: int
    extra: dict[str, Any] = field(default_factory=dict)

    def accuracy(self, truth: list[str]) -> float:
        """Share of classes whose inferred value equals ``truth[class]``."""
        return float(np.mean([c.inferred == truth[c.target_class] for c in self.classes]))

    def to_dict(self, truth: list[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "values": self.values, "mode": self.mode,
                               "queries": self.queries, "queries_per_class": self.queries,
                               "sets_accepted": self.sets_accepted, **self.extra}
        if truth is not None:
            out["accuracy"] = self.accuracy(truth)
        rows = []
        for c in self.classes:
            row = c.to_dict()
            if truth is not None:
                row["true"] = truth[c.target_class]
            rows.append(row)
        out["per_class"] = rows
        return out


def set_scores(answers: torch.Tensor, num_classes: int, mode: str) -> torch.Tensor:
    """Scores N×A×K of the variants for every class: log-probabilities, or one-hot top-1 answers."""
    if mode == "probabilities":
        return answers.clamp_min(1e-12).log()
    return torch.nn.functional.one_hot(answers.long(), num_classes).float()


def vote(scores: torch.Tensor, values: list[str], mode: str, *, seed: int = 0) -> list[ClassInference]:
    """The margin (score-advantage) vote per class over sets; ``scores`` is N×A×K."""
    n, a, k = scores.shape
    if a != len(values):
        raise TrustgenError(f"{a} variants per set but {len(values)} attribute values")
    rng = np.random.default_rng([seed, 303])
    top2 = scores.topk(2, dim=1)  # over variants: N×2×K
    winner = top2.indices[:, 0, :]  # N×K
    adv = (top2.values[:, 0, :] - top2.values[:, 1, :])  # N×K
    if mode == "top1":  # a set votes only if exactly one variant is classified as c (advantage 1 then)
        adv = torch.where(scores.sum(1) == 1, adv, torch.zeros_like(adv))
    out = []
    for c in range(k):
        valid = adv[:, c] > 0
        sums = [float(adv[valid & (winner[:, c] == i), c].sum()) for i in range(a)]
        counts = [int((valid & (winner[:, c] == i)).sum()) for i in range(a)]
        total = sum(sums)
        guessed = total <= 0
        best = int(rng.integers(a)) if guessed else int(np.argmax(sums))
        ordered = sorted(sums, reverse=True)
        margin = 0.0 if guessed else (ordered[0] - ordered[1]) / total
        out.append(ClassInference(c, values[best], dict(zip(values, counts, strict=True)),
                                  dict(zip(values, sums, strict=True)), margin, int(valid.sum()), guessed))
    return out


def infer(target: BlackBox, variants: torch.Tensor, values: list[str], *, num_classes: int, attribute: str,
          seed: int = 0) -> CaiaResult:
    """Query ``target`` with the accepted ``variants`` (N×A×C×H×W) and vote per class."""
    n, a = variants.shape[:2]
    if n == 0:
        raise TrustgenError("the attack set is empty: no candidate set passed the filter (more or other attack "
                            "images, a stronger edit, or a lower threshold)")
    answers = target(variants.flatten(0, 1))
    answers = answers.reshape(n, a, -1) if target.mode == "probabilities" else answers.reshape(n, a)
    scores = set_scores(answers, num_classes, target.mode)
    return CaiaResult(attribute, list(values), target.mode, vote(scores, values, target.mode, seed=seed),
                      queries=target.queries, sets_accepted=n)


def random_guess(num_classes: int, values: list[str], seed: int = 0) -> list[str]:
    """The chance baseline: a uniformly random value per class (expected accuracy 1/|A|)."""
    rng = np.random.default_rng([seed, 404])
    return [values[int(i)] for i in rng.integers(len(values), size=num_classes)]


def make_candidates(edit: Callable[[torch.Tensor, list[str], torch.Tensor], torch.Tensor], images: torch.Tensor,
                    prompts: list[list[str]], *, seed: int = 0) -> torch.Tensor:
    """N×A×C×H×W variants: ``edit(images, prompts_for_value, noise)`` per value, with one shared noise draw."""
    if len(images) == 0:
        raise TrustgenError("the attack set is empty: give at least one attack image")
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return torch.stack([edit(images, p, noise) for p in prompts], 1)
